"""The dashboard: the Textual app an on-call engineer opens over SSH.

It renders what `Monitor` holds and never talks to AWS or Snowflake itself. Each source is read by its own
worker, so a slow or failing source never holds up the others; the next read of a source is scheduled when
its last one completes (never overlapping), skipped while a modal is open or while paused. Heavy libraries
(boto3, the Snowflake connector) are imported inside the workers, off the event loop, after the first paint.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.lazy import Lazy
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static

from goodword_tui import startup
from goodword_tui.analysis.reuse import PartCache
from goodword_tui.analysis.rows import SOURCE_TITLES, Row, SourceStatus, source_status
from goodword_tui.config import Settings
from goodword_tui.logs import configure_logging
from goodword_tui.model import Area, Finding, Snapshot, SourceResult
from goodword_tui.monitor import SOURCE_NAMES, Monitor
from goodword_tui.ui.guard import guarded, log, log_loop_exception, one_line, report
from goodword_tui.ui.panes import FindingsPane, NetworkPane, ProbesPane, SnowflakePane, SqlMeshPane
from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.screens import ChangeScreen, DetailScreen, EntryScreen, HelpScreen, JournalScreen, WhyScreen
from goodword_tui.ui.screens.help import KeyHelp
from goodword_tui.ui.widgets import EMPTY_KEY, Inspector, KeyBar, KeyedTable, Section, TabStrip, set_text

if TYPE_CHECKING:
    # The views (and with them the whole analysis) are imported by the first computation, in a worker thread:
    # the first frame does not wait for them.
    from goodword_tui.analysis.views import DashboardView
    from goodword_tui.changes.apply import ApplyResult, BatchResult, ChangeContext
    from goodword_tui.changes.base import Batch, Change
    from goodword_tui.journal import JournalEntry
    from goodword_tui.reader import ReaderProcess

TABS: tuple[tuple[str, str], ...] = (
    ("findings", "Findings"),
    ("network", "Network"),
    ("snowflake", "Snowflake"),
    ("sqlmesh", "SQLMesh"),
    ("probes", "Probes"),
)
AREA_TAB = {Area.NETWORK: "network", Area.SNOWFLAKE: "snowflake", Area.SQLMESH: "sqlmesh", Area.PROBES: "probes"}
SOURCE_TAB = {"aws": "network", "snowflake": "snowflake", "probes": "probes", "sqlmesh": "sqlmesh"}
# Findings whose resource appears in several tables, and the table that explains them best.
PREFERRED_TABLES: dict[str, tuple[str, ...]] = {"EGRESS_": ("egress",), "SF_CURRENT_IP": ("egress",)}

# Libraries a real source imports; loaded in a thread before its first read so the event loop never pays.
# Importing sqlmesh holds the GIL for 1-2 s: its first read waits until the other panes have filled.
DEFERRED_SOURCES = frozenset({"sqlmesh"})
DEFERRED_START_S = 3.0
HEAVY_IMPORTS = {"aws": ("boto3", "botocore"), "snowflake": ("snowflake.connector",), "probes": ("aiohttp",)}

CLOSE_WAIT_S = 2.0

RETRY_FIRST_S = 5.0  # a failed source is retried after 5 s, 10 s, 20 s ... up to the refresh interval
WIDE_COLUMNS = 140  # from this width the inspector moves to the right and the tables get more rows
TTY_CHECK_S = 5.0


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight.

    The dashboard's heap is mostly long-lived: Textual, boto3, the Snowflake connector, sqlmesh and its project.
    A full collection walks all of it (0.2-0.4 s on the scale scenario, holding the GIL) and lands in the middle
    of a key press. Called where the heap has just grown for good (imports done, a source's first data shown);
    frozen objects are still freed by reference counting, so only reference cycles among them are kept, and
    the calls are few (a handful per process), which bounds that.
    """
    gc.freeze()


def _related(row: Row, findings: Sequence[Finding]) -> list[Finding]:
    """`views.related_findings`, imported on first use: by then the first computation has loaded the views."""
    from goodword_tui.analysis.views import related_findings

    return related_findings(row, findings)


def _caller(arn: str) -> str:
    """The readable end of a caller ARN: "OnCall/chris" from "arn:aws:sts::1:assumed-role/OnCall/chris"."""
    tail = arn.split(":")[-1]
    for prefix in ("assumed-role/", "user/", "role/"):
        if tail.startswith(prefix):
            return tail[len(prefix) :]
    return tail


class StatusHeader(Static):
    """Two lines: who and where (platform, mode in words, AWS and Snowflake identities), then how fresh each
    source is, the findings count and the refresh state."""


class Dashboard(Screen[None]):
    """The main screen: tabs for the panes, the inspector, the filter bar."""

    BINDINGS = [
        # Priority: the filter bar takes the focus before the next key is routed, so "/q" filters for "q".
        Binding("slash", "filter", "Filter", id="filter", priority=True),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear-filter"),
        Binding("c", "copy", "Copy", id="copy"),
        Binding("d", "details", "Details", show=False, id="details"),
        Binding("1", "show_tab('findings')", "Findings", show=False, id="tab-findings"),
        Binding("2", "show_tab('network')", "Network", show=False, id="tab-network"),
        Binding("3", "show_tab('snowflake')", "Snowflake", show=False, id="tab-snowflake"),
        Binding("4", "show_tab('sqlmesh')", "SQLMesh", show=False, id="tab-sqlmesh"),
        Binding("5", "show_tab('probes')", "Probes", show=False, id="tab-probes"),
        Binding("f", "fix", "Fix", id="fix"),
        Binding("m", "toggle_mark", "Mark for a batch fix", show=False, id="mark"),
        Binding("F", "fix_marked", "Fix the marked findings", show=False, id="fix-marked"),
    ]

    # Screen's own `focused` repaints the whole screen on every focus move, and that full repaint came on top of
    # the layout a tab switch already paints. The widgets losing and gaining the focus restyle and repaint
    # themselves (their `:focus` rules), which is all a focus move changes on screen.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._tab_panes = {tab_id: self._pane(tab_id) for tab_id, _ in TABS}

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="status-header")
        with Horizontal(id="main"):
            with Vertical(id="tabs"):
                yield TabStrip(TABS, "findings", id="tab-strip")
                with Container(id="panes"):
                    for tab_id, pane in self._tab_panes.items():
                        if tab_id == "findings":
                            yield pane
                        else:
                            # Hidden panes are mounted just after the first frame: the first paint comes sooner.
                            pane.display = False
                            yield Lazy(pane)
            yield Inspector(id="inspector")
        yield Input(id="filter-bar", placeholder="filter the table: type to narrow, Enter keeps it, Esc clears")
        yield KeyBar(id="keybar")

    @staticmethod
    def _pane(tab_id: str) -> Pane:
        panes: dict[str, Callable[[], Pane]] = {
            "findings": lambda: FindingsPane(id="pane-findings"),
            "network": lambda: NetworkPane(id="pane-network"),
            "snowflake": lambda: SnowflakePane(id="pane-snowflake"),
            "sqlmesh": lambda: SqlMeshPane(id="pane-sqlmesh"),
            "probes": lambda: ProbesPane(id="pane-probes"),
        }
        return panes[tab_id]()

    @property
    def gw(self) -> GoodwordApp:
        app = self.app
        assert isinstance(app, GoodwordApp)
        return app

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Write actions bound on this screen are hidden in read-only mode, like the app's own; `/` types
        itself while a text field has the focus."""
        if action == "filter" and isinstance(self.focused, Input):
            return False
        return self.gw.check_action(action, parameters)

    def on_mount(self) -> None:
        self.query_one("#filter-bar", Input).display = False
        findings = self.query_one("#table-findings", KeyedTable)
        findings.focus()
        self.gw.dashboard_ready()

    def on_screen_resume(self) -> None:
        self.gw.resume_skipped()

    # -- focus and rows -----------------------------------------------------------------------------------

    def active_tab(self) -> str:
        return self.query_one(TabStrip).active

    def active_pane(self) -> Pane | None:
        pane = self._tab_panes[self.active_tab()]
        return pane if pane.is_attached else None

    def tab_tables(self, tab_id: str) -> list[KeyedTable]:
        pane = self._tab_panes[tab_id]
        return pane.tables() if pane.is_attached else []

    def focused_table(self) -> KeyedTable | None:
        """The table the keys act on: the focused one, the one being filtered while the filter bar has the
        focus (so a refresh does not put another table's row in the inspector), else the active pane's first."""
        focused = self.focused
        if isinstance(focused, KeyedTable):
            return focused
        target = getattr(self, "_filter_target", None)
        if isinstance(focused, Input) and focused.id == "filter-bar" and isinstance(target, KeyedTable):
            return target
        tables = self.tab_tables(self.active_tab())
        return tables[0] if tables else None

    def current_row(self) -> Row | None:
        table = self.focused_table()
        row = table.current_row() if table else None
        return row if row is not None and row.key != EMPTY_KEY else None

    def switch_to(self, tab_id: str, focus: KeyedTable | None = None) -> None:
        """Show a tab and focus `focus` (scrolled to) or the pane's first table, now, so the keys typed next
        act on what is shown."""
        strip = self.query_one(TabStrip)
        if strip.active != tab_id:
            with self.app.batch_update():
                self._tab_panes[strip.active].display = False
                self._tab_panes[tab_id].display = True
                strip.show(tab_id)
        tables = self.tab_tables(tab_id)
        if focus is not None and focus in tables:
            self.set_focus(focus, scroll_visible=False)
            if isinstance(focus.parent, Section):
                focus.parent.scroll_visible(animate=False)
        elif tables and self.focused not in tables and not isinstance(self.focused, Input):
            self.set_focus(tables[0], scroll_visible=False)
        self.gw.inspect_after_frame()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A table taking the focus scrolls its whole section into view and feeds the inspector."""
        widget = event.widget
        if isinstance(widget, KeyedTable):
            pane = next((a for a in widget.ancestors if isinstance(a, Pane)), None)
            scroller = next((a for a in widget.ancestors if isinstance(a, VerticalScroll)), None)
            if pane is not None and scroller is not None and pane.tables()[:1] == [widget]:
                # The first table: show the pane from its top, so the summary above it (is the policy
                # active? am I let in?) stays on screen at 80x24.
                scroller.scroll_home(animate=False)
            elif isinstance(widget.parent, Section):
                widget.parent.scroll_visible(animate=False)
            self.gw.inspect_after_frame()

    @on(KeyedTable.Opened)
    def _opened(self, event: KeyedTable.Opened) -> None:
        if event.table.id == "table-findings" and isinstance(event.row.subject, Finding):
            self.gw.jump_to(event.row.subject)
        else:
            self.gw.open_detail(event.row)

    # -- filter ---------------------------------------------------------------------------------------------

    @guarded
    def action_filter(self) -> None:
        table = self.focused_table()
        if table is None:
            self.notify("Nothing to filter on this tab", timeout=3)
            return
        bar = self.query_one("#filter-bar", Input)
        self._filter_target = table
        bar.value = table.filter_text
        bar.display = True
        self.set_focus(bar)  # now, not after a refresh: keys typed right after `/` must land in the bar

    @on(Input.Changed, "#filter-bar")
    def _filter_changed(self, event: Input.Changed) -> None:
        table = getattr(self, "_filter_target", None)
        if isinstance(table, KeyedTable) and event.input.display:
            table.set_filter(event.value)
            self._retitle(table)

    @on(Input.Submitted, "#filter-bar")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._close_filter(keep=True)

    def _close_filter(self, *, keep: bool) -> None:
        bar = self.query_one("#filter-bar", Input)
        table = getattr(self, "_filter_target", None)
        bar.display = False
        if isinstance(table, KeyedTable):
            if not keep:
                table.set_filter("")
                self._retitle(table)
            table.focus()

    def _retitle(self, table: KeyedTable) -> None:
        section = table.parent
        if isinstance(section, Section):
            section.refresh_title()
        self.gw.update_inspector(table)

    @guarded
    def action_clear_filter(self) -> None:
        bar = self.query_one("#filter-bar", Input)
        if bar.display:
            self._close_filter(keep=False)
            return
        table = self.focused_table()
        if table is not None and table.filter_text:
            table.set_filter("")
            self._retitle(table)

    # -- other keys -----------------------------------------------------------------------------------------

    @guarded
    def action_copy(self) -> None:
        row = self.current_row()
        if row is None:
            self.notify("Select a row first", timeout=3)
            return
        value = row.copy or row.key
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {value}", timeout=3)

    @guarded
    def action_details(self) -> None:
        row = self.current_row()
        if row is not None:
            self.gw.open_detail(row)

    @guarded
    def action_show_tab(self, tab_id: str) -> None:
        if tab_id in self._tab_panes and tab_id != self.active_tab():
            self.switch_to(tab_id)

    @on(TabStrip.Clicked)
    def _tab_clicked(self, event: TabStrip.Clicked) -> None:
        self.action_show_tab(event.tab_id)

    # -- changes ----------------------------------------------------------------------------------------------

    def findings_table(self) -> KeyedTable:
        return self.query_one("#table-findings", KeyedTable)

    @guarded
    def action_fix(self) -> None:
        """`f`: the selected finding's fix (or, on a resource's row, the fix of the finding about it)."""
        self.gw.fix_row(self.current_row())

    @guarded
    def action_toggle_mark(self) -> None:
        """`m` on the findings: mark or unmark a finding for `F`, then move down (mark several in a row)."""
        table = self.focused_table()
        if table is None or table.id != "table-findings":
            self.notify("m marks findings: go to the Findings tab (1)", timeout=3)
            return
        row = self.current_row()
        finding = row.subject if row is not None else None
        if row is None or not isinstance(finding, Finding):
            return
        if finding.fix is None and row.key not in table.marks:
            self.notify(f"{finding.code} has no automatic fix; it cannot be marked for one", timeout=4)
            return
        table.toggle_mark(row.key)
        if isinstance(table.parent, Section):
            table.parent.refresh_title()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)

    @guarded
    def action_fix_marked(self) -> None:
        """`F`: every marked finding's fix, planned and reviewed as one batch."""
        table = self.findings_table()
        findings = [r.subject for r in table.marked_rows() if isinstance(r.subject, Finding)]
        if not findings:
            self.notify("Nothing is marked: m marks findings on the Findings tab, F fixes them together", timeout=4)
            return
        self.gw.fix_findings(findings)


class GoodwordApp(App[int]):
    """The on-call dashboard over a `Monitor`.

    `clock` is the dashboard's idea of now (ages, the snapshot's time); tests freeze it. `read_only` overrides
    the config's mode. `auto_refresh=False` reads every source once and then only on `r` (tests, benches).
    `own_process=True` (the real dashboard, not tests sharing a process) lets it freeze its long-lived heap
    out of the garbage collector's sight as it grows (`freeze_heap`).
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "goodword-tui"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("space", "toggle_pause", "Pause", id="pause"),
        # Priority: the prompt is pushed before the next key is routed; WhyScreen hands it to its field.
        Binding("w", "why", "Why", id="why", priority=True),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("j", "journal", "Journal", id="journal"),
        Binding("e", "export", "Export", id="export"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="palette", priority=True),
        # Priority: in a text field too (where Textual would copy nothing); copies first when text is selected.
        Binding("ctrl+c", "help_quit", "Quit (copies selected text first)", show=False, id="interrupt", priority=True),
    ]

    # Actions that change the platform (or only lead to a change: marking findings for a batch fix). In read-only
    # mode `check_action` hides them from the footer, the help and the palette and refuses to run them; the
    # core refuses them again below (ChangeContext in read-only mode, the botocore hook, the gateway's gate).
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "fix",
            "toggle_mark",
            "fix_marked",
            "add_entry",
            "remove_entry",
            "undo",
            "apply_change",
            "sqlmesh_run",
            "sqlmesh_apply",
        }
    )

    def __init__(
        self,
        settings: Settings,
        monitor: Monitor | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        read_only: bool | None = None,
        auto_refresh: bool = True,
        watch_terminal: bool = True,
        own_process: bool = False,
    ) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"  # over SSH every animation frame is bytes on the wire
        self.settings = settings
        self.monitor = monitor if monitor is not None else Monitor(settings)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.read_only = settings.read_only if read_only is None else read_only
        self.auto_reads = auto_refresh
        self.watch_terminal = watch_terminal
        self.own_process = own_process
        self._frozen_sources: set[str] = set()  # sources whose first data has been frozen with the heap
        self._panes: dict[str, Pane] = {}  # by id, as each mounts (panes live as long as the app; no DOM queries)
        self.paused = False
        self.findings: list[Finding] = []
        self.view: DashboardView | None = None
        self.analysis_error = ""
        self.refresh_count: dict[str, int] = dict.fromkeys(SOURCE_NAMES, 0)
        self._deferred_started = False
        self._busy: set[str] = set()
        self._asked: set[str] = set()  # sources whose running read the operator asked for (`r`): ↻ in the header
        self._source_timers: dict[str, Timer] = {}
        self._failures: dict[str, int] = {}
        self._skipped: set[str] = set()
        self._next_at: dict[str, float] = {}
        self._rebuilding = False
        self._rebuild_pending = False
        self._parts = PartCache()  # a refresh that found nothing new recomputes nothing (rebuilds never overlap)
        self._pinned: Finding | None = None
        self._inspection_pending = False
        self._wide = False
        self._change_ctx: ChangeContext | None = None
        self._change_lock = threading.RLock()  # one change (or reconciliation) talks to the platforms at a time
        self._applying: set[int] = set()  # threads applying a change now (`applying`): quitting waits for them
        self.reconciled: list[Any] = []  # what the start-up reconciliation found (changes.apply.Reconciled)
        self.last_export: Any = None  # the last export's ExportResult (path, sha256, s3_uri, note)

    # -- set-up -----------------------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return Dashboard(id="dashboard")

    def _dashboard(self) -> Dashboard:
        screen = self.screen_stack[0] if self.screen_stack else self.screen
        assert isinstance(screen, Dashboard)
        return screen

    @property
    def interval(self) -> float:
        return float(self.settings.platform.refresh_interval_s)

    def on_mount(self) -> None:
        self.title = f"{self.settings.platform.name} — goodword-tui"
        self._apply_keymap()
        if not self.is_headless:
            asyncio.get_running_loop().set_exception_handler(log_loop_exception)
        if self.watch_terminal and not self.is_headless:
            self._watch_terminal()

    def dashboard_ready(self) -> None:
        """The dashboard is composed: show it as loading, then start reading once the first frame is out."""
        self._on_resize_width(self.size.width)
        self.update_header()
        for source in SOURCE_NAMES:
            self._show_status(source)
        self.call_after_refresh(self._first_reads)
        self.call_after_refresh(self._reconcile)
        self.set_interval(10, self._tick_ages, name="ages")
        if self.own_process:
            self.set_timer(startup.STARTUP_LIMIT_S, self.end_startup, name="end of start-up")

    def end_startup(self) -> None:
        """Every source has answered once (or start-up has run out of time): the collector resumes. Without a
        collection first: one would walk everything the first screen and the first data made (~110 ms on `scale`,
        on the event loop, just as the operator starts pressing keys); the garbage start-up leaves is frozen with
        the rest instead (~19,000 objects on `scale`, once)."""
        startup.resume(collect=False)

    def _first_reads(self) -> None:
        """Read the fast sources first; the slow-to-import ones start when those have answered (or 3 s on)."""
        for source in SOURCE_NAMES:
            if source not in DEFERRED_SOURCES:
                self.refresh_source(source)
        self.set_timer(DEFERRED_START_S, self._start_deferred, name="deferred sources")

    def _start_deferred(self) -> None:
        if self._deferred_started:
            return
        self._deferred_started = True
        for source in SOURCE_NAMES:
            if source in DEFERRED_SOURCES:
                self.refresh_source(source)

    def _maybe_start_deferred(self) -> None:
        if all(self.refresh_count.get(s, 0) for s in SOURCE_NAMES if s not in DEFERRED_SOURCES):
            self._start_deferred()

    def _apply_keymap(self) -> None:
        """Remap keys from [platform.bindings] (binding id → keys); unknown ids are reported, not fatal."""
        keymap = dict(self.settings.platform.bindings)
        if not keymap:
            return
        known = {b.id for b in self._all_bindings() if b.id}
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.notify(
                f"Unknown binding id(s) in [platform.bindings]: {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(known))}",
                severity="warning",
                timeout=10,
            )
        self.set_keymap({k: v for k, v in keymap.items() if k in known})

    def _all_bindings(self) -> list[Binding]:
        found: list[Binding] = []
        for cls in (
            GoodwordApp,
            Dashboard,
            KeyedTable,
            FindingsPane,
            NetworkPane,
            SnowflakePane,
            SqlMeshPane,
            ProbesPane,
            DetailScreen,
            HelpScreen,
            WhyScreen,
            ChangeScreen,
            EntryScreen,
            JournalScreen,
        ):
            found += [b for b in cls.BINDINGS if isinstance(b, Binding)]
        return found

    def _watch_terminal(self) -> None:
        """Exit cleanly when the SSH session or terminal goes away (SIGHUP, or stdin no longer a terminal)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._terminal_gone, "SIGHUP")
        except (NotImplementedError, RuntimeError, ValueError):
            log.info("no SIGHUP handler on this platform")
        self.set_interval(TTY_CHECK_S, self._check_tty, name="tty-check")

    def _check_tty(self) -> None:
        stdin = sys.__stdin__
        try:
            alive = stdin is not None and os.isatty(stdin.fileno())
        except (OSError, ValueError):
            alive = False
        if not alive:
            self._terminal_gone("stdin is no longer a terminal")

    def _terminal_gone(self, why: str) -> None:
        log.info("terminal gone (%s); exiting", why)
        self.exit(0)

    def on_resize(self, event: Any) -> None:
        self._on_resize_width(event.size.width)

    def _on_resize_width(self, width: int) -> None:
        """On the app itself, so every screen (including modals pushed later) follows."""
        wide = width >= WIDE_COLUMNS
        if wide != self._wide or not self.has_class("-wide", "-narrow"):
            self._wide = wide
            self.set_class(wide, "-wide")
            self.set_class(not wide, "-narrow")

    # -- read-only --------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The UI half of read-only: write actions are hidden and refused (the core refuses them too). `w` (a
        priority key) types itself in a text field and on the why screen."""
        if action == "why" and (isinstance(self.screen, WhyScreen) or isinstance(self.screen.focused, Input)):
            return False
        return not (self.read_only and action in self.WRITE_ACTIONS)

    # -- refreshing ---------------------------------------------------------------------------------------------

    def refresh_all(self) -> None:
        for source in SOURCE_NAMES:
            self.refresh_source(source)

    def refresh_source(self, source: str) -> None:
        """Read `source` now unless a read is already running (refreshes never overlap)."""
        if source in self._busy:
            return
        timer = self._source_timers.pop(source, None)
        if timer is not None:
            timer.stop()
        self._skipped.discard(source)
        self._busy.add(source)
        self.run_worker(
            self._refresh(source),
            name=f"refresh {source}",
            group=f"source-{source}",
            description=f"Reading {SOURCE_TITLES.get(source, source)}",
            exclusive=True,
            exit_on_error=False,
        )

    def _warm_up(self, source: str) -> None:
        """In a thread: import the source modules and, for real sources, their heavy libraries."""
        fetcher = self.monitor.fetchers.get(source)
        if fetcher is not None and getattr(fetcher, "__module__", "").startswith("goodword_tui.sources"):
            for name in HEAVY_IMPORTS.get(source, ()):
                try:
                    importlib.import_module(name)
                except ImportError:
                    log.warning("could not import %s for %s", name, source)
            if self.own_process:
                freeze_heap()

    async def _refresh(self, source: str) -> None:
        result: SourceResult[Any] | None = None
        try:
            await asyncio.to_thread(self._warm_up, source)
            result = await self.monitor.refresh(source)
        except Exception as error:  # a source must not raise, but if one does the dashboard stays up
            report(self, f"reading {source}", error)
        finally:
            self._busy.discard(source)
            self._asked.discard(source)
            self.refresh_count[source] = self.refresh_count.get(source, 0) + 1
        self._schedule(source, result)
        self._maybe_start_deferred()
        await self.rebuild()
        if self.own_process and result is not None and result.data is not None and source not in self._frozen_sources:
            self._frozen_sources.add(source)  # its client, its modules and the rows now shown live on
            freeze_heap()
        if self.own_process and all(self.refresh_count.get(s, 0) for s in SOURCE_NAMES):
            self.end_startup()

    def _schedule(self, source: str, result: SourceResult[Any] | None) -> None:
        if result is None or result.error is not None:
            failures = self._failures[source] = self._failures.get(source, 0) + 1
            delay = min(self.interval, RETRY_FIRST_S * 2 ** (failures - 1))
        else:
            self._failures[source] = 0
            delay = self.interval
        self._next_at[source] = time.monotonic() + delay
        if self.auto_reads or (result is None or result.error is not None):
            self._source_timers[source] = self.set_timer(delay, partial(self._due, source), name=f"next {source}")

    def _due(self, source: str) -> None:
        self._source_timers.pop(source, None)
        if self.paused or self.modal_open():
            self._skipped.add(source)  # read again as soon as the modal closes or the pause ends
            return
        self.refresh_source(source)

    def modal_open(self) -> bool:
        return len(self.screen_stack) > 1

    def resume_skipped(self) -> None:
        if self.paused:
            return
        for source in sorted(self._skipped):
            self.refresh_source(source)

    def current_snapshot(self) -> Snapshot:
        """The monitor's results, timed by our clock (ages and stale findings use it)."""
        return dataclasses.replace(self.monitor.snapshot(), taken_at=self.clock())

    def _compute(self, snapshot: Snapshot) -> tuple[list[Finding], str, DashboardView]:
        """In a thread: findings and every pane's rows. Pure functions over an immutable snapshot."""
        error = ""
        try:
            from goodword_tui.analysis.findings import analyze

            findings = analyze(snapshot, self.settings, self._parts)
        except Exception as exc:
            log.error("findings analysis failed", exc_info=exc)
            findings, error = [], one_line(exc)
        from goodword_tui.analysis.views import dashboard_view

        return findings, error, dashboard_view(snapshot, self.settings, findings, self._parts)

    async def rebuild(self) -> None:
        """Recompute findings and rows from the newest results and apply them.

        Coalesced: when sources answer together, one computation runs and, if more answers arrived meanwhile,
        one more after it, instead of one per answer competing with the keyboard for the CPU.
        """
        if self._rebuilding:
            self._rebuild_pending = True
            return
        self._rebuilding = True
        try:
            while True:
                self._rebuild_pending = False
                snapshot = self.current_snapshot()
                try:
                    findings, error, view = await asyncio.to_thread(self._compute, snapshot)
                except Exception as exc:
                    report(self, "building the view", exc)
                    self.update_header()  # the reads that ended are no longer marked as running
                    return
                self.apply(snapshot, findings, error, view)
                if not self._rebuild_pending:
                    return
        finally:
            self._rebuilding = False

    @guarded
    def apply(self, snapshot: Snapshot, findings: list[Finding], error: str, view: DashboardView) -> None:
        self.findings = findings
        self.analysis_error = error
        self.view = view
        panes = [pane for pane in self._panes.values() if pane.is_attached]
        with self.batch_update():
            for pane in panes:
                pane.show_view(view)
            loading = [s for s in SOURCE_NAMES if not self.monitor.loaded(s)]
            findings_pane = self._panes.get("pane-findings")
            if isinstance(findings_pane, FindingsPane):
                findings_pane.show_summary(view.counts, loading, error)
            for source in SOURCE_NAMES:
                self._show_status(source)
            for pane in panes:
                for section in pane.sections():
                    section.refresh_title()
            self._retitle_tabs()
            self.update_header()
            self.update_inspector()

    # -- header, tabs, statuses ---------------------------------------------------------------------------

    def statuses(self) -> dict[str, SourceStatus]:
        now = self.clock()
        return {s: source_status(s, self.monitor.result(s), now) for s in SOURCE_NAMES}

    def _retry_text(self, source: str) -> str:
        failures = self._failures.get(source, 0)
        if not failures:
            return ""
        delay = min(self.interval, RETRY_FIRST_S * 2 ** (failures - 1))
        return f"Retrying every {delay:.0f}s (r: now)."

    def pane_ready(self, pane: Pane) -> None:
        """A pane mounted after the first frame catches up with what is already known."""
        self._panes[pane.id or type(pane).__name__] = pane
        for table in pane.tables():
            table.cursor_moved.subscribe(pane, self.inspect_after_frame, immediate=True)
        if pane.SOURCE in SOURCE_NAMES:
            self._show_status(pane.SOURCE)
        if self.view is not None:
            with self.batch_update():
                pane.show_view(self.view)
                for section in pane.sections():
                    section.refresh_title()
        dashboard = self._dashboard()
        if dashboard.active_pane() is pane:
            # Its number key came before it was mounted (typed ahead at start): the findings table, hidden, kept
            # the focus, and the keys after it moved a cursor nobody could see. The shown pane takes it now.
            dashboard.switch_to(dashboard.active_tab())

    def _show_status(self, source: str) -> None:
        tab = SOURCE_TAB.get(source)
        if tab is None:
            return
        pane = self._panes.get(f"pane-{tab}")
        if pane is None or not pane.is_attached:  # not mounted yet: its status is shown when it is
            return
        pane.show_status(source_status(source, self.monitor.result(source), self.clock()), self._retry_text(source))

    def _tick_ages(self) -> None:
        """Every 10 s: ages move on. Short forms (4s, 3m) keep the bytes written to an idle terminal low."""
        self.update_header()
        for source in SOURCE_NAMES:
            if self.monitor.loaded(source):
                self._show_status(source)

    def _retitle_tabs(self) -> None:
        statuses = self.statuses()
        counts = self.view.counts if self.view else {}
        labels: dict[str, str] = {}
        for tab_id, title in TABS:
            label = title
            if tab_id == "findings" and self.view is not None:
                label = f"{title} {sum(counts.values())}"
            source = next((s for s, t in SOURCE_TAB.items() if t == tab_id), None)
            status = statuses.get(source or "")
            if status is not None and status.state in ("failed", "stale"):
                label += " ✗"
            elif status is not None and status.state == "loading":
                label += " …"
            labels[tab_id] = label
        self._dashboard().query_one(TabStrip).set_labels(labels)

    def update_header(self) -> None:
        set_text(self._dashboard().query_one(StatusHeader), self.header_text())

    def header_text(self) -> Text:
        """Line 1: platform, mode in words, AWS identity and age. Line 2: Snowflake identity and age, probes,
        the refresh state, the findings count. Most important first, so 80 columns cut only the tail."""
        statuses = self.statuses()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.settings.platform.name} ", style="bold reverse")
        text.append(" ")
        if self.read_only:
            text.append(" READ-ONLY ", style="bold reverse")
        else:
            text.append(" WRITE ", style="bold")
        aws = self.monitor.result("aws")
        identity = aws.data.identity if aws is not None and aws.data is not None else None
        if identity is not None:
            text.append(f" AWS {identity.account} {identity.region} {_caller(identity.arn)} ")
        else:
            profile = f" ({self.settings.aws.profile})" if self.settings.aws.profile else ""
            text.append(f" AWS {self.settings.aws.region}{profile} ")
        self._status(text, statuses["aws"], reading="aws" in self._asked)
        text.append(" │ ")
        if self.paused:
            text.append("PAUSED", style="bold reverse")
        elif not self.auto_reads:
            text.append("manual")
        else:
            text.append(f"auto {self.interval:.0f}s")
        text.append("\n ")
        sf = self.monitor.result("snowflake")
        state = sf.data if sf is not None else None
        if state is not None:
            text.append(f"Snowflake {state.account} {state.user} {state.role} ")
        else:
            text.append(f"Snowflake {self.settings.snowflake.account} ")
        self._status(text, statuses["snowflake"], reading="snowflake" in self._asked)
        text.append(" │ probes ")
        self._status(text, statuses["probes"], reading="probes" in self._asked)
        text.append(" │ sqlmesh ")
        self._status(text, statuses["sqlmesh"], reading="sqlmesh" in self._asked)
        if self.view is not None:
            counts = self.view.counts
            text.append(" │ ")
            text.append(f"{counts.get('CRIT', 0)} crit", style="bold red" if counts.get("CRIT") else "")
            text.append(f" {counts.get('WARN', 0)} warn", style="yellow" if counts.get("WARN") else "")
        return text

    @staticmethod
    def _status(text: Text, status: SourceStatus, *, reading: bool = False) -> None:
        """A source's state in a word or mark plus the age: ✓ 4s, … (loading), ✗ FAILED, ✗ STALE 3m; ↻ instead of
        ✓ or ✗ while a read the operator asked for runs (reads on the timer change nothing: an idle terminal gets
        no bytes)."""
        if status.state == "loading":
            text.append("loading…", style="dim")
        elif status.state == "ok":
            text.append(f"{'↻' if reading else '✓'} {status.age}")
        elif status.state == "stale":
            text.append(f"{'↻' if reading else '✗'} STALE {status.age}", style="bold red")
        else:
            text.append(f"{'↻' if reading else '✗'} FAILED", style="bold red")

    # -- inspector, jump, detail ------------------------------------------------------------------------------

    def inspect_after_frame(self, _moved: object = None) -> None:
        """Show the focused row in the inspector once the frame with the key's own effect (the highlight moved,
        the pane switched) is out: the findings lookup and the inspector's text cost a key tens of
        milliseconds here, and painted in the same frame they held the highlight back (a cursor key's first
        change 14 ms → 55-67 ms p50 in the dashboard bench). Moves before that frame make one update."""
        if not self._inspection_pending:
            self._inspection_pending = self.call_after_refresh(self._inspect_now)  # False: the app is closing

    def _inspect_now(self) -> None:
        self._inspection_pending = False
        self.update_inspector()

    def update_inspector(self, table: KeyedTable | None = None) -> None:
        dashboard = self._dashboard()
        try:
            inspector = dashboard.query_one(Inspector)
        except NoMatches:  # not mounted yet
            return
        table = table or dashboard.focused_table()
        row = table.current_row() if table is not None else None
        related = _related(row, self.findings) if row is not None else []
        pinned = self._pinned if self._pinned in related else None
        inspector.show(row, related, pinned)

    @guarded
    def jump_to(self, finding: Finding) -> None:
        """Go to the row a finding is about: its pane, its table, the row under the cursor, the evidence shown."""
        dashboard = self._dashboard()
        if finding.area is Area.SOURCES and finding.resource in SOURCE_TAB:
            dashboard.action_show_tab(SOURCE_TAB[finding.resource])  # the pane says what failed and when
            return
        for tab_id, table in self._candidate_tables(finding):
            rows = table.find_rows(finding.resource)
            if not rows:
                continue
            self._pinned = finding
            table.select_key(rows[0].key)
            section = table.parent
            dashboard.switch_to(tab_id, focus=table)
            if isinstance(section, Section):
                section.refresh_title()
            self.call_after_refresh(self.update_inspector, table)
            return
        if finding.area is Area.SQLMESH:
            dashboard.action_show_tab("sqlmesh")
        self.notify(f"No row shows {finding.resource}; here is the finding itself.", timeout=4)
        row = next(
            (r for r in (self.view.findings.rows if self.view else ()) if r.subject is finding),
            Row(finding.code, (), subject=finding, title=f"{finding.code}: {finding.resource}", copy=finding.resource),
        )
        self.open_detail(row)

    def _candidate_tables(self, finding: Finding) -> list[tuple[str, KeyedTable]]:
        """Where to look for a finding's resource: the table its code is about first (egress findings name an
        instance, but belong with the egress rows), then its area's tab, then every other tab."""
        dashboard = self._dashboard()
        tabs = [AREA_TAB.get(finding.area)]
        tabs += [t for t, _ in TABS if t not in tabs and t != "findings"]
        found: list[tuple[str, KeyedTable]] = []
        for tab_id in tabs:
            if tab_id is not None:
                panes = dashboard.query(f"#pane-{tab_id}").results(Pane)
                found += [(tab_id, table) for pane in panes for table in pane.tables()]
        first = next((ids for prefix, ids in PREFERRED_TABLES.items() if finding.code.startswith(prefix)), ())
        return sorted(found, key=lambda pair: (pair[1].id or "").removeprefix("table-") not in first)

    @guarded
    def open_detail(self, row: Row) -> None:
        source = self._source_for(row)
        line = self.statuses()[source].line if source else ""
        self.push_screen(DetailScreen(row, _related(row, self.findings), line))

    def _source_for(self, row: Row) -> str | None:
        tab = None
        for pane in self._dashboard().query(Pane):
            if any(row.key in t.shown for t in pane.tables()):
                tab = (pane.id or "").removeprefix("pane-")
                break
        return next((s for s, t in SOURCE_TAB.items() if t == tab and s in SOURCE_NAMES), None)

    # -- actions ------------------------------------------------------------------------------------------------

    @guarded
    def action_refresh(self) -> None:
        """Read every source now; the header marks each read running with ↻ until it lands. (A toast said so
        before: its mount and its removal each laid the whole screen out again, just as the operator's next keys
        came in. On `scale` the key after `r` took 57-221 ms with it and 30-134 ms without.)"""
        self.refresh_all()
        self._asked.update(self._busy)
        self.update_header()

    @guarded
    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.resume_skipped()
        self.update_header()
        self.notify("Auto-refresh paused (space resumes)" if self.paused else "Auto-refresh resumed", timeout=3)

    @guarded
    def action_why(self) -> None:
        initial = ""
        if not self.modal_open():
            row = self._dashboard().current_row()
            from goodword_tui.analysis.policy import parse_address

            if row is not None and parse_address(row.copy or "") is not None:
                initial = row.copy
        self.push_screen(WhyScreen(self.current_snapshot, self.settings, initial))

    @guarded
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_help(), self._help_notes()))

    def key_help(self) -> list[KeyHelp]:
        """The live bindings of the screen the user is on (after remapping, filtered by `check_action`)."""
        grouped: dict[tuple[str, str], KeyHelp] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.system:
                continue
            where = self._where(active.node)
            group = (binding.action, where)
            display = self.get_key_display(binding)
            known = grouped.get(group)
            if known is not None:
                grouped[group] = dataclasses.replace(
                    known, key=f"{known.key}, {display}", binding_id=known.binding_id or binding.id or ""
                )
            else:
                grouped[group] = KeyHelp(display, binding.description, binding.id or "", where, active.enabled)
        # Ours (with ids, remappable) first, then Textual's own navigation keys; within a group in the order the
        # bindings are declared (1 … 5 in tab order, not alphabetically by tab name).
        order = {"everywhere": 0, "screen": 1, "table": 2}
        return sorted(grouped.values(), key=lambda r: (not r.binding_id, order.get(r.where, 3)))

    def _where(self, node: Any) -> str:
        if node is self:
            return "everywhere"
        if isinstance(node, Screen):
            return "screen"
        return "table" if isinstance(node, KeyedTable) else type(node).__name__

    def _help_notes(self) -> list[str]:
        notes = [
            "Tab / shift+tab move between tables; arrows, PgUp/PgDn move in one. Enter on a finding goes to its "
            "resource; Enter elsewhere (or d) opens the details.",
            f"Mode: {'READ-ONLY: write actions are hidden and refused' if self.read_only else 'WRITE'}."
            f" Auto-refresh every {self.interval:.0f}s (space pauses; it also waits while a dialog is open).",
            'Remap keys in config.toml, e.g. [platform.bindings] refresh = "f5"  (binding id = keys).',
        ]
        return notes

    # -- changes ----------------------------------------------------------------------------------------------
    #
    # Planning is pure and quick (main thread); applying, reconciling, reading the journal, planning an undo and
    # exporting talk to disks and platforms, so they run in thread workers. Every write goes through one
    # ChangeContext made for this app's mode: in read-only mode it refuses before anything leaves the process.

    @property
    def change_settings(self) -> Settings:
        """The settings changes and exports use, in this app's mode (`--read-only` overrides the file's mode)."""
        if self.settings.read_only == self.read_only:
            return self.settings
        mode = "read-only" if self.read_only else "write"
        return self.settings.model_copy(update={"platform": self.settings.platform.model_copy(update={"mode": mode})})

    def change_context(self) -> ChangeContext:
        """The context changes go through, made on first use (in a worker thread: it reads connections.toml)."""
        with self._change_lock:
            if self._change_ctx is None:
                from goodword_tui.changes.apply import ChangeContext

                self._change_ctx = ChangeContext(self.change_settings, read_only=self.read_only)
                from goodword_tui.changes.sqlmesh import use_reader
                from goodword_tui.sqlmesh_actions import reader_of

                use_reader(self._change_ctx, reader_of(self.monitor))  # SQLMesh changes on the dashboard's thread
            return self._change_ctx

    @property
    def journal_path(self) -> Path:
        from goodword_tui.journal import default_journal_path

        return default_journal_path(self.change_settings)

    def on_unmount(self) -> None:
        ctx, self._change_ctx = self._change_ctx, None
        if ctx is not None:
            try:
                ctx.close()
            except Exception as error:  # closing a session on a server that went away is best effort
                log.warning("closing the change context failed: %s", one_line(error))
        # The monitor's sessions (Snowflake's logs out over the network) are closed in a daemon thread given two
        # seconds: a server that hangs must not hold the terminal after `q`.
        closer = threading.Thread(target=self._close_monitor, name="close-monitor", daemon=True)
        closer.start()
        closer.join(CLOSE_WAIT_S)

    def _close_monitor(self) -> None:
        if "snowflake.connector" in sys.modules:
            from goodword_tui.sources.snowflake import mute_session_goodbyes

            mute_session_goodbyes()
        try:
            self.monitor.close()
        except Exception as error:
            log.warning("closing the sources failed: %s", one_line(error))

    def _reconcile(self) -> None:
        """At start: an intent journaled without a result (the last run died mid-change) is settled by re-reading."""
        self.run_worker(self._reconcile_blocking, name="reconcile", group="reconcile", thread=True, exit_on_error=False)

    def _reconcile_blocking(self) -> None:
        from goodword_tui.changes.apply import reconcile_pending
        from goodword_tui.changes.base import actions

        try:
            actions()  # load the change modules now, off the event loop, so the first `f` plans at once
            with self._change_lock:
                outcomes = reconcile_pending(self.change_context())
        except Exception as error:
            log.error("reconciling the journal failed", exc_info=error)
            self.call_from_thread(
                self.notify,
                f"Could not check the journal for interrupted changes: {one_line(error)}",
                severity="warning",
                timeout=10,
            )
            return
        self.reconciled = list(outcomes)
        if not outcomes:
            return
        counts = {word: sum(1 for o in outcomes if o.result == word) for word in ("applied", "not_applied", "pending")}
        lines = [f"{o.entry.description}: {o.result.replace('_', ' ')}" for o in outcomes[:5]]
        message = (
            f"Found {len(outcomes)} change(s) interrupted before their result was journaled; re-read: "
            f"{counts['applied']} applied, {counts['not_applied']} not applied, {counts['pending']} still unknown "
            "(retried at next start).\n" + "\n".join(lines) + "\n(j shows the journal)"
        )
        self.call_from_thread(
            self.notify,
            message,
            title="Journal reconciled",
            severity="warning" if counts["pending"] else "information",
            timeout=20,
        )

    def _finding_for(self, row: Row | None) -> Finding | None:
        """The finding `f` acts on: the row's own, else the pinned or first finding with a fix about the row."""
        if row is None:
            return None
        if isinstance(row.subject, Finding):
            return row.subject
        related = [f for f in _related(row, self.findings) if f.fix is not None]
        if self._pinned is not None and self._pinned in related:
            return self._pinned
        return related[0] if related else None

    def fix_row(self, row: Row | None) -> None:
        if not self.check_action("fix", ()):
            return
        finding = self._finding_for(row)
        if finding is None:
            about = sorted({f.code for f in _related(row, self.findings)}) if row is not None else []
            if about:  # findings, but none with a fix: say so rather than "select a finding"
                self.notify(f"No automatic fix for {', '.join(about)}: d shows the evidence and what to do", timeout=5)
            else:
                self.notify("Select a finding (or a row a finding is about) to fix", timeout=3)
            return
        if finding.fix is None:
            self.notify(f"{finding.code} has no automatic fix: {finding.message}", timeout=5)
            return
        from goodword_tui.changes.base import change_from_fix
        from goodword_tui.changes.inputs import InputError

        try:
            change = change_from_fix(finding.fix, self.current_snapshot(), self.change_settings)
        except InputError as error:
            self._cannot_plan(f"the fix for {finding.code}", error)
            return
        self.preview_change(change, title=f"Fix {finding.code} {finding.resource}")

    def fix_findings(self, findings: Sequence[Finding]) -> None:
        if not self.check_action("fix_marked", ()):
            return
        from goodword_tui.changes.base import plan_batch

        fixes = [f.fix for f in findings if f.fix is not None]
        batch, refused = plan_batch(fixes, self.current_snapshot(), self.change_settings)
        if not batch.changes:
            reasons = "; ".join(f"{intent.action}: {error.message}" for intent, error in refused)
            self.notify(f"None of the marked fixes could be planned: {reasons}", severity="warning", timeout=10)
            return
        self.preview_change(batch, title=f"Fix {len(findings)} marked finding(s) as one batch", refused=refused)

    def preview_change(self, change: Change | Batch, *, title: str = "", refused: Sequence[Any] = ()) -> None:
        self.push_screen(ChangeScreen(change, title=title, refused=refused))

    def _cannot_plan(self, what: str, error: Exception) -> None:
        hint = getattr(error, "hint", "")
        message = getattr(error, "message", str(error))
        self.notify(f"Cannot plan {what}: {message}" + (f" — {hint}" if hint else ""), severity="warning", timeout=8)

    def _snowflake_state(self) -> Any:
        result = self.monitor.result("snowflake")
        return result.data if result is not None else None

    def add_entry(self) -> None:
        """`a` on the Snowflake pane: the form, then (for a valid entry) the preview."""
        if not self.check_action("add_entry", ()):
            return
        from goodword_tui.changes.base import plan

        state = self._snowflake_state()
        settings = self.change_settings

        def planner(cidr: str, label: str) -> Change:
            return plan("add_allowed_ip", {"cidr": cidr, "label": label}, state, settings)

        def previewed(change: Change | None) -> None:
            if change is not None:
                self.preview_change(change, title=f"Add an entry to {settings.snowflake.policy}")

        self.push_screen(EntryScreen(settings.snowflake.policy, planner), callback=previewed)

    def remove_entry(self) -> None:
        """`x` on the Snowflake pane: remove the selected allowed (or blocked) entry, through the preview."""
        if not self.check_action("remove_entry", ()):
            return
        row = self._dashboard().current_row()
        item = row.subject if row is not None else None
        entry, which, present = (getattr(item, name, None) for name in ("entry", "list", "present"))
        if not isinstance(entry, str) or which not in ("allowed", "blocked"):
            self.notify("x removes an IP entry: select one in the entries table", timeout=3)
            return
        if not present:
            self.notify(f"{entry} is not in the policy (it is missing); f on its finding adds it back", timeout=5)
            return
        from goodword_tui.changes.base import plan
        from goodword_tui.changes.inputs import InputError

        action = "remove_allowed_ip" if which == "allowed" else "remove_blocked_ip"
        try:
            change = plan(action, {"cidr": entry}, self._snowflake_state(), self.change_settings)
        except InputError as error:
            self._cannot_plan(f"removing {entry}", error)
            return
        self.preview_change(change, title=f"Remove {entry} from the {which} list")

    def apply_blocking(
        self, subject: Change | Batch, *, reason: str, confirmation: str | None, lockout_override: str | None
    ) -> ApplyResult | BatchResult:
        """In a worker thread: the core applies (guards, journal, send, verify). One change at a time."""
        from goodword_tui.changes.apply import apply_batch, apply_change
        from goodword_tui.changes.base import Batch

        with self.applying():
            ctx = self.change_context()
            if isinstance(subject, Batch):
                return apply_batch(
                    subject, ctx, reason=reason, confirmation=confirmation, lockout_override=lockout_override
                )
            return apply_change(
                subject, ctx, reason=reason, confirmation=confirmation, lockout_override=lockout_override
            )

    def changes_applied(self, subject: Change | Batch, outcome: ApplyResult | BatchResult) -> None:
        """Something was sent (or the target moved under us): read the affected sources again now."""
        from goodword_tui.changes.apply import BatchResult
        from goodword_tui.changes.base import Batch

        changes = subject.changes if isinstance(subject, Batch) else (subject,)
        for source in dict.fromkeys(c.system.value for c in changes):
            if source in SOURCE_NAMES:
                self.refresh_source(source)
        if isinstance(outcome, BatchResult) and outcome.applied:
            table = self._dashboard().findings_table()
            table.clear_marks()
            if isinstance(table.parent, Section):
                table.parent.refresh_title()

    @guarded
    def action_journal(self) -> None:
        self.open_journal()

    @guarded
    def action_export(self) -> None:
        self.export_report()

    def open_journal(self) -> None:
        if isinstance(self.screen, JournalScreen):
            return
        self.push_screen(JournalScreen())

    def journal_entries(self) -> list[JournalEntry]:
        from goodword_tui.journal import Journal

        return Journal.for_settings(self.change_settings).entries()

    def plan_undo_blocking(self, entry: JournalEntry) -> Change:
        from goodword_tui.changes.apply import plan_undo

        with self._change_lock:
            return plan_undo(entry, self.change_context())

    def export_report(self) -> None:
        """`e`: the snapshot, the findings and the journal as a Markdown report with its SHA-256 (works read-only)."""
        snapshot, findings = self.current_snapshot(), list(self.findings)
        self.notify("Exporting the report…", timeout=2)
        self.run_worker(
            partial(self._export_blocking, snapshot, findings),
            name="export",
            group="export",
            thread=True,
            exit_on_error=False,
        )

    def _export_blocking(self, snapshot: Snapshot, findings: list[Finding]) -> None:
        from goodword_tui.export import export_report

        try:
            result = export_report(self.change_settings, snapshot, findings, fmt="md")
        except Exception as error:  # a full disk or a bad path: said in one line, never a traceback
            log.error("export failed", exc_info=error)
            self.call_from_thread(
                self.notify, f"Export failed: {one_line(error)}", title="Export", severity="error", timeout=10
            )
            return
        lines = [f"Report: {result.path}", f"SHA-256: {result.sha256}", f"Checksum file: {result.checksum_path}"]
        if result.s3_uri:
            lines.append(f"Uploaded: {result.s3_uri}")
        if result.note:
            lines.append(result.note)
        self.last_export = result
        self.call_from_thread(self.notify, "\n".join(lines), title="Report exported", timeout=30)

    # -- command palette ------------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Commands for what is on screen: the dashboard's tabs, sources, findings and the selected row; a
        detail screen's copy actions."""
        if isinstance(screen, DetailScreen):
            yield SystemCommand("Copy value", f"Copy {screen.row.copy or screen.row.key}", screen.action_copy_value)
            yield SystemCommand("Copy raw JSON", "Copy this resource as JSON", screen.action_copy_json)
            yield SystemCommand("Close", "Back to the dashboard", screen.action_close)
            return
        if not isinstance(screen, Dashboard):
            yield from super().get_system_commands(screen)
            return
        for tab_id, title in TABS:
            yield SystemCommand(f"Go to {title}", f"Show the {title} tab", partial(screen.action_show_tab, tab_id))
        yield SystemCommand("Refresh all now", "Read every source again", self.action_refresh)
        for source in SOURCE_NAMES:
            title = SOURCE_TITLES.get(source, source)
            yield SystemCommand(f"Refresh {title}", f"Read {title} again now", partial(self.refresh_source, source))
        yield SystemCommand(
            "Resume auto-refresh" if self.paused else "Pause auto-refresh",
            f"Currently {'paused' if self.paused else f'every {self.interval:.0f}s'}",
            self.action_toggle_pause,
        )
        yield SystemCommand(
            "Why / reach…", "Explain an address, or whether one address reaches another", self.action_why
        )
        yield SystemCommand("Filter the table", "Narrow the focused table", screen.action_filter)
        row = screen.current_row()
        finding = self._finding_for(row)
        if finding is not None and finding.fix is not None and self.check_action("fix", ()):
            yield SystemCommand(
                f"Fix: {finding.fix.summary}",
                f"Preview the fix for {finding.code} {finding.resource}",
                partial(self.fix_row, row),
            )
        if self.check_action("fix_marked", ()) and screen.findings_table().marks:
            yield SystemCommand(
                "Fix marked findings", "Review the marked findings' fixes as one batch", screen.action_fix_marked
            )
        yield SystemCommand("Journal", "The changes made, newest first (u undoes one)", self.open_journal)
        yield SystemCommand(
            "Export report", "Write the snapshot, findings and journal with a SHA-256", self.export_report
        )
        if row is not None:
            yield SystemCommand(
                f"Details: {row.title or row.key}",
                "Every attribute, findings, raw JSON",
                partial(self.open_detail, row),
            )
            yield SystemCommand(f"Copy {row.copy or row.key}", "Copy the selected value (OSC 52)", screen.action_copy)
        for finding in self.findings[:50]:
            yield SystemCommand(
                f"Go to {finding.severity.label} {finding.code} {finding.resource}",
                finding.message,
                partial(self.jump_to, finding),
                discover=False,
            )
        yield SystemCommand("Keys", "Show the keys (help)", self.action_help)
        yield SystemCommand("Quit", "Leave goodword-tui", self.action_quit)

    # -- last-resort guard ----------------------------------------------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """An error escaped every guard: log the traceback to the file; the screen gets one line, not a dump."""
        log.critical("unhandled error; the dashboard stops", exc_info=error)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        if self.is_headless:  # tests want Textual's own report
            super()._fatal_error()
            return
        from goodword_tui.logs import log_path

        self.bell()
        error = self._exception
        self._exit_renderables.append(
            Text(
                f"goodword-tui stopped after an internal error: {one_line(error) if error else 'unknown'}\n"
                f"The details are in {log_path()}",
                style="bold",
            )
        )
        self._close_messages_no_wait()

    async def action_quit(self) -> None:
        self._quit_unless_applying()

    def action_help_quit(self) -> None:
        """ctrl+c: Textual's own binding only said "press ctrl+q" (a key terminals may swallow for flow control).
        Here it copies the selected text when there is some, and otherwise quits like `q`."""
        focused = self.focused
        selected = focused.selected_text if isinstance(focused, Input) else self.screen.get_selected_text()
        if selected:
            self.copy_to_clipboard(selected)
            self.notify(f"Copied {len(selected)} character(s) (ctrl+c again with nothing selected quits)", timeout=3)
            return
        self._quit_unless_applying()

    @contextlib.contextmanager
    def applying(self) -> Iterator[None]:
        """Held while a change is applied (sent, verified, its result journaled): `q` waits for it, from the
        moment it is asked for (waiting for the lock too: once asked for, it is sent). The start-up
        reconciliation takes the change lock too but only re-reads: quitting during it leaves the entries it had
        not settled for the next start, as a crash would."""
        me = threading.get_ident()
        self._applying.add(me)
        try:
            with self._change_lock:
                yield
        finally:
            self._applying.discard(me)

    def _quit_unless_applying(self) -> None:
        """`q` and ctrl+c: quit cleanly, except while a change is being sent (its result must be journaled)."""
        if self._applying:
            self.notify(
                "A change is being applied: wait for its result (it is journaled), then press q to quit.",
                title="Not quitting yet",
                severity="warning",
                timeout=8,
            )
            return
        self.exit(0)

    @property
    def command_palette_open(self) -> bool:
        return isinstance(self.screen, CommandPalette)


def dashboard_app(
    settings: Settings,
    *,
    read_only: bool | None = None,
    reader: ReaderProcess | None = None,
    watch_terminal: bool = True,
) -> GoodwordApp:
    """The dashboard as it runs for an operator (and in the soak bench): reads in `reader`'s child process when
    given, the long-lived heap frozen."""
    monitor = Monitor(settings, factory=reader.fetchers) if reader is not None else None
    app = GoodwordApp(settings, monitor, read_only=read_only, watch_terminal=watch_terminal, own_process=True)
    # The collector keeps Python's default thresholds: with the long-lived heap frozen, a full collection walks
    # only what came after (~65 ms here), and raising the thresholds (20,000 / 10 / 50 until Nov 2026) let cyclic
    # garbage spread over more of the allocator's arenas: 3-minute soaks grew the RSS 7-9 % with them, 4 % without,
    # at the same key latency.
    freeze_heap()  # the imports so far (Textual, pydantic, the analysis) live as long as the process
    return app


def run_dashboard(settings: Settings, *, read_only: bool | None = None, reader: ReaderProcess | None = None) -> int:
    """Run the dashboard in this terminal until the user quits; returns the exit code.

    With `reader`, the sources are read in its child process (see `reader.py`); without, in this one.
    """
    path: Path | None = configure_logging()
    log.info("dashboard starting (log: %s; reads %s)", path, "in a child process" if reader else "in process")
    app = dashboard_app(settings, read_only=read_only, reader=reader)
    try:
        result = app.run()
    finally:
        if reader is not None:
            reader.close()
    code = app.return_code if app.return_code is not None else (result or 0)
    return int(code or 0)
