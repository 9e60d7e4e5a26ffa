"""A SQLMesh plan preview, built on the SQLMesh thread without applying: what changes and how (categories), the
backfill with interval counts, the diffs. The plan is a Change (changes/sqlmesh.py): `a` asks for the
environment's name typed (prod only) and a reason, then the core's `apply_change` applies it (journal, verify by
re-reading state), with live progress; `x` cancels between models. Applying is a write: hidden and refused in
read-only mode, and refused again below the UI."""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, ProgressBar, Static

from goodword_tui.analysis.sqlmesh_views import preview_lines
from goodword_tui.ui.guard import guarded, one_line
from goodword_tui.ui.panes.sqlmesh import refused
from goodword_tui.ui.screens.confirmed import ConfirmedApplyScreen
from goodword_tui.ui.widgets import TONE_STYLE, KeyBar, set_text


class SqlMeshPlanScreen(ConfirmedApplyScreen):
    AUTO_FOCUS = "#sqlmesh-plan-body"
    FIELDS, NOT_DONE, DOING = "sqlmesh-plan", "Not applied", "apply to it"
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="sqlmesh-plan-close"),
        Binding("a", "sqlmesh_apply", "Apply…", id="sqlmesh-apply"),
        Binding("x", "cancel_apply", "Cancel apply", id="sqlmesh-cancel-apply"),
    ]

    class Progress(Message):
        """An apply event, posted from the SQLMesh thread (post_message is thread-safe)."""

        def __init__(self, event: Any) -> None:
            super().__init__()
            self.event = event

    def __init__(self, actions: Any, environment: str) -> None:
        super().__init__()
        self.actions = actions
        self.environment = environment
        self.preview: Any = None
        self.change: Any = None  # the Change that applies the preview (None: nothing it could apply)
        self.problem = ""  # why there is no change
        self.error = ""
        self.applying = False
        self.outcome: Any = None
        self.cancel_event = threading.Event()
        self.log_lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="modal-box"):
            yield Static(Text(f"Plan preview: {self.environment}", style="bold"), classes="modal-title")
            with VerticalScroll(id="sqlmesh-plan-body"):
                yield Static(Text("building the plan (nothing is applied)…", style="dim"), id="sqlmesh-plan-preview")
                yield Static("", id="sqlmesh-plan-log")
            yield ProgressBar(id="sqlmesh-plan-progress", show_eta=False)
            yield Input(id="sqlmesh-plan-confirm")
            yield Input(id="sqlmesh-plan-reason", placeholder="reason (e.g. an incident id) and Enter to apply")
            yield KeyBar()

    def on_mount(self) -> None:
        self.hide_fields()
        self.query_one("#sqlmesh-plan-progress", ProgressBar).display = False
        self.run_worker(self._build(), group="sqlmesh-plan", exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if refused(self.app, action):
            return False
        if action == "sqlmesh_apply":
            return self.change is not None and not self.applying and self.outcome is None
        if action == "cancel_apply":
            return self.applying
        return True

    async def _build(self) -> None:
        widget = self.query_one("#sqlmesh-plan-preview", Static)
        try:
            self.preview, self.change, self.problem = await self.actions.prepare_apply(self.environment)
        except Exception as error:
            self.error = one_line(error)
            set_text(widget, Text(f"The plan could not be built: {self.error}", style="bold red"), layout=True)
            return
        text = Text()
        for line, tone in preview_lines(self.preview):
            text.append(line + "\n", style=TONE_STYLE.get(tone, ""))
        if refused(self.app, "sqlmesh_apply"):
            text.append("\nRead-only mode: this preview cannot be applied.", style="dim")
        elif self.change is None:
            text.append(f"\nNot applicable: {self.problem}", style="dim")
        else:
            text.append("\na: apply (asks for a reason, and 'prod' typed for prod) · Esc: close", style="dim")
        set_text(widget, text, layout=True)
        self.refresh_bindings()

    # -- apply ----------------------------------------------------------------------------------------------

    @guarded
    def action_sqlmesh_apply(self) -> None:
        if refused(self.app, "sqlmesh_apply"):
            self.notify("Read-only mode: applying a plan is refused", severity="warning", timeout=4)
            return
        if self.change is None or self.applying:
            return
        self.ask_to_confirm()

    def _hide_inputs(self) -> None:
        self.hide_fields()
        self.query_one("#sqlmesh-plan-body").focus()

    def start(self, reason: str, confirmation: str | None) -> None:
        self._hide_inputs()
        self.applying = True
        self.cancel_event.clear()
        self.query_one("#sqlmesh-plan-progress", ProgressBar).display = True
        self.refresh_bindings()
        self._log(f"applying (reason: {reason})…", "")
        self._apply(reason, confirmation)

    @work(thread=True, exclusive=True, group="sqlmesh-apply", exit_on_error=False)
    def _apply(self, reason: str, confirmation: str | None) -> None:
        """In a worker thread: the core's apply_change, its progress posted here."""
        from goodword_tui.changes.sqlmesh import Watch

        watch = Watch(on_event=lambda e: self.post_message(self.Progress(e)), cancel=self.cancel_event)
        outcome = self.apply_watched(watch, reason, confirmation)
        self.app.call_from_thread(self._applied, outcome)

    def _applied(self, outcome: Any) -> None:
        self.applying = False
        if isinstance(outcome, Exception):
            self._log(f"not applied: {one_line(outcome)}", "bad")
        else:
            self.outcome = outcome
            if outcome.ok:
                self._log(f"plan applied to '{self.environment}': {outcome.message}", "ok")
            else:
                self._log(f"{outcome.status.value.replace('_', ' ')}: {outcome.message}", "bad")
            if outcome.entry_id:
                self._log(f"journal entry {outcome.entry_id} (j shows the journal)", "muted")
            self.tell_the_dashboard(outcome)
        self.refresh_bindings()

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        event = message.event
        bar = self.query_one("#sqlmesh-plan-progress", ProgressBar)
        if event.total:
            bar.update(total=event.total, progress=event.done)
        self._log(event.message, "muted" if event.kind == "model" else "")

    def _log(self, line: str, tone: str) -> None:
        self.log_lines.append(line)
        text = Text()
        for shown in self.log_lines[-200:]:
            text.append(shown + "\n")
        text.stylize(TONE_STYLE.get(tone, ""), len(text) - len(line) - 1)
        set_text(self.query_one("#sqlmesh-plan-log", Static), text, layout=True)

    @guarded
    def action_cancel_apply(self) -> None:
        if self.applying:
            self.cancel_event.set()
            self._log("cancel requested: stopping before the next model", "warn")

    def action_close(self) -> None:
        if any(box.display for box in self.query(Input)):
            self._hide_inputs()
            return
        if self.applying:
            self.notify("An apply is running: x cancels it between models", timeout=4)
            return
        self.dismiss(None)
