"""SQLMesh actions against the real project on DuckDB: a first plan previewed against no state and applied, a
changed model previewed with its categories, diff and backfill, then applied and visible in state; read-only mode
refuses an apply (a Change, through `apply_change`) before anything is touched; a run streams its output and can
be cancelled."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_change
from goodword_tui.changes.inputs import InputError
from goodword_tui.changes.sqlmesh import Watch, use_reader, watched
from goodword_tui.config import Settings, parse_settings
from goodword_tui.journal import Journal
from goodword_tui.sandbox.sqlmesh import AS_OF
from goodword_tui.sources.sqlmesh import SqlMeshReader
from goodword_tui.sqlmesh_actions import ApplyEvent, SqlMeshActions, run_blocking, run_command
from tests.fixtures.sqlmesh import copy_project


def settings_for(project: Path) -> Settings:
    section = {"project_path": str(project), "gateway": "local", "environment": "prod", "as_of": AS_OF}
    return parse_settings({"snowflake": {"account": "x"}, "sqlmesh": section})


REASON = "INC-1 first plan"


def with_journal(settings: Settings, journal: Path) -> Settings:
    return settings.model_copy(update={"platform": settings.platform.model_copy(update={"journal_path": str(journal)})})


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

    # Applying goes through the Change mechanism; prod needs its name typed (and a reason).
    journal = tmp_path / "journal.jsonl"
    ctx = ChangeContext(with_journal(settings, journal))
    use_reader(ctx, reader)
    change = await actions.plan_apply("prod")
    assert change.request.preview.signature == first.signature and change.dangerous and change.confirm_phrase == "prod"
    events: list[ApplyEvent] = []
    watch = Watch(on_event=events.append)
    refused = await asyncio.to_thread(apply_change, watched(change, watch), ctx, reason=REASON, confirmation="yes")
    assert refused.refused_by == "confirmation" and not events and not duckdb_file.exists()
    outcome = await asyncio.to_thread(apply_change, watched(change, watch), ctx, reason=REASON, confirmation="prod")
    assert outcome.status is ApplyStatus.APPLIED, outcome.message
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

    # Read-only mode: the preview stays available; applying is refused below the UI, the state file unchanged.
    guarded = SqlMeshActions(reader, settings, read_only=True)
    change = await guarded.plan_apply("prod")
    assert change.request.preview.signature == preview.signature
    read_only_ctx = ChangeContext(with_journal(settings, journal), read_only=True)
    refused = await asyncio.to_thread(apply_change, change, read_only_ctx, reason=REASON, confirmation="prod")
    assert refused.refused_by == "read_only"
    assert digest(duckdb_file) == before

    # A preview that no longer matches the project is not applied (the plan is built again and compared).
    model.write_text(text)
    outcome = await asyncio.to_thread(apply_change, change, ctx, reason=REASON, confirmation="prod")
    assert outcome.status is ApplyStatus.FAILED and "changed since the preview" in outcome.message
    model.write_text(
        text.replace("  created_at::DATE AS signup_date,", "  created_at::DATE AS signup_date,\n  1 AS one,")
    )

    # Applied for real, the new version is what the environment holds.
    outcome = await asyncio.to_thread(apply_change, change, ctx, reason=REASON, confirmation="prod")
    assert outcome.status is ApplyStatus.APPLIED, outcome.message
    status = (await reader(settings)).data
    assert status is not None
    users = next(m for m in status.models if m.name == "staging.stg_app_users")
    assert users.change_category == "NON_BREAKING"
    entries = Journal(journal).entries()
    assert [e.result for e in entries] == ["applied", "failed", "applied"]
    ctx.close()
    read_only_ctx.close()

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

    # Nothing applied yet: no run is planned, and the CLI itself says so and fails.
    with pytest.raises(InputError, match="not in the SQLMesh state"):
        await actions.plan_run("prod")
    command = run_command(settings, "prod")
    lines: list[str] = []
    run = await asyncio.to_thread(run_blocking, command, project, on_line=lines.append, cache_root=tmp_path)
    assert run.exit_code != 0 and not run.cancelled and any("prod" in line for line in lines), lines
    assert run.lines == lines

    # A cancel interrupts it (then terminates it).
    cancel = threading.Event()
    cancel.set()
    run = await asyncio.to_thread(run_blocking, command, project, cancel=cancel, cache_root=tmp_path, grace_s=5.0)
    assert run.cancelled and run.exit_code != 0
