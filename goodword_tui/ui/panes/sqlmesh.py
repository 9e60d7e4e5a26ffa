"""SQLMesh: the environments, every model's status in the selected one (kind, cron, last interval end, missing
intervals, fresh or stale, local changes), the last unit tests and audits. Enter on a model opens its details,
Enter on an environment selects it (`v` cycles); `t` runs the unit tests, `a` the audits of the
environment's models, `p` previews a plan (all three read-only);
`u` runs the missing intervals. A plan's apply and a run are Changes (changes/sqlmesh.py): reviewed, given a
reason, journaled and verified like every change; hidden here and refused below the UI in read-only mode."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from goodword_tui.model import SourceResult, SqlMeshModelStatus, SqlMeshStatus
from goodword_tui.ui.guard import guarded, one_line
from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.widgets import TONE_STYLE, KeyedTable, Section, SourceLine, set_text

if TYPE_CHECKING:  # both bring the analysis (views): imported when first needed, after the first frame
    from goodword_tui.analysis.views import DashboardView

# Actions that write to the warehouse or the state. The app's WRITE_ACTIONS should list them too (see the report);
# until then the pane refuses them itself in read-only mode.
SQLMESH_WRITE_ACTIONS = frozenset({"sqlmesh_run", "sqlmesh_apply"})


def refused(app: Any, action: str) -> bool:
    """Is `action` a write the app's mode forbids? (Both the app's list and ours count.)"""
    writes = SQLMESH_WRITE_ACTIONS | frozenset(getattr(app, "WRITE_ACTIONS", ()))
    return bool(getattr(app, "read_only", False)) and action in writes


def sqlmesh_actions(app: Any, environment: str | None = None) -> Any:
    """The actions over the Monitor's real SQLMesh reader, in the app's mode; None with scripted sources."""
    from goodword_tui.sqlmesh_actions import SqlMeshActions, reader_of

    reader = reader_of(getattr(app, "monitor", None))
    if reader is None:
        return None
    settings = getattr(app, "change_settings", app.settings)
    return SqlMeshActions(reader, settings, read_only=bool(app.read_only))


class SqlMeshPane(Pane):
    SOURCE = "sqlmesh"

    BINDINGS = [
        Binding("v", "sqlmesh_environment", "Next env", id="sqlmesh-environment"),
        Binding("t", "sqlmesh_tests", "Unit tests", id="sqlmesh-tests"),
        Binding("a", "sqlmesh_audits", "Audits", id="sqlmesh-audits"),
        Binding("p", "sqlmesh_plan", "Plan preview", id="sqlmesh-plan"),
        Binding("u", "sqlmesh_run", "Run missing", id="sqlmesh-run"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environment: str | None = None  # None: the configured one
        self.status: SqlMeshStatus | None = None  # what is shown
        self._env_result: SourceResult[SqlMeshStatus] | None = None  # a read of a non-default environment
        self.tests_running = False
        self.audits_running = False

    def compose(self) -> ComposeResult:
        yield SourceLine("SQLMesh: loading…", classes="source-line")
        with VerticalScroll(classes="pane-scroll", can_focus=False):
            yield Static("", id="sqlmesh-summary")
            yield Section("sqlmesh_models", "Models")
            yield Section("sqlmesh_environments", "Environments")
            yield Section("sqlmesh_checks", "Unit tests and audits")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if refused(self.app, action):
            return False
        return super().check_action(action, parameters)

    # -- data ---------------------------------------------------------------------------------------------------

    def _monitor_status(self) -> SqlMeshStatus | None:
        monitor = getattr(self.app, "monitor", None)
        result = monitor.result("sqlmesh") if monitor is not None else None
        return result.data if result is not None else None

    @property
    def selected(self) -> str:
        return self.environment or self.app.settings.sqlmesh.environment

    def show_view(self, view: DashboardView) -> None:
        status = self._monitor_status()
        if status is None:
            return
        if self.selected != status.environment:
            self._read_environment()  # keeps what it showed until the selected environment's read lands
            if self._env_result is None or self._env_result.data is None:
                return
            status = self._env_result.data
        self.render_status(status)

    def render_status(self, status: SqlMeshStatus) -> None:
        self.status = status
        from goodword_tui.analysis.sqlmesh_views import sqlmesh_view

        built = sqlmesh_view(status, self.selected)
        text = Text(no_wrap=False)
        for index, (line, tone) in enumerate(built.summary):
            if index:
                text.append("\n")
            text.append(line, style=TONE_STYLE.get(tone, ""))
        set_text(self.query_one("#sqlmesh-summary", Static), text, layout=True)
        self.set_tables([built.models, built.environments, built.checks])
        for section in self.sections():
            section.refresh_title()

    def _read_environment(self) -> None:
        actions = sqlmesh_actions(self.app)
        if actions is None:
            return
        settings = actions._settings_for(self.selected)
        self.run_worker(self._read(actions.reader, settings), group="sqlmesh-env", exclusive=True, exit_on_error=False)

    async def _read(self, reader: Any, settings: Any) -> None:
        result = await reader(settings)
        if settings.sqlmesh.environment != self.selected:
            return
        self._env_result = result
        if result.data is not None:
            self.render_status(result.data)
        elif result.error is not None:
            self.notify(f"SQLMesh {self.selected}: {result.error.message}", severity="warning", timeout=6)

    def select_environment(self, name: str) -> None:
        self.environment = name
        self._env_result = None
        status = self._monitor_status()
        if status is not None and name == status.environment:
            self.render_status(status)
        elif status is not None:
            set_text(
                self.query_one("#sqlmesh-summary", Static),
                Text(f"Environment {name}: reading…", style="dim"),
                layout=True,
            )
            self._read_environment()
        self.notify(f"SQLMesh environment: {name}", timeout=2)

    # -- keys ---------------------------------------------------------------------------------------------------

    @guarded
    def action_sqlmesh_environment(self) -> None:
        status = self.status or self._monitor_status()
        names = [e.name for e in status.environments] if status is not None else []
        if not names:
            self.notify("No SQLMesh environments in state", timeout=3)
            return
        from goodword_tui.analysis.sqlmesh_views import next_environment

        self.select_environment(next_environment(names, self.selected))

    @on(KeyedTable.Opened)
    def _opened(self, event: KeyedTable.Opened) -> None:
        """Enter on an environment selects it; on a model, its SQLMesh details. Other rows: the app's detail."""
        subject = event.row.subject
        if event.table.id == "table-sqlmesh_environments" and hasattr(subject, "finalized"):
            event.stop()
            self.select_environment(subject.name)
        elif isinstance(subject, SqlMeshModelStatus):
            event.stop()
            from goodword_tui.ui.screens.sqlmesh_model import SqlMeshModelScreen

            self.app.push_screen(SqlMeshModelScreen(subject, self.selected, sqlmesh_actions(self.app), self.status))

    @guarded
    def action_sqlmesh_tests(self) -> None:
        actions = sqlmesh_actions(self.app)
        if actions is None:
            self.notify("Unit tests need the SQLMesh source (not connected in this session)", timeout=4)
            return
        if self.tests_running:
            self.notify("The unit tests are already running", timeout=3)
            return
        self.tests_running = True
        self.notify("Running the SQLMesh unit tests…", timeout=3)
        self.run_worker(self._tests(actions), group="sqlmesh-tests", exit_on_error=False)

    async def _tests(self, actions: Any) -> None:
        try:
            result = await actions.run_tests()
        except Exception as error:
            self.notify(f"Unit tests could not run: {one_line(error)}", severity="error", timeout=8)
            return
        finally:
            self.tests_running = False
        if result.ok:
            self.notify(f"Unit tests: {result.tests_run} passed in {result.duration_s:.1f}s", timeout=5)
        else:
            problems = len(result.failures) + len(result.errors)
            self.notify(f"Unit tests: {problems} of {result.tests_run} failed", severity="warning", timeout=8)
        if self.status is not None:
            self.render_status(dataclasses.replace(self.status, tests=result))
        refresh = getattr(self.app, "refresh_source", None)
        if refresh is not None:
            refresh("sqlmesh")  # the findings hear about it too

    @guarded
    def action_sqlmesh_audits(self) -> None:
        actions = sqlmesh_actions(self.app)
        if actions is None:
            self.notify("Audits need the SQLMesh source (not connected in this session)", timeout=4)
            return
        if self.audits_running:
            self.notify("The audits are already running", timeout=3)
            return
        self.audits_running = True
        self.notify(f"Running the audits of '{self.selected}'…", timeout=3)
        self.run_worker(self._audits(actions, self.selected), group="sqlmesh-audits", exit_on_error=False)

    async def _audits(self, actions: Any, environment: str) -> None:
        try:
            outcome = await actions.audit(environment)
        except Exception as error:
            self.notify(f"Audits could not run: {one_line(error)}", severity="error", timeout=8)
            return
        finally:
            self.audits_running = False
        failed = outcome.failed
        if failed or outcome.errors:
            problems = [f"{a.model}: {a.audit}" for a in failed[:3]] + list(outcome.errors[:2])
            self.notify(
                f"Audits: {len(failed)} of {len(outcome.results)} failed, {len(outcome.errors)} could not run"
                + (f" ({'; '.join(problems)})" if problems else ""),
                severity="warning",
                timeout=8,
            )
        else:
            self.notify(f"Audits: {len(outcome.results)} passed in {outcome.duration_s:.1f}s", timeout=5)
        if self.status is not None:
            results = actions.reader.results.audits()
            self.render_status(dataclasses.replace(self.status, audits=results))
        refresh = getattr(self.app, "refresh_source", None)
        if refresh is not None:
            refresh("sqlmesh")

    @guarded
    def action_sqlmesh_plan(self) -> None:
        actions = sqlmesh_actions(self.app)
        if actions is None:
            self.notify("A plan needs the SQLMesh source (not connected in this session)", timeout=4)
            return
        from goodword_tui.ui.screens.sqlmesh_plan import SqlMeshPlanScreen

        self.app.push_screen(SqlMeshPlanScreen(actions, self.selected))

    @guarded
    def action_sqlmesh_run(self) -> None:
        if refused(self.app, "sqlmesh_run"):
            self.notify("Read-only mode: running models is refused", severity="warning", timeout=4)
            return
        actions = sqlmesh_actions(self.app)
        if actions is None:
            self.notify("A run needs the SQLMesh source (not connected in this session)", timeout=4)
            return
        from goodword_tui.ui.screens.sqlmesh_run import SqlMeshRunScreen

        self.app.push_screen(SqlMeshRunScreen(actions, self.selected))
