"""SQLMesh apply and run as Changes, on the real project: DuckDB warehouse, PostgreSQL state (`local_pg`).

* A run of prod's missing intervals and a plan for a changed model each go through `apply_change`: a reason and
  the typed `prod` are required, intent and result are journaled (operator, mode, reason), the result is verified
  by re-reading state, and the run's audits are captured.
* In read-only mode both are refused below the UI and the state database is byte for byte what it was.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest

from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_change, plan_undo, reconcile_pending
from goodword_tui.changes.base import System
from goodword_tui.changes.inputs import InputError
from goodword_tui.changes.sqlmesh import SqlMeshOps, Watch, use_reader, watched
from goodword_tui.config import Settings, parse_settings
from goodword_tui.journal import Journal, Operator
from goodword_tui.sandbox.sqlmesh import AS_OF
from goodword_tui.sources.sqlmesh import SqlMeshReader
from goodword_tui.sqlmesh_actions import ApplyEvent, SqlMeshActions, SqlMeshReadOnly
from goodword_tui.ui.screens.journal import entry_text, journal_table
from tests.fixtures.sqlmesh import PgStateDatabase, copy_project
from tests.sources.test_sqlmesh import pg_dump_of
from tests.ui.test_sqlmesh_e2e import GATEWAY, STALE_MODEL, digest, prepare_prod, prod_in_state

REASON = "INC-4242 mart behind"


def settings_for(project: Path, journal: Path, *, mode: str = "write") -> Settings:
    return parse_settings(
        {
            "platform": {"mode": mode, "journal_path": str(journal)},
            "snowflake": {"account": "x"},
            "sqlmesh": {"project_path": str(project), "gateway": GATEWAY, "environment": "prod", "as_of": AS_OF},
        }
    )


@pytest.fixture
def pg_project(tmp_path: Path, sqlmesh_pg_state: PgStateDatabase) -> Iterator[tuple[Path, SqlMeshReader]]:
    project = copy_project(tmp_path / "project")
    reader = SqlMeshReader(cache_root=tmp_path / "reader-cache")
    yield project, reader
    reader.close()
    reader.runtime.close(wait=True, cancel_pending=False)  # its PostgreSQL sessions end before the drop


def change_users_model(project: Path) -> None:
    users = project / "models" / "staging" / "stg_app_users.sql"
    users.write_text(
        users.read_text().replace(
            "  created_at::DATE AS signup_date,", "  created_at::DATE AS signup_date,\n  1 AS one,"
        )
    )


async def test_a_run_and_a_plan_are_guarded_journaled_and_verified(
    tmp_path: Path, pg_project: tuple[Path, SqlMeshReader], sqlmesh_pg_state: PgStateDatabase
) -> None:
    project, reader = pg_project
    await reader.runtime.call(prepare_prod, project, without=STALE_MODEL)
    journal_path = tmp_path / "journal.jsonl"
    settings = settings_for(project, journal_path)
    actions = SqlMeshActions(reader, settings, read_only=False)
    ctx = ChangeContext(settings)
    use_reader(ctx, reader)
    try:
        # The run: its request is the command line and what is missing; prod needs a reason and "prod" typed.
        run = await actions.plan_run("prod")
        assert run.system is System.SQLMESH and run.kind == "sqlmesh_run"
        text = run.request.text()
        assert f"$ sqlmesh -p {project.resolve()} --gateway {GATEWAY} run prod --end" in text
        assert f"{STALE_MODEL}: 1 interval(s) missing" in text
        assert run.dangerous and run.confirm_phrase == "prod" and run.inverse_intent is None
        assert any("1 missing" in line for line in run.before.lines if line.startswith(STALE_MODEL))

        lines: list[str] = []
        watch = Watch(on_line=lines.append)
        refused = await asyncio.to_thread(apply_change, watched(run, watch), ctx, reason=" ")
        assert (refused.status, refused.refused_by) == (ApplyStatus.REFUSED, "reason")
        refused = await asyncio.to_thread(apply_change, watched(run, watch), ctx, reason=REASON, confirmation="yes")
        assert (refused.status, refused.refused_by) == (ApplyStatus.REFUSED, "confirmation")
        assert not journal_path.exists() and not lines  # refused: nothing journaled, nothing started

        result = await asyncio.to_thread(apply_change, watched(run, watch), ctx, reason=REASON, confirmation="prod")
        assert result.status is ApplyStatus.APPLIED, (result.message, lines[-20:])
        assert watch.run is not None and watch.run.exit_code == 0 and lines == watch.run.lines and lines
        assert result.verification is not None and result.verification.ok
        observed = result.verification.observed
        assert observed is not None and any(
            line.startswith(STALE_MODEL) and line.endswith(" 0 missing") for line in observed.lines
        )
        # The audits the run executed were captured, per (model, audit).
        from_run = {(a.model, a.audit) for a in reader.results.audits() if a.origin == "run"}
        assert (STALE_MODEL, "not_null") in from_run, from_run

        [entry] = Journal(journal_path).entries()
        assert entry.id == result.entry_id and entry.applied and entry.kind == "sqlmesh_run"
        assert (entry.reason, entry.mode, entry.operator["os_user"]) == (REASON, "write", getpass.getuser())
        assert entry.change["request"]["command"].startswith("sqlmesh -p ")
        assert entry.verification is not None and entry.verification["ok"]
        assert entry.overrides["confirmed"]
        raw = journal_path.read_text()
        assert raw.count(f'"id": "{entry.id}"') == 2  # an intent and a result

        # Nothing is missing any more: planning another run says so.
        with pytest.raises(InputError, match="nothing to run"):
            await actions.plan_run("prod")

        # A plan for a changed model: the request says what it does, the result is verified in state.
        plan_before, _ = prod_in_state(sqlmesh_pg_state.dsn)
        change_users_model(project)
        apply = await actions.plan_apply("prod")
        assert apply.kind == "sqlmesh_apply" and apply.dangerous and apply.inverse_intent is None
        text = apply.request.text()
        assert "staging.stg_app_users  [NON_BREAKING]" in text and "Backfill:" in text
        assert "staging.stg_app_users: 35 interval(s)" in text
        assert apply.before.lines[0] == f"plan {plan_before}"
        events: list[ApplyEvent] = []
        result = await asyncio.to_thread(
            apply_change, watched(apply, Watch(on_event=events.append)), ctx, reason=REASON, confirmation="prod"
        )
        assert result.status is ApplyStatus.APPLIED, result.message
        assert {"start", "evaluate", "model", "promote", "done"} <= {e.kind for e in events}
        plan_after, _ = prod_in_state(sqlmesh_pg_state.dsn)
        assert plan_after != plan_before
        assert result.verification is not None and plan_after in result.verification.detail
        assert result.verification.observed is not None
        assert result.verification.observed.lines[0] == f"plan {plan_after}"

        entries = Journal(journal_path).entries()
        assert [e.kind for e in entries] == ["sqlmesh_run", "sqlmesh_apply"] and entries[1].applied
        assert entries[1].before["lines"][0] == f"plan {plan_before}"
        assert entries[1].change["request"]["type"] == "sqlmesh"
        # No undo for SQLMesh changes, and it says why.
        with pytest.raises(InputError, match="does not undo SQLMesh"):
            plan_undo(entries[1], ctx)

        # The journal screen shows them as it shows every change.
        shown = entry_text(entries[1]).plain
        assert "SQLMesh apply prod" in shown and "staging.stg_app_users  [NON_BREAKING]" in shown
        assert "verification: ok" in shown and f"plan {plan_after}" in shown
        assert entries[0].description in {row.cells[4] for row in journal_table(entries).rows}

        # A crash between intent and result: the next start settles it by re-reading state.
        pending = ctx.journal.write_intent(
            change=entries[0].change,
            before=entries[0].before,
            after=entries[0].after,
            operator=Operator(getpass.getuser()),
            mode="write",
            reason=REASON,
        )
        [settled] = reconcile_pending(ctx)
        assert (settled.entry.id, settled.result) == (pending, "applied")

        # The same preview applied again: the environment moved since (a plan landed), so nothing is sent.
        conflict = await asyncio.to_thread(apply_change, apply, ctx, reason=REASON, confirmation="prod")
        assert conflict.status is ApplyStatus.CONFLICT and conflict.rebuilt is None
        assert len(Journal(journal_path).entries()) == 3
    finally:
        ctx.close()


async def test_read_only_refuses_apply_and_run_below_the_ui_and_leaves_the_state_unchanged(
    tmp_path: Path, pg_project: tuple[Path, SqlMeshReader], sqlmesh_pg_state: PgStateDatabase
) -> None:
    project, reader = pg_project
    await reader.runtime.call(prepare_prod, project, without=STALE_MODEL)
    change_users_model(project)  # so a plan has something to apply, and a run has an interval to fill
    warehouse = Path(sqlmesh_pg_state.env["GOODWORD_LOCAL_PG_DUCKDB"])
    before = pg_dump_of(sqlmesh_pg_state.dsn)
    assert any(row[0] == "sqlmesh._environments" for row in before)  # the dump is not vacuous
    warehouse_before = digest(warehouse)

    journal_path = tmp_path / "journal.jsonl"
    settings = settings_for(project, journal_path, mode="read-only")
    actions = SqlMeshActions(reader, settings, read_only=True)
    ctx = ChangeContext(settings)
    use_reader(ctx, reader)
    try:
        assert ctx.read_only
        # Planning (and previewing) only reads: allowed.
        apply = await actions.plan_apply("prod")
        run = await actions.plan_run("prod")
        for change in (apply, run):
            result = await asyncio.to_thread(apply_change, change, ctx, reason=REASON, confirmation="prod")
            assert (result.status, result.refused_by) == (ApplyStatus.REFUSED, "read_only"), result.message
            assert not result.entry_id
        # Below apply_change too: the SQLMesh send itself refuses in read-only mode.
        for change in (apply, run):
            with pytest.raises(SqlMeshReadOnly):
                await asyncio.to_thread(SqlMeshOps().send, ctx, change.request)
    finally:
        ctx.close()
    assert pg_dump_of(sqlmesh_pg_state.dsn) == before
    assert digest(warehouse) == warehouse_before
    assert not journal_path.exists()
