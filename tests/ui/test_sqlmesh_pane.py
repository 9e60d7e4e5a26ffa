"""The SQLMesh pane driven by keys: hand-built status for the tables and the model screen; the real project (a
private copy on DuckDB, no state yet) for `t` and `p`; read-only mode hides and refuses `u` and apply."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static

from goodword_tui.analysis.sqlmesh_views import sqlmesh_view
from goodword_tui.config import Settings
from goodword_tui.model import SqlMeshEnvironment, SqlMeshLocalChange
from goodword_tui.monitor import Monitor
from goodword_tui.sandbox.sqlmesh import AS_OF
from goodword_tui.sources.sqlmesh import SqlMeshReader
from goodword_tui.ui.app import GoodwordApp
from goodword_tui.ui.panes.sqlmesh import SqlMeshPane
from goodword_tui.ui.screens.sqlmesh_model import SqlMeshModelScreen
from goodword_tui.ui.screens.sqlmesh_plan import SqlMeshPlanScreen
from goodword_tui.ui.screens.sqlmesh_run import SqlMeshRunScreen
from goodword_tui.ui.widgets import KeyBar, KeyedTable
from tests.fixtures.sqlmesh import copy_project
from tests.ui import data
from tests.ui.conftest import settled, until


def text_of(widget: Static) -> str:
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.export_text()


def status_with_two_environments() -> Any:
    status = data.handoff_sqlmesh(stale_model="marts.daily_activity")
    dev = SqlMeshEnvironment(name="dev", finalized=False, plan_id="abcdef1234")
    return dataclasses.replace(
        status,
        environments=(*status.environments, dev),
        local_changes=(SqlMeshLocalChange("staging.stg_app_users", "modified"),),
        unapplied_changes=("staging.stg_app_users",),
        local_changes_checked_at=AS_OF,
    )


def make_app(sqlmesh: Any = None, settings: Settings | None = None, **kwargs: Any) -> GoodwordApp:
    settings = settings or data.settings()
    fetchers: dict[str, Any] = dict(data.handoff_fetchers())
    if sqlmesh is not None:
        fetchers["sqlmesh"] = sqlmesh
    return GoodwordApp(settings, Monitor(settings, fetchers), lambda: data.NOW, watch_terminal=False, **kwargs)


def pane(app: GoodwordApp) -> SqlMeshPane:
    return app.screen_stack[0].query_one(SqlMeshPane)


def models(app: GoodwordApp) -> KeyedTable:
    return app.screen_stack[0].query_one("#table-sqlmesh_models", KeyedTable)


def test_rows_say_how_each_model_stands() -> None:
    view = sqlmesh_view(status_with_two_environments())
    rows = {r.cells[1]: r for r in view.models.rows}
    stale = rows["marts.daily_activity"]
    assert stale.tone == "bad" and stale.cells[6] == "STALE" and stale.cells[5] == "1"
    assert rows["staging.stg_app_users"].cells[7] == "modified"
    assert rows["marts.signup_funnel"].cells[6] == "fresh"
    envs = {r.cells[1]: r for r in view.environments.rows}
    assert envs["prod"].cells[0] == "▸" and envs["dev"].tone == "bad"
    assert any("behind their cron: marts.daily_activity" in line for line, _ in view.summary)


async def test_the_pane_shows_models_and_enter_opens_a_model() -> None:
    app = make_app(data.Scripted(data.ok("sqlmesh", status_with_two_environments())))
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot)
        await pilot.press("4")
        await until(pilot, lambda: models(app).loaded, what="models table")
        table = models(app)
        assert table.has_focus
        assert [r.cells[1] for r in table.all_rows][:2] == ["staging.stg_app_users", "staging.stg_app_events"]
        summary = text_of(app.screen_stack[0].query_one("#sqlmesh-summary", Static))
        assert "behind their cron" in summary and "1 local change(s)" in summary
        keys = str(app.screen_stack[0].query_one(KeyBar).content)
        assert "Run missing" in keys and "Plan preview" in keys
        table.select_key("model:marts.daily_activity")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshModelScreen), what="model screen")
        body = text_of(app.screen.query_one("#sqlmesh-model-status", Static))
        assert "STALE" in body and "missing intervals: 1" in body
        await pilot.press("escape")
        # `v` selects the next environment; the ▸ follows (dev is read by the real source only: none here).
        await pilot.press("v")
        assert pane(app).selected == "dev"


async def test_read_only_hides_and_refuses_the_run() -> None:
    app = make_app(data.Scripted(data.ok("sqlmesh", status_with_two_environments())), read_only=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot)
        await pilot.press("4")
        await until(pilot, lambda: models(app).loaded, what="models table")
        keys = str(app.screen_stack[0].query_one(KeyBar).content)
        assert "Run missing" not in keys and "Plan preview" in keys
        assert pane(app).check_action("sqlmesh_run", ()) is False
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, SqlMeshRunScreen)


@pytest.fixture
def real_sqlmesh(tmp_path: Path, sqlmesh_local_env: dict[str, str]) -> Iterator[tuple[Settings, SqlMeshReader]]:
    """The real project, copied, on a DuckDB file that does not exist yet (no state: nothing applied)."""
    project = copy_project(tmp_path / "project")
    section = {"project_path": str(project), "gateway": "local", "environment": "prod", "as_of": AS_OF}
    base = data.settings()
    settings = base.model_copy(update={"sqlmesh": base.sqlmesh.model_copy(update=section)})
    reader = SqlMeshReader(cache_root=tmp_path / "cache")
    yield settings, reader
    reader.close()


async def test_t_runs_the_unit_tests_and_p_previews_without_applying(
    real_sqlmesh: tuple[Settings, SqlMeshReader], sqlmesh_local_env: dict[str, str]
) -> None:
    settings, reader = real_sqlmesh
    duckdb_file = Path(sqlmesh_local_env["GOODWORD_LOCAL_DUCKDB"])
    app = make_app(reader, settings, read_only=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, timeout=60)
        await pilot.press("4")
        await until(pilot, lambda: models(app).loaded, what="models table")
        await pilot.press("t")
        checks = app.screen_stack[0].query_one("#table-sqlmesh_checks", KeyedTable)
        await until(pilot, lambda: any(r.key == "tests:summary" for r in checks.all_rows), 60, "test results")
        summary = next(r for r in checks.all_rows if r.key == "tests:summary")
        assert summary.tone == "ok" and summary.cells[2].endswith("0 failed")

        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshPlanScreen), what="plan screen")
        screen = app.screen
        assert isinstance(screen, SqlMeshPlanScreen)
        await until(pilot, lambda: screen.preview is not None or bool(screen.error), 60, "preview")
        assert not screen.error, screen.error
        shown = text_of(screen.query_one("#sqlmesh-plan-preview", Static))
        assert "a new environment" in shown and "Added (" in shown
        assert "marts.daily_activity: 35 interval(s) 2025-09-01 - 2025-10-05" in shown
        assert "cannot be applied" in shown
        # Read-only: apply is hidden and refused; nothing was created.
        assert screen.check_action("sqlmesh_apply", ()) is False
        assert "Apply" not in str(screen.query_one(KeyBar).content)
        await pilot.press("a")
        await pilot.pause()
        assert not screen.query_one("#sqlmesh-plan-confirm").display
        await pilot.press("escape")
    assert not duckdb_file.exists()


async def test_apply_from_the_preview_after_typing_prod(
    real_sqlmesh: tuple[Settings, SqlMeshReader], sqlmesh_local_env: dict[str, str]
) -> None:
    settings, reader = real_sqlmesh
    app = make_app(reader, settings)
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, timeout=60)
        await pilot.press("4")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshPlanScreen), what="plan screen")
        screen = app.screen
        assert isinstance(screen, SqlMeshPlanScreen)
        await until(pilot, lambda: screen.preview is not None, 60, "preview")
        await pilot.press("a")
        await pilot.press(*"dev", "enter")  # the wrong name: not applied
        await pilot.pause()
        assert not screen.applying and screen.outcome is None
        confirm = screen.query_one("#sqlmesh-plan-confirm")
        confirm.value = ""  # type: ignore[attr-defined]
        await pilot.press(*"prod", "enter")
        await pilot.press(*"INC-1 first plan", "enter")  # the reason, journaled with the plan
        await until(pilot, lambda: screen.outcome is not None, 120, "apply")
        assert screen.outcome.ok, screen.outcome.message
        log = text_of(screen.query_one("#sqlmesh-plan-log", Static))
        assert "backfilling" in log and "promoting" in log and "plan applied to 'prod'" in log
        await pilot.press("escape")
        await until(
            pilot,
            lambda: pane(app).status is not None and pane(app).status.has_state,  # type: ignore[union-attr]
            60,
            "status after apply",
        )
        assert not pane(app).status.stale_models  # type: ignore[union-attr]
