"""The change keys and screens without a platform behind them: what `f`, `m`, `F`, `a`, `x`, `j`, `e` do on the
hand-built states of tests/ui/data.py (planning is pure, so a preview needs no server), and how a failure
shows up (a notification or a line, never a traceback). What is sent is tested against the sandbox in
test_changes.py."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input

from goodword_tui.changes.base import Intent, plan_batch
from goodword_tui.changes.inputs import InputError
from goodword_tui.ui.app import Dashboard
from goodword_tui.ui.screens import ChangeScreen, EntryScreen, JournalScreen
from goodword_tui.ui.screens.change import preview_text
from goodword_tui.ui.widgets import KeyedTable
from tests.ui import data
from tests.ui.conftest import settled, until
from tests.ui.test_dashboard import header, make_app, table, text_of

RT_2B = data.RT_IDS["goodword-private-rt-2b"]


def notes(app: object) -> str:
    return " ".join(str(n.message) for n in app._notifications)  # type: ignore[attr-defined]


async def test_f_on_a_route_table_row_previews_the_fix_of_the_finding_about_it() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab")
        routes = table(app, "route_tables")
        assert app.focused is routes and routes.select_key(f"rtb:{RT_2B}")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ChangeScreen), what="the preview")
        screen = app.screen
        assert isinstance(screen, ChangeScreen)
        assert screen.subject.kind == "create_route"  # type: ignore[union-attr]
        assert screen.subject.params["route_table_id"] == RT_2B  # type: ignore[union-attr]
        assert app.focused is screen.query_one("#change-cancel", Button)

        # Enter in the reason field moves on; it never applies by itself.
        screen.query_one("#change-reason", Input).focus()
        await pilot.press(*"INC-1", "enter")
        assert app.focused is not screen.query_one("#change-reason") and screen.outcome is None
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard) and app.focused is routes


async def test_f_where_there_is_nothing_to_fix_says_so() -> None:
    app = make_app(data.handoff_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("2")  # the VPCs: nothing wrong with them
        await pilot.press("f")
        assert isinstance(app.screen, Dashboard)
        assert "to fix" in notes(app)


async def test_m_marks_findings_with_a_fix_and_f_capital_needs_marks() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("F")
        assert "Nothing is marked" in notes(app)
        findings = table(app, "findings")
        no_fix = next(r for r in findings.all_rows if r.subject.fix is None)
        findings.select_key(no_fix.key)
        await pilot.press("m")
        assert findings.marks == set() and "has no automatic fix" in notes(app)

        route = next(r for r in findings.all_rows if r.subject.code == "NET_ROUTE_MISSING")
        findings.select_key(route.key)
        await pilot.press("m")
        assert findings.marks == {route.key}
        assert findings.cursor_row == findings.get_row_index(route.key) + 1  # moved on, to mark the next
        findings.select_key(route.key)
        await pilot.press("m")
        assert findings.marks == set()
        assert not findings.get_row(route.key)[0].plain.startswith("●")


def test_a_batch_preview_lists_what_could_not_be_planned() -> None:
    from goodword_tui.model import Snapshot, SuggestedFix
    from tests.ui.data import NOW, incident_aws, incident_snowflake, ok

    snapshot = Snapshot(NOW, ok("aws", incident_aws()), ok("snowflake", incident_snowflake()), ok("probes", ()))
    fixes = [
        SuggestedFix("add_allowed_ip", "", {"cidr": "34.106.229.69", "label": "Airbyte Cloud US"}),
        SuggestedFix("add_allowed_ip", "", {"cidr": "10.1.2.3/8", "label": "typo"}),
    ]
    batch, refused = plan_batch(fixes, snapshot, data.settings())
    assert len(batch.changes) == 1 and len(refused) == 1
    text = preview_text(batch, refused).plain
    assert text.startswith("1 change, applied in this order")
    assert "Left out (could not be planned):" in text and "10.1.2.3/8 has host bits set" in text
    assert "use 10.0.0.0/8" in text  # the hint says how to fix it
    assert isinstance(refused[0][0], Intent) and isinstance(refused[0][1], InputError)


async def test_a_and_x_on_the_snowflake_pane() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        summary = text_of(app.screen.query_one("#policy-summary"))  # type: ignore[arg-type]
        assert "a: add an allowed entry · x: remove the selected entry" in summary

        entries = table(app, "entries")
        assert entries.select_key("ip:allowed:34.106.229.69")  # missing from the policy: nothing to remove
        await pilot.press("x")
        assert isinstance(app.screen, Dashboard) and "f on its finding adds it back" in notes(app)

        assert entries.select_key("ip:allowed:192.168.0.0/16")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ChangeScreen), what="the removal's preview")
        assert app.screen.subject.kind == "remove_allowed_ip"  # type: ignore[attr-defined]
        await pilot.press("escape", "a")
        await until(pilot, lambda: isinstance(app.screen, EntryScreen), what="the form")
        await pilot.press(*"198.51.100.0/33", "enter", *"Vendor", "enter")
        error = text_of(app.screen.query_one("#entry-error"))  # type: ignore[arg-type]
        assert "prefix length /33 is not a number from 0 to 32" in error
        assert isinstance(app.screen, EntryScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


async def test_the_entry_form_says_a_bad_address_at_once_and_never_keeps_a_stale_refusal() -> None:
    """Keys as a person types them: Enter after a bad address says why right away (and moves on, so a label typed
    ahead lands in its field); clearing the address with ctrl+u clears what was said about it; the next bad
    address gets its own refusal, not the last one's."""
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("3", "a")
        await until(pilot, lambda: isinstance(app.screen, EntryScreen), what="the form")
        form = app.screen

        def said() -> str:
            return text_of(form.query_one("#entry-error"))  # type: ignore[arg-type]

        await pilot.press(*"198.51.100.0/33", "enter")
        assert "prefix length /33 is not a number from 0 to 32" in said()
        assert app.focused is form.query_one("#entry-label")
        await pilot.press("shift+tab", "ctrl+u")
        assert form.query_one("#entry-cidr", Input).value == ""
        assert said().strip() == ""
        await pilot.press(*"10.0.0.300", "enter")
        assert "10.0.0.300" in said() and "/33" not in said()
        await pilot.press("shift+tab", "ctrl+u", *"198.51.100.7", "enter")
        assert said().strip() == "" and app.focused is form.query_one("#entry-label")
        await pilot.press(*"Vendor", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChangeScreen), what="the preview")


async def test_an_unreadable_journal_is_said_not_raised(tmp_path: Path) -> None:
    """The journal path is a directory: the start-up check, `j` and `e` each say so in one line."""
    app = make_app(data.handoff_fetchers(), settings=data.settings(journal_path=str(tmp_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await until(pilot, lambda: "Could not check the journal" in notes(app), what="the start-up check")
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), what="the journal")
        journal = app.screen
        assert isinstance(journal, JournalScreen)
        placeholder = journal.query_one(KeyedTable)
        await until(pilot, lambda: "could not be read" in placeholder.placeholder, what="the journal's error")
        await pilot.press("u")
        assert "Select a journal entry first" in notes(app)
        await pilot.press("escape", "e")
        await until(pilot, lambda: "Export failed" in notes(app), what="the export's error")
        assert "WRITE" in header(app)  # still running


async def test_an_empty_journal_and_an_export_in_read_only_mode() -> None:
    settings = data.settings(s3_bucket="goodword-ops-artifacts")  # configured, but an upload is a write
    app = make_app(data.incident_fetchers(), settings=settings, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), what="the journal")
        journal = app.screen
        assert isinstance(journal, JournalScreen)
        await until(pilot, lambda: journal.loaded, what="the journal read")
        assert "no change has been journaled yet" in str(journal.query_one(KeyedTable).get_row_at(0)[1])
        await pilot.press("escape", "e")
        await until(pilot, lambda: app.last_export is not None, what="the export")
        export = app.last_export
        assert export.path.is_file() and export.s3_uri == "" and "read-only mode" in export.note
        assert export.sha256 in notes(app) and "read-only mode" in notes(app)
