"""Defects seen by running the demo as a person would: the key bar at 80 columns, the help's order, the
inspector while filtering, ctrl+c, severity words, the order of a root cause and its consequences."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from textual.widgets import Input, Static

from goodword_tui.ui.app import Dashboard
from goodword_tui.ui.screens import HelpScreen, WhyScreen
from goodword_tui.ui.widgets import Inspector, KeyBar
from tests.ui import data
from tests.ui.conftest import settled, until
from tests.ui.test_dashboard import make_app, table, text_of


def keybar_text(app: Any) -> str:
    return text_of(app.screen.query_one(KeyBar)).rstrip("\n")


async def test_the_key_bar_keeps_help_and_quit_visible_at_80_columns() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        shown = keybar_text(app)
        assert len(shown) <= 78 and "…" not in shown
        assert shown.endswith("q Quit  ? Help")
        assert "/ Filter" in shown and "w Why" in shown
        await pilot.press("3")  # the Snowflake tab adds its own keys: still nothing cut off
        await pilot.pause()
        shown = keybar_text(app)
        assert len(shown) <= 78 and shown.endswith("q Quit  ? Help")


async def test_the_key_bar_shows_every_key_when_there_is_room() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        shown = keybar_text(app)
        assert "j Journal" in shown and "e Export" in shown and "^p palette" in shown
        assert shown.endswith("q Quit  ? Help")


async def test_the_why_screen_says_how_to_scroll_and_close() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, WhyScreen)
        assert "esc Close" in keybar_text(app)
        title = text_of(app.screen.query_one(".modal-title", Static))
        assert "PgUp PgDn scroll the answer" in title and "Esc closes" in title


async def test_help_lists_the_tab_keys_in_tab_order() -> None:
    """1 … 5 follow the tabs on screen (Findings, Network, Snowflake, SQLMesh, Probes), not the alphabet."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        tab_keys = [item.key for item in app.screen.keys if item.binding_id.startswith("tab-")]
        assert tab_keys == ["1", "2", "3", "4", "5"]
        ours = [item.binding_id for item in app.screen.keys if item.where == "everywhere"]
        assert ours.index("quit") < ours.index("refresh") < ours.index("why") < ours.index("export")  # as declared
        assert app.focused is app.screen.query_one("#help-body")
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)
        assert app.focused is table(app, "findings")


async def test_the_inspector_follows_the_filtered_table_through_a_refresh() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab")  # the route tables, not the pane's first table (VPCs)
        routes = table(app, "route_tables")
        assert app.focused is routes
        await pilot.press("slash", *"2b")
        assert isinstance(app.focused, Input)
        inspector = app.screen.query_one(Inspector)
        await app.rebuild()  # an auto-refresh lands while the filter bar has the focus
        await pilot.pause()
        row = routes.current_row()
        assert row is not None and "2b" in " ".join(row.cells)
        assert text_of(inspector).startswith(row.title or row.key)
        assert "VPC vpc-" not in text_of(inspector)


async def test_ctrl_c_quits_cleanly() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0


async def test_ctrl_c_in_a_text_field_copies_a_selection_else_quits() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("w")
        field = app.screen.query_one(Input)
        field.value = "172.22.2.106 172.20.0.91"
        await pilot.press("shift+home")  # select what was typed
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("ctrl+c")
        assert copied == ["172.22.2.106 172.20.0.91"] and app.is_running
        await pilot.press("end", "ctrl+c")
        await until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0


@contextlib.contextmanager
def held_in_a_worker(hold: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
    """`hold()` entered on another thread (as a worker would) for the duration of the block."""
    held, release = threading.Event(), threading.Event()

    def work() -> None:
        with hold():
            held.set()
            release.wait(5)

    worker = threading.Thread(target=work)
    worker.start()
    held.wait(5)
    try:
        yield
    finally:
        release.set()
        worker.join()


@pytest.mark.parametrize("key", ["ctrl+c", "q"])
async def test_quitting_waits_while_a_change_is_being_applied(key: str) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        with held_in_a_worker(app.applying):  # what apply_blocking does while the change is sent
            seen: list[str] = []
            original = app.notify
            app.notify = lambda message, **kw: seen.append(str(message)) or original(message, **kw)  # type: ignore[method-assign]
            await pilot.press(key)
            await pilot.pause()
            assert app.is_running
            assert any("A change is being applied" in m and "press q" in m for m in seen)
        await pilot.press(key)  # the change ended: the same key now quits
        await until(pilot, lambda: not app.is_running, what="the app to exit")


async def test_quitting_waits_for_a_change_asked_for_while_the_journal_check_runs() -> None:
    """Once asked for, a change is sent as soon as the check lets go of the lock: quitting then would send it
    after the screen is gone, so `q` waits for it from the moment it is asked for."""
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)

        def apply_when_the_lock_is_free() -> None:
            with app.applying():
                pass

        waiting = threading.Thread(target=apply_when_the_lock_is_free)
        with held_in_a_worker(lambda: app._change_lock):  # the journal check
            waiting.start()
            await until(pilot, lambda: bool(app._applying), what="the change waiting for the lock")
            await pilot.press("q")
            await pilot.pause()
            assert app.is_running
        waiting.join(5)
        assert not app._applying
        await pilot.press("q")  # the change went through: now it quits
        await until(pilot, lambda: not app.is_running, what="the app to exit")


async def test_quitting_does_not_wait_for_the_start_up_journal_check() -> None:
    """The start-up reconciliation holds the change lock while it re-reads (seconds when the platform is slow),
    but sends nothing: an entry it had not settled is settled at the next start, so `q` quits at once."""
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        with held_in_a_worker(lambda: app._change_lock):  # what _reconcile_blocking does while it re-reads
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0


async def test_severity_words_are_all_upper_case() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        words = {row.cells[0] for row in table(app, "findings").all_rows}
        assert words == {"CRIT", "WARN", "INFO"}


async def test_an_inactive_policy_is_listed_above_the_catch_all_it_makes_moot() -> None:
    fetchers = data.handoff_fetchers()
    inactive = dataclasses.replace(data.handoff_snowflake(), account_policy="")
    fetchers["snowflake"] = data.Scripted(data.ok("snowflake", inactive))
    app = make_app(fetchers)
    async with app.run_test() as pilot:
        await settled(pilot)
        rows = table(app, "findings").all_rows
        codes = [row.subject.code for row in rows if row.cells[0] == "CRIT"]  # type: ignore[union-attr]
        assert codes[:2] == ["SF_POLICY_NOT_ACTIVE", "SF_ADMITS_ALL"]
        assert table(app, "findings").current_row() is rows[0]


async def test_f_on_a_row_whose_findings_have_no_fix_says_so() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        seen: list[str] = []
        original = app.notify
        app.notify = lambda message, **kw: seen.append(str(message)) or original(message, **kw)  # type: ignore[method-assign]
        await pilot.press("5")  # the Snowflake host probe: reachability only, nothing to fix automatically
        await pilot.press("f")
        assert seen[-1].startswith("No automatic fix for PROBE_REACHABILITY_ONLY")
        assert isinstance(app.screen, Dashboard)
