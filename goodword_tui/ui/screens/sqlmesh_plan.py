"""A SQLMesh plan preview, built on the SQLMesh thread without applying: what changes and how (categories), the
backfill with interval counts, the diffs. `a` applies after a confirmation (the environment's name typed for
prod), with live progress; `x` cancels between models. Applying is a write: hidden and refused in read-only mode."""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, Static

from goodword_tui.analysis.sqlmesh_views import preview_lines
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
            yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#sqlmesh-plan-confirm", Input).display = False
        self.query_one("#sqlmesh-plan-progress", ProgressBar).display = False
        self.run_worker(self._build(), group="sqlmesh-plan", exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if refused(self.app, action):
            return False
        if action == "sqlmesh_apply":
            return self.preview is not None and not self.applying and self.outcome is None
        if action == "cancel_apply":
            return self.applying
        return True

    async def _build(self) -> None:
        widget = self.query_one("#sqlmesh-plan-preview", Static)
        try:
            self.preview = await self.actions.preview(self.environment)
        except Exception as error:
            self.error = one_line(error)
            set_text(widget, Text(f"The plan could not be built: {self.error}", style="bold red"), layout=True)
            return
        text = Text()
        for line, tone in preview_lines(self.preview):
            text.append(line + "\n", style=TONE_STYLE.get(tone, ""))
        if refused(self.app, "sqlmesh_apply"):
            text.append("\nRead-only mode: this preview cannot be applied.", style="dim")
        else:
            text.append("\na: apply (asks for confirmation) · Esc: close", style="dim")
        set_text(widget, text, layout=True)
        self.refresh_bindings()

    # -- apply ----------------------------------------------------------------------------------------------

    @guarded
    def action_sqlmesh_apply(self) -> None:
        if refused(self.app, "sqlmesh_apply"):
            self.notify("Read-only mode: applying a plan is refused", severity="warning", timeout=4)
            return
        if self.preview is None or self.applying:
            return
        box = self.query_one("#sqlmesh-plan-confirm", Input)
        box.placeholder = (
            f"type {self.environment} and Enter to apply to it (Esc: back)"
            if self.preview.needs_typed_confirmation
            else "type y and Enter to apply (Esc: back)"
        )
        box.value = ""
        box.display = True
        box.focus()

    @on(Input.Submitted, "#sqlmesh-plan-confirm")
    def _confirmed(self, event: Input.Submitted) -> None:
        box = event.input
        typed = event.value.strip()
        expected = self.environment if self.preview.needs_typed_confirmation else "y"
        if typed != expected:
            self.notify(f"Not applied: type '{expected}' to confirm", severity="warning", timeout=4)
            return
        box.display = False
        self.query_one("#sqlmesh-plan-body").focus()
        self.applying = True
        self.cancel_event.clear()
        bar = self.query_one("#sqlmesh-plan-progress", ProgressBar)
        bar.display = True
        self.refresh_bindings()
        self.run_worker(self._apply(typed), group="sqlmesh-apply", exit_on_error=False)

    async def _apply(self, confirmation: str) -> None:
        try:
            self.outcome = await self.actions.apply(
                self.preview, confirmation, lambda e: self.post_message(self.Progress(e)), self.cancel_event
            )
        except Exception as error:
            self._log(f"not applied: {one_line(error)}", "bad")
            self.outcome = None
        else:
            tone = "ok" if self.outcome.ok else "bad"
            self._log(self.outcome.message, tone)
            refresh = getattr(self.app, "refresh_source", None)
            if refresh is not None:
                refresh("sqlmesh")
        finally:
            self.applying = False
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
        box = self.query_one("#sqlmesh-plan-confirm", Input)
        if box.display:
            box.display = False
            self.query_one("#sqlmesh-plan-body").focus()
            return
        if self.applying:
            self.notify("An apply is running: x cancels it between models", timeout=4)
            return
        self.dismiss(None)
