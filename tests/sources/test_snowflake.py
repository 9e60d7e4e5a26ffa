"""The Snowflake gateway and read source, against the sandbox through the real connector."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from goodword_tui.model import ErrorKind, NetworkPolicy
from goodword_tui.sandbox.snowflake import AIRBYTE_IPS, HANDOFF_ALLOWED_IPS, SnowflakeSandbox
from goodword_tui.sources.snowflake import (
    BadResponse,
    QueryResult,
    SnowflakeGateway,
    SqlLexError,
    WriteRefused,
    check_read_only,
    classify_error,
    fetch_snowflake,
    leading_keyword,
    parse_parameter,
    parse_policy,
    parse_rule,
    qualified_rule_sql,
    split_statements,
    tokenize,
)
from tests.fixtures.snowflake import sandbox_settings

# --------------------------------------------------------------------------------------------------------------
# Lexing and the read-only gate (pure)


def test_tokenize_follows_snowflake_lexical_rules() -> None:
    sql = "select 'it''s', 'a\\'b;', $$x;y$$, \"Q\"\"x\" -- c;\n/* c; */ // d;\n 1.5e3 ;"
    tokens = tokenize(sql)
    assert [(t.kind, t.value) for t in tokens] == [
        ("ident", "select"),
        ("string", "it's"),
        ("punct", ","),
        ("string", "a'b;"),
        ("punct", ","),
        ("string", "x;y"),
        ("punct", ","),
        ("qident", 'Q"x'),
        ("number", "1.5e3"),
        ("punct", ";"),
    ]
    assert len(split_statements(tokens)) == 1


@pytest.mark.parametrize("sql", ["select 'open", 'select "open', "select 1 /* open", "select $$ open", 'select ""'])
def test_tokenize_refuses_broken_text(sql: str) -> None:
    with pytest.raises(SqlLexError):
        tokenize(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  -- who am I\n select current_user();",
        "/* audit */ SHOW NETWORK POLICIES",
        "desc network policy INTEGRATIONS",
        "DESCRIBE NETWORK RULE A.B.C",
        "SELECT 'x; DROP TABLE t' AS s",
        'SELECT "a;b" FROM t',
    ],
)
def test_read_only_gate_lets_reads_through(sql: str) -> None:
    check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ()",
        "  /* looks harmless */ drop table t",
        "SELECT 1; DROP NETWORK POLICY INTEGRATIONS",
        "SHOW TABLES;; ALTER ACCOUNT UNSET NETWORK_POLICY",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT SYSTEM$CANCEL_ALL_QUERIES(1)",
        "'SELECT'",
        "",
        " ; ",
        "SELECT 'unterminated",
        "CALL proc()",
        "USE ROLE ACCOUNTADMIN",
    ],
)
def test_read_only_gate_refuses_everything_else(sql: str) -> None:
    with pytest.raises(WriteRefused) as caught:
        check_read_only(sql)
    assert "read-only mode" in str(caught.value)


def test_leading_keyword_skips_comments() -> None:
    assert leading_keyword("// note\n-- more\n/* x */ show parameters") == "SHOW"


def test_rule_names_are_checked_before_they_become_sql() -> None:
    assert qualified_rule_sql("GOODWORD_WH.RAW.ANY") == "GOODWORD_WH.RAW.ANY"
    assert qualified_rule_sql('"my db".RAW."Mixed"') == '"my db".RAW."Mixed"'
    for bad in ("RAW.ANY", "A.B.C.D", "A.B.C; DROP TABLE T", "A.B.'c'", "A..B"):
        with pytest.raises(ValueError):
            qualified_rule_sql(bad)


# --------------------------------------------------------------------------------------------------------------
# Parsing Snowflake's result shapes (pure)


def test_parse_policy_from_describe_rows() -> None:
    result = QueryResult(
        ("name", "value"),
        (
            ("ALLOWED_IP_LIST", "172.22.0.0/16,34.106.109.131"),
            ("BLOCKED_IP_LIST", "125.0.0.1,124.0.0.1"),
            ("BLOCKED_NETWORK_RULE_LIST", '[{"fullyQualifiedRuleName":"DB.SCH.R"}]'),
        ),
    )
    assert parse_policy("P", result, "c") == NetworkPolicy(
        name="P",
        allowed_ips=("172.22.0.0/16", "34.106.109.131"),
        blocked_ips=("125.0.0.1", "124.0.0.1"),
        blocked_rules=("DB.SCH.R",),
        comment="c",
    )


@pytest.mark.parametrize(
    "result",
    [
        QueryResult(("name", "value"), (("ALLOWED_NETWORK_RULE_LIST", "DB.SCH.R"),)),
        QueryResult(("name", "value"), (("ALLOWED_NETWORK_RULE_LIST", '{"fullyQualifiedRuleName":"X"}'),)),
        QueryResult(("name", "value"), (("ALLOWED_NETWORK_RULE_LIST", '[{"name":"X"}]'),)),
        QueryResult(("property", "value"), (("ALLOWED_IP_LIST", "1.2.3.4"),)),
    ],
)
def test_malformed_policy_answers_are_bad_responses(result: QueryResult) -> None:
    with pytest.raises(BadResponse):
        parse_policy("P", result)


def test_parse_rule_and_parameters() -> None:
    columns = ("created_on", "name", "database_name", "schema_name", "owner", "comment", "type", "mode", "value_list")
    rule = parse_rule(QueryResult(columns, ((None, "R", "DB", "my sch", "SYSADMIN", "", "IPV4", "INGRESS", ""),)))
    assert (rule.name, rule.values) == ('DB."my sch".R', ())
    with pytest.raises(BadResponse):
        parse_rule(QueryResult(columns, ()))
    params = QueryResult(
        ("key", "value", "default", "level", "description", "type"),
        (("NETWORK_POLICY", "INTEGRATIONS", "", "ACCOUNT", "", "STRING"),),
    )
    assert parse_parameter(params, "NETWORK_POLICY", "ACCOUNT") == "INTEGRATIONS"
    assert parse_parameter(params, "NETWORK_POLICY", "USER") == ""  # inherited, not set on the user


# --------------------------------------------------------------------------------------------------------------
# The source against the sandbox


async def test_reads_the_seeded_handoff(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path)
    result = await fetch_snowflake(settings)
    assert result.error is None, result.error
    state = result.data
    assert state is not None
    assert (state.account, state.user, state.role, state.current_ip) == (
        "vsc91540.us-east-1",
        "CHRIS",
        "ACCOUNTADMIN",
        "203.0.113.10",
    )
    assert (state.account_policy, state.user_policy) == ("INTEGRATIONS", "")
    assert state.policy == NetworkPolicy(
        name="INTEGRATIONS",
        allowed_ips=HANDOFF_ALLOWED_IPS,
        allowed_rules=("GOODWORD_WH.RAW.ANY", "AIRBYTE_DB.RAW.AIRBYTE"),
    )
    assert [(r.name, r.type, r.mode, r.values) for r in state.rules] == [
        ("GOODWORD_WH.RAW.ANY", "IPV4", "INGRESS", ("0.0.0.0/0",)),
        ("AIRBYTE_DB.RAW.AIRBYTE", "IPV4", "INGRESS", AIRBYTE_IPS),
    ]
    assert result.fetched_at.tzinfo is not None and result.duration_s > 0
    # Only reads were sent.
    assert {leading_keyword(r.sql) for r in snowflake_seeded.statements()} <= {"SELECT", "SHOW", "DESCRIBE"}


def test_a_read_connects_to_snowflake_only(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    """The connector (4.x) probes, at login, the cloud metadata endpoints (169.254.169.254,
    metadata.google.internal) and AWS STS to label its telemetry, unless told not to: a read must reach Snowflake
    and nothing else. Checked in a fresh interpreter (the connector caches what it found) by Python's own audit
    events for name lookups and connects."""
    script = textwrap.dedent(
        """
        import asyncio, json, pickle, sys
        from goodword_tui.sources.snowflake import fetch_snowflake
        settings = pickle.loads(sys.stdin.buffer.read())
        reached = []
        def audit(event, args):
            if event == "socket.getaddrinfo":
                reached.append(str(args[0]))
            elif event == "socket.connect" and isinstance(args[1], tuple):
                reached.append(str(args[1][0]))
        sys.addaudithook(audit)
        result = asyncio.run(fetch_snowflake(settings))
        assert result.error is None, result.error
        print(json.dumps(sorted(set(reached))))
        """
    )
    settings = sandbox_settings(snowflake_seeded, tmp_path)
    # Not from the environment (a SQLMesh runtime earlier in this session sets it): from the session's own arguments.
    env = {k: v for k, v in os.environ.items() if k != "SNOWFLAKE_DISABLE_PLATFORM_DETECTION"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(settings),
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert json.loads(done.stdout) == [snowflake_seeded.host]


async def test_blocked_lists_comment_and_user_policy(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path)
    with SnowflakeGateway(settings, read_only=False) as admin:
        admin.execute("ALTER NETWORK POLICY INTEGRATIONS SET BLOCKED_IP_LIST = ('34.106.60.246'), COMMENT = 'oncall'")
        admin.execute("ALTER NETWORK POLICY INTEGRATIONS ADD BLOCKED_NETWORK_RULE_LIST = AIRBYTE_DB.RAW.AIRBYTE")
        admin.execute("ALTER USER CHRIS SET NETWORK_POLICY = INTEGRATIONS")
    state = (await fetch_snowflake(settings)).data
    assert state is not None and state.policy is not None
    assert (state.policy.blocked_ips, state.policy.comment) == (("34.106.60.246",), "oncall")
    assert state.policy.blocked_rules == ("AIRBYTE_DB.RAW.AIRBYTE",)
    assert state.user_policy == "INTEGRATIONS"
    assert [r.name for r in state.rules] == ["GOODWORD_WH.RAW.ANY", "AIRBYTE_DB.RAW.AIRBYTE"]  # deduplicated


async def test_missing_policy_is_not_an_error(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path, snowflake={"policy": "NOT_THERE"})
    result = await fetch_snowflake(settings)
    assert result.error is None and result.data is not None
    assert result.data.policy is None
    assert result.data.account_policy == "INTEGRATIONS"
    # The configured rules are still read; a configured rule that is gone is simply absent.
    assert [r.name for r in result.data.rules] == ["GOODWORD_WH.RAW.ANY", "AIRBYTE_DB.RAW.AIRBYTE"]


async def test_server_down_is_unreachable_and_fast(snowflake_sandbox: SnowflakeSandbox, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    settings = sandbox_settings(snowflake_sandbox, tmp_path, port=free_port)
    result = await fetch_snowflake(settings)
    assert result.data is None and result.error is not None
    assert result.error.kind is ErrorKind.UNREACHABLE, result.error
    assert f"127.0.0.1:{free_port}" in result.error.message
    assert result.duration_s < settings.snowflake.login_timeout_s


async def test_refused_login_is_denied_with_a_hint(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path)
    with SnowflakeGateway(settings, read_only=False) as admin:
        admin.execute("ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = 'GOODWORD_WH.RAW.ANY'")
    snowflake_seeded.set_client_ip("198.51.100.7")
    result = await fetch_snowflake(settings)
    assert result.error is not None
    assert result.error.kind is ErrorKind.DENIED
    assert "198.51.100.7" in result.error.message and "390422" in result.error.message
    assert "198.51.100.7 is refused by the account's network policy" in result.error.hint
    assert "\n" not in result.error.message


async def test_bad_credentials_are_auth_and_never_show_the_password(
    snowflake_seeded: SnowflakeSandbox, tmp_path: Path
) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path, password="hunter2-very-secret")
    result = await fetch_snowflake(settings)
    assert result.error is not None and result.error.kind is ErrorKind.AUTH
    assert "[goodword]" in result.error.hint and str(tmp_path / "connections.toml") in result.error.hint
    assert "hunter2" not in result.error.message + result.error.hint


async def test_unknown_connection_name_is_a_config_error(snowflake_sandbox: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_sandbox, tmp_path, snowflake={"connection_name": "nope"})
    result = await fetch_snowflake(settings)
    assert result.error is not None and result.error.kind is ErrorKind.CONFIG
    assert "[nope]" in result.error.hint


# --------------------------------------------------------------------------------------------------------------
# The gateway


def test_read_only_gateway_sends_no_write(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path)
    with SnowflakeGateway(settings, read_only=True) as gateway:
        assert gateway.execute("SHOW NETWORK POLICIES").records()[0]["name"] == "INTEGRATIONS"
        for write in (
            "ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ()",
            "/* sneaky */ ALTER ACCOUNT UNSET NETWORK_POLICY",
            "SELECT 1; DROP NETWORK POLICY INTEGRATIONS",
        ):
            with pytest.raises(WriteRefused):
                gateway.execute(write)
    sent = [r.sql for r in snowflake_seeded.statements()]
    assert sent == ["SHOW NETWORK POLICIES"]
    with SnowflakeGateway(settings, read_only=False) as writer:  # the same statement does go out in write mode
        writer.execute("ALTER NETWORK POLICY INTEGRATIONS SET COMMENT = 'written'")
    assert snowflake_seeded.statements()[-1].sql == "ALTER NETWORK POLICY INTEGRATIONS SET COMMENT = 'written'"


def test_gateway_logs_in_again_after_the_session_expires(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    settings = sandbox_settings(snowflake_seeded, tmp_path)
    with SnowflakeGateway(settings, read_only=True) as gateway:
        assert gateway.execute("SELECT CURRENT_USER()").rows == (("CHRIS",),)
        snowflake_seeded.expire_sessions()
        assert gateway.execute("SELECT CURRENT_ROLE()").rows == (("ACCOUNTADMIN",),)
    codes = [(r.sql, r.error_code) for r in snowflake_seeded.statements()]
    assert codes == [
        ("SELECT CURRENT_USER()", None),
        ("SELECT CURRENT_ROLE()", "390114"),
        ("SELECT CURRENT_ROLE()", None),
    ]


def test_classify_bad_response_and_unknown_errors(snowflake_sandbox: SnowflakeSandbox, tmp_path: Path) -> None:
    gateway = SnowflakeGateway(sandbox_settings(snowflake_sandbox, tmp_path))
    assert classify_error(BadResponse("expected columns name"), gateway).kind is ErrorKind.BAD_RESPONSE
    error = classify_error(RuntimeError("boom\nsecond line"), gateway)
    assert (error.kind, error.message) == (ErrorKind.ERROR, "Snowflake error: boom second line")
