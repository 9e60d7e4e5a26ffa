"""The real SQLMesh project: unit tests, a plan applied on DuckDB (state in DuckDB, then in PostgreSQL), marts checked
against numbers computed here from the seed CSVs with plain Python, audits, and the gateway configuration.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sqlmesh import (
    SEED_EXECUTION_TIME,
    SEED_FIRST_DAY,
    SEED_LAST_DAY,
    SQLMESH_PROJECT_DIR,
    PgStateDatabase,
    clear_project_env,
    copy_project,
    throwaway_pg_database,
)

SEEDS = SQLMESH_PROJECT_DIR / "seeds"
PAYING_STATUSES = {"active", "past_due"}
STATE_TABLES_IN_DUCKDB = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'sqlmesh'"


# --- Expected answers, from the CSVs, independently of the SQL -------------------------------------------------


def _read(name: str) -> list[dict[str, str]]:
    with open(SEEDS / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _latest(rows: list[dict[str, str]], key: str, loaded: str) -> dict[str, dict[str, str]]:
    """One row per key: the one loaded last (timestamps are ISO text in one zone, so text order is time order)."""
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        if row[key] not in latest or row[loaded] > latest[row[key]][loaded]:
            latest[row[key]] = row
    return latest


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Expected:
    users: int
    events: int
    subscriptions: int
    daily_activity: dict[date, tuple[int, int, int, int, int, int, int]]
    signup_funnel: dict[date, tuple[int, int, int, int, float, float]]
    weekly_retention: dict[tuple[date, int], tuple[int, int, float]]


def expected_from_seeds() -> Expected:
    users = _latest(_read("airbyte_app_users.csv"), "ID", "_AIRBYTE_EXTRACTED_AT")
    events = _latest(_read("airbyte_app_events.csv"), "EVENT_ID", "_AIRBYTE_EXTRACTED_AT")
    subscriptions = _latest(_read("goodword_subscriptions.csv"), "SUBSCRIPTION_ID", "_LOADED_AT")

    created = {int(uid): _ts(row["CREATED_AT"]) for uid, row in users.items()}
    signup_day = {uid: moment.date() for uid, moment in created.items()}

    # daily_activity: one row per day with events or signups.
    active: dict[date, set[int]] = defaultdict(set)
    counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in events.values():
        day, uid = _ts(row["OCCURRED_AT"]).date(), int(row["USER_ID"])
        active[day].add(uid)
        counts[day]["events"] += 1
        counts[day][row["EVENT_TYPE"]] += 1
        if row["EVENT_TYPE"] == "query_run":
            counts[day]["duration"] += int(json.loads(row["PROPERTIES"])["duration_ms"])
    new_users: dict[date, int] = defaultdict(int)
    for day in signup_day.values():
        new_users[day] += 1
    daily = {
        day: (
            len(active[day]),
            sum(1 for uid in active[day] if uid in signup_day and signup_day[uid] < day),
            new_users[day],
            counts[day]["session_started"],
            counts[day]["query_run"],
            counts[day]["events"],
            counts[day]["duration"],
        )
        for day in set(active) | set(new_users)
    }

    # signup_funnel: activated = first query within 7 days (strictly less) of signing up.
    first_query: dict[int, datetime] = {}
    for row in events.values():
        if row["EVENT_TYPE"] == "query_run":
            uid, moment = int(row["USER_ID"]), _ts(row["OCCURRED_AT"])
            first_query[uid] = min(moment, first_query.get(uid, moment))
    trial = {int(row["USER_ID"]) for row in subscriptions.values()}
    paying = {int(row["USER_ID"]) for row in subscriptions.values() if row["STATUS"] in PAYING_STATUSES}
    cohorts: dict[date, list[int]] = defaultdict(list)
    for uid, moment in created.items():
        cohorts[_monday(moment.date())].append(uid)
    funnel = {}
    for week, members in cohorts.items():
        activated = sum(1 for uid in members if uid in first_query and first_query[uid] < created[uid] + timedelta(7))
        paid = sum(1 for uid in members if uid in paying)
        funnel[week] = (
            len(members),
            activated,
            sum(1 for uid in members if uid in trial),
            paid,
            round(activated / len(members), 4),
            round(paid / len(members), 4),
        )

    # weekly_retention: every cohort x every week with any activity from the cohort week on.
    active_weeks: dict[int, set[date]] = defaultdict(set)
    for row in events.values():
        active_weeks[int(row["USER_ID"])].add(_monday(_ts(row["OCCURRED_AT"]).date()))
    weeks = set().union(*active_weeks.values())
    retention = {}
    for cohort, members in cohorts.items():
        for week in weeks:
            if week >= cohort:
                retained = sum(1 for uid in members if week in active_weeks[uid])
                retention[(cohort, (week - cohort).days // 7)] = (
                    len(members),
                    retained,
                    round(retained / len(members), 4),
                )

    return Expected(len(users), len(events), len(subscriptions), daily, funnel, retention)


# --- Fixtures ---------------------------------------------------------------------------------------------------


def _apply_prod(context: Any) -> Any:
    """Build and apply the prod plan as of the seed snapshot; returns the applied plan."""
    # Unit tests have their own tests below; skipping them here keeps the fixture lean.
    plan = context.plan_builder("prod", execution_time=SEED_EXECUTION_TIME, skip_tests=True).build()
    context.apply(plan)
    return plan


@pytest.fixture(scope="module")
def expected() -> Expected:
    return expected_from_seeds()


@pytest.fixture(scope="module")
def local_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Gateway `local` (DuckDB execution and state in one file under tmp), prod plan applied."""
    from sqlmesh import Context

    duckdb_path = tmp_path_factory.mktemp("sqlmesh_local") / "goodword_local.duckdb"
    with pytest.MonkeyPatch.context() as monkeypatch:
        clear_project_env(monkeypatch)
        monkeypatch.setenv("GOODWORD_LOCAL_DUCKDB", str(duckdb_path))
        context = Context(paths=SQLMESH_PROJECT_DIR, gateway="local")
        try:
            _apply_prod(context)
            yield context
        finally:
            context.close()


def _rows(context: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in context.engine_adapter.fetchall(sql)]


def _assert_marts(context: Any, expected: Expected) -> None:
    staging_counts = _rows(
        context,
        "SELECT (SELECT COUNT(*) FROM staging.stg_app_users), (SELECT COUNT(*) FROM staging.stg_app_events), "
        "(SELECT COUNT(*) FROM staging.stg_subscriptions)",
    )
    assert staging_counts == [(expected.users, expected.events, expected.subscriptions)]

    daily = {
        row[0]: tuple(int(value) for value in row[1:])
        for row in _rows(
            context,
            "SELECT activity_date, active_users, returning_users, new_users, sessions, queries_run, events, "
            "query_duration_ms FROM marts.daily_activity",
        )
    }
    assert daily == expected.daily_activity

    funnel = {
        row[0]: row[1:]
        for row in _rows(
            context,
            "SELECT signup_week, signed_up_users, activated_users, trial_users, paying_users, activation_rate, "
            "paid_conversion_rate FROM marts.signup_funnel",
        )
    }
    assert funnel.keys() == expected.signup_funnel.keys()
    for week, (signed_up, activated, trials, paying, activation_rate, paid_rate) in expected.signup_funnel.items():
        assert funnel[week][:4] == (signed_up, activated, trials, paying), week
        assert funnel[week][4:] == pytest.approx((activation_rate, paid_rate), abs=1e-4), week

    retention = {
        (row[0], row[1]): row[2:]
        for row in _rows(
            context,
            "SELECT cohort_week, week_number, cohort_users, active_users, retention_rate FROM marts.weekly_retention",
        )
    }
    assert retention.keys() == expected.weekly_retention.keys()
    for key, (cohort_users, active_users, rate) in expected.weekly_retention.items():
        assert retention[key][:2] == (cohort_users, active_users), key
        assert retention[key][2] == pytest.approx(rate, abs=1e-4), key


def _audit_results(context: Any, execution_time: str, models: list[str] | None = None) -> list[Any]:
    names = models or [snapshot.name for snapshot in context.snapshots.values()]
    results = []
    for name in names:
        snapshot = context.get_snapshot(name, raise_if_missing=True)
        results.extend(
            context.snapshot_evaluator.audit(
                snapshot=snapshot,
                snapshots=context.snapshots,
                start=SEED_FIRST_DAY,
                end=SEED_LAST_DAY,
                execution_time=execution_time,
            )
        )
    return results


# --- Seed data sanity: the mess staging exists for is really there ---------------------------------------------


def test_seed_csvs_contain_the_duplicates_staging_removes(expected: Expected) -> None:
    raw_users, raw_events = _read("airbyte_app_users.csv"), _read("airbyte_app_events.csv")
    raw_subscriptions = _read("goodword_subscriptions.csv")
    assert len(raw_users) > expected.users > 50
    assert len(raw_events) > expected.events > 500
    assert len(raw_subscriptions) > expected.subscriptions > 10
    assert {"_AIRBYTE_RAW_ID", "_AIRBYTE_EXTRACTED_AT", "_AIRBYTE_META"} <= raw_events[0].keys()
    assert any(row["EMAIL"] != row["EMAIL"].lower() for row in raw_users)


# --- Unit tests ---------------------------------------------------------------------------------------------------


def test_sqlmesh_cli_test_passes(sqlmesh_local_env: dict[str, str], tmp_path: Path) -> None:
    """`sqlmesh -p sqlmesh_project test`, exactly as a developer runs it (from another directory)."""
    sqlmesh_bin = Path(sys.executable).with_name("sqlmesh")
    command = (
        [str(sqlmesh_bin)]
        if sqlmesh_bin.exists()
        else [sys.executable, "-c", "from sqlmesh.cli.main import cli; cli()"]
    )
    completed = subprocess.run(
        [*command, "-p", str(SQLMESH_PROJECT_DIR), "test"],
        cwd=tmp_path,  # the CLI writes logs/ into the CWD
        env={**os.environ, **sqlmesh_local_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Successfully Ran `6` Tests" in completed.stdout


def test_unit_tests_cover_staging_and_marts(local_context: Any) -> None:
    result = local_context.test()
    assert result.wasSuccessful(), [str(error) for _, error in result.failures + result.errors]
    assert result.testsRun == 6
    tested = {test.model.name.lower() for test in result.successes}
    assert tested == {
        "staging.stg_app_users",
        "staging.stg_app_events",
        "staging.stg_subscriptions",
        "marts.daily_activity",
        "marts.signup_funnel",
        "marts.weekly_retention",
    }


def test_unit_tests_catch_a_deduplication_regression(
    sqlmesh_project_copy: Path, sqlmesh_local_env: dict[str, str]
) -> None:
    from sqlmesh import Context

    model = sqlmesh_project_copy / "models" / "staging" / "stg_app_users.sql"
    source = model.read_text()
    assert "QUALIFY" in source
    model.write_text(source[: source.index("QUALIFY")])  # keep every extraction of a user

    context = Context(paths=sqlmesh_project_copy, gateway="local")
    try:
        result = context.test()
    finally:
        context.close()
    assert not result.wasSuccessful()
    assert [test.test_name for test, _ in result.failures + result.errors] == [
        "test_stg_app_users_keeps_latest_extraction"
    ]


# --- Plan on local: the marts give the right answers -------------------------------------------------------------


def test_plan_builds_every_model_and_leaves_no_warehouse_in_the_repo(local_context: Any) -> None:
    assert not list(SQLMESH_PROJECT_DIR.glob("*.duckdb"))
    assert Path(local_context.config.get_connection("local").database).parent != SQLMESH_PROJECT_DIR
    environment = local_context.state_reader.get_environment("prod")
    assert environment is not None and environment.finalized_ts is not None
    names = {snapshot.name for snapshot in environment.snapshots}
    assert len(names) == 15  # 3 external, 3 seeds, 3 sources, 3 staging, 3 marts
    assert {'"GOODWORD_LOCAL"."MARTS"."DAILY_ACTIVITY"', '"AIRBYTE_DB"."RAW"."APP_EVENTS"'} <= names
    # On `local` the state shares the DuckDB file (compare the PostgreSQL variant below).
    assert _rows(local_context, STATE_TABLES_IN_DUCKDB)[0][0] >= 6
    # Nothing left to do for the same code at the same time.
    again = local_context.plan_builder("prod", execution_time=SEED_EXECUTION_TIME, skip_tests=True).build()
    assert not again.has_changes and not again.requires_backfill


def test_incremental_model_has_daily_intervals_up_to_the_seed_snapshot(local_context: Any) -> None:
    model = local_context.get_model("marts.daily_activity")
    assert model.kind.name == "INCREMENTAL_BY_TIME_RANGE"
    assert model.cron == "@daily"
    snapshot = local_context.get_snapshot("marts.daily_activity", raise_if_missing=True)
    stored = local_context.state_reader.get_snapshots([snapshot.snapshot_id])[snapshot.snapshot_id]
    start, end = (datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 10, 6, tzinfo=UTC))
    assert stored.intervals == [(int(start.timestamp() * 1000), int(end.timestamp() * 1000))]


def test_marts_match_numbers_computed_from_the_seed_csvs(local_context: Any, expected: Expected) -> None:
    _assert_marts(local_context, expected)


def test_all_audits_pass_at_the_seed_snapshot_time(local_context: Any) -> None:
    results = _audit_results(local_context, SEED_EXECUTION_TIME)
    failed = [(result.audit.name, result.model.name, result.count) for result in results if result.count]
    assert failed == []
    assert not any(result.skipped for result in results)
    assert {"not_null", "unique_values", "accepted_values", "raw_load_freshness"} <= {
        result.audit.name for result in results
    }


def test_freshness_audit_flags_raw_loads_once_they_are_late(local_context: Any) -> None:
    """Each source has its own allowed lag; past it the (non-blocking) audit returns its one row."""
    sources = ["sources.airbyte_app_users", "sources.airbyte_app_events", "sources.goodword_subscriptions"]

    def freshness_failures(execution_time: str) -> dict[str, int]:
        results = _audit_results(local_context, execution_time, models=sources)
        assert all(not result.blocking for result in results if result.audit.name == "raw_load_freshness")
        return {
            result.model.name.lower(): result.count for result in results if result.audit.name == "raw_load_freshness"
        }

    # Last loads: events 2025-10-06 00:10 (hourly syncs, 6 h allowed), subscriptions 2025-10-05 02:00 (daily load,
    # 26 h allowed), users 2025-10-04 23:10 (extracted only when they change, 48 h allowed).
    assert freshness_failures(SEED_EXECUTION_TIME) == dict.fromkeys(sources, 0)
    assert freshness_failures("2025-10-06 04:30:00") == {
        "sources.airbyte_app_users": 0,
        "sources.airbyte_app_events": 0,
        "sources.goodword_subscriptions": 1,  # the 02:00 load of 2025-10-06 never came
    }
    assert freshness_failures("2025-10-06 06:30:00") == {
        "sources.airbyte_app_users": 0,
        "sources.airbyte_app_events": 1,
        "sources.goodword_subscriptions": 1,
    }
    assert freshness_failures("2025-10-07 00:00:00") == dict.fromkeys(sources, 1)


# --- PostgreSQL state -----------------------------------------------------------------------------------------------


def test_postgres_state_variant_applies_and_answers_the_same(
    sqlmesh_pg_state: PgStateDatabase, expected: Expected
) -> None:
    import psycopg2
    from sqlmesh import Context

    context = Context(paths=SQLMESH_PROJECT_DIR, gateway="local_pg")
    try:
        _apply_prod(context)
        _assert_marts(context, expected)
        environments = {summary.name: summary for summary in context.state_reader.get_environments_summary()}
        assert environments["prod"].finalized_ts is not None
        # State lives only in PostgreSQL: the DuckDB file holds the models and nothing of SQLMesh's bookkeeping.
        assert _rows(context, STATE_TABLES_IN_DUCKDB) == [(0,)]
    finally:
        context.close()

    connection = psycopg2.connect(sqlmesh_pg_state.dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlmesh._environments")
            assert cursor.fetchall() == [("prod",)]
            cursor.execute("SELECT COUNT(DISTINCT name) FROM sqlmesh._snapshots")
            assert cursor.fetchone() == (15,)  # 3 seeds, 3 sources, 3 staging, 3 marts, 3 external
    finally:
        connection.close()


def test_throwaway_pg_database_is_dropped_even_with_sessions_open(postgres_dsn: str, tmp_path: Path) -> None:
    import psycopg2

    with throwaway_pg_database(postgres_dsn, tmp_path / "unused.duckdb") as database:
        assert database.env["GOODWORD_LOCAL_PG_DATABASE"] == database.name
        lingering = psycopg2.connect(database.dsn)
    lingering.close()
    admin = psycopg2.connect(postgres_dsn)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database.name,))
            assert cursor.fetchall() == []
    finally:
        admin.close()


# --- Gateway configuration -------------------------------------------------------------------------------------------


def test_duckdb_paths_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlmesh.core.config import Config, load_configs

    clear_project_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    config = load_configs(None, Config, [SQLMESH_PROJECT_DIR])[SQLMESH_PROJECT_DIR]
    assert config.default_gateway_name == "local"
    assert config.get_connection("local").database == str(SQLMESH_PROJECT_DIR / "goodword_local.duckdb")
    assert config.get_connection("local_pg").database == str(SQLMESH_PROJECT_DIR / "goodword_local_pg.duckdb")
    state = config.get_state_connection("local_pg")
    assert (state.host, state.port, state.user) == ("127.0.0.1", 5432, "postgres")

    monkeypatch.setenv("GOODWORD_LOCAL_DUCKDB", "warehouses/dev.duckdb")  # relative: to the project, not the CWD
    config = load_configs(None, Config, [SQLMESH_PROJECT_DIR])[SQLMESH_PROJECT_DIR]
    assert config.get_connection("local").database == str(SQLMESH_PROJECT_DIR / "warehouses" / "dev.duckdb")
    assert config.disable_anonymized_analytics is True
    assert not list(tmp_path.iterdir())


def test_snowflake_gateway_names_missing_settings_only_when_selected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmesh import Context
    from sqlmesh.utils.errors import ConfigError

    clear_project_env(monkeypatch)
    monkeypatch.setenv("GOODWORD_LOCAL_DUCKDB", str(tmp_path / "goodword_local.duckdb"))
    monkeypatch.setenv("SNOWFLAKE_USER", "CHRIS")
    monkeypatch.setenv("GOODWORD_STATE_PG_PASSWORD", "pg-secret-value")

    local = Context(paths=SQLMESH_PROJECT_DIR, gateway="local")  # unaffected by the incomplete snowflake gateway
    assert "raw_seeds.airbyte_app_users" in {model.name.lower() for model in local.models.values()}
    local.close()

    with pytest.raises(ConfigError) as raised:
        Context(paths=SQLMESH_PROJECT_DIR, gateway="snowflake")
    message = str(raised.value)
    assert "SNOWFLAKE_ROLE is not set" in message
    assert "SNOWFLAKE_PRIVATE_KEY_PATH" in message and "SNOWFLAKE_PASSWORD" in message
    assert "GOODWORD_STATE_PG_USER is not set" in message
    assert "SNOWFLAKE_USER is not set" not in message
    assert "pg-secret-value" not in message

    # Reading state without loading models is refused the same way (never a connection with 'None' values).
    status_only = Context(paths=SQLMESH_PROJECT_DIR, gateway="snowflake", load=False)
    with pytest.raises(ConfigError, match="SNOWFLAKE_ROLE is not set"):
        status_only.state_reader.get_environments_summary()


def test_snowflake_gateway_with_an_undecryptable_key_keeps_local_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlmesh.core.config import Config, load_configs

    key = ec.generate_private_key(ec.SECP256R1())
    key_path = tmp_path / "rsa_key.p8"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"the-right-passphrase"),
        )
    )
    clear_project_env(monkeypatch)
    for name, value in {
        "SNOWFLAKE_USER": "CHRIS",
        "SNOWFLAKE_ROLE": "TRANSFORMER",
        "SNOWFLAKE_PRIVATE_KEY_PATH": str(key_path),
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "a-wrong-passphrase",
        "GOODWORD_STATE_PG_USER": "sqlmesh",
        "GOODWORD_STATE_PG_PASSWORD": "pg-secret-value",
    }.items():
        monkeypatch.setenv(name, value)

    config = load_configs(None, Config, [SQLMESH_PROJECT_DIR])[SQLMESH_PROJECT_DIR]
    problems = config.get_gateway("snowflake").scheduler.problems
    assert any("could not decrypt key" in problem for problem in problems)
    assert not any("a-wrong-passphrase" in problem or "pg-secret-value" in problem for problem in problems)
    assert config.get_connection("local").database.endswith("goodword_local.duckdb")


def test_complete_snowflake_settings_read_the_raw_tables_and_build_no_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the production gateway touches neither Snowflake nor its state database (no network here)."""
    from sqlmesh import Context

    clear_project_env(monkeypatch)
    for name, value in {
        "SNOWFLAKE_USER": "CHRIS",
        "SNOWFLAKE_ROLE": "TRANSFORMER",
        "SNOWFLAKE_PASSWORD": "sf-secret-value",
        "GOODWORD_STATE_PG_USER": "sqlmesh",
        "GOODWORD_STATE_PG_PASSWORD": "pg-secret-value",
        "GOODWORD_STATE_PG_HOST": "127.0.0.1",
        "GOODWORD_STATE_PG_PORT": "9",  # discard port: would fail fast if anything tried
        "GOODWORD_LOCAL_DUCKDB": str(tmp_path / "goodword_local.duckdb"),
    }.items():
        monkeypatch.setenv(name, value)

    context = Context(paths=SQLMESH_PROJECT_DIR, gateway="snowflake")
    try:
        connection = context.config.get_connection("snowflake")
        assert (connection.account, connection.warehouse, connection.database, connection.role) == (
            "vsc91540.us-east-1",
            "COMPUTE_WH",
            "GOODWORD_WH",
            "TRANSFORMER",
        )
        assert context.default_catalog == "GOODWORD_WH"
        assert not [name for name in context.models if "RAW_SEEDS" in name]
        depends = {
            name: context.get_model(name).depends_on
            for name in ("sources.airbyte_app_users", "sources.airbyte_app_events", "sources.goodword_subscriptions")
        }
        assert depends == {
            "sources.airbyte_app_users": {'"AIRBYTE_DB"."RAW"."APP_USERS"'},
            "sources.airbyte_app_events": {'"AIRBYTE_DB"."RAW"."APP_EVENTS"'},
            "sources.goodword_subscriptions": {'"GOODWORD_WH"."RAW"."SUBSCRIPTIONS"'},
        }
        rendered = context.get_model("staging.stg_app_events").render_query(start="2025-09-10", end="2025-09-10")
        assert "GET_PATH" in rendered.sql(dialect="snowflake")  # VARIANT path access, Snowflake-native
        # Unit tests are gateway-independent: they run on DuckDB against the same sources.* inputs.
        result = context.test()
        assert result.wasSuccessful() and result.testsRun == 6
    finally:
        context.close()
    assert not (tmp_path / "goodword_local.duckdb").exists()


def test_seed_generator_reproduces_the_committed_csvs(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    for csv_file in (project / "seeds").glob("*.csv"):
        csv_file.unlink()
    subprocess.run(
        [sys.executable, str(project / "scripts" / "generate_seeds.py")], check=True, capture_output=True, timeout=60
    )
    for name in ("airbyte_app_users.csv", "airbyte_app_events.csv", "goodword_subscriptions.csv"):
        assert (project / "seeds" / name).read_bytes() == (SEEDS / name).read_bytes(), name
    shutil.rmtree(project)
