"""`j`: the change journal, newest first: when, who, what, how it ended, why. `u` previews an entry's undo.

The journal is read in a thread (it is a file that may be large or on a slow disk); an undo is planned in a
thread too, because `plan_undo` re-reads the target so the inverse is planned on what is there now.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from goodword_tui.analysis.rows import Row, Table
from goodword_tui.ui.guard import guarded, log, one_line
from goodword_tui.ui.widgets import TONE_STYLE, KeyBar, KeyedTable

if TYPE_CHECKING:
    from goodword_tui.changes.base import Change
    from goodword_tui.journal import JournalEntry

REASON_CELL = 32  # the table shows the start of a long reason; the details below show all of it
RESULT_WORDS = {
    "applied": ("✓ applied", "ok"),
    "not_applied": ("✗ not applied", "warn"),
    "failed": ("✗ failed", "bad"),
    "verify_failed": ("✗ not verified", "bad"),
    "already_done": ("✓ already done", "ok"),
    "unknown": ("? unknown", "warn"),
    "pending": ("… pending", "warn"),
}


class JournalRunner(Protocol):
    """What the screen needs from the app."""

    def journal_entries(self) -> list[JournalEntry]: ...

    def plan_undo_blocking(self, entry: JournalEntry) -> Change: ...

    def preview_change(self, change: Change, *, title: str = "") -> None: ...


def operator_text(operator: Any) -> str:
    """The OS user, then who the platforms saw (Snowflake user/role, the AWS caller's readable end)."""
    parts = [str(operator.get("os_user") or "?")]
    if operator.get("snowflake_user"):
        parts.append(f"{operator['snowflake_user']}/{operator.get('snowflake_role') or '?'}")
    arn = str(operator.get("aws_arn") or "")
    if arn:
        parts.append(arn.split(":")[-1].removeprefix("assumed-role/").removeprefix("user/"))
    return " ".join(parts)


def journal_table(entries: Sequence[JournalEntry]) -> Table:
    """Entries newest first, one row each."""
    rows: list[Row] = []
    for entry in sorted(entries, key=lambda e: e.time, reverse=True):
        word, tone = RESULT_WORDS.get(entry.result, (entry.result, "warn"))
        if entry.reconciled:
            word += " (reconciled)"
        reason = entry.reason if len(entry.reason) <= REASON_CELL else entry.reason[: REASON_CELL - 1] + "…"
        rows.append(
            Row(
                entry.id,
                (
                    entry.time.strftime("%Y-%m-%d %H:%M:%SZ"),
                    word,
                    operator_text(entry.operator),
                    reason,
                    entry.description or entry.kind,
                ),
                tone,  # type: ignore[arg-type]
                frozenset({entry.id, entry.target}),
                entry,
                entry.id,
                entry.description,
            )
        )
    return Table(
        "journal",
        "Journal",
        ("Time (UTC)", "Result", "Operator", "Reason", "Change"),
        tuple(rows),
        "no change has been journaled yet",
        status_column=1,
    )


def entry_text(entry: JournalEntry) -> Text:
    """Everything about one entry: the request, before → after (as re-read), the verification, overrides."""
    from goodword_tui.changes.base import diff_lines

    text = Text()
    text.append(f"{entry.description}\n", style="bold")
    word, tone = RESULT_WORDS.get(entry.result, (entry.result, "warn"))
    text.append(word + (" (reconciled at a later start)" if entry.reconciled else ""), style=TONE_STYLE.get(tone, ""))
    text.append(f"  reason: {entry.reason}\n")
    operator = entry.operator
    text.append(f"by {operator.get('os_user') or '?'}@{operator.get('host') or '?'}")
    if operator.get("aws_arn"):
        text.append(f" · AWS {operator['aws_arn']}")
    if operator.get("snowflake_user"):
        text.append(f" · Snowflake {operator['snowflake_user']} ({operator.get('snowflake_role') or '?'})")
    text.append("\n")
    text.append(f"id {entry.id} · mode {entry.mode} · target {entry.target}", style="dim")
    if entry.batch_id:
        text.append(f" · batch {entry.batch_id}", style="dim")
    text.append("\n")
    request = entry.change.get("request") or {}
    if request.get("type") == "sql":
        text.append(f"SQL  {request.get('sql', '')}\n")
    elif request.get("type") == "sqlmesh":
        text.append(f"SQLMesh {request.get('operation', '')} {request.get('environment', '')}\n")
        text.append("".join(f"  {line}\n" for line in str(request.get("text", "")).splitlines()))
    elif request:
        params = json.dumps(request.get("params", {}), sort_keys=True)
        text.append(f"AWS {request.get('service', '')} {request.get('operation', '')} {params}\n")
    before = [str(line) for line in entry.before.get("lines", [])]
    observed = entry.observed if entry.observed is not None else entry.after
    after = [str(line) for line in (observed or {}).get("lines", [])]
    label = "as re-read after" if entry.observed is not None else "expected after"
    text.append(f"before → {label}:\n", style="underline")
    for line in diff_lines(before, after):
        text.append(f"  {line}\n", style={"+": "green", "-": "red"}.get(line.op, "dim"))
    verification = entry.verification or {}
    if verification:
        text.append(
            f"verification: {'ok' if verification.get('ok') else 'FAILED'} — {verification.get('detail', '')}\n"
        )
    if entry.error:
        text.append(f"error: {entry.error}\n", style="red")
    overridden = [name.replace("_", " ") for name, given in (entry.overrides or {}).items() if given]
    if overridden:
        text.append(f"typed: {', '.join(overridden)}\n", style="yellow")
    return text


class JournalScreen(ModalScreen[None]):
    """The journal; Enter or the cursor shows an entry's details; `u` previews its undo; Escape closes."""

    AUTO_FOCUS = "#table-journal"
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="journal-close"),
        Binding("u", "undo", "Undo", id="journal-undo"),
    ]

    SCOPED_CSS = False  # the app's -wide class (an ancestor) sizes the box
    DEFAULT_CSS = """
    JournalScreen {
        align: center middle;
    }
    #journal-box {
        width: 100%;
        height: 100%;
    }
    .-wide #journal-box {
        width: 90%;
        height: 90%;
    }
    #table-journal {
        height: 1fr;
        max-height: 100%;
    }
    #journal-body {
        height: 1fr;
        border-top: solid $primary;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[JournalEntry] = []
        self.loaded = False

    @property
    def runner(self) -> JournalRunner:
        return cast(JournalRunner, self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.app.check_action(action, parameters)

    def compose(self) -> ComposeResult:
        with Vertical(id="journal-box", classes="modal-box"):
            yield Static(Text("Change journal (newest first)", style="bold"), classes="modal-title")
            yield Static("", id="journal-path", classes="modal-subtitle")
            yield KeyedTable(placeholder="reading the journal…", id="table-journal")
            with VerticalScroll(id="journal-body", can_focus=False):
                yield Static("", id="journal-detail")
            yield KeyBar()

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        """Back from an undo's preview: the journal has a new entry."""
        if self.loaded:
            self.reload()

    def reload(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="journal-read", exit_on_error=False)
    def _read(self) -> None:
        try:
            entries: list[JournalEntry] | Exception = self.runner.journal_entries()
        except Exception as exc:  # an unreadable journal is shown, not raised
            log.error("reading the journal failed", exc_info=exc)
            entries = exc
        try:
            self.app.call_from_thread(self._show, entries)
        except RuntimeError:
            log.info("the app closed before the journal was shown")

    @guarded
    def _show(self, entries: list[JournalEntry] | Exception) -> None:
        table = self.query_one(KeyedTable)
        if isinstance(entries, Exception):
            table.set_placeholder(f"the journal could not be read: {one_line(entries)}")
            return
        self.entries = entries
        self.loaded = True
        path = getattr(self.app, "journal_path", None)
        if path is not None:
            self.query_one("#journal-path", Static).update(Text(f"{path} · {len(entries)} entries", style="dim"))
        table.set_table(journal_table(entries))
        self._detail(table.current_row())

    @on(KeyedTable.RowHighlighted)
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        table = self.query_one(KeyedTable)
        self._detail(table.current_row())

    @on(KeyedTable.Opened)
    def _opened(self, event: KeyedTable.Opened) -> None:
        event.stop()
        self._detail(event.row)

    def _detail(self, row: Row | None) -> None:
        detail = self.query_one("#journal-detail", Static)
        entry = row.subject if row is not None else None
        if entry is None or not hasattr(entry, "change"):
            detail.update(Text("Changes made from this dashboard (or the CLI) are listed here.", style="dim"))
            return
        detail.update(entry_text(entry))

    def current_entry(self) -> JournalEntry | None:
        row = self.query_one(KeyedTable).current_row()
        entry = row.subject if row is not None else None
        return entry if entry is not None and hasattr(entry, "change") else None

    def action_close(self) -> None:
        self.dismiss(None)

    @guarded
    def action_undo(self) -> None:
        entry = self.current_entry()
        if entry is None:
            self.notify("Select a journal entry first", timeout=3)
            return
        self.notify(f"Planning the undo of {entry.description} (re-reading {entry.target})…", timeout=3)
        self._plan_undo(entry)

    @work(thread=True, exclusive=True, group="journal-undo", exit_on_error=False)
    def _plan_undo(self, entry: JournalEntry) -> None:
        from goodword_tui.changes.inputs import InputError

        planned: Change | str
        try:
            planned = self.runner.plan_undo_blocking(entry)
        except InputError as exc:
            planned = f"Cannot undo: {exc.message}" + (f" — {exc.hint}" if exc.hint else "")
        except Exception as exc:
            log.error("planning an undo failed", exc_info=exc)
            planned = f"Cannot undo: {one_line(exc)} (details in the log)"
        try:
            self.app.call_from_thread(self._undo_planned, entry, planned)
        except RuntimeError:
            log.info("the app closed before the undo was planned")

    @guarded
    def _undo_planned(self, entry: JournalEntry, planned: Change | str) -> None:
        if isinstance(planned, str):
            self.notify(planned, severity="warning", timeout=8)
            return
        self.runner.preview_change(planned, title=f"Undo journal entry {entry.id}")
