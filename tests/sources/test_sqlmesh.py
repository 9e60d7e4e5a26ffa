"""The SQLMesh source against the real project: state in DuckDB and in PostgreSQL, read without writing a byte.

The states come from the sandbox's builder (sandbox/sqlmesh.py) run once per module in its own process: the prod
plan applied as of 2025-10-05 01:00, then the 2025-10-06 01:00 cron run with every model ("fresh") or without
marts.daily_activity ("stale"). Everything that changes state during a test does so from another process, as a
cron `sqlmesh run` would, so the reader must notice it on its next read.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from goodword_tui.analysis.sqlmesh import CODES, sqlmesh_findings
from goodword_tui.config import Settings, parse_settings
from goodword_tui.model import ErrorKind, SourceResult, SqlMeshAuditResult, SqlMeshStatus
from goodword_tui.monitor import Monitor
from goodword_tui.sandbox.sqlmesh import AS_OF, DUCKDB_NAME, STALE_MODEL, build_environment
from goodword_tui.sources.sqlmesh import PREPARING_MARKER, SqlMeshReader, describe_error
from goodword_tui.sqlmesh_runtime import IMPORT_SWITCHES, SqlMeshRuntime
from tests.fixtures.sqlmesh import (
    SEED_EXECUTION_TIME,
    PgStateDatabase,
    clear_project_env,
    copy_project,
    throwaway_pg_database,
)

DAILY_MODELS = {
    "marts.daily_activity",
    "marts.signup_funnel",
    "marts.weekly_retention",
    "staging.stg_app_events",
    "staging.stg_app_users",
    "staging.stg_subscriptions",
    "sources.airbyte_app_events",
    "sources.airbyte_app_users",
    "sources.goodword_subscriptions",
}
PG_DUCKDB_NAME = "goodword_local_pg.duckdb"
SEEDS = {"raw_seeds.airbyte_app_events", "raw_seeds.airbyte_app_users", "raw_seeds.goodword_subscriptions"}


# --------------------------------------------------------------------------------------------------------------
# Helpers and fixtures


def settings_for(project: Path, *, gateway: str = "local", as_of: datetime | None = AS_OF, **extra: Any) -> Settings:
    section: dict[str, Any] = {"project_path": str(project), "gateway": gateway, "environment": "prod", **extra}
    if as_of is not None:
        section["as_of"] = as_of
    return parse_settings({"snowflake": {"account": "x"}, "sqlmesh": section})


def outside_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A subprocess environment with only the project variables the test chose."""
    env = build_environment(Path(os.environ.get("GOODWORD_SQLMESH_CACHE_DIR", "/tmp")))
    env.update(extra or {})
    return env


def sqlmesh_outside(project: Path, gateway: str, code: str, env: dict[str, str] | None = None) -> str:
    """Run `code` with `context` = Context(project, gateway) in another process: a change made from outside."""
    script = (
        "from sqlmesh import Context\n"
        f"context = Context(paths={str(project)!r}, gateway={gateway!r})\n"
        "try:\n" + textwrap.indent(textwrap.dedent(code), "    ") + "\nfinally:\n    context.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=outside_env(env),
        cwd=project.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def models(status: SqlMeshStatus) -> dict[str, Any]:
    return {m.name: m for m in status.models}


async def read(reader: SqlMeshReader, settings: Settings) -> SqlMeshStatus:
    result = await reader(settings)
    assert result.error is None, result.error
    assert result.data is not None
    return result.data


@pytest.fixture(scope="module")
def built_states(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fresh/` and `stale/` DuckDB files of the project (state and warehouse in one file, gateway `local`)."""
    root = tmp_path_factory.mktemp("sqlmesh_states")
    build = copy_project(root / "build")
    done = subprocess.run(
        [sys.executable, "-m", "goodword_tui.sandbox.sqlmesh", str(build), str(root / "variants")],
        env=build_environment(root / "cache"),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "variants"


@pytest.fixture
def local_project(tmp_path: Path, built_states: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """A project copy with one of the built states as its `local` DuckDB file (the config's default path)."""
    clear_project_env(monkeypatch)

    def make(variant: str = "fresh") -> Path:
        project = copy_project(tmp_path / f"project-{variant}")
        shutil.copyfile(built_states / variant / DUCKDB_NAME, project / DUCKDB_NAME)
        return project

    return make


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SqlMeshReader]:
    reader = SqlMeshReader(cache_root=tmp_path / "reader-cache")
    yield reader
    reader.close()


# --------------------------------------------------------------------------------------------------------------
# Status on DuckDB state


async def test_status_of_the_local_gateway(local_project: Callable[[str], Path], reader: SqlMeshReader) -> None:
    status = await read(reader, settings_for(local_project("fresh")))
    assert status.has_state and status.note == ""
    assert status.gateway == "local" and status.as_of == AS_OF
    (prod,) = status.environments
    assert prod.name == "prod" and prod.finalized and prod.finalized_at is not None
    assert prod.expiration_ts is None and not prod.expired and prod.plan_id
    by_name = models(status)
    assert set(by_name) >= DAILY_MODELS | SEEDS
    daily = by_name["marts.daily_activity"]
    assert daily.kind == "INCREMENTAL_BY_TIME_RANGE" and daily.cron == "@daily"
    assert daily.last_interval_end == datetime(2025, 10, 6, tzinfo=UTC)
    assert daily.missing_intervals == 0 and not daily.stale
    assert daily.next_due == datetime(2025, 10, 7, tzinfo=UTC)
    assert daily.last_altered is not None
    assert daily.fqn == '"GOODWORD_LOCAL"."MARTS"."DAILY_ACTIVITY"'
    assert '"GOODWORD_LOCAL"."STAGING"."STG_APP_EVENTS"' in daily.parents
    assert by_name["marts.signup_funnel"].kind == "FULL"
    assert by_name["sources.airbyte_app_users"].kind == "VIEW"
    assert all(by_name[s].kind == "SEED" and not by_name[s].stale for s in SEEDS)
    assert not status.stale_models
    externals = [m for m in status.models if m.kind == "EXTERNAL"]
    assert {m.name for m in externals} == {
        "AIRBYTE_DB.RAW.APP_USERS",
        "AIRBYTE_DB.RAW.APP_EVENTS",
        "GOODWORD_WH.RAW.SUBSCRIPTIONS",
    }


async def test_reading_leaves_the_duckdb_file_and_the_project_untouched(
    local_project: Callable[[str], Path], tmp_path: Path
) -> None:
    project = local_project("fresh")
    before = sha256(project / DUCKDB_NAME)
    files_before = sorted(p.relative_to(project) for p in project.rglob("*"))
    reader = SqlMeshReader(cache_root=tmp_path / "cache", wait_for_local_changes=True)
    try:
        status = await read(reader, settings_for(project))
        assert status.local_changes_checked_at is not None  # the project was parsed and compared too
        tests = await reader.run_unit_tests(settings_for(project))
        assert tests.ok and tests.tests_run == 6
    finally:
        reader.close()
    assert sha256(project / DUCKDB_NAME) == before
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == files_before  # no cache, log or WAL


async def test_a_missing_duckdb_state_is_reported_and_not_created(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    project = local_project("fresh")
    (project / DUCKDB_NAME).unlink()
    status = await read(reader, settings_for(project))
    assert not status.has_state and status.note.startswith("no SQLMesh state yet")
    assert status.models == () and status.environments == ()
    assert not (project / DUCKDB_NAME).exists()
    findings = sqlmesh_findings(status, settings_for(project))
    assert [f.code for f in findings] == ["SQLMESH_NO_STATE"]


async def test_a_project_being_prepared_says_so(local_project: Callable[[str], Path], reader: SqlMeshReader) -> None:
    project = local_project("fresh")
    (project / PREPARING_MARKER).write_text("preparing the sandbox's SQLMesh state\n")
    status = await read(reader, settings_for(project))
    assert not status.has_state and status.note == "preparing the sandbox's SQLMesh state"
    assert sqlmesh_findings(status, settings_for(project)) == []


# --------------------------------------------------------------------------------------------------------------
# Freshness against an injected clock


async def test_the_stale_model_is_the_one_the_night_run_skipped(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    settings = settings_for(local_project("stale"))
    status = await read(reader, settings)
    assert [m.name for m in status.stale_models] == [STALE_MODEL]
    daily = models(status)[STALE_MODEL]
    assert daily.last_interval_end == datetime(2025, 10, 5, tzinfo=UTC)
    assert daily.missing_intervals == 1  # the day 2025-10-05; its two lookback days were done and do not count
    assert daily.next_due == datetime(2025, 10, 6, tzinfo=UTC)
    assert "behind its cron" in daily.detail
    (finding,) = [f for f in sqlmesh_findings(status, settings) if f.code == "SQLMESH_MODEL_STALE"]
    assert finding.resource == STALE_MODEL and finding.fix is not None
    assert finding.fix.params == {"environment": "prod", "select_models": [STALE_MODEL]}


@pytest.mark.parametrize(
    ("now", "grace_s", "stale"),
    [
        (datetime(2025, 10, 6, 23, 59, tzinfo=UTC), 3600.0, set()),  # the next day is not over yet: nothing due
        (datetime(2025, 10, 7, 0, 30, tzinfo=UTC), 3600.0, set()),  # due 30 min ago, within the hour of grace
        (datetime(2025, 10, 7, 1, 30, tzinfo=UTC), 3600.0, DAILY_MODELS),  # one interval plus grace behind
        (datetime(2025, 10, 7, 1, 30, tzinfo=UTC), 7200.0, set()),  # a longer grace
    ],
)
async def test_freshness_follows_the_clock_the_reader_is_given(
    local_project: Callable[[str], Path], tmp_path: Path, now: datetime, grace_s: float, stale: set[str]
) -> None:
    reader = SqlMeshReader(clock=lambda: now, cache_root=tmp_path / "cache")
    try:
        status = await read(reader, settings_for(local_project("fresh"), as_of=None, grace_s=grace_s))
    finally:
        reader.close()
    assert status.as_of == now
    assert {m.name for m in status.stale_models} == stale
    due = {m.name for m in status.models if m.missing_intervals}
    assert due == (DAILY_MODELS if now >= datetime(2025, 10, 7, tzinfo=UTC) else set())
    assert not any(models(status)[s].stale for s in SEEDS)  # seeds are loaded by plans, never behind a cron


# --------------------------------------------------------------------------------------------------------------
# No stale cache: a change made from outside shows on the next read


async def test_a_run_from_another_process_shows_on_the_next_read(
    local_project: Callable[[str], Path], tmp_path: Path
) -> None:
    project = local_project("stale")
    settings = settings_for(project)
    # Waiting for the project comparison too: nothing of ours may hold the DuckDB file when the run starts.
    reader = SqlMeshReader(cache_root=tmp_path / "cache", wait_for_local_changes=True)
    try:
        assert [m.name for m in (await read(reader, settings)).stale_models] == [STALE_MODEL]
        sqlmesh_outside(project, "local", "context.run('prod', execution_time='2025-10-06 01:00:00')")
        status = await read(reader, settings)
    finally:
        reader.close()
    assert status.stale_models == ()
    assert models(status)[STALE_MODEL].last_interval_end == datetime(2025, 10, 6, tzinfo=UTC)


async def test_a_replaced_state_file_is_read_afresh_while_old_connections_linger(
    local_project: Callable[[str], Path], built_states: Path, reader: SqlMeshReader
) -> None:
    """What the sandbox does on a scenario change: the file is replaced, and someone still has the old one open."""
    import duckdb

    project = local_project("stale")
    settings = settings_for(project)
    assert [m.name for m in (await read(reader, settings)).stale_models] == [STALE_MODEL]
    lingering = duckdb.connect(str(project / DUCKDB_NAME), read_only=True)
    try:
        shutil.copyfile(built_states / "fresh" / DUCKDB_NAME, project / "replacement.tmp")
        os.replace(project / "replacement.tmp", project / DUCKDB_NAME)
        status = await read(reader, settings)
    finally:
        lingering.close()
    assert status.stale_models == ()


# --------------------------------------------------------------------------------------------------------------
# Local changes and unit tests


async def test_an_edited_model_is_an_unapplied_change(local_project: Callable[[str], Path], tmp_path: Path) -> None:
    project = local_project("fresh")
    settings = settings_for(project)
    reader = SqlMeshReader(cache_root=tmp_path / "cache", wait_for_local_changes=True)
    try:
        clean = await read(reader, settings)
        assert clean.local_changes_checked_at is not None
        assert clean.unapplied_changes == () and clean.local_changes == ()
        model = project / "models" / "marts" / "signup_funnel.sql"
        text = model.read_text()
        edited = text.replace("AS paid_conversion_rate\n", "AS paid_conversion_rate,\n  1 AS extra_column\n")
        assert edited != text
        model.write_text(edited)
        changed = await read(reader, settings)
    finally:
        reader.close()
    assert changed.unapplied_changes == ("marts.signup_funnel",)
    assert [(c.name, c.change) for c in changed.local_changes] == [("marts.signup_funnel", "modified")]
    codes = [f.code for f in sqlmesh_findings(changed, settings)]
    assert codes == ["SQLMESH_UNAPPLIED_CHANGES"]


async def test_the_comparison_runs_in_the_background_and_announces_itself(
    local_project: Callable[[str], Path], tmp_path: Path
) -> None:
    project = local_project("fresh")
    (project / "models" / "marts" / "new_mart.sql").write_text(
        "MODEL (name marts.new_mart, kind FULL);\nSELECT 1 AS one\n"
    )
    landed = threading.Event()
    reader = SqlMeshReader(cache_root=tmp_path / "cache", on_update=landed.set)
    try:
        first = await read(reader, settings_for(project))
        assert first.local_changes_checked_at is None  # the status did not wait for the project to parse
        deadline = time.monotonic() + 120
        while not landed.is_set():
            assert time.monotonic() < deadline, "the comparison never finished"
            await asyncio.sleep(0.05)
        second = await read(reader, settings_for(project))
    finally:
        reader.close()
    assert second.unapplied_changes == ("marts.new_mart",)
    assert second.local_changes[0].change == "added"


async def test_failing_unit_tests_are_reported_and_kept_for_the_status(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    project = local_project("fresh")
    tests_file = project / "tests" / "test_marts.yaml"
    text = tests_file.read_text()
    assert "signed_up_users: 4" in text
    tests_file.write_text(text.replace("signed_up_users: 4", "signed_up_users: 999999", 1))
    settings = settings_for(project)
    result = await reader.run_unit_tests(settings)
    assert result.tests_run == 6 and not result.ok
    assert len(result.failures) + len(result.errors) == 1
    status = await read(reader, settings)
    assert status.tests == result
    assert "SQLMESH_TESTS_FAILING" in {f.code for f in sqlmesh_findings(status, settings)}


async def test_audit_results_recorded_by_runs_ride_along(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    settings = settings_for(local_project("fresh"))
    at = datetime(2025, 10, 6, 1, tzinfo=UTC)
    reader.results.record_audits(
        [
            SqlMeshAuditResult("marts.daily_activity", "not_null", at, 0, origin="run"),
            SqlMeshAuditResult("sources.airbyte_app_events", "raw_load_freshness", at, 1, False, origin="run"),
            SqlMeshAuditResult("staging.stg_app_users", "not_null", at, 0, origin="run"),
        ]
    )
    # Kept per (model, audit): another model's not_null stays; the same model's newer result replaces its own.
    later = datetime(2025, 10, 6, 2, tzinfo=UTC)
    reader.results.record_audits([SqlMeshAuditResult("staging.stg_app_users", "not_null", later, 2, origin="audit")])
    status = await read(reader, settings)
    assert [(a.model, a.audit, a.ok, a.origin) for a in status.audits] == [
        ("marts.daily_activity", "not_null", True, "run"),
        ("sources.airbyte_app_events", "raw_load_freshness", False, "run"),
        ("staging.stg_app_users", "not_null", False, "audit"),
    ]
    failed = {f.resource for f in sqlmesh_findings(status, settings) if f.code == "SQLMESH_AUDIT_FAILED"}
    assert failed == {"sources.airbyte_app_events:raw_load_freshness", "staging.stg_app_users:not_null"}


# --------------------------------------------------------------------------------------------------------------
# Errors are source errors


async def test_a_read_that_times_out_is_a_timeout_and_the_next_call_gets_that_same_read(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    project = local_project("fresh")
    # The first read imports sqlmesh (seconds): it cannot finish in 10 ms.
    hurried = await reader(settings_for(project, timeout_s=0.01))
    assert hurried.data is None and hurried.error is not None and hurried.error.kind == ErrorKind.TIMEOUT
    patient = await reader(settings_for(project))
    assert patient.ok and patient.data is not None and patient.data.models


async def test_a_missing_project_is_a_config_error(tmp_path: Path, reader: SqlMeshReader) -> None:
    result = await reader(settings_for(tmp_path / "nowhere"))
    assert result.data is None and result.error is not None
    assert result.error.kind == ErrorKind.CONFIG and "not found" in result.error.message


async def test_an_unknown_gateway_is_a_config_error(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    result = await reader(settings_for(local_project("fresh"), gateway="nope"))
    assert result.error is not None and result.error.kind == ErrorKind.CONFIG
    assert "nope" in result.error.message


async def test_an_incomplete_production_gateway_names_what_is_missing(
    local_project: Callable[[str], Path], reader: SqlMeshReader
) -> None:
    result = await reader(settings_for(local_project("fresh"), gateway="snowflake"))
    assert result.error is not None and result.error.kind == ErrorKind.CONFIG
    assert "SNOWFLAKE_USER is not set" in result.error.message or "not configured" in result.error.message


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_dump_of(dsn: str) -> list[tuple[str, ...]]:
    """Every relation outside the system schemas, then every row of every table, in a deterministic order."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                "ORDER BY 1, 2"
            )
            relations = cursor.fetchall()
            out: list[tuple[str, ...]] = [("relation", *map(str, r)) for r in relations]
            for schema, name, kind in relations:
                if kind != "r":
                    continue
                cursor.execute(f'SELECT * FROM "{schema}"."{name}"')
                rows = sorted(repr(tuple(row)) for row in cursor.fetchall())
                out += [(f"{schema}.{name}", row) for row in rows]
            return out
    finally:
        conn.close()


@contextmanager
def pg_clone(dsn: str, template: str, name_hint: str) -> Iterator[str]:
    """A copy of database `template` (CREATE DATABASE ... TEMPLATE), dropped afterwards; yields its name."""
    import psycopg2
    from psycopg2 import sql

    name = f"{template}_{name_hint}"[:60]
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            )
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture(scope="module")
def pg_base(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgStateDatabase]:
    """Gateway `local_pg` with the prod plan applied as of the seed snapshot: a state database and DuckDB file
    that tests clone (a database TEMPLATE and a file copy) instead of planning again."""
    root = tmp_path_factory.mktemp("sqlmesh_pg")
    project = copy_project(root / "project")
    # The DuckDB file's name is its catalog, which state records: clones keep the name, in another folder.
    with throwaway_pg_database(postgres_dsn, root / PG_DUCKDB_NAME) as database:
        plan = f"context.plan_builder('prod', execution_time={SEED_EXECUTION_TIME!r}, skip_tests=True).build()"
        sqlmesh_outside(project, "local_pg", f"context.apply({plan})", database.env)
        yield database


@pytest.fixture
def pg_state(
    pg_base: PgStateDatabase, postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: Any
) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A private clone of the base state: (project, dsn of the state database, the env that selects it)."""
    from psycopg2.extensions import make_dsn

    base = pg_base
    clear_project_env(monkeypatch)
    project = copy_project(tmp_path / "project")
    duckdb_path = tmp_path / PG_DUCKDB_NAME
    shutil.copyfile(base.env["GOODWORD_LOCAL_PG_DUCKDB"], duckdb_path)
    with pg_clone(postgres_dsn, base.name, hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]) as name:
        env = {**base.env, "GOODWORD_LOCAL_PG_DATABASE": name, "GOODWORD_LOCAL_PG_DUCKDB": str(duckdb_path)}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield project, make_dsn(postgres_dsn, dbname=name), env


@pytest.mark.postgres
async def test_status_with_postgresql_state(pg_state: tuple[Path, str, dict[str, str]], reader: SqlMeshReader) -> None:
    project, _, _ = pg_state
    status = await read(reader, settings_for(project, gateway="local_pg"))
    assert status.gateway == "local_pg" and status.has_state
    assert [e.name for e in status.environments] == ["prod"]
    by_name = models(status)
    assert set(by_name) >= DAILY_MODELS | SEEDS
    assert by_name["marts.daily_activity"].last_interval_end == datetime(2025, 10, 6, tzinfo=UTC)
    assert by_name["marts.daily_activity"].fqn.startswith('"GOODWORD_LOCAL_PG"')
    assert not status.stale_models


@pytest.mark.postgres
async def test_reading_postgresql_state_changes_not_a_byte(
    pg_state: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    project, dsn, _ = pg_state
    settings = settings_for(project, gateway="local_pg")
    before = pg_dump_of(dsn)
    assert any(r[0] == "relation" and r[1] == "sqlmesh" for r in before)
    reader = SqlMeshReader(cache_root=tmp_path / "cache", wait_for_local_changes=True)
    try:
        for _ in range(2):
            status = await read(reader, settings)
        assert status.local_changes_checked_at is not None and status.local_changes_error == ""
        assert (await reader.run_unit_tests(settings)).ok
    finally:
        reader.close()
    assert pg_dump_of(dsn) == before


@pytest.mark.postgres
async def test_an_empty_state_database_stays_empty(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: SqlMeshReader
) -> None:
    clear_project_env(monkeypatch)
    project = copy_project(tmp_path / "project")
    with throwaway_pg_database(postgres_dsn, tmp_path / "warehouse.duckdb") as database:
        for key, value in database.env.items():
            monkeypatch.setenv(key, value)
        status = await read(reader, settings_for(project, gateway="local_pg"))
        assert (
            not status.has_state
            and status.note == "no SQLMesh state yet: the state database has no SQLMesh state tables"
        )
        reader.close()
        assert pg_dump_of(database.dsn) == []  # no schema, no table, nothing
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.postgres
async def test_a_state_database_that_is_down_is_a_fast_source_error(
    pg_state: tuple[Path, str, dict[str, str]], monkeypatch: pytest.MonkeyPatch, reader: SqlMeshReader
) -> None:
    project, _, _ = pg_state
    await reader.runtime.call(lambda: None)  # import sqlmesh first: what is timed is the failing read
    monkeypatch.setenv("GOODWORD_LOCAL_PG_PORT", str(_free_port()))
    started = time.monotonic()
    result = await reader(settings_for(project, gateway="local_pg"))
    elapsed = time.monotonic() - started
    assert result.data is None and result.error is not None
    assert result.error.kind == ErrorKind.UNREACHABLE and result.error.hint
    assert elapsed < 5.0, elapsed


@pytest.mark.postgres
async def test_an_unroutable_state_database_times_out_within_the_connect_timeout(
    pg_state: tuple[Path, str, dict[str, str]], monkeypatch: pytest.MonkeyPatch, reader: SqlMeshReader
) -> None:
    project, _, _ = pg_state
    await reader.runtime.call(lambda: None)
    monkeypatch.setenv("GOODWORD_LOCAL_PG_HOST", "10.255.255.1")  # never answers (or is refused at once)
    started = time.monotonic()
    result = await reader(settings_for(project, gateway="local_pg", connect_timeout_s=1))
    elapsed = time.monotonic() - started
    assert result.error is not None and result.error.kind in (ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE)
    assert elapsed < 5.0, elapsed


@pytest.mark.postgres
async def test_a_refused_login_is_an_auth_error_without_the_password(
    pg_state: tuple[Path, str, dict[str, str]], monkeypatch: pytest.MonkeyPatch, reader: SqlMeshReader
) -> None:
    project, _, _ = pg_state
    monkeypatch.setenv("GOODWORD_LOCAL_PG_USER", "goodword_no_such_role")
    monkeypatch.setenv("GOODWORD_LOCAL_PG_PASSWORD", "s3cret-state-password")
    result = await reader(settings_for(project, gateway="local_pg"))
    assert result.error is not None and result.error.kind == ErrorKind.AUTH
    assert "s3cret-state-password" not in f"{result.error.message} {result.error.hint}"


@pytest.mark.postgres
async def test_postgresql_state_changed_from_outside_shows_on_the_next_read(
    pg_state: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    """The reader keeps its PostgreSQL connection and parsed snapshots between reads; neither may hide a run."""
    project, _, env = pg_state
    next_day = datetime(2025, 10, 7, 6, tzinfo=UTC)
    settings = settings_for(project, gateway="local_pg", as_of=next_day)
    reader = SqlMeshReader(cache_root=tmp_path / "cache")
    try:
        behind = await read(reader, settings)
        assert {m.name for m in behind.stale_models} == DAILY_MODELS
        sqlmesh_outside(project, "local_pg", "context.run('prod', execution_time='2025-10-07 01:00:00')", env)
        caught_up = await read(reader, settings)
    finally:
        reader.close()
    assert caught_up.stale_models == ()
    assert models(caught_up)["marts.daily_activity"].last_interval_end == datetime(2025, 10, 7, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------------
# The thread, the monitor, the messages


async def test_all_sqlmesh_work_runs_on_one_thread_with_the_import_switches_set() -> None:
    runtime = SqlMeshRuntime()
    try:
        first = await runtime.call(threading.get_ident)
        second = await runtime.call(threading.get_ident)
        switches = await runtime.call(lambda: {k: os.environ.get(k) for k in IMPORT_SWITCHES})
        fork_workers = await runtime.call(lambda: sys.modules["sqlmesh.core.constants"].MAX_FORK_WORKERS)
    finally:
        runtime.close()
    assert first == second != threading.get_ident()
    assert switches == IMPORT_SWITCHES and fork_workers == 1
    assert switches["SNOWFLAKE_DISABLE_PLATFORM_DETECTION"] == "true"  # sqlmesh's Snowflake logins send only the login
    assert runtime.imported_at is not None


async def test_the_monitor_has_a_sqlmesh_source(
    local_project: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # the default reader's cache root
    monitor = Monitor(settings_for(local_project("stale")))
    try:
        result = await monitor.refresh("sqlmesh")
    finally:
        monitor.close()
    assert isinstance(result, SourceResult) and result.ok
    assert monitor.snapshot().sqlmesh is result
    assert [m.name for m in result.data.stale_models] == [STALE_MODEL]


def test_error_messages_never_carry_a_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOODWORD_LOCAL_PG_PASSWORD", "hunter2-very-secret")
    error = describe_error(RuntimeError("login failed for hunter2-very-secret"), settings_for(tmp_path))
    assert "hunter2-very-secret" not in error.message and error.kind == ErrorKind.ERROR


def test_every_sqlmesh_finding_code_is_documented() -> None:
    assert all(code.startswith("SQLMESH_") and text for code, text in CODES.items())
