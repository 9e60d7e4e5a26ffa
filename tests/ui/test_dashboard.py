"""Pilot tests: the dashboard driven by keys, over a Monitor fed by hand-built source results."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import subprocess
import sys
from typing import Any

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import Input, Static

from goodword_tui.analysis.rows import Table
from goodword_tui.model import ErrorKind, SourceResult
from goodword_tui.monitor import SOURCE_NAMES, Monitor
from goodword_tui.ui import app as app_module
from goodword_tui.ui.app import Dashboard, GoodwordApp, StatusHeader
from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.screens import ChangeScreen, DetailScreen, EntryScreen, HelpScreen, WhyScreen
from goodword_tui.ui.widgets import Inspector, KeyBar, KeyedTable, SourceLine, TabStrip
from tests.ui import data
from tests.ui.conftest import settled, until

RT_2B = data.RT_IDS["goodword-private-rt-2b"]


def make_app(fetchers: dict[str, Any] | None = None, **kwargs: Any) -> GoodwordApp:
    settings = kwargs.pop("settings", None) or data.settings()
    monitor = Monitor(settings, fetchers or data.handoff_fetchers())
    return GoodwordApp(settings, monitor, lambda: data.NOW, watch_terminal=False, **kwargs)


def table(app: GoodwordApp, table_id: str) -> KeyedTable:
    return app.screen_stack[0].query_one(f"#table-{table_id}", KeyedTable)


def text_of(widget: Static) -> str:
    return plain(widget.content)


def plain(renderable: Any) -> str:
    """What a renderable shows, as text (rich tables included)."""
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def header(app: GoodwordApp) -> str:
    return text_of(app.screen_stack[0].query_one(StatusHeader))


def active_tab(app: GoodwordApp) -> str:
    return app.screen_stack[0].query_one(TabStrip).active


# ----------------------------------------------------------------------------------------------------------------
# Loading and first paint


async def test_first_paint_shows_loading_then_fills_in_per_source() -> None:
    fetchers = data.handoff_fetchers()
    gate = asyncio.Event()
    fetchers["snowflake"].gate = gate  # Snowflake is slow; the others answer at once
    app = make_app(fetchers)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.monitor.loaded("aws") and app.monitor.loaded("probes"), what="aws+probes")
        await until(pilot, lambda: "loading" not in header(app).split("\n")[0], what="aws in header")
        assert "Snowflake vsc91540.us-east-1 loading…" in header(app)
        assert "AWS 123456789012 us-east-2 OnCall/chris ✓ <1m" in header(app)
        assert table(app, "entries").placeholder == "loading…"
        assert len(table(app, "route_tables").all_rows) == 7
        assert "Snowflake: loading…" in text_of(app.screen_stack[0].query_one("#pane-snowflake SourceLine", SourceLine))

        gate.set()
        await settled(pilot)
        assert len(table(app, "entries").all_rows) == 15
        assert "Snowflake VSC91540 CHRIS ACCOUNTADMIN ✓ <1m" in header(app)


def test_importing_the_app_does_not_import_heavy_libraries() -> None:
    """boto3, the Snowflake connector and sqlmesh are imported inside workers, never for the first paint."""
    code = (
        "import sys, goodword_tui.ui.app, goodword_tui.monitor;"
        "print(','.join(m for m in ('boto3', 'botocore', 'snowflake.connector', 'sqlmesh') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=data.REPO)
    assert out.stdout.strip() == ""


# ----------------------------------------------------------------------------------------------------------------
# Navigation, findings, jump, detail


async def test_number_keys_switch_tabs_and_focus_their_first_table() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        assert active_tab(app) == "findings"
        assert app.focused is table(app, "findings")
        for key, tab, first in (("2", "network", "vpcs"), ("3", "snowflake", "entries"), ("5", "probes", "probes")):
            await pilot.press(key)
            await pilot.pause()
            assert active_tab(app) == tab
            assert app.focused is table(app, first)
        await pilot.press("4")
        await pilot.pause()
        assert active_tab(app) == "sqlmesh"
        assert app.focused is table(app, "sqlmesh_models")
        await pilot.press("1")
        assert active_tab(app) == "findings"


async def test_a_number_key_typed_before_its_pane_is_mounted_gives_that_pane_the_focus() -> None:
    """Keys typed ahead at start arrive before the hidden panes are mounted (just after the first frame); the
    keys after them must act on the pane shown, not on the hidden findings table."""
    app = make_app()
    async with app.run_test() as pilot:
        dashboard = app.screen_stack[0]
        assert isinstance(dashboard, Dashboard)
        assert not dashboard.tab_tables("snowflake")  # not mounted yet: the key comes first
        await pilot.press("3")
        await settled(pilot)
        entries = table(app, "entries")
        assert active_tab(app) == "snowflake" and app.focused is entries
        await pilot.press("down")
        assert entries.cursor_row == 1 and table(app, "findings").cursor_row == 0


async def test_a_click_on_a_tab_name_shows_that_tab_alone() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        dashboard = app.screen_stack[0]
        strip = dashboard.query_one(TabStrip)
        names = strip.content.plain
        assert re.fullmatch(r" 1 Findings \d+   2 Network   3 Snowflake   4 SQLMesh   5 Probes ", names), names
        for name, tab, first in (("Snowflake", "snowflake", "entries"), ("Probes", "probes", "probes")):
            await pilot.click(TabStrip, offset=(names.index(name) + 2, 0))
            await pilot.pause()
            assert active_tab(app) == tab
            assert app.focused is table(app, first)
            assert [pane.id for pane in dashboard.query(Pane) if pane.display] == [f"pane-{tab}"]
        await pilot.click(TabStrip, offset=(len(names) + 5, 0))  # past the last name: nothing happens
        await pilot.pause()
        assert active_tab(app) == "probes"


async def test_tab_moves_between_the_network_tables() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("2")
        await pilot.press("tab", "tab")
        assert app.focused is table(app, "route_tables")
        await pilot.press("down", "down")
        inspector = text_of(app.screen_stack[0].query_one(Inspector))
        assert "Goodword private 2b" in inspector


async def test_the_inspector_follows_the_cursor_and_the_tab_after_their_frame() -> None:
    """The inspector catches up right after the frame that shows the move, once for a burst of moves, and for
    a tab switch shows the new pane's first row."""
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab")
        routes = table(app, "route_tables")
        inspector = app.screen_stack[0].query_one(Inspector)
        target = routes.shown[f"rtb:{RT_2B}"]
        for row in (0, 1, routes.get_row_index(target.key)):  # one step: a burst of moves before any frame
            routes.move_cursor(row=row, animate=False)
        await pilot.pause()
        assert (target.title or target.key) in text_of(inspector)
        dashboard = app.screen_stack[0]
        assert isinstance(dashboard, Dashboard)
        dashboard.action_show_tab("snowflake")
        await pilot.pause()
        entries = table(app, "entries")
        assert app.focused is entries
        shown = entries.current_row()
        assert shown is not None and (shown.title or shown.key) in text_of(inspector)


async def test_findings_are_worst_first_and_enter_jumps_to_the_route_table() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test() as pilot:
        await settled(pilot)
        findings = table(app, "findings")
        severities = [row.cells[0] for row in findings.all_rows]
        assert severities == sorted(severities, key=["CRIT", "WARN", "INFO"].index)
        first = findings.current_row()
        assert first is not None and first.cells[0] == "CRIT"
        route_finding = next(r for r in findings.all_rows if r.subject.code == "NET_ROUTE_MISSING")
        findings.select_key(route_finding.key)
        await pilot.press("enter")
        await pilot.pause()
        assert active_tab(app) == "network"
        routes = table(app, "route_tables")
        assert app.focused is routes
        current = routes.current_row()
        assert current is not None and current.key == f"rtb:{RT_2B}"
        inspector = text_of(app.screen_stack[0].query_one(Inspector))
        assert inspector.count("NET_ROUTE_MISSING") == 1
        assert route_finding.subject.evidence[0] in inspector  # the evidence is on screen

        await pilot.press("r")  # a refresh brings equal (not identical) findings: still shown once
        await until(pilot, lambda: app.refresh_count["aws"] == 2 and not app._busy, what="refresh")
        await app.workers.wait_for_complete()
        assert text_of(app.screen_stack[0].query_one(Inspector)).count("NET_ROUTE_MISSING") == 1


async def test_enter_on_a_snowflake_finding_jumps_to_the_policy_entry() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test() as pilot:
        await settled(pilot)
        findings = table(app, "findings")
        missing = next(r for r in findings.all_rows if r.subject.code == "SF_ENTRY_MISSING")
        findings.select_key(missing.key)
        await pilot.press("enter")
        await pilot.pause()
        assert active_tab(app) == "snowflake"
        row = table(app, "entries").current_row()
        assert row is not None and row.cells[1] == "34.106.229.69" and row.cells[2] == "missing"


async def test_egress_and_source_findings_jump_to_where_they_are_explained() -> None:
    fetchers = data.incident_fetchers()
    fetchers["probes"] = data.Scripted(data.failed("probes", ErrorKind.CONFIG, "no probe could start"))
    app = make_app(fetchers)
    async with app.run_test() as pilot:
        await settled(pilot)
        egress = next(f for f in app.findings if f.code.startswith("EGRESS_"))
        app.jump_to(egress)
        await until(pilot, lambda: app.focused is table(app, "egress"), what="egress table")
        row = table(app, "egress").current_row()
        assert row is not None and row.key == f"egress:{egress.resource}"

        unavailable = next(f for f in app.findings if f.code == "SOURCE_UNAVAILABLE")
        app.jump_to(unavailable)
        await until(pilot, lambda: active_tab(app) == "probes", what="probes tab")
        line = text_of(app.screen_stack[0].query_one("#pane-probes SourceLine", SourceLine))
        assert "no probe could start" in line and "No data yet" in line
        assert "no data: Probes FAILED" in str(table(app, "probes").get_row_at(0)[0])


async def test_enter_on_a_row_opens_its_detail_with_raw_json_and_findings() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(100, 40)) as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab")
        routes = table(app, "route_tables")
        routes.select_key(f"rtb:{RT_2B}")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail screen")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert f'"id": "{RT_2B}"' in screen.raw
        assert [f.code for f in screen.related] == ["NET_ROUTE_MISSING"]
        attributes = text_of(screen.query_one("#detail-attributes", Static))
        assert "routes[1].target_id" in attributes and "expected 1" in attributes
        await pilot.press("J")
        assert app.clipboard == screen.raw
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)
        assert app.focused is routes


# ----------------------------------------------------------------------------------------------------------------
# Filter, copy, help, palette


async def test_slash_filters_the_focused_table_and_escape_clears_it() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("3")
        entries = table(app, "entries")
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"airbyte")
        assert [r.cells[1] for r in entries.visible_rows()] == list(data.AIRBYTE_IPS)
        assert entries.row_count == 9
        title = text_of(app.screen_stack[0].query_one("#section-entries .section-title", Static))
        assert "(9/15)" in title and "filter: airbyte" in title
        await pilot.press("enter")
        assert app.focused is entries and entries.row_count == 9
        await pilot.press("escape")
        assert entries.row_count == 15 and entries.filter_text == ""


async def test_filter_with_no_match_says_so() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("5", "slash", *"zzz")
        probes = table(app, "probes")
        assert probes.row_count == 1
        assert "no row matches" in str(probes.get_row_at(0)[1])


async def test_c_copies_the_selected_value() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("2", "tab")  # peering
        await pilot.press("c")
        assert app.clipboard == data.PCX


async def test_help_is_built_from_the_live_bindings_including_remaps() -> None:
    settings = data.settings(bindings={"refresh": "f5", "why": "x"})
    app = make_app(settings=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {item.binding_id: item for item in app.screen.keys}
        assert keys["refresh"].key == "f5"
        assert keys["why"].key == "x"
        assert keys["filter"].key == "/"
        assert {"quit", "pause", "copy", "help", "details", "open"} <= set(keys)
        await pilot.press("escape")
        before = fetch_count(app)
        await pilot.press("r")  # no longer bound
        await pilot.pause()
        assert fetch_count(app) == before
        await pilot.press("f5")
        await until(pilot, lambda: fetch_count(app) == before + len(SOURCE_NAMES), what="refresh on f5")


def fetch_count(app: GoodwordApp) -> int:
    return sum(f.calls for f in app.monitor.fetchers.values())  # type: ignore[attr-defined]


async def test_unknown_binding_id_is_reported_not_fatal() -> None:
    app = make_app(settings=data.settings(bindings={"no-such-action": "f9"}))
    async with app.run_test() as pilot:
        await settled(pilot)
        assert any("no-such-action" in str(n.message) for n in app._notifications)


async def test_palette_commands_depend_on_the_screen() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Go to Network" in titles and "Refresh Snowflake" in titles and "Pause auto-refresh" in titles
        assert any(t.startswith("Go to critical NET_ROUTE_MISSING") for t in titles)
        assert any(t.startswith("Details: ") for t in titles)

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press(*"go to probes")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: active_tab(app) == "probes", what="probes tab from the palette")

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="detail")
        detail_titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Copy raw JSON" in detail_titles and "Go to Network" not in detail_titles


# ----------------------------------------------------------------------------------------------------------------
# Why / reach


async def test_w_explains_one_address_and_a_path_between_two() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("w")
        assert isinstance(app.screen, WhyScreen)
        result = app.screen.query_one("#why-result", Static)

        await pilot.press(*data.OPS_NAT_IP, "enter")
        answer = text_of(result)
        assert answer.startswith("ADMITTED")
        assert "GOODWORD_WH.RAW.ANY" in answer and "catch-all" in answer

        field = app.screen.query_one(Input)
        field.value = "172.20.16.10 172.22.2.106 tcp/8000"  # from subnet 2b, whose route is gone
        await pilot.press("enter")
        answer = text_of(result)
        assert answer.startswith("NOT REACHABLE")
        assert RT_2B in answer

        field.value = "172.22.2.106 172.20.0.91 tcp/22"
        await pilot.press("enter")
        assert text_of(result).startswith("REACHABLE")

        field.value = "not-an-ip"
        await pilot.press("enter")
        assert "Not an IP address" in text_of(result)
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


async def test_w_starts_with_the_selected_address() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab", "tab", "tab", "tab")  # instances
        assert app.focused is table(app, "instances")
        await pilot.press("w")
        assert app.screen.query_one(Input).value == "172.22.1.15"
        assert "Access server" in text_of(app.screen.query_one("#why-result", Static))


# ----------------------------------------------------------------------------------------------------------------
# Failing sources, refresh behaviour


async def test_a_failing_source_shows_stale_data_with_the_error_then_recovers() -> None:
    good = data.ok("snowflake", data.handoff_snowflake())
    bad = data.failed("snowflake", ErrorKind.AUTH, "login refused (390422)", "is your address allowed?")
    fetchers = data.handoff_fetchers()
    fetchers["snowflake"] = data.Scripted(good, bad, good)
    app = make_app(fetchers, auto_refresh=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        assert "✓ <1m" in header(app).split("\n")[1]

        await pilot.press("r")
        await until(pilot, lambda: fetchers["snowflake"].calls == 2 and not app._busy, what="second read")
        await app.workers.wait_for_complete()
        line = text_of(app.screen_stack[0].query_one("#pane-snowflake SourceLine", SourceLine))
        assert "Snowflake FAILED" in line and "(auth): login refused (390422) — is your address allowed?" in line
        assert "STALE" in line and "Retrying every 5s" in line
        assert "Snowflake VSC91540 CHRIS ACCOUNTADMIN ✗ STALE <1m" in header(app)
        assert len(table(app, "entries").all_rows) == 15  # the last good data is still on screen
        assert app.screen_stack[0].query_one(TabStrip).label("snowflake") == "Snowflake ✗"

        await pilot.press("r")
        await until(pilot, lambda: fetchers["snowflake"].calls == 3 and not app._busy, what="third read")
        await app.workers.wait_for_complete()
        assert "✗" not in header(app)
        line = text_of(app.screen_stack[0].query_one("#pane-snowflake SourceLine", SourceLine))
        assert "FAILED" not in line


async def test_a_failed_source_is_retried_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "RETRY_FIRST_S", 0.05)
    good = data.ok("aws", data.handoff_aws())
    fetchers = data.handoff_fetchers()
    fetchers["aws"] = data.Scripted(data.failed("aws", ErrorKind.UNREACHABLE, "no route to endpoint"), good)
    app = make_app(fetchers)
    async with app.run_test() as pilot:
        await until(pilot, lambda: fetchers["aws"].calls >= 2, what="the retry")
        await settled(pilot)
        assert len(table(app, "route_tables").all_rows) == 7
        assert "AWS 123456789012" in header(app)


async def test_a_source_that_raises_becomes_a_notification_not_a_crash() -> None:
    async def broken(_settings: Any) -> SourceResult[Any]:
        raise RuntimeError("sources must not raise, but this one did")

    fetchers: dict[str, Any] = data.handoff_fetchers()
    fetchers["probes"] = broken
    app = make_app(fetchers)
    async with app.run_test() as pilot:
        await until(pilot, lambda: bool(app._notifications), what="the notification")
        assert any("sources must not raise" in str(n.message) for n in app._notifications)
        await until(pilot, lambda: app.monitor.loaded("aws") and app.monitor.loaded("snowflake"), what="others")
        await pilot.press("2")
        assert active_tab(app) == "network"  # the rest of the dashboard keeps working


async def test_refresh_keeps_the_cursor_on_its_row_and_updates_cells_in_place() -> None:
    fetchers = data.handoff_fetchers()
    fetchers["aws"] = data.Scripted(data.ok("aws", data.handoff_aws()), data.ok("aws", data.incident_aws()))
    app = make_app(fetchers, auto_refresh=False)
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab", "down", "down", "down")
        routes = table(app, "route_tables")
        before = routes.current_row()
        assert before is not None and before.key == f"rtb:{data.RT_IDS['goodword-private-rt-2c']}"
        added: list[Any] = []
        original_add_row = routes.add_row
        routes.add_row = lambda *a, **k: added.append(k) or original_add_row(*a, **k)  # type: ignore[method-assign]
        await pilot.press("r")
        await until(pilot, lambda: fetchers["aws"].calls == 2 and not app._busy, what="second read")
        await app.workers.wait_for_complete()
        after = routes.current_row()
        assert after is not None and after.key == before.key and after.tone == "bad"
        assert "nat-0deadbeef0000dead" in after.cells[4]
        assert str(routes.get_row(f"rtb:{RT_2B}")[3]) == "✗ 172.22.0.0/16 missing"
        assert added == []  # same keys in the same order: cells were updated, no row was re-added


async def test_refreshes_that_change_cells_do_not_pile_up_old_renders() -> None:
    """DataTable keys its render caches by an update count and keeps old entries until 10,000 cells: each refresh
    shown would add a screenful. Old renders are dropped, so the cache holds about what was drawn last."""
    app = make_app(auto_refresh=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        await pilot.press("5")
        probes = table(app, "probes")
        await pilot.pause()
        rows = list(probes.all_rows)
        drawn = []
        for round_ in range(30):
            changed = [dataclasses.replace(r, cells=(*r.cells[:-1], f"{round_} ms")) for r in rows]
            probes.set_table(Table("probes", probes.title, probes.columns_spec, tuple(changed), probes.empty_text))
            await pilot.pause()
            drawn.append(len(probes._cell_render_cache))
        cells_on_screen = len(rows) * len(probes.columns)
        assert max(drawn) <= 2 * cells_on_screen, drawn
        assert drawn[-1] > 0  # the table is drawn from the cache, which keeps the current renders


async def test_a_tab_switch_reuses_the_cells_a_table_rendered_before() -> None:
    """Focus leaving and coming back restyles a table; its renders are keyed by focus already, so they are kept
    and reused (DataTable would drop and re-render every visible cell on each tab switch)."""
    app = make_app(auto_refresh=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        await pilot.press("3", "2", "3")
        await pilot.pause()
        cache = table(app, "entries")._cell_render_cache
        rendered = {key: cache.get(key) for key in list(cache.keys())}
        await pilot.press("2", "3")
        await pilot.pause()
        assert app.focused is table(app, "entries")
        assert rendered and all(cache.get(key) is cells for key, cells in rendered.items())


async def test_auto_refresh_waits_while_a_modal_is_open_and_while_paused() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        calls = fetch_count(app)
        await pilot.press("question_mark")
        app._due("aws")  # the timer fires while help is open
        await pilot.pause()
        assert fetch_count(app) == calls and "aws" in app._skipped
        await pilot.press("escape")
        await until(pilot, lambda: fetch_count(app) == calls + 1, what="the skipped read after the modal")

        await pilot.press("space")
        assert app.paused and "PAUSED" in header(app)
        calls = fetch_count(app)
        app._due("probes")
        await pilot.pause()
        assert fetch_count(app) == calls
        await pilot.press("space")
        await until(pilot, lambda: fetch_count(app) == calls + 1, what="the read after resuming")
        assert "PAUSED" not in header(app)


async def test_r_marks_each_read_it_started_in_the_header_until_it_lands() -> None:
    """`r` says so in the header (↻ for ✓ per source while its read runs), not in a toast; a read on the timer
    leaves the header alone (an idle terminal gets no bytes)."""
    fetchers = data.handoff_fetchers()
    app = make_app(fetchers)
    async with app.run_test(size=(160, 30)) as pilot:
        await settled(pilot)
        app._due("aws")  # a read on the timer
        await pilot.pause()
        assert "↻" not in header(app)
        await settled(pilot)
        gate = asyncio.Event()
        fetchers["snowflake"].gate = gate  # Snowflake's next read waits
        await pilot.press("r")
        await until(pilot, lambda: "CHRIS ACCOUNTADMIN ↻ <1m" in header(app), what="↻")
        await until(pilot, lambda: "AWS 123456789012 us-east-2 OnCall/chris ✓ <1m" in header(app), what="aws read")
        assert "↻" in header(app).split("\n")[1] and not app.query("Toast")
        gate.set()
        await until(pilot, lambda: "↻" not in header(app), what="the marks gone once the reads landed")
        assert "CHRIS ACCOUNTADMIN ✓ <1m" in header(app)


async def test_refresh_is_scheduled_after_the_read_completes() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        assert set(app._source_timers) == set(SOURCE_NAMES)
        assert all(t._interval == app.interval for t in app._source_timers.values())


# ----------------------------------------------------------------------------------------------------------------
# Read-only


@pytest.mark.parametrize("read_only", [True, False])
async def test_read_only_hides_and_refuses_write_actions(read_only: bool) -> None:
    app = make_app(data.incident_fetchers(), read_only=read_only)
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        assert ("READ-ONLY" in header(app)) is read_only
        assert ("WRITE" in header(app).split("\n")[0]) is not read_only
        shown = {b.binding.id for b in app.screen.active_bindings.values()}
        assert ({"fix", "mark", "fix-marked"} <= shown) is not read_only
        assert not read_only or not {"fix", "mark", "fix-marked"} & shown
        assert {"journal", "export"} <= shown  # what an auditor needs stays
        keybar = text_of(app.screen.query_one(KeyBar))
        assert ("f Fix" in keybar) is not read_only
        findings = table(app, "findings")
        route = next(r for r in findings.all_rows if r.subject.code == "NET_ROUTE_MISSING")
        findings.select_key(route.key)
        await pilot.press("m")
        assert (route.key in findings.marks) is not read_only
        findings.select_key(route.key)  # marking moved the cursor down
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, ChangeScreen) is not read_only
        if not read_only:
            assert app.screen.subject.kind == "create_route"  # type: ignore[attr-defined]
            await pilot.press("escape")
        await pilot.press("3")  # the Snowflake pane's keys
        shown = {b.binding.id for b in app.screen.active_bindings.values()}
        assert ({"add-entry", "remove-entry"} <= shown) is not read_only
        assert not read_only or not {"add-entry", "remove-entry"} & shown
        await pilot.press("a")
        assert isinstance(app.screen, EntryScreen) is not read_only


def test_read_only_from_config_and_override() -> None:
    settings = data.settings(mode="read-only")
    assert GoodwordApp(settings, Monitor(settings, {})).read_only
    assert not GoodwordApp(settings, Monitor(settings, {}), read_only=False).read_only


# ----------------------------------------------------------------------------------------------------------------
# Terminal


async def test_jump_to_a_resource_no_row_shows_opens_the_finding() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        finding = dataclasses.replace(app.findings[0], resource="nothing-shows-this")
        app.jump_to(finding)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="fallback detail")
        assert app.screen.row.subject is finding
