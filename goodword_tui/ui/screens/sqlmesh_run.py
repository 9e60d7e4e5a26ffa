"""`sqlmesh run` of an environment's missing intervals, as a Change (changes/sqlmesh.py): the screen first shows
exactly what will run (the command line, the models and their missing intervals), asks for `prod` typed (prod
only) and a reason, then the core's `apply_change` runs it as a subprocess whose output streams here, journals it
and verifies by re-reading state that the intervals are there. `x` cancels (interrupt, then terminate). A write:
the pane hides and refuses it in read-only mode, the core refuses it too."""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Log, Static

from goodword_tui.changes.inputs import InputError
from goodword_tui.ui.guard import guarded, one_line
from goodword_tui.ui.panes.sqlmesh import refused
from goodword_tui.ui.screens.confirmed import ConfirmedApplyScreen
from goodword_tui.ui.widgets import KeyBar, set_text


class SqlMeshRunScreen(ConfirmedApplyScreen):
    AUTO_FOCUS = "#sqlmesh-run-log"
    FIELDS, NOT_DONE, DOING = "sqlmesh-run", "Not run", "run it"
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="sqlmesh-run-close"),
        Binding("x", "cancel_run", "Cancel run", id="sqlmesh-cancel-run"),
    ]

    def __init__(self, actions: Any, environment: str, select_models: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.actions = actions
        self.environment = environment
        self.select_models = select_models
        self.change: Any = None  # the planned run (a Change)
        self.started = False
        self.exit_code: int | None = None
        self.outcome: Any = None  # the ApplyResult
        self.lines: list[str] = []
        self.cancel_event = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="modal-box"):
            yield Static(Text(f"sqlmesh run {self.environment}", style="bold"), classes="modal-title")
            yield Static(Text("reading what is missing…", style="dim"), id="sqlmesh-run-state")
            yield Log(id="sqlmesh-run-log", max_lines=5000)
            yield Input(id="sqlmesh-run-confirm")
            yield Input(id="sqlmesh-run-reason", placeholder="reason (e.g. an incident id) and Enter to run")
            yield KeyBar()

    def on_mount(self) -> None:
        self.hide_fields()
        self.run_worker(self._plan(), group="sqlmesh-run", exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.running
        return True

    @property
    def running(self) -> bool:
        return self.started and self.exit_code is None

    def _state(self, line: str, style: str = "") -> None:
        set_text(self.query_one("#sqlmesh-run-state", Static), Text(line, style=style), layout=True)

    def _line(self, line: str) -> None:
        self.lines.append(line)
        self.query_one("#sqlmesh-run-log", Log).write_line(line)

    async def _plan(self) -> None:
        if refused(self.app, "sqlmesh_run"):
            self._state("Read-only mode: running models is refused", "bold red")
            return
        try:
            self.change = await self.actions.plan_run(self.environment, self.select_models)
        except InputError as error:
            # The core's words say why (nothing missing, not in state, a plan being applied): shown as they are.
            said = error.message[:1].upper() + error.message[1:] + (f" — {error.hint}" if error.hint else "")
            self._state(said, "yellow")
            return
        except Exception as error:
            self._state(f"The run could not be planned: {one_line(error)}", "bold red")
            return
        log = self.query_one("#sqlmesh-run-log", Log)
        log.write_lines([self.change.description, "", "Runs exactly:", *self.change.request.lines, ""])
        if self.change.dangerous:
            log.write_lines([f"DANGEROUS: {reason}" for reason in self.change.danger_reasons])
        self.ask_to_confirm()
        self._state("review the run, then confirm", "")

    def start(self, reason: str, confirmation: str | None) -> None:
        self.query_one("#sqlmesh-run-log", Log).focus()
        self.started = True
        self.refresh_bindings()
        self._state("running… (x cancels)")
        self._run(reason, confirmation)

    @work(thread=True, exclusive=True, group="sqlmesh-run-apply", exit_on_error=False)
    def _run(self, reason: str, confirmation: str | None) -> None:
        """In a worker thread: the core's apply_change runs the subprocess, its output streaming here."""
        from goodword_tui.changes.sqlmesh import Watch

        watch = Watch(on_line=lambda line: self.app.call_from_thread(self._line, line), cancel=self.cancel_event)
        outcome = self.apply_watched(watch, reason, confirmation)
        exit_code = watch.run.exit_code if watch.run is not None else -1
        self.app.call_from_thread(self._finished, outcome, exit_code)

    def _finished(self, outcome: Any, exit_code: int) -> None:
        self.exit_code = exit_code
        self.refresh_bindings()
        if isinstance(outcome, Exception):
            self._state(f"The run failed: {one_line(outcome)}", "bold red")
            return
        self.outcome = outcome
        journal = f" · journal entry {outcome.entry_id}" if outcome.entry_id else ""
        if self.cancel_event.is_set():
            self._state(f"cancelled (exit code {exit_code}): {outcome.message}{journal}", "yellow")
        elif outcome.ok:
            self._state(f"finished: {outcome.message}{journal}", "green")
        else:
            status = outcome.status.value.replace("_", " ")
            self._state(f"failed (exit code {exit_code}), {status}: {outcome.message}{journal}", "bold red")
        self.tell_the_dashboard(outcome)

    @guarded
    def action_cancel_run(self) -> None:
        if self.running:
            self._state("cancelling: interrupt, then terminate…", "yellow")
            self.cancel_event.set()

    def action_close(self) -> None:
        if self.running:
            self.notify("The run is still going: x cancels it", timeout=4)
            return
        self.dismiss(None)
