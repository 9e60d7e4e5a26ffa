"""`sqlmesh run` of an environment's missing intervals, as a subprocess whose output streams here; `x` cancels
(interrupt, then terminate). A write: the pane hides and refuses it in read-only mode, the core refuses it too."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from goodword_tui.ui.guard import guarded, one_line
from goodword_tui.ui.panes.sqlmesh import refused
from goodword_tui.ui.widgets import KeyBar, set_text


class SqlMeshRunScreen(ModalScreen[None]):
    AUTO_FOCUS = "#sqlmesh-run-log"
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="sqlmesh-run-close"),
        Binding("x", "cancel_run", "Cancel run", id="sqlmesh-cancel-run"),
    ]

    def __init__(self, actions: Any, environment: str, select_models: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.actions = actions
        self.environment = environment
        self.select_models = select_models
        self.run: Any = None
        self.exit_code: int | None = None
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="modal-box"):
            yield Static(Text(f"sqlmesh run {self.environment}", style="bold"), classes="modal-title")
            yield Static(Text("starting…", style="dim"), id="sqlmesh-run-state")
            yield Log(id="sqlmesh-run-log", max_lines=5000)
            yield KeyBar()

    def on_mount(self) -> None:
        self.run_worker(self._run(), group="sqlmesh-run", exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.running
        return True

    @property
    def running(self) -> bool:
        return self.run is not None and self.exit_code is None

    def _state(self, line: str, style: str = "") -> None:
        set_text(self.query_one("#sqlmesh-run-state", Static), Text(line, style=style), layout=True)

    def _line(self, line: str) -> None:
        self.lines.append(line)
        self.query_one("#sqlmesh-run-log", Log).write_line(line)

    async def _run(self) -> None:
        if refused(self.app, "sqlmesh_run"):
            self._state("Read-only mode: running models is refused", "bold red")
            return
        try:
            self.run = await self.actions.start_run(self.environment, self.select_models)
        except Exception as error:
            self._state(f"The run could not start: {one_line(error)}", "bold red")
            return
        self._state("running… (x cancels)")
        self.refresh_bindings()
        try:
            self.exit_code = await self.run.stream(self._line)
        finally:
            if self.exit_code is None:
                self.exit_code = -1
            self.refresh_bindings()
        if self.run.cancelled:
            self._state(f"cancelled (exit code {self.exit_code})", "yellow")
        elif self.exit_code == 0:
            self._state("finished", "green")
        else:
            self._state(f"failed (exit code {self.exit_code})", "bold red")
        refresh = getattr(self.app, "refresh_source", None)
        if refresh is not None:
            refresh("sqlmesh")

    @guarded
    async def action_cancel_run(self) -> None:
        if self.running:
            self._state("cancelling: interrupt, then terminate…", "yellow")
            await self.run.cancel()

    async def action_close(self) -> None:
        if self.running:
            self.notify("The run is still going: x cancels it", timeout=4)
            return
        self.dismiss(None)
