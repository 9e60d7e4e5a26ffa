"""The sandbox's faults do what they say, through the real clients, and clearing one makes the platform healthy."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import snowflake.connector
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from click.testing import CliRunner

from goodword_tui.cli import main
from goodword_tui.config import load_settings
from goodword_tui.sandbox.aws import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY
from goodword_tui.sandbox.faults import CONTROL_FILE, FaultError, send_control
from goodword_tui.sandbox.platform import SandboxPlatform

HANG_READ_TIMEOUT_S = 1.0  # how long a client waits on a hung endpoint here before it gives up
# A healthy answer waits longer: on a loaded two-core machine moto took over a second for describe_vpcs once.
READ_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def loaded(faulty_platform: SandboxPlatform) -> SandboxPlatform:
    """The hand-off, once for the module (faults change no state)."""
    faulty_platform.load("handoff")
    return faulty_platform


@pytest.fixture
def platform(loaded: SandboxPlatform, healthy_after: SandboxPlatform) -> SandboxPlatform:
    return loaded


def aws_client(platform: SandboxPlatform, service: str, attempts: int = 1, read_timeout: float = READ_TIMEOUT_S) -> Any:
    """A boto3 client through the AWS fault proxy, as the dashboard's config would make it."""
    return boto3.client(
        service,
        region_name=platform.aws.region,
        endpoint_url=load_settings(platform.config_path).aws.endpoint_url,
        aws_access_key_id=SANDBOX_ACCESS_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET_ACCESS_KEY,
        config=Config(
            connect_timeout=1,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
        ),
    )


CALLS: dict[str, Callable[[SandboxPlatform], Any]] = {
    "ec2": lambda p: aws_client(p, "ec2").describe_vpcs(),
    "sts": lambda p: aws_client(p, "sts").get_caller_identity(),
    "s3": lambda p: aws_client(p, "s3").list_objects_v2(Bucket=p.topology.bucket),
}


# --------------------------------------------------------------------------------------------------------------
# The config goes through the proxies


def test_the_config_points_through_the_proxies(platform: SandboxPlatform) -> None:
    settings = load_settings(platform.config_path)
    aws_proxy, sf_proxy, state_proxy = (platform.faults[t].proxy for t in ("aws", "snowflake", "state"))  # type: ignore[attr-defined]
    assert settings.aws.endpoint_url == aws_proxy.url != platform.aws.endpoint_url
    connections = platform.connections_path.read_text(encoding="utf-8")
    assert f"port = {sf_proxy.port}" in connections
    by_name = {p.name: p for p in settings.probes}
    assert by_name["SQLMesh state database"].port == state_proxy.port
    assert by_name["Snowflake host"].url == f"{sf_proxy.url}/"


# --------------------------------------------------------------------------------------------------------------
# AWS: the error bodies botocore parses into the ClientError AWS would give


@pytest.mark.parametrize(
    ("kind", "service", "status", "code"),
    [
        ("throttle", "ec2", 503, "RequestLimitExceeded"),
        ("throttle", "sts", 400, "Throttling"),
        ("throttle", "s3", 503, "SlowDown"),
        ("expired-token", "ec2", 400, "ExpiredToken"),
        ("expired-token", "sts", 400, "ExpiredToken"),
        ("expired-token", "s3", 400, "ExpiredToken"),
        ("http-500", "ec2", 500, "InternalError"),
        ("http-500", "sts", 500, "InternalFailure"),
        ("http-503", "ec2", 503, "Unavailable"),
        ("http-503", "sts", 503, "ServiceUnavailable"),
    ],
)
def test_aws_error_faults_are_the_client_errors_aws_sends(
    platform: SandboxPlatform, kind: str, service: str, status: int, code: str
) -> None:
    platform.faults["aws"].set(kind)
    with pytest.raises(ClientError) as raised:
        CALLS[service](platform)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    platform.faults["aws"].clear()
    assert CALLS[service](platform)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_aws_reset_drops_the_connection(platform: SandboxPlatform) -> None:
    platform.faults["aws"].set("reset")
    with pytest.raises(ConnectionClosedError):
        CALLS["ec2"](platform)
    platform.faults["aws"].clear()
    assert CALLS["ec2"](platform)["Vpcs"]


def test_aws_hang_never_answers_until_the_client_gives_up(platform: SandboxPlatform) -> None:
    platform.faults["aws"].set("hang")
    with pytest.raises(ReadTimeoutError):
        aws_client(platform, "sts", read_timeout=HANG_READ_TIMEOUT_S).get_caller_identity()
    platform.faults["aws"].clear()
    assert CALLS["sts"](platform)["Account"]


def test_aws_latency_delays_each_request(platform: SandboxPlatform) -> None:
    platform.faults["aws"].set("latency", latency_s=0.4)
    started = time.perf_counter()
    assert CALLS["ec2"](platform)["Vpcs"]
    assert time.perf_counter() - started >= 0.4


def test_a_counted_fault_clears_itself_and_botocore_retries_through_it(platform: SandboxPlatform) -> None:
    platform.faults["aws"].set("throttle", count=1)
    answer = aws_client(platform, "ec2", attempts=2).describe_vpcs()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1  # throttled once, then served
    assert platform.faults["aws"].status() == {"kinds": list(platform.faults["aws"].kinds), "fault": None, "applied": 1}


def test_an_unknown_kind_is_refused(platform: SandboxPlatform) -> None:
    with pytest.raises(FaultError, match="unknown fault 'down'"):
        platform.faults["aws"].set("down")
    with pytest.raises(FaultError, match="unknown fault 'throttle'"):
        platform.faults["state"].set("throttle")


# --------------------------------------------------------------------------------------------------------------
# Snowflake: transport faults in the proxy, session faults in the account layer


def _sf_connect(platform: SandboxPlatform, **overrides: Any) -> Any:
    """A connector session through the Snowflake fault proxy, from the connections.toml the dashboard uses."""
    return snowflake.connector.connect(
        connection_name="goodword",
        connections_file_path=platform.connections_path,
        login_timeout=2,
        network_timeout=2,
        socket_timeout=2,
        **overrides,
    )


def _who(conn: Any) -> str:
    cursor = conn.cursor()
    try:
        return str(cursor.execute("SELECT CURRENT_USER()").fetchone()[0])
    finally:
        cursor.close()


@pytest.fixture
def sf_conn(platform: SandboxPlatform) -> Iterator[Any]:
    conn = _sf_connect(platform)
    yield conn
    conn.close()


def test_session_expiry_is_renewed_by_the_connector_without_a_new_login(
    platform: SandboxPlatform, sf_conn: Any
) -> None:
    token = sf_conn.rest.token
    platform.snowflake.clear_statements()
    platform.faults["snowflake"].set("session-expired")
    assert _who(sf_conn) == "CHRIS"  # answered 390112, renewed with the master token, sent again
    assert sf_conn.rest.token != token
    codes = [s.error_code for s in platform.snowflake.statements()]
    assert codes == ["390112", None]
    assert _who(sf_conn) == "CHRIS"  # once per session: the renewed token works
    assert platform.faults["snowflake"].status()["applied"] == 1


def test_token_expiry_ends_every_session(platform: SandboxPlatform, sf_conn: Any) -> None:
    platform.faults["snowflake"].set("token-expired")
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as raised:
        _who(sf_conn)
    assert raised.value.errno == 390114
    assert sf_conn.expired
    assert _who(_sf_connect(platform)) == "CHRIS"  # a new login works


def test_login_refused_is_390422_and_clears(platform: SandboxPlatform) -> None:
    platform.faults["snowflake"].set("login-refused", count=1)
    with pytest.raises(snowflake.connector.errors.DatabaseError) as raised:
        _sf_connect(platform)
    assert raised.value.errno == 390422
    assert "is not allowed to access Snowflake" in str(raised.value)
    assert _who(_sf_connect(platform)) == "CHRIS"  # the count ran out


# The connector's query-cancel timer fires on the broken server and fails in its thread (the gateway logs that).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("kind", ["http-503", "reset"])
def test_snowflake_transport_faults_fail_statements_until_cleared(
    platform: SandboxPlatform, sf_conn: Any, kind: str
) -> None:
    platform.faults["snowflake"].set(kind)
    with pytest.raises(snowflake.connector.errors.Error):
        _who(sf_conn)
    platform.faults["snowflake"].clear()
    assert _who(sf_conn) == "CHRIS"


def test_a_snowflake_target_holds_one_fault_at_a_time(platform: SandboxPlatform) -> None:
    target = platform.faults["snowflake"]
    target.set("login-refused")
    target.set("http-500")
    assert target.status()["fault"]["kind"] == "http-500"
    assert platform.snowflake.fault_status()["fault"] is None


# --------------------------------------------------------------------------------------------------------------
# The PostgreSQL state port (TCP)


@pytest.fixture
def state_dsn(platform: SandboxPlatform, postgres_dsn: str) -> str:
    _, port = platform.faults["state"].proxy.address  # type: ignore[attr-defined]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=1"


def _pg_select(dsn: str) -> int:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize(("kind", "says"), [("down", "refused"), ("hang", "timeout"), ("reset", "")])
def test_state_faults_stop_postgres_until_cleared(
    platform: SandboxPlatform, state_dsn: str, kind: str, says: str
) -> None:
    import psycopg2

    platform.faults["state"].set(kind)
    with pytest.raises(psycopg2.OperationalError) as raised:
        _pg_select(state_dsn)
    assert says in str(raised.value).lower()
    platform.faults["state"].clear()
    assert _pg_select(state_dsn) == 1


def test_state_latency_still_answers(platform: SandboxPlatform, state_dsn: str) -> None:
    platform.faults["state"].set("latency", latency_s=0.2)
    assert _pg_select(state_dsn) == 1
    assert platform.faults["state"].status()["applied"] >= 1


# --------------------------------------------------------------------------------------------------------------
# Run-time control: the loopback endpoint and the CLI


def test_the_control_file_is_owner_only_and_requires_its_token(platform: SandboxPlatform) -> None:
    path = platform.state_dir / CONTROL_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    url = json.loads(path.read_text(encoding="utf-8"))["url"]
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(urllib.request.Request(f"{url}/faults/aws", data=b'{"kind": "hang"}'), timeout=5)
    assert raised.value.code == 401
    assert platform.faults["aws"].status()["fault"] is None


def test_send_control_sets_lists_and_clears(platform: SandboxPlatform) -> None:
    answer = send_control(platform.state_dir, "aws", "throttle", count=3)
    assert answer["aws"]["fault"] == {"kind": "throttle", "remaining": 3, "latency_s": 1.0}
    assert send_control(platform.state_dir, None)["aws"]["fault"]["kind"] == "throttle"
    send_control(platform.state_dir, "aws", "clear")
    assert platform.faults["aws"].status()["fault"] is None
    with pytest.raises(FaultError, match="unknown target"):
        send_control(platform.state_dir, "dns", "hang")


def test_cli_switches_a_running_sandbox(platform: SandboxPlatform) -> None:
    runner = CliRunner()
    folder = str(platform.state_dir)
    result = runner.invoke(
        main, ["sandbox", "fault", "snowflake", "login-refused", "--count", "2", "--state-dir", folder]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "snowflake: login-refused (2 use(s) left; applied 0 time(s))"
    assert platform.snowflake.fault_status()["fault"]["kind"] == "login-refused"

    result = runner.invoke(main, ["sandbox", "fault", "state", "throttle", "--state-dir", folder])
    assert result.exit_code == 4
    assert "unknown fault 'throttle'" in result.output

    result = runner.invoke(main, ["sandbox", "fault", "snowflake", "clear", "--state-dir", folder])
    assert result.output.strip() == "snowflake: healthy"
    result = runner.invoke(main, ["sandbox", "fault", "--state-dir", folder])
    assert result.output.splitlines() == ["aws: healthy", "snowflake: healthy", "state: healthy"]


def test_cli_without_a_sandbox_says_how_to_start_one(tmp_path: Any) -> None:
    result = CliRunner().invoke(main, ["sandbox", "fault", "aws", "hang", "--state-dir", str(tmp_path)])
    assert result.exit_code == 4
    assert "no running sandbox with fault control" in result.output
    assert "Traceback" not in result.output
