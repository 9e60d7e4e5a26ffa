"""SQLMesh end to end, through the dashboard's keys, on the real project: DuckDB for the warehouse, PostgreSQL for
the state (the `local_pg` gateway, a throwaway database per test).

* From the raw seeds to the marts: prod planned the day before, the night's cron ran without
  `marts.daily_activity`; the pane shows it stale, `u` runs the missing intervals, the pane shows it fresh and
  the mart holds the new day.
* A plan for changed models: the preview names the right categories and backfill, `a` applies it after `prod` is
  typed, and the new versions are what the environment holds in state.
* Read-only mode, driven through every key of the SQLMesh pane, leaves the state database byte for byte as it
  was (every relation and every row compared) and the DuckDB warehouse file unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest
from psycopg2 import sql
from textual.widgets import Static

from goodword_tui.config import Settings
from goodword_tui.sandbox.sqlmesh import AS_OF, PLAN_EXECUTION_TIME, RUN_EXECUTION_TIME
from goodword_tui.sources.sqlmesh import SqlMeshReader
from goodword_tui.sqlmesh_actions import short_name
from goodword_tui.ui.app import GoodwordApp
from goodword_tui.ui.screens.sqlmesh_plan import SqlMeshPlanScreen
from goodword_tui.ui.screens.sqlmesh_run import SqlMeshRunScreen
from goodword_tui.ui.widgets import KeyBar, KeyedTable
from tests.fixtures.sqlmesh import PgStateDatabase, copy_project
from tests.ui import data
from tests.ui.conftest import settled, until
from tests.ui.test_sqlmesh_pane import make_app, models, pane, text_of

GATEWAY = "local_pg"
STALE_MODEL = "marts.daily_activity"
# SQLMesh's SnapshotChangeCategory values, as stored in state (sqlmesh is imported only on the SQLMesh thread).
CATEGORY_CODES = {
    1: "BREAKING",
    2: "NON_BREAKING",
    3: "FORWARD_ONLY",
    4: "INDIRECT_BREAKING",
    5: "INDIRECT_NON_BREAKING",
}
LAST_DAY = date(2025, 10, 5)  # the seeds' last day: the interval the night's run missed for STALE_MODEL
DAY_BEFORE = date(2025, 10, 4)
LAST_DAYS = "SELECT activity_date FROM marts.daily_activity WHERE activity_date >= '2025-10-04' ORDER BY 1"


# --------------------------------------------------------------------------------------------------------------
# Helpers


def prepare_prod(project: Path, *, without: str | None) -> None:
    """Prod as the night left it: planned at PLAN_EXECUTION_TIME, the cron run of RUN_EXECUTION_TIME done for
    every model but `without`. Runs on the reader's SQLMesh thread (all SQLMesh work in the process does)."""
    from sqlmesh import Context

    context = Context(paths=project, gateway=GATEWAY)
    try:
        context.apply(context.plan_builder("prod", execution_time=PLAN_EXECUTION_TIME, skip_tests=True).build())
        select = [f"* & ^{without}"] if without else None
        status = context.run("prod", execution_time=RUN_EXECUTION_TIME, select_models=select)
        assert not status.is_failure
    finally:
        context.close()


def settings_for(project: Path) -> Settings:
    section = {"project_path": str(project), "gateway": GATEWAY, "environment": "prod", "as_of": AS_OF}
    base = data.settings()
    return base.model_copy(update={"sqlmesh": base.sqlmesh.model_copy(update=section)})


def warehouse_rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    """Query the DuckDB warehouse read-only, attached under its own name (the catalog its views refer to)."""
    connection = duckdb.connect(":memory:")
    try:
        connection.execute(f"ATTACH '{database}' AS \"{database.stem}\" (READ_ONLY)")
        connection.execute(f'USE "{database.stem}"')
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def dump_database(dsn: str) -> dict[str, Any]:
    """Every relation (schema, name, kind) outside the system schemas and every row of every table, as text,
    sorted: two dumps are equal only if nothing was created, dropped, inserted, updated or deleted."""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT n.nspname, c.relname, c.relkind
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
                  AND n.nspname NOT LIKE 'pg_temp%%'
                ORDER BY 1, 2
                """
            )
            relations = cursor.fetchall()
            dump: dict[str, Any] = {"relations": relations}
            for schema, name, kind in relations:
                if kind not in ("r", "p", "S", "m"):
                    continue
                table = sql.Identifier(schema, name)
                cursor.execute(sql.SQL("SELECT t::text FROM {} AS t").format(table))
                dump[f"{schema}.{name}"] = sorted(row[0] for row in cursor.fetchall())
        connection.rollback()
    finally:
        connection.close()
    return dump


def prod_in_state(dsn: str) -> tuple[str, dict[str, int]]:
    """Straight from PostgreSQL: prod's plan id and its models' change categories (`schema.table` → int)."""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT plan_id, snapshots FROM sqlmesh._environments WHERE name = 'prod'")
            plan_id, snapshots = cursor.fetchone()
    finally:
        connection.close()
    infos = json.loads(snapshots) if isinstance(snapshots, str) else snapshots
    return plan_id, {short_name(i["name"]): i.get("change_category") for i in infos}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_row(app: GoodwordApp, name: str) -> Any:
    return next(r for r in models(app).all_rows if r.key == f"model:{name}")


def freshness_of(app: GoodwordApp, name: str) -> str:
    table = models(app)
    row = next((r for r in table.all_rows if r.key == f"model:{name}"), None)
    return str(row.cells[6]) if row is not None else ""


@pytest.fixture
def pg_project(tmp_path: Path, sqlmesh_pg_state: PgStateDatabase) -> Iterator[tuple[Path, SqlMeshReader]]:
    """A private copy of the project on `local_pg`, and a reader (its SQLMesh thread) closed afterwards."""
    project = copy_project(tmp_path / "project")
    reader = SqlMeshReader(cache_root=tmp_path / "reader-cache")
    yield project, reader
    reader.close()
    reader.runtime.close(wait=True, cancel_pending=False)  # its PostgreSQL sessions end before the drop


# --------------------------------------------------------------------------------------------------------------
# The tests


async def test_from_raw_seeds_to_marts_the_stale_model_is_run_from_the_dashboard(
    pg_project: tuple[Path, SqlMeshReader], sqlmesh_pg_state: PgStateDatabase
) -> None:
    project, reader = pg_project
    warehouse = Path(sqlmesh_pg_state.env["GOODWORD_LOCAL_PG_DUCKDB"])
    await reader.runtime.call(prepare_prod, project, without=STALE_MODEL)
    # The seeds went through staging into the marts; the stale mart stops the day before.
    assert warehouse_rows(warehouse, LAST_DAYS) == [(DAY_BEFORE,)]
    assert warehouse_rows(warehouse, "SELECT COUNT(*) FROM marts.signup_funnel")[0][0] > 0

    app = make_app(reader, settings_for(project))
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, timeout=60)
        await pilot.press("4")
        await until(pilot, lambda: models(app).loaded and bool(models(app).all_rows), 30, "models table")
        stale = model_row(app, STALE_MODEL)
        assert stale.tone == "bad" and stale.cells[6] == "STALE" and stale.cells[5] == "1"
        assert freshness_of(app, "marts.signup_funnel") == "fresh"
        assert freshness_of(app, "staging.stg_app_events") == "fresh"
        summary = text_of(app.screen_stack[0].query_one("#sqlmesh-summary", Static))
        assert f"1 model(s) behind their cron: {STALE_MODEL}" in summary
        assert "gateway local_pg" in summary

        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshRunScreen), what="run screen")
        screen = app.screen
        assert isinstance(screen, SqlMeshRunScreen)
        # The run is a Change: what it runs is shown first, then `prod` typed and a reason (journaled).
        await until(pilot, lambda: screen.query_one("#sqlmesh-run-confirm").display, 60, "the run planned")
        await pilot.press(*"prod", "enter", *"INC-7 stale mart", "enter")
        await until(pilot, lambda: screen.exit_code is not None, 180, "sqlmesh run")
        assert screen.outcome is not None and screen.outcome.ok, screen.outcome
        assert screen.exit_code == 0, "\n".join(screen.lines)
        assert screen.lines, "the run's output is streamed to the screen"
        assert "finished" in text_of(screen.query_one("#sqlmesh-run-state", Static))
        await pilot.press("escape")
        await until(pilot, lambda: freshness_of(app, STALE_MODEL) == "fresh", 60, "the model fresh again")
        assert not pane(app).status.stale_models  # type: ignore[union-attr]
        summary = text_of(app.screen_stack[0].query_one("#sqlmesh-summary", Static))
        assert "behind their cron" not in summary

        # Asked again, there is nothing left to run, and the screen says so once.
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshRunScreen), what="run screen")
        state = app.screen.query_one("#sqlmesh-run-state", Static)
        await until(pilot, lambda: "up to" in text_of(state), 60, "the run planned")
        assert text_of(state).startswith("Nothing to run: every model of 'prod' has its intervals up to")
        assert not app.screen.query_one("#sqlmesh-run-reason").display
        await pilot.press("escape")
    # The run built the missing day from the raw seeds.
    assert warehouse_rows(warehouse, LAST_DAYS) == [(DAY_BEFORE,), (LAST_DAY,)]


async def test_a_plan_for_changed_models_previews_categories_and_backfill_then_applies_to_state(
    pg_project: tuple[Path, SqlMeshReader], sqlmesh_pg_state: PgStateDatabase
) -> None:
    project, reader = pg_project
    await reader.runtime.call(prepare_prod, project, without=None)
    # A column added (non-breaking) and a row filter added (breaking) to two staging models.
    users = project / "models" / "staging" / "stg_app_users.sql"
    users.write_text(
        users.read_text().replace(
            "  created_at::DATE AS signup_date,", "  created_at::DATE AS signup_date,\n  1 AS one,"
        )
    )
    subscriptions = project / "models" / "staging" / "stg_subscriptions.sql"
    subscriptions.write_text(
        subscriptions.read_text().replace(
            "FROM sources.goodword_subscriptions\n", "FROM sources.goodword_subscriptions\nWHERE mrr_usd >= 0\n"
        )
    )

    plan_before, _ = prod_in_state(sqlmesh_pg_state.dsn)

    app = make_app(reader, settings_for(project))
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, timeout=60)
        await pilot.press("4")
        await until(pilot, lambda: models(app).loaded and bool(models(app).all_rows), 30, "models table")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshPlanScreen), what="plan screen")
        screen = app.screen
        assert isinstance(screen, SqlMeshPlanScreen)
        await until(pilot, lambda: screen.preview is not None or bool(screen.error), 60, "preview")
        assert not screen.error, screen.error
        preview = screen.preview
        categories = {c.name: (c.change, c.category) for c in preview.changes}
        assert categories == {
            "staging.stg_app_users": ("directly modified", "NON_BREAKING"),
            "staging.stg_subscriptions": ("directly modified", "BREAKING"),
            "marts.signup_funnel": ("indirectly modified", "INDIRECT_BREAKING"),
            "marts.daily_activity": ("indirectly modified", "INDIRECT_NON_BREAKING"),
            "marts.weekly_retention": ("indirectly modified", "INDIRECT_NON_BREAKING"),
        }
        # Only what changed in meaning is rebuilt: both direct changes and the breaking one's child.
        assert {b.name: b.intervals for b in preview.backfill} == {
            "marts.signup_funnel": 35,
            "staging.stg_app_users": 35,
            "staging.stg_subscriptions": 35,
        }
        shown = text_of(screen.query_one("#sqlmesh-plan-preview", Static))
        assert "staging.stg_subscriptions  [BREAKING]" in shown
        assert "marts.signup_funnel  [INDIRECT_BREAKING]" in shown
        assert "+WHERE" in shown.replace(" ", "") and "+1ASone," in shown.replace(" ", "")
        assert "Apply" in str(screen.query_one(KeyBar).content)

        await pilot.press("a")
        await pilot.press(*"prod", "enter")
        await pilot.press(*"INC-8 new columns", "enter")  # the reason, journaled with the plan
        await until(pilot, lambda: screen.outcome is not None, 180, "apply")
        assert screen.outcome.ok, screen.outcome.message
        # The audits SQLMesh ran while backfilling were captured for the pane.
        from_plan = {(a.model, a.audit) for a in reader.results.audits() if a.origin == "plan"}
        assert ("staging.stg_subscriptions", "accepted_values") in from_plan
        await pilot.press("escape")
        # The pane reads the new versions from state, and the project now matches the environment.
        await until(
            pilot,
            lambda: any(
                m.name == "staging.stg_subscriptions" and m.change_category == "BREAKING"
                for m in (pane(app).status.models if pane(app).status else ())
            ),
            60,
            "the applied versions in the pane",
        )
        status = pane(app).status
        assert status is not None
        by_name = {m.name: m for m in status.models}
        assert by_name["staging.stg_app_users"].change_category == "NON_BREAKING"
        assert by_name["marts.signup_funnel"].change_category == "INDIRECT_BREAKING"
        assert not status.stale_models
    # And PostgreSQL holds it: prod has a new plan, whose snapshots carry the categories the preview showed.
    plan_after, categories_after = prod_in_state(sqlmesh_pg_state.dsn)
    assert plan_after != plan_before
    assert {name: CATEGORY_CODES[categories_after[name]] for name in categories} == {
        name: category for name, (_, category) in categories.items()
    }
    warehouse = Path(sqlmesh_pg_state.env["GOODWORD_LOCAL_PG_DUCKDB"])
    assert warehouse_rows(warehouse, "SELECT DISTINCT one FROM staging.stg_app_users") == [(1,)]


async def test_read_only_mode_leaves_the_state_database_byte_for_byte_unchanged(
    pg_project: tuple[Path, SqlMeshReader], sqlmesh_pg_state: PgStateDatabase
) -> None:
    project, reader = pg_project
    warehouse = Path(sqlmesh_pg_state.env["GOODWORD_LOCAL_PG_DUCKDB"])
    await reader.runtime.call(prepare_prod, project, without=STALE_MODEL)
    users = project / "models" / "staging" / "stg_app_users.sql"  # a local change, so the preview has work
    users.write_text(
        users.read_text().replace(
            "  created_at::DATE AS signup_date,", "  created_at::DATE AS signup_date,\n  1 AS one,"
        )
    )
    before = dump_database(sqlmesh_pg_state.dsn)
    assert before["sqlmesh._environments"] and before["sqlmesh._snapshots"]  # the dump is not vacuous
    warehouse_before = digest(warehouse)

    app = make_app(reader, settings_for(project), read_only=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, timeout=60)
        await pilot.press("4")
        await until(pilot, lambda: models(app).loaded and bool(models(app).all_rows), 30, "models table")
        assert freshness_of(app, STALE_MODEL) == "STALE"
        keys = str(app.screen_stack[0].query_one(KeyBar).content)
        assert "Run missing" not in keys and "Plan preview" in keys and "Unit tests" in keys

        # A status refresh, then the comparison with the project (it lands on a later read).
        await pilot.press("r")
        await settled(pilot, timeout=60)
        await until(
            pilot,
            lambda: pane(app).status is not None and pane(app).status.local_changes_checked_at is not None,
            60,
            "the local comparison",
        )
        await pilot.press("r")
        await settled(pilot, timeout=60)
        assert "staging.stg_app_users" in pane(app).status.unapplied_changes  # type: ignore[union-attr]

        # Unit tests.
        await pilot.press("t")
        checks = app.screen_stack[0].query_one("#table-sqlmesh_checks", KeyedTable)
        await until(pilot, lambda: any(r.key == "tests:summary" for r in checks.all_rows), 60, "test results")

        # Audits of prod's models (they only read), shown in the table. At the sandbox's clock (06:00) the newest
        # subscriptions load (2025-10-05 02:00) is 28 h old, past its 26 h limit: that non-blocking audit warns.
        await pilot.press("a")
        audit_key = f"audit:{STALE_MODEL}:not_null"
        await until(pilot, lambda: any(r.key == audit_key for r in checks.all_rows), 60, "audit results")
        audit_rows = {r.key: r for r in checks.all_rows if r.key.startswith("audit:")}
        late = audit_rows.pop("audit:sources.goodword_subscriptions:raw_load_freshness")
        assert (late.cells[2], late.tone) == ("1 row(s) failed", "warn")
        assert {r.cells[2] for r in audit_rows.values()} == {"passed"}
        assert "audit:sources.airbyte_app_events:raw_load_freshness" in audit_rows
        assert "audit:staging.stg_subscriptions:accepted_values" in audit_rows
        assert {r.cells[4] for r in audit_rows.values()} == {"audit"}

        # A plan preview; apply is hidden, and refused when asked for anyway.
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, SqlMeshPlanScreen), what="plan screen")
        screen = app.screen
        assert isinstance(screen, SqlMeshPlanScreen)
        await until(pilot, lambda: screen.preview is not None or bool(screen.error), 60, "preview")
        assert not screen.error, screen.error
        assert any(c.name == "staging.stg_app_users" for c in screen.preview.changes)
        assert "Apply" not in str(screen.query_one(KeyBar).content)
        await pilot.press("a")
        await pilot.press(*"prod", "enter")
        await pilot.pause()
        assert not screen.query_one("#sqlmesh-plan-confirm").display and screen.outcome is None
        screen.action_sqlmesh_apply()  # the action itself, past the hidden binding: refused
        await pilot.pause()
        assert not screen.query_one("#sqlmesh-plan-confirm").display and not screen.applying
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SqlMeshPlanScreen), what="plan screen closed")

        # A run: the key does nothing, the action refuses, and the core refuses below the UI.
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, SqlMeshRunScreen)
        pane(app).action_sqlmesh_run()
        await pilot.pause()
        assert not isinstance(app.screen, SqlMeshRunScreen)
        await app.workers.wait_for_complete()
    after = dump_database(sqlmesh_pg_state.dsn)
    assert after == before
    assert digest(warehouse) == warehouse_before
