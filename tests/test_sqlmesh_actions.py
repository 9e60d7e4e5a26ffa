"""SQLMesh actions against the real project on DuckDB: a first plan previewed against no state and applied, a
changed model previewed with its categories, diff and backfill, then applied and visible in state; read-only mode
refuses apply and run before anything is touched; a run streams its output and can be cancelled."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from goodword_tui.config import Settings, parse_settings
from goodword_tui.sandbox.sqlmesh import AS_OF
from goodword_tui.sources.sqlmesh import SqlMeshReader
from goodword_tui.sqlmesh_actions import (
    ApplyEvent,
    SqlMeshActionError,
    SqlMeshActions,
    SqlMeshReadOnly,
    run_command,
)
from tests.fixtures.sqlmesh import copy_project


def settings_for(project: Path) -> Settings:
    section = {"project_path": str(project), "gateway": "local", "environment": "prod", "as_of": AS_OF}
    return parse_settings({"snowflake": {"account": "x"}, "sqlmesh": section})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SqlMeshReader]:
    made = SqlMeshReader(cache_root=tmp_path / "reader-cache")
    yield made
    made.close()


async def test_preview_apply_change_and_read_only(
    tmp_path: Path, sqlmesh_local_env: dict[str, str], reader: SqlMeshReader
) -> None:
    project = copy_project(tmp_path / "project")
    duckdb_file = Path(sqlmesh_local_env["GOODWORD_LOCAL_DUCKDB"])
    settings = settings_for(project)
    actions = SqlMeshActions(reader, settings, read_only=False)

    # No state yet: the preview compares against an empty state and creates no file.
    first = await actions.preview("prod")
    assert not duckdb_file.exists()
    assert first.is_new_environment and "no SQLMesh state yet" in first.note
    added = {c.name for c in first.changes if c.change == "added"}
    assert {"marts.daily_activity", "staging.stg_app_users"} <= added
    backfill = {b.name: b.intervals for b in first.backfill}
    assert backfill["marts.daily_activity"] == 35  # 2025-09-01 .. 2025-10-05, daily

    # A prod apply needs the environment's name typed.
    events: list[ApplyEvent] = []
    with pytest.raises(SqlMeshActionError):
        await actions.apply(first, "yes", events.append, threading.Event())
    outcome = await actions.apply(first, "prod", events.append, threading.Event())
    assert outcome.ok, outcome.message
    kinds = {e.kind for e in events}
    assert {"start", "evaluate", "model", "promote", "done"} <= kinds
    model_events = [e for e in events if e.kind == "model"]
    assert model_events[-1].done == model_events[-1].total > 0
    status = (await reader(settings)).data
    assert status is not None and status.has_state and not status.stale_models

    # A changed staging model: directly modified (NON_BREAKING: a column added), its marts indirectly.
    model = project / "models" / "staging" / "stg_app_users.sql"
    text = model.read_text()
    model.write_text(
        text.replace("  created_at::DATE AS signup_date,", "  created_at::DATE AS signup_date,\n  1 AS one,")
    )
    before = digest(duckdb_file)
    preview = await actions.preview("prod")
    assert digest(duckdb_file) == before  # building a plan writes nothing
    by_name = {c.name: c for c in preview.changes}
    direct = by_name["staging.stg_app_users"]
    assert (direct.change, direct.category) == ("directly modified", "NON_BREAKING")
    assert "+  1 AS one," in direct.diff
    indirect = by_name["marts.signup_funnel"]
    assert indirect.change == "indirectly modified" and indirect.category == "INDIRECT_NON_BREAKING"
    assert indirect.because_of == ("staging.stg_app_users",)
    # A FULL model is still tracked per cron interval: the whole range is rebuilt (SQLMesh counts 35 days).
    assert {b.name: b.intervals for b in preview.backfill} == {"staging.stg_app_users": 35}

    # Read-only mode: refused below the UI, the state file unchanged.
    guarded = SqlMeshActions(reader, settings, read_only=True)
    assert (await guarded.preview("prod")).signature == preview.signature  # the preview stays available
    with pytest.raises(SqlMeshReadOnly):
        await guarded.apply(preview, "prod", events.append, threading.Event())
    with pytest.raises(SqlMeshReadOnly):
        await guarded.start_run("prod")
    assert digest(duckdb_file) == before

    # Applied for real, the new version is what the environment holds.
    outcome = await actions.apply(preview, "prod", events.append, threading.Event())
    assert outcome.ok, outcome.message
    status = (await reader(settings)).data
    assert status is not None
    users = next(m for m in status.models if m.name == "staging.stg_app_users")
    assert users.change_category == "NON_BREAKING"

    # A preview that no longer matches the project is not applied.
    model.write_text(text)
    outcome = await actions.apply(preview, "prod", events.append, threading.Event())
    assert not outcome.ok and "changed since the preview" in outcome.message

    # The details of a model: rendered SQL, lineage, audits, intervals from the environment.
    detail = await actions.detail("prod", "staging.stg_app_users")
    assert detail.rendered_sql.upper().startswith("SELECT")
    assert detail.parents == ("sources.airbyte_app_users",)
    assert "marts.daily_activity" in detail.children
    assert "not_null" in {name for name, _ in detail.audits}
    assert detail.intervals and detail.intervals[-1][1].isoformat().startswith("2025-10-06")


async def test_a_run_streams_its_output_and_a_cancel_interrupts_it(
    tmp_path: Path, sqlmesh_local_env: dict[str, str], reader: SqlMeshReader
) -> None:
    project = copy_project(tmp_path / "project")
    settings = settings_for(project)
    actions = SqlMeshActions(reader, settings, read_only=False)
    assert run_command(settings, "prod")[-2:] == ["--end", "2025-10-06 06:00:00"]

    # Nothing applied yet: the CLI says so and fails; its lines arrive as they are written.
    lines: list[str] = []
    run = await actions.start_run("prod")
    code = await asyncio.wait_for(run.stream(lines.append), 120)
    assert code != 0 and any("prod" in line for line in lines), lines

    run = await actions.start_run("prod")
    await run.cancel(grace_s=5.0)
    assert run.cancelled and run.process.returncode is not None and run.process.returncode != 0
