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
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, Static

from goodword_tui.analysis.sqlmesh_views import preview_lines
from goodword_tui.changes.inputs import InputError, validate_reason
from goodword_tui.ui.guard import guarded, one_line
from goodword_tui.ui.panes.sqlmesh import refused
from goodword_tui.ui.widgets import TONE_STYLE, KeyBar, set_text


class SqlMeshPlanScreen(ModalScreen[None]):
    AUTO_FOCUS = "#sqlmesh-plan-body"
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
        self.confirmation = ""
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
        self.query_one("#sqlmesh-plan-confirm", Input).display = False
        self.query_one("#sqlmesh-plan-reason", Input).display = False
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
        if self.change.dangerous:
            self._ask(
                "#sqlmesh-plan-confirm", f"type {self.change.confirm_phrase} and Enter to apply to it (Esc: back)"
            )
        else:
            self._ask("#sqlmesh-plan-reason")

    def _ask(self, selector: str, placeholder: str = "") -> None:
        for box in self.query(Input):
            box.display = False
        box = self.query_one(selector, Input)
        if placeholder:
            box.placeholder = placeholder
        box.value = ""
        box.display = True
        box.focus()

    def _hide_inputs(self) -> None:
        for box in self.query(Input):
            box.display = False
        self.query_one("#sqlmesh-plan-body").focus()

    @on(Input.Submitted, "#sqlmesh-plan-confirm")
    def _confirmed(self, event: Input.Submitted) -> None:
        expected = self.change.confirm_phrase
        if event.value.strip() != expected:
            self.notify(f"Not applied: type '{expected}' to confirm", severity="warning", timeout=4)
            return
        self.confirmation = expected
        self._ask("#sqlmesh-plan-reason")

    @on(Input.Submitted, "#sqlmesh-plan-reason")
    def _reason_given(self, event: Input.Submitted) -> None:
        try:
            reason = validate_reason(event.value)
        except InputError as error:
            self.notify(f"Not applied: {error.message}", severity="warning", timeout=5)
            return
        self._hide_inputs()
        self.applying = True
        self.cancel_event.clear()
        self.query_one("#sqlmesh-plan-progress", ProgressBar).display = True
        self.refresh_bindings()
        self._log(f"applying (reason: {reason})…", "")
        self._apply(reason, self.confirmation if self.change.dangerous else None)

    @work(thread=True, exclusive=True, group="sqlmesh-apply", exit_on_error=False)
    def _apply(self, reason: str, confirmation: str | None) -> None:
        """In a worker thread: the core's apply_change, as for every change (guards, journal, verification)."""
        from goodword_tui.changes.sqlmesh import Watch, use_reader, watched

        watch = Watch(on_event=lambda e: self.post_message(self.Progress(e)), cancel=self.cancel_event)
        try:
            use_reader(self.app.change_context(), self.actions.reader)  # type: ignore[attr-defined]
            outcome: Any = self.app.apply_blocking(  # type: ignore[attr-defined]
                watched(self.change, watch), reason=reason, confirmation=confirmation, lockout_override=None
            )
        except Exception as error:  # shown in one line; the journal says what was sent, if anything
            outcome = error
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
            applied = getattr(self.app, "changes_applied", None)
            if applied is not None:
                applied(self.change, outcome)
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
