"""The read-only proof, from the servers' side (issue 5): start the dashboard in read-only mode against the
sandbox with moto's request recorder on and the Snowflake statement log cleared; press every binding on every
tab and every screen (every modal opened, every input filled and submitted, every palette command run but Quit
and the "Go to"s); then find no mutating request in moto's recording and nothing but SELECT / SHOW / DESC in
the Snowflake log, and the policy and the journal as they were.

The bindings are not listed by hand: they are collected from the classes the app declares (`_all_bindings`)
and from whatever is active on the screen at the time, so a write key added later is pressed too. The screens
a read-only dashboard cannot open by key (the change preview, the add-entry form) are pushed directly, filled
in completely (reason, typed confirmation, lockout override) and applied: the core refuses below the UI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input

from goodword_tui.changes.apply import ApplyStatus, BatchResult, ChangeContext, apply_change
from goodword_tui.changes.base import plan, plan_batch
from goodword_tui.config import Settings
from goodword_tui.journal import Journal
from goodword_tui.monitor import SOURCE_NAMES
from goodword_tui.sandbox.aws import AwsSandbox
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from goodword_tui.ui.app import TABS, Dashboard, GoodwordApp
from goodword_tui.ui.panes import FindingsPane, NetworkPane, ProbesPane, SnowflakePane, SqlMeshPane
from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.screens import ChangeScreen, EntryScreen, JournalScreen
from goodword_tui.ui.widgets import KeyedTable
from tests.ui.conftest import until
from tests.ui.sandbox import (
    APPLY_TIMEOUT_S,
    LOAD_TIMEOUT_S,
    allowed_ips,
    dashboard,
    press_button,
    screen_of,
    type_into,
)

# Keys that end the test rather than exercise the app (the palette is exercised by running its commands).
SKIPPED_ACTIONS = frozenset({"quit", "help_quit", "command_palette", "suspend_process"})
READS = {"SHOW", "SELECT", "DESC", "DESCRIBE"}
TYPED = "198.51.100.7"
MAX_DEPTH = 2  # a modal opened from a modal opened from the dashboard


LEAVING = ("escape", "q", "question_mark")  # keys that close a screen: pressed last on it
TAB_KEYS = {str(i) for i in range(1, len(TABS) + 1)}
# Where the keys whose effect depends on the selected row are bound.
ROW_CLASSES = (Dashboard, KeyedTable, FindingsPane, NetworkPane, SnowflakePane, SqlMeshPane, ProbesPane)


def split_keys(bindings: Iterable[Binding]) -> list[str]:
    return [key.strip() for binding in bindings for key in binding.key.split(",")]


def keys_of(app: GoodwordApp, scope: str = "all") -> list[str]:
    """The keys to press on the current screen, by `scope`:

    - "all": every key bound on the classes the app declares and every key active now (Textual's own too);
    - "modal": the keys active on the screen now, plus every write key declared anywhere;
    - "row": the keys whose effect depends on the selected row (the dashboard's, the tables', the panes'),
      plus every write key: on the second and later tabs, the app-wide keys would only repeat themselves.

    Keys that would end the test on this screen (quit, the palette) are left out; keys that close a screen
    come last.
    """
    declared = [b for b in app._all_bindings() if b.id]
    writes = [b for b in declared if b.action in GoodwordApp.WRITE_ACTIONS]
    active = [a.binding for a in app.screen.active_bindings.values()]
    on_rows = [b for cls in ROW_CLASSES for b in cls.BINDINGS if isinstance(b, Binding)]
    chosen = {"all": [*declared, *active], "modal": [*active, *writes], "row": [*on_rows, *writes]}[scope]
    ending = set(split_keys(b for b in active if b.action in SKIPPED_ACTIONS))
    app_bindings = [b for bound in app._bindings.key_to_bindings.values() for b in bound]  # Textual's own too
    ending |= set(split_keys(b for b in app_bindings if b.action in SKIPPED_ACTIONS))  # ctrl+c quits
    if not isinstance(app.screen, Dashboard):
        ending -= set(split_keys(b for b in active if b.action not in SKIPPED_ACTIONS))  # `q` closes a modal
    ending |= set(split_keys(b for b in app_bindings if b.priority and b.action in SKIPPED_ACTIONS))  # win anyway
    keys = [k for k in dict.fromkeys(split_keys(chosen)) if k not in ending]
    return sorted(keys, key=lambda k: k in LEAVING)


class Exerciser:
    """Presses keys, follows the screens they open, types into the inputs and presses the buttons.

    Every key is pressed on the findings; on every other tab (its first table, and the tables named), every
    key whose effect depends on the row, and every write key. Each kind of modal is exercised fully the first
    time it opens (inputs, buttons, its keys and every write key) and just closed after that.
    """

    def __init__(self, pilot: Pilot) -> None:
        self.pilot = pilot
        self.app: GoodwordApp = pilot.app  # type: ignore[assignment]
        self.screens_seen: set[str] = set()
        self.presses = 0

    async def press(self, key: str) -> None:
        self.presses += 1
        await self.pilot.press(key)

    async def back_to(self, screen: Screen[Any]) -> None:
        """Close whatever was opened over `screen`."""
        for _ in range(10):
            if self.app.screen is screen or screen not in self.app.screen_stack:
                return
            top = self.app.screen
            await self.settle_outcome(top)
            await self.press("escape")
        assert self.app.screen is screen, f"could not get back to {screen!r} from {self.app.screen!r}"

    async def opened(self, screen: Screen[Any], depth: int) -> None:
        """After a key or a button on `screen`: follow a modal it opened, then come back."""
        await self.settle_outcome(screen)
        if self.app.screen is not screen and screen in self.app.screen_stack:
            await self.exercise(self.app.screen, depth + 1)
            await self.back_to(screen)

    async def fill_inputs(self, screen: Screen[Any], depth: int) -> None:
        """Fill every visible input and submit it (Enter), following anything that opens."""
        for field in list(screen.query(Input)):
            if self.app.screen is not screen:
                return
            if not field.display or not getattr(field.parent, "display", True):
                continue
            field.focus()
            field.value = TYPED  # typed text goes to the field, never to a binding: set it at once
            await self.press("enter")
            await self.opened(screen, depth)

    async def exercise(self, screen: Screen[Any], depth: int = 1) -> None:
        """A modal: its inputs, its buttons, every key; whatever it opens, recursively (to MAX_DEPTH)."""
        name = type(screen).__name__
        if name in self.screens_seen or depth > MAX_DEPTH or isinstance(screen, CommandPalette):
            self.screens_seen.add(name)
            return  # seen (or the palette, whose commands are run one by one: typing into it runs one at random)
        self.screens_seen.add(name)
        await self.fill_inputs(screen, depth)
        for button in list(screen.query(Button)):
            if self.app.screen is not screen:
                return
            if button.display and not button.disabled and button.id not in ("change-cancel", "entry-cancel"):
                button.focus()
                await self.press("enter")
                await self.opened(screen, depth)
        for key in keys_of(self.app, "modal"):
            if self.app.screen is not screen:
                return
            await self.press(key)
            await self.opened(screen, depth)

    async def settle_outcome(self, screen: Screen[Any]) -> None:
        """After Apply on a change screen: wait for the core's answer before pressing on."""
        if isinstance(screen, ChangeScreen) and screen.busy:
            await until(self.pilot, lambda: not screen.busy, APPLY_TIMEOUT_S, "the core's answer")

    async def dashboard_tab(self, dashboard: Dashboard, tab_id: str, tables: Sequence[str]) -> None:
        """The tab's first table and the `tables` named: the keys `keys_of` gives (see the class)."""
        await self.press(str([t for t, _ in TABS].index(tab_id) + 1))
        panes = list(dashboard.query(f"#pane-{tab_id}").results(Pane))
        found = [t for pane in panes for t in pane.tables()]
        chosen = [t for t in found if t is found[0] or (t.id or "").removeprefix("table-") in tables]
        for table in chosen or [None]:
            if table is not None:
                table.focus()
                await self.pilot.pause()
                if table.row_count > 1:
                    table.move_cursor(row=1)
            for key in keys_of(self.app, "all" if tab_id == "findings" else "row"):
                if key in TAB_KEYS:
                    continue  # they leave this table; every tab is visited anyway
                await self.press(key)
                if self.app.screen is not dashboard:
                    await self.exercise(self.app.screen)
                    await self.back_to(dashboard)
                if dashboard.query_one("#filter-bar", Input).has_focus:  # `/`: type a filter, then clear it
                    await self.pilot.press(*"10.")
                    await self.press("escape")
                if dashboard.active_tab() != tab_id:  # Enter on a finding jumps to another tab: come back
                    dashboard.switch_to(tab_id)
                    await self.pilot.pause()
                if table is not None and not table.has_focus and self.app.screen is dashboard:
                    table.focus()
                    await self.pilot.pause()


async def test_read_only_dashboard_sends_no_write_whatever_is_pressed(
    scenario: Callable[[str], Settings],
    sandbox_platform: SandboxPlatform,
    aws_sandbox: AwsSandbox,
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    settings = scenario("route-missing")  # the config says "write": only the app's read-only flag protects
    assert not settings.read_only
    # A second incident, so both platforms have findings with fixes; and one applied change in the journal,
    # so the journal screen has an entry to (try to) undo.
    kept = [e for e in allowed_ips(sandbox_platform) if e != MISSING_AIRBYTE_IP]
    sandbox_platform.sql(
        f"ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ({', '.join(repr(e) for e in kept)})"
    )
    with ChangeContext(settings) as ctx:
        from goodword_tui.sources.snowflake import read_state

        added = plan("add_allowed_ip", {"cidr": "198.51.100.99", "label": "Drill"}, read_state(ctx.gateway), settings)
        assert apply_change(added, ctx, reason="before the audit").ok
    journal_before = Journal.for_settings(settings).read_bytes()
    policy_before = sandbox_platform.sql("DESC NETWORK POLICY INTEGRATIONS")

    snowflake_sandbox.clear_statements()
    aws_sandbox.start_recording()
    try:
        async with dashboard(settings, read_only=True) as (app, pilot):
            assert app.read_only and "READ-ONLY" in str(app.header_text())
            main = app.screen
            assert isinstance(main, Dashboard)

            # The UI half: no write action is offered anywhere (footer, help, palette).
            write_ids = {b.id for b in app._all_bindings() if b.action in GoodwordApp.WRITE_ACTIONS}
            assert {"fix", "mark", "fix-marked", "add-entry", "remove-entry", "journal-undo"} <= write_ids
            for tab_id, _ in TABS:
                await pilot.press(str([t for t, _ in TABS].index(tab_id) + 1))
                active = {a.binding.id for a in app.screen.active_bindings.values()}
                assert not active & write_ids, (tab_id, active & write_ids)
                assert not {k.binding_id for k in app.key_help()} & write_ids
            titles = [c.title for c in app.get_system_commands(main)]
            assert not [t for t in titles if t.startswith(("Fix", "Mark", "Undo", "Add", "Remove"))], titles
            assert "Journal" in titles and "Export report" in titles  # what an auditor needs stays

            ex = Exerciser(pilot)
            # 1. Keys on every tab (see Exerciser), the modals they open followed and exercised.
            for tab_id, _ in TABS:
                await ex.dashboard_tab(main, tab_id, ("route_tables",))
            # 2. The palette, opened by its key, runs a command; then every command (but Quit) is run.
            await pilot.press("ctrl+p")
            palette = await screen_of(pilot, CommandPalette)
            ex.screens_seen.add("CommandPalette")
            await pilot.press(*"journal")
            commands = palette.query_one(CommandList)
            await until(pilot, lambda: commands.option_count > 0, APPLY_TIMEOUT_S, "the palette's matches")
            await until(pilot, lambda: commands.highlighted is not None, APPLY_TIMEOUT_S, "a highlighted match")
            await pilot.press("enter")
            journal = await screen_of(pilot, JournalScreen)
            assert not {a.binding.id for a in journal.active_bindings.values()} & write_ids  # no `u` here
            await ex.exercise(journal)
            await ex.back_to(main)
            for command in app.get_system_commands(main):
                if command.title == "Quit" or command.title.startswith("Go to "):
                    continue
                result = command.callback()
                if hasattr(result, "__await__"):
                    await result
                await pilot.pause()
                if app.screen is not main:
                    await ex.exercise(app.screen)
                    await ex.back_to(main)
            # 3. The keys refused the write actions: call them directly, as a remapped key or a bug would.
            for action in sorted(GoodwordApp.WRITE_ACTIONS):
                assert app.check_action(action, ()) is False
                assert main.check_action(action, ()) is False
            await main.run_action("fix")
            await main.run_action("fix_marked")
            assert app.screen is main  # refused: nothing opened

            # 4. The screens no key opens in read-only mode, pushed directly and filled in completely.
            snapshot = app.current_snapshot()
            lockout = plan("remove_policy_rule", {"rule": "GOODWORD_WH.RAW.ANY"}, snapshot.snowflake.data, settings)
            assert lockout.dangerous and lockout.locks_out
            outcomes: list[Any] = []
            app.preview_change(lockout, title="pushed by the test")
            screen = await screen_of(pilot, ChangeScreen)
            await type_into(pilot, "#change-reason", "audit")
            await type_into(pilot, "#change-confirm", "INTEGRATIONS")
            await type_into(pilot, "#change-override", "override lockout")
            await press_button(pilot, "#change-apply")
            await until(pilot, lambda: screen.outcome is not None, APPLY_TIMEOUT_S, "the refusal")
            outcomes.append(screen.outcome)
            assert "REFUSED ✗ (by the read-only guard)" in str(screen.query_one("#change-result").content)
            await ex.back_to(main)

            fixes = [f.fix for f in app.findings if f.fix is not None]
            batch, _refused = plan_batch(fixes, snapshot, settings)
            assert len(batch.changes) >= 2 and {c.system.value for c in batch.changes} == {"aws", "snowflake"}
            app.preview_change(batch)
            screen = await screen_of(pilot, ChangeScreen)
            await type_into(pilot, "#change-reason", "audit")
            await type_into(pilot, "#change-confirm", batch.confirm_phrase)
            await press_button(pilot, "#change-apply")
            await until(pilot, lambda: screen.outcome is not None, APPLY_TIMEOUT_S, "the batch's refusal")
            outcomes.append(screen.outcome)
            await ex.back_to(main)

            state = snapshot.snowflake.data
            app.push_screen(
                EntryScreen(
                    "INTEGRATIONS",
                    lambda cidr, label: plan("add_allowed_ip", {"cidr": cidr, "label": label}, state, settings),
                ),
                callback=lambda change: app.preview_change(change) if change is not None else None,
            )
            await screen_of(pilot, EntryScreen)
            await type_into(pilot, "#entry-cidr", "203.0.113.9")
            await type_into(pilot, "#entry-label", "audit")
            await pilot.press("enter")
            screen = await screen_of(pilot, ChangeScreen)
            await ex.exercise(screen)  # reason typed, Apply pressed, every key
            outcomes.append(screen.outcome)
            await ex.back_to(main)

            app.open_journal()
            journal = await screen_of(pilot, JournalScreen)
            await until(pilot, lambda: journal.loaded, APPLY_TIMEOUT_S, "the journal")
            entry = journal.current_entry()
            assert entry is not None and entry.reason == "before the audit"
            undo = await asyncio.to_thread(app.plan_undo_blocking, entry)  # reads the route table: a read
            app.preview_change(undo)
            screen = await screen_of(pilot, ChangeScreen)
            await type_into(pilot, "#change-reason", "audit")
            if screen.query_one("#change-confirm-field").display:
                await type_into(pilot, "#change-confirm", undo.confirm_phrase)
            await press_button(pilot, "#change-apply")
            await until(pilot, lambda: screen.outcome is not None, APPLY_TIMEOUT_S, "the undo's refusal")
            outcomes.append(screen.outcome)
            await ex.back_to(main)

            # Reads still happen: a refresh after all that, to show the recorder was listening.
            await pilot.press("r")
            await until(
                pilot, lambda: not app._busy and all(app.monitor.loaded(s) for s in SOURCE_NAMES), LOAD_TIMEOUT_S
            )
            await app.workers.wait_for_complete()
            export = app.last_export
    finally:
        recorded = aws_sandbox.recorded_requests()
        aws_sandbox.stop_recording()

    # What was exercised.
    assert ex.presses >= 240, ex.presses  # ctrl+c quits (like q), so it is no longer pressed on every table
    assert {"DetailScreen", "HelpScreen", "WhyScreen", "JournalScreen", "ChangeScreen", "CommandPalette"} <= (
        ex.screens_seen
    ), ex.screens_seen
    for outcome in outcomes:
        results = outcome.results if isinstance(outcome, BatchResult) else (outcome,)
        assert results and all(r.status is ApplyStatus.REFUSED and r.refused_by == "read_only" for r in results)
    assert export is not None and export.s3_uri == "" and "read-only mode" in export.note  # written locally only

    # The servers' side: reads only.
    assert recorded, "the recorder saw nothing: it was not listening"
    assert [r.action for r in recorded if r.mutating] == []
    statements = snowflake_sandbox.statements()
    assert statements, "the statement log saw nothing: it was not listening"
    verbs = {s.sql.split()[0].upper() for s in statements}
    assert verbs <= READS, verbs
    # And nothing changed: the policy, the journal (no intent was written).
    assert sandbox_platform.sql("DESC NETWORK POLICY INTEGRATIONS") == policy_before
    assert Journal.for_settings(settings).read_bytes() == journal_before
