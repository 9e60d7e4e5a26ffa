"""Every source survives every fault (issue 6): the error is data with a kind, a message and a hint, a hung read
ends within its configured bound, and the next read after the fault clears recovers without a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from goodword_tui.config import Settings
from goodword_tui.model import ErrorKind, SourceResult
from goodword_tui.monitor import Monitor
from goodword_tui.sandbox.aws import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY
from goodword_tui.sandbox.platform import AWS_PROFILE, SandboxPlatform
from goodword_tui.sources import aws as aws_source
from goodword_tui.sources import snowflake as sf_source
from goodword_tui.sources.aws import AwsReader
from goodword_tui.sources.probes import fetch_probes
from goodword_tui.sources.snowflake import SnowflakeGateway, fetch_snowflake

PROFILE_HINT = f"aws sso login --profile {AWS_PROFILE}"


@pytest.fixture
def platform(handoff_behind_faults: SandboxPlatform) -> SandboxPlatform:
    return handoff_behind_faults


@pytest.fixture
def settings(fast_faulty_settings: Settings) -> Settings:
    return fast_faulty_settings


def _failed(result: SourceResult[Any], kind: ErrorKind) -> Any:
    assert result.data is None, "a failed read carries no data of its own"
    assert result.error is not None and result.error.kind is kind, result.error
    assert "\n" not in result.error.message and "Traceback" not in result.error.message
    return result.error


# --------------------------------------------------------------------------------------------------------------
# AWS


@pytest.mark.parametrize(
    ("kind", "expected", "message", "hint"),
    [
        ("throttle", ErrorKind.ERROR, "AWS throttled the request after 2 attempt(s) (", "raise [aws] max_attempts"),
        ("expired-token", ErrorKind.AUTH, "AWS credentials have expired (ExpiredToken)", PROFILE_HINT),
        ("http-500", ErrorKind.ERROR, "AWS answered 500 ", "an AWS service problem"),
        ("http-503", ErrorKind.ERROR, "AWS answered 503 ", "an AWS service problem"),
        ("reset", ErrorKind.UNREACHABLE, "cannot reach http://127.0.0.1:", "check the network"),
        ("hang", ErrorKind.TIMEOUT, "timed out waiting for an answer from", "read_timeout_s"),
    ],
)
async def test_aws_fault_is_reported_then_recovered(
    platform: SandboxPlatform, settings: Settings, kind: str, expected: ErrorKind, message: str, hint: str
) -> None:
    reader = AwsReader()
    try:
        assert (await reader(settings)).ok
        platform.faults["aws"].set(kind)
        failed = await reader(settings)
        error = _failed(failed, expected)
        assert message in error.message
        assert hint in error.hint
        assert failed.duration_s <= aws_source.read_deadline_s(settings)
        platform.faults["aws"].clear()
        recovered = await reader(settings)  # the same reader: no restart
        assert recovered.ok and recovered.data is not None and recovered.data.vpcs
    finally:
        reader.close()


async def test_aws_attempts_are_the_configured_number(platform: SandboxPlatform, settings: Settings) -> None:
    platform.faults["aws"].set("http-503")
    clients = aws_source.make_clients(settings, None)
    try:
        with pytest.raises(Exception) as raised:
            aws_source.run_call(aws_source.CALLS[0], clients["sts"])
        assert "ServiceUnavailable" in str(raised.value.__cause__)
    finally:
        aws_source.close_clients(clients)
    # Sent exactly max_attempts times: botocore's own `max_attempts` key would have meant one retry more.
    assert platform.faults["aws"].status()["applied"] == settings.aws.max_attempts


async def test_aws_throttling_is_retried_with_backoff(platform: SandboxPlatform, settings: Settings) -> None:
    platform.faults["aws"].set("throttle", count=1)
    result = await aws_source.fetch_aws(settings)
    assert result.ok, result.error  # the throttled call was sent again after a backoff, and served
    assert platform.faults["aws"].status() == {"kinds": list(platform.faults["aws"].kinds), "fault": None, "applied": 1}


async def test_aws_latency_under_the_timeout_is_just_slower(platform: SandboxPlatform, settings: Settings) -> None:
    platform.faults["aws"].set("latency", latency_s=0.3)
    result = await aws_source.fetch_aws(settings)
    assert result.ok, result.error
    assert result.duration_s >= 0.3


async def test_aws_missing_credentials_say_what_to_run_and_recover_once_fixed(
    platform: SandboxPlatform, settings: Settings, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[{AWS_PROFILE}]\n", encoding="utf-8")  # the profile, without its keys
    mine = settings.model_copy(
        update={"aws": settings.aws.model_copy(update={"shared_credentials_file": str(credentials)})}
    )
    reader = AwsReader()
    try:
        error = _failed(await reader(mine), ErrorKind.AUTH)
        assert error.hint == PROFILE_HINT
        credentials.write_text(
            f"[{AWS_PROFILE}]\naws_access_key_id = {SANDBOX_ACCESS_KEY_ID}\n"
            f"aws_secret_access_key = {SANDBOX_SECRET_ACCESS_KEY}\n",
            encoding="utf-8",
        )
        assert (await reader(mine)).ok  # `r` after the operator fixed the file
    finally:
        reader.close()


# --------------------------------------------------------------------------------------------------------------
# Snowflake (one long-lived gateway, as the dashboard holds it)


@pytest.fixture
def gateway(settings: Settings) -> Any:
    with SnowflakeGateway(settings, read_only=True) as opened:
        yield opened


@pytest.mark.parametrize(
    ("kind", "expected", "message", "hint"),
    [
        ("http-500", ErrorKind.ERROR, "Snowflake answered HTTP 500", "the next refresh retries"),
        ("http-503", ErrorKind.ERROR, "Snowflake answered HTTP 503", "the next refresh retries"),
        ("reset", ErrorKind.UNREACHABLE, "was dropped", "check the network path to Snowflake"),
        ("hang", ErrorKind.TIMEOUT, "no answer from 127.0.0.1:", "timeouts are in [snowflake]"),
    ],
)
async def test_snowflake_transport_fault_on_an_open_session(
    platform: SandboxPlatform,
    settings: Settings,
    gateway: SnowflakeGateway,
    kind: str,
    expected: ErrorKind,
    message: str,
    hint: str,
) -> None:
    assert (await fetch_snowflake(settings, gateway)).ok
    platform.faults["snowflake"].set(kind)
    failed = await fetch_snowflake(settings, gateway)
    error = _failed(failed, expected)
    assert message in error.message
    assert hint in error.hint
    assert failed.duration_s <= sf_source.read_deadline_s(settings)
    platform.faults["snowflake"].clear()
    recovered = await fetch_snowflake(settings, gateway)
    assert recovered.ok and recovered.data is not None and recovered.data.policy is not None


@pytest.mark.parametrize("kind", ["hang", "http-503", "reset"])
async def test_snowflake_transport_fault_at_login_ends_within_the_bound(
    platform: SandboxPlatform, settings: Settings, kind: str
) -> None:
    platform.faults["snowflake"].set(kind)
    failed = await fetch_snowflake(settings)  # a fresh gateway: the fault meets the login
    error = _failed(failed, ErrorKind.TIMEOUT)
    assert "no answer from 127.0.0.1:" in error.message
    assert failed.duration_s <= sf_source.read_deadline_s(settings)
    platform.faults["snowflake"].clear()
    assert (await fetch_snowflake(settings)).ok


async def test_snowflake_session_expiry_renews_by_itself(
    platform: SandboxPlatform, settings: Settings, gateway: SnowflakeGateway
) -> None:
    assert (await fetch_snowflake(settings, gateway)).ok
    platform.faults["snowflake"].set("session-expired")
    platform.snowflake.clear_statements()
    result = await fetch_snowflake(settings, gateway)
    assert result.ok, result.error
    assert platform.faults["snowflake"].status()["applied"] == 1  # one 390112, renewed, nothing else failed
    assert sum(1 for s in platform.snowflake.statements() if s.error_code == "390112") == 1


async def test_snowflake_token_expiry_logs_in_again_by_itself(
    platform: SandboxPlatform, settings: Settings, gateway: SnowflakeGateway
) -> None:
    assert (await fetch_snowflake(settings, gateway)).ok
    platform.faults["snowflake"].set("token-expired")
    result = await fetch_snowflake(settings, gateway)
    assert result.ok, result.error


async def test_snowflake_refused_login_names_the_ip_and_recovers(platform: SandboxPlatform, settings: Settings) -> None:
    platform.faults["snowflake"].set("login-refused")
    error = _failed(await fetch_snowflake(settings), ErrorKind.DENIED)
    ip = platform.snowflake.client_ip
    assert error.message == f"Snowflake refused the login from {ip}: not allowed by the network policy (390422)"
    assert f"the current IP {ip} is refused" in error.hint
    platform.faults["snowflake"].clear()
    assert (await fetch_snowflake(settings)).ok


async def test_snowflake_bad_credentials_name_the_connection_and_recover_once_fixed(
    platform: SandboxPlatform, settings: Settings, tmp_path: Path
) -> None:
    sf_port = platform.faults["snowflake"].proxy.port  # type: ignore[attr-defined]
    connections = tmp_path / "connections.toml"
    platform.snowflake.write_connections_toml(connections, "goodword", port=sf_port, password="expired")
    mine = settings.model_copy(
        update={"snowflake": settings.snowflake.model_copy(update={"connections_file": str(connections)})}
    )
    with SnowflakeGateway(mine, read_only=True) as gateway:
        error = _failed(await fetch_snowflake(mine, gateway), ErrorKind.AUTH)
        assert error.hint == f"fix the credentials of connection [goodword] in {connections}"
        assert "expired" not in error.message  # the password never reaches the screen
        platform.snowflake.write_connections_toml(connections, "goodword", port=sf_port)
        assert (await fetch_snowflake(mine, gateway)).ok  # `r` after the operator fixed the file


# --------------------------------------------------------------------------------------------------------------
# Probes


async def test_probes_report_a_hung_host_and_a_refused_port(
    platform: SandboxPlatform, settings: Settings, postgres_dsn: str
) -> None:
    platform.faults["snowflake"].set("hang")
    platform.faults["state"].set("down")
    result = await fetch_probes(settings)
    assert result.ok and result.data is not None  # a failed probe is a result, not a source error
    by_name = {p.name: p for p in result.data}
    host, state = by_name["Snowflake host"], by_name["SQLMesh state database"]
    assert (host.ok, host.detail) == (False, "timed out")
    assert (state.ok, state.detail) == (False, "connection refused")
    assert result.duration_s <= max(p.timeout_s for p in settings.probes) + 1
    platform.clear_faults()
    recovered = await fetch_probes(settings)
    assert recovered.data is not None and all(p.ok for p in recovered.data)


# --------------------------------------------------------------------------------------------------------------
# Through the Monitor: the last good data stays, marked stale, and the next read after the fault is fresh


@pytest.mark.parametrize(("source", "target"), [("aws", "aws"), ("snowflake", "snowflake")])
async def test_monitor_keeps_last_good_data_under_a_hang_and_recovers(
    platform: SandboxPlatform, settings: Settings, source: str, target: str
) -> None:
    monitor = Monitor(settings)
    try:
        good = await monitor.refresh(source)
        assert good.ok
        platform.faults[target].set("hang")
        stale = await monitor.refresh(source)
        assert stale.error is not None and stale.error.kind is ErrorKind.TIMEOUT
        assert stale.data == good.data and stale.stale_since == good.fetched_at
        platform.faults[target].clear()
        fresh = await monitor.refresh(source)
        assert fresh.ok and fresh.stale_since is None
        assert dataclasses.replace(fresh, fetched_at=good.fetched_at, duration_s=good.duration_s) == good
    finally:
        monitor.close()


# --------------------------------------------------------------------------------------------------------------
# SQLMesh, its state in PostgreSQL behind the `state` proxy


@pytest.fixture
def sqlmesh_through_state_proxy(
    platform: SandboxPlatform, postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Gateway `local_pg` with an empty state database reached through the state proxy; yields its settings."""
    from goodword_tui.config import parse_settings
    from tests.fixtures.sqlmesh import clear_project_env, copy_project, throwaway_pg_database

    clear_project_env(monkeypatch)
    project = copy_project(tmp_path / "project")
    with throwaway_pg_database(postgres_dsn, tmp_path / "goodword_local_pg.duckdb") as database:
        _, port = platform.faults["state"].proxy.address  # type: ignore[attr-defined]
        for key, value in {**database.env, "GOODWORD_LOCAL_PG_PORT": str(port)}.items():
            monkeypatch.setenv(key, value)
        section = {"project_path": str(project), "gateway": "local_pg", "connect_timeout_s": 1, "timeout_s": 60}
        yield parse_settings({"snowflake": {"account": "x"}, "sqlmesh": section})


@pytest.mark.postgres
async def test_sqlmesh_state_faults_are_reported_then_recovered(
    platform: SandboxPlatform, sqlmesh_through_state_proxy: Settings, tmp_path: Path
) -> None:
    from goodword_tui.sources.sqlmesh import SqlMeshReader

    settings = sqlmesh_through_state_proxy
    reader = SqlMeshReader(cache_root=tmp_path / "reader-cache")
    try:
        first = await reader(settings)  # loads the project (imports sqlmesh): the slow one
        assert first.ok, first.error
        for kind, expected, says in (
            ("down", ErrorKind.UNREACHABLE, "Connection refused"),
            ("hang", ErrorKind.TIMEOUT, "timeout expired"),  # libpq's connect_timeout (2 s at least)
        ):
            platform.faults["state"].set(kind)
            failed = await reader(settings)
            assert failed.error is not None and failed.error.kind is expected, (kind, failed.error)
            assert says in failed.error.message and "probe" in failed.error.hint
            assert failed.duration_s <= settings.sqlmesh.timeout_s
            platform.faults["state"].clear()
            recovered = await reader(settings)
            assert recovered.ok, (kind, recovered.error)
    finally:
        reader.close()
