"""The sandbox Snowflake through the real connector: account-layer shapes, errors, login enforcement, state."""

from __future__ import annotations

import json
import os
import stat
import tomllib
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector
from snowflake.connector.constants import FIELD_ID_TO_NAME
from snowflake.connector.errors import DatabaseError, ProgrammingError

from goodword_tui.sandbox.snowflake import (
    AIRBYTE_IPS,
    HANDOFF_ALLOWED_IPS,
    SnowflakeSandbox,
    SnowflakeSqlError,
    classify_statement,
    parse_statement,
)
from tests.fixtures.snowflake import PRODUCTION_CONFIG, connect_to

Connect = Callable[..., Any]

INTEGRATIONS_RULES = (
    '[{"fullyQualifiedRuleName":"GOODWORD_WH.RAW.ANY"},{"fullyQualifiedRuleName":"AIRBYTE_DB.RAW.AIRBYTE"}]'
)


def run(conn: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        cur.close()


def types(conn: Any, sql: str) -> list[str]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return [FIELD_ID_TO_NAME[d.type_code] for d in cur.description]
    finally:
        cur.close()


def error_of(conn: Any, sql: str) -> ProgrammingError:
    with pytest.raises(ProgrammingError) as caught:
        run(conn, sql)
    return caught.value


def describe(conn: Any, policy: str = "INTEGRATIONS") -> dict[str, str]:
    return dict(run(conn, f"DESC NETWORK POLICY {policy}")[1])


# --------------------------------------------------------------------------------------------------------------
# Result shapes


def test_seed_matches_the_production_config() -> None:
    config = tomllib.loads(PRODUCTION_CONFIG.read_text(encoding="utf-8"))
    assert tuple(e["cidr"] for e in config["snowflake"]["allowed"]) == HANDOFF_ALLOWED_IPS
    assert len(AIRBYTE_IPS) == 9 and all(ip.startswith("34.") for ip in AIRBYTE_IPS)


def test_describe_policy_rows_exactly_as_snowflake(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect
) -> None:
    conn = snowflake_connect()
    columns, rows = run(conn, "DESCRIBE NETWORK POLICY INTEGRATIONS")
    assert columns == ["name", "value"]
    assert types(conn, "DESC NETWORK POLICY INTEGRATIONS") == ["TEXT", "TEXT"]
    assert rows == [
        ("ALLOWED_IP_LIST", ",".join(HANDOFF_ALLOWED_IPS)),
        ("ALLOWED_NETWORK_RULE_LIST", INTEGRATIONS_RULES),
    ]


def test_show_network_policies(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    columns, rows = run(conn, "SHOW NETWORK POLICIES")
    assert columns == [
        "created_on",
        "name",
        "comment",
        "entries_in_allowed_ip_list",
        "entries_in_blocked_ip_list",
        "entries_in_allowed_network_rules",
        "entries_in_blocked_network_rules",
    ]
    assert types(conn, "SHOW NETWORK POLICIES") == ["TIMESTAMP_LTZ", "TEXT", "TEXT", "FIXED", "FIXED", "FIXED", "FIXED"]
    ((created_on, *rest),) = rows
    assert isinstance(created_on, datetime) and created_on.tzinfo is not None
    assert rest == ["INTEGRATIONS", "", 15, 0, 2, 0]
    assert run(conn, "SHOW NETWORK POLICIES LIKE 'integ%'")[1][0][1] == "INTEGRATIONS"
    assert run(conn, "SHOW NETWORK POLICIES LIKE 'INTEG'")[1] == []


def test_network_rule_shapes(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    columns, rows = run(conn, "DESC NETWORK RULE AIRBYTE_DB.RAW.AIRBYTE")
    assert columns == [
        "created_on", "name", "database_name", "schema_name", "owner", "comment", "type", "mode", "value_list",
    ]  # fmt: skip
    ((_, *rest),) = rows
    assert rest == ["AIRBYTE", "AIRBYTE_DB", "RAW", "ACCOUNTADMIN", "", "IPV4", "INGRESS", ",".join(AIRBYTE_IPS)]

    columns, rows = run(conn, "SHOW NETWORK RULES IN ACCOUNT")
    assert columns == [
        "created_on", "name", "database_name", "schema_name", "owner", "comment", "type", "mode",
        "entries_in_valuelist", "owner_role_type",
    ]  # fmt: skip
    assert [(r[1], r[2], r[8]) for r in rows] == [("AIRBYTE", "AIRBYTE_DB", 9), ("ANY", "GOODWORD_WH", 1)]
    assert [r[1] for r in run(conn, "SHOW NETWORK RULES IN SCHEMA GOODWORD_WH.RAW")[1]] == ["ANY"]
    assert [r[1] for r in run(conn, "SHOW NETWORK RULES LIKE 'air%' IN DATABASE AIRBYTE_DB")[1]] == ["AIRBYTE"]
    assert run(conn, "SHOW NETWORK RULES IN ACCOUNT STARTS WITH 'B'")[1] == []
    assert len(run(conn, "SHOW NETWORK RULES IN ACCOUNT LIMIT 1")[1]) == 1


def test_show_parameters_account_and_user(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    columns, rows = run(conn, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")
    assert columns == ["key", "value", "default", "level", "description", "type"]
    assert [r[:4] for r in rows] == [("NETWORK_POLICY", "INTEGRATIONS", "", "ACCOUNT")]
    assert [r[:4] for r in run(conn, "show parameters like 'network_policy' in user chris")[1]] == [
        ("NETWORK_POLICY", "", "", "")
    ]
    run(conn, "ALTER USER CHRIS SET NETWORK_POLICY = INTEGRATIONS")
    assert run(conn, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' FOR USER \"CHRIS\"")[1][0][1:4] == (
        "INTEGRATIONS",
        "",
        "USER",
    )
    run(conn, "ALTER ACCOUNT UNSET NETWORK_POLICY")
    assert run(conn, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")[1][0][1:4] == ("", "", "")
    assert error_of(conn, "SHOW PARAMETERS IN USER NOBODY").errno == 2003


def test_context_functions(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    assert run(conn, "SELECT CURRENT_IP_ADDRESS(), CURRENT_USER(), CURRENT_ROLE()") == (
        ["CURRENT_IP_ADDRESS()", "CURRENT_USER()", "CURRENT_ROLE()"],
        [("203.0.113.10", "CHRIS", "ACCOUNTADMIN")],
    )
    assert run(conn, "select current_ip_address() as ip;") == (["IP"], [("203.0.113.10",)])
    assert run(conn, 'SELECT CURRENT_ROLE() "role"') == (["role"], [("ACCOUNTADMIN",)])
    # Mixed with other expressions the layer would answer wrongly (fakesnow says 'duckdb'): refused.
    assert error_of(conn, "SELECT CURRENT_USER(), 1").errno == 2


# --------------------------------------------------------------------------------------------------------------
# DDL forms


@pytest.mark.parametrize(
    "rules",
    [
        "('GOODWORD_WH.RAW.ANY', 'AIRBYTE_DB.RAW.AIRBYTE')",
        "(GOODWORD_WH.RAW.ANY, airbyte_db.raw.airbyte)",
        '("GOODWORD_WH"."RAW"."ANY", "AIRBYTE_DB"."RAW"."AIRBYTE")',
    ],
)
def test_rule_names_as_strings_or_identifiers(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect, rules: str
) -> None:
    conn = snowflake_connect()
    run(conn, f"CREATE NETWORK POLICY P2 ALLOWED_NETWORK_RULE_LIST = {rules} COMMENT = 'two'")
    assert describe(conn, "P2") == {"ALLOWED_NETWORK_RULE_LIST": INTEGRATIONS_RULES}
    assert run(conn, "SHOW NETWORK POLICIES LIKE 'P2'")[1][0][2:] == ("two", 0, 0, 2, 0)


def test_add_and_remove_with_and_without_parentheses(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect
) -> None:
    conn = snowflake_connect()
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = 'GOODWORD_WH.RAW.ANY'")
    assert json.loads(describe(conn)["ALLOWED_NETWORK_RULE_LIST"]) == [
        {"fullyQualifiedRuleName": "AIRBYTE_DB.RAW.AIRBYTE"}
    ]
    run(conn, 'ALTER NETWORK POLICY INTEGRATIONS ADD ALLOWED_NETWORK_RULE_LIST = ("GOODWORD_WH"."RAW"."ANY")')
    assert describe(conn)["ALLOWED_NETWORK_RULE_LIST"] == (
        '[{"fullyQualifiedRuleName":"AIRBYTE_DB.RAW.AIRBYTE"},{"fullyQualifiedRuleName":"GOODWORD_WH.RAW.ANY"}]'
    )
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS ADD ALLOWED_NETWORK_RULE_LIST = GOODWORD_WH.RAW.ANY")  # no-op
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS ADD BLOCKED_NETWORK_RULE_LIST = ('AIRBYTE_DB.RAW.AIRBYTE')")
    run(
        conn,
        "ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = "
        "(AIRBYTE_DB.RAW.AIRBYTE, 'GOODWORD_WH.RAW.ANY')",
    )
    rows = describe(conn)
    assert "ALLOWED_NETWORK_RULE_LIST" not in rows
    assert rows["BLOCKED_NETWORK_RULE_LIST"] == '[{"fullyQualifiedRuleName":"AIRBYTE_DB.RAW.AIRBYTE"}]'


def test_ip_lists_set_unset_keep_order_and_text(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS SET BLOCKED_IP_LIST = ('125.0.0.1', '124.0.0.1'), COMMENT = 'c'")
    assert describe(conn)["BLOCKED_IP_LIST"] == "125.0.0.1,124.0.0.1"
    assert run(conn, "SHOW NETWORK POLICIES")[1][0][2] == "c"
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ('10.0.0.1', '172.22.0.0/16')")
    assert describe(conn)["ALLOWED_IP_LIST"] == "10.0.0.1,172.22.0.0/16"  # not normalised, not sorted
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS UNSET BLOCKED_IP_LIST, COMMENT")
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ()")
    assert set(describe(conn)) == {"ALLOWED_NETWORK_RULE_LIST"}  # empty and unset lists have no row
    assert run(conn, "SHOW NETWORK POLICIES")[1][0][2:4] == ("", 0)


def test_network_rule_lifecycle(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect(database="GOODWORD_WH", schema="RAW")
    run(conn, "CREATE NETWORK RULE vpn TYPE = IPV4 VALUE_LIST = ('100.64.0.0/10') COMMENT = 'tailscale'")
    assert run(conn, "DESC NETWORK RULE GOODWORD_WH.RAW.VPN")[1][0][1:] == (
        "VPN", "GOODWORD_WH", "RAW", "ACCOUNTADMIN", "tailscale", "IPV4", "INGRESS", "100.64.0.0/10",
    )  # fmt: skip
    run(conn, "ALTER NETWORK RULE RAW.VPN SET VALUE_LIST = ('100.64.0.0/10', '10.0.0.0/8'), COMMENT = 'x'")
    assert run(conn, "DESC NETWORK RULE vpn")[1][0][5:] == ("x", "IPV4", "INGRESS", "100.64.0.0/10,10.0.0.0/8")
    run(conn, "ALTER NETWORK RULE vpn UNSET VALUE_LIST, COMMENT")
    assert run(conn, "DESC NETWORK RULE vpn")[1][0][5:] == ("", "IPV4", "INGRESS", "")
    assert [r[1] for r in run(conn, "SHOW NETWORK RULES")[1]] == ["ANY", "VPN"]  # current database
    run(conn, "DROP NETWORK RULE vpn")
    assert error_of(conn, "DESC NETWORK RULE vpn").errno == 2003


# --------------------------------------------------------------------------------------------------------------
# Errors


def test_missing_objects_are_002003(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    error = error_of(conn, "DESC NETWORK POLICY NOPE")
    assert (error.errno, error.sqlstate) == (2003, "02000")
    assert "Network policy 'NOPE' does not exist or not authorized." in error.msg
    assert "Network rule 'A.B.C' does not exist" in error_of(conn, "DESCRIBE NETWORK RULE a.b.c").msg
    assert error_of(conn, "ALTER NETWORK POLICY NOPE SET COMMENT = 'x'").errno == 2003
    run(conn, "ALTER NETWORK POLICY IF EXISTS NOPE SET COMMENT = 'x'")
    run(conn, "DROP NETWORK POLICY IF EXISTS NOPE")
    assert (
        "Schema 'GOODWORD_WH.NOPE'"
        in error_of(conn, "CREATE NETWORK RULE GOODWORD_WH.NOPE.R TYPE = IPV4 VALUE_LIST = ()").msg
    )
    assert error_of(conn, "CREATE NETWORK POLICY P ALLOWED_NETWORK_RULE_LIST = ('A.B.C')").errno == 2003
    assert error_of(conn, "ALTER ACCOUNT SET NETWORK_POLICY = NOPE").errno == 2003


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE NETWORK POLICY",
        "CREATE NETWORK POLICY P ALLOWED_IP_LIST = '1.2.3.4'",
        "CREATE NETWORK POLICY P ALLOWED_IP_LIST = ('1.2.3.4',)",
        "CREATE NETWORK POLICY P COMMENT = 'a' COMMENT = 'b'",
        "CREATE NETWORK POLICY P ALLOWED_IP_LIST ('1.2.3.4')",
        "ALTER NETWORK POLICY INTEGRATIONS ADD ALLOWED_IP_LIST = ('1.2.3.4')",
        "ALTER NETWORK POLICY INTEGRATIONS ADD ALLOWED_NETWORK_RULE_LIST = ()",
        "ALTER NETWORK POLICY INTEGRATIONS SET",
        "ALTER NETWORK POLICY INTEGRATIONS SET COMMENT = 'x' extra",
        "ALTER NETWORK POLICY INTEGRATIONS UNSET OWNER",
        "ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = 'not a name'",
        "CREATE NETWORK RULE A.B.C.D TYPE = IPV4 VALUE_LIST = ()",
        "CREATE NETWORK RULE A.B.C TYPE = BOGUS VALUE_LIST = ()",
        "CREATE NETWORK RULE A.B.C VALUE_LIST = ('1.2.3.4')",
        "SHOW NETWORK POLICIES LIKE",
        "DESC NETWORK POLICY",
        "ALTER ACCOUNT SET NETWORK_POLICY INTEGRATIONS",
        "CREATE NETWORK POLICY P COMMENT = 'unterminated",
    ],
)
def test_malformed_statements_are_syntax_errors(snowflake_connect: Connect, sql: str) -> None:
    """Parsing comes before any lookup, so these need no seeded state."""
    error = error_of(snowflake_connect(), sql)
    assert (error.errno, error.sqlstate) == (1003, "42000"), error.msg
    assert "SQL compilation error" in error.msg


def test_syntax_error_points_at_the_token() -> None:
    sql = "ALTER NETWORK POLICY X\n  ADD ALLOWED_IP_LIST = ('1.2.3.4')"
    tokens, owned = classify_statement(sql)
    assert owned
    with pytest.raises(SnowflakeSqlError) as caught:
        parse_statement(sql, tokens)
    assert caught.value.message.endswith("syntax error line 2 at position 6 unexpected 'ALLOWED_IP_LIST'.")


def test_refusals(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    for sql in ("DROP NETWORK POLICY INTEGRATIONS", "CREATE OR REPLACE NETWORK POLICY INTEGRATIONS"):
        error = error_of(conn, sql)
        assert (error.errno, error.sqlstate) == (3531, "23001")
        assert "associated with one or more entities" in error.msg
    assert error_of(conn, "CREATE NETWORK POLICY INTEGRATIONS").errno == 2002
    run(conn, "CREATE NETWORK POLICY IF NOT EXISTS INTEGRATIONS")
    assert error_of(conn, "DROP NETWORK RULE GOODWORD_WH.RAW.ANY").errno == 3531  # used by INTEGRATIONS
    assert error_of(conn, "CREATE NETWORK POLICY P ALLOWED_IP_LIST = ('300.1.1.1')").errno == 1008
    assert error_of(conn, "SELECT 1; DROP NETWORK POLICY INTEGRATIONS").errno == 8
    # CREATE OR ALTER keeps the policy attached while it changes.
    run(conn, "CREATE OR ALTER NETWORK POLICY INTEGRATIONS ALLOWED_IP_LIST = ('0.0.0.0/0')")
    assert describe(conn) == {"ALLOWED_IP_LIST": "0.0.0.0/0"}
    run(conn, "ALTER ACCOUNT UNSET NETWORK_POLICY")
    run(conn, "DROP NETWORK POLICY INTEGRATIONS")
    assert run(conn, "SHOW NETWORK POLICIES")[1] == []


# --------------------------------------------------------------------------------------------------------------
# Login enforcement


def test_login_refused_with_390422_when_the_ip_is_not_allowed(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect
) -> None:
    conn = snowflake_connect()
    run(conn, "ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = ('GOODWORD_WH.RAW.ANY')")
    with pytest.raises(DatabaseError) as caught:
        connect_to(snowflake_seeded)
    assert caught.value.errno == 390422
    assert "Incoming request with IP/Token 203.0.113.10 is not allowed to access Snowflake." in caught.value.msg
    assert run(conn, "SELECT CURRENT_USER()")[1] == [("CHRIS",)]  # open sessions keep working

    snowflake_seeded.set_client_ip("172.22.1.15")  # the access server, inside the Operations VPC entry
    assert run(snowflake_connect(), "SELECT CURRENT_IP_ADDRESS()")[1] == [("172.22.1.15",)]
    snowflake_seeded.set_client_ip("34.106.196.165")  # an Airbyte address, allowed twice
    snowflake_connect()

    run(conn, "ALTER NETWORK POLICY INTEGRATIONS SET BLOCKED_IP_LIST = ('34.106.196.165')")
    with pytest.raises(DatabaseError, match="390422"):
        connect_to(snowflake_seeded)  # the blocked list wins over the allowed list


def test_user_policy_overrides_the_account_policy(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect
) -> None:
    conn = snowflake_connect()
    run(conn, "CREATE NETWORK POLICY OPS_ONLY ALLOWED_IP_LIST = ('203.0.113.0/24')")
    run(conn, "ALTER USER CHRIS SET NETWORK_POLICY = OPS_ONLY")
    snowflake_seeded.set_client_ip("172.22.1.15")  # allowed by INTEGRATIONS, not by OPS_ONLY
    with pytest.raises(DatabaseError, match="390422"):
        connect_to(snowflake_seeded)
    run(conn, "ALTER USER CHRIS UNSET NETWORK_POLICY")
    snowflake_connect()


def test_activating_a_policy_that_locks_out_the_requester_is_refused(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect
) -> None:
    conn = snowflake_connect()
    run(conn, "CREATE NETWORK POLICY TIGHT ALLOWED_IP_LIST = ('10.0.0.0/8')")
    error = error_of(conn, "ALTER ACCOUNT SET NETWORK_POLICY = TIGHT")
    assert "cannot be activated. Requestor IP address/Token, 203.0.113.10" in error.msg
    assert run(conn, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")[1][0][1] == "INTEGRATIONS"


def test_wrong_password_is_390100(snowflake_seeded: SnowflakeSandbox) -> None:
    with pytest.raises(DatabaseError) as caught:
        connect_to(snowflake_seeded, password="wrong")
    assert caught.value.errno == 390100


def test_expired_session_is_390114(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    snowflake_seeded.expire_sessions()
    assert error_of(conn, "SELECT CURRENT_USER()").errno == 390114


# --------------------------------------------------------------------------------------------------------------
# Passthrough, log, admin endpoints, persistence


def test_ordinary_sql_passes_through_to_fakesnow(
    snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect
) -> None:
    conn = snowflake_connect(database="GOODWORD_WH", schema="RAW")
    assert run(conn, "CREATE OR REPLACE TABLE events (id INT, kind VARCHAR)")[1] == [
        ("Table EVENTS successfully created.",)
    ]
    cur = conn.cursor()
    cur.execute("INSERT INTO events VALUES (1, 'login'), (2, 'query')")
    assert cur.rowcount == 2 and cur.fetchall() == [(2,)]
    cur.execute("UPDATE events SET kind = 'logout' WHERE id = 1")
    assert cur.rowcount == 1
    assert run(conn, "SELECT id, kind FROM GOODWORD_WH.RAW.events ORDER BY id") == (
        ["ID", "KIND"],
        [(1, "logout"), (2, "query")],
    )
    log = snowflake_seeded.statements()
    assert [r.handled_by for r in log] == ["passthrough"] * 4
    assert {r.user for r in log} == {"CHRIS"}


def test_statement_log_and_admin_endpoints(snowflake_seeded: SnowflakeSandbox, snowflake_connect: Connect) -> None:
    conn = snowflake_connect()
    run(conn, "SHOW NETWORK POLICIES")
    error_of(conn, "DESC NETWORK POLICY NOPE")
    run(conn, "SELECT 1")
    records = snowflake_seeded.statements()
    assert [(r.sql, r.handled_by, r.error_code) for r in records] == [
        ("SHOW NETWORK POLICIES", "layer", None),
        ("DESC NETWORK POLICY NOPE", "layer", "002003"),
        ("SELECT 1", "passthrough", None),
    ]

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(snowflake_seeded.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert [s["sql"] for s in call("GET", "/sandbox/statements")["statements"]] == [r.sql for r in records]
    assert call("POST", "/sandbox/client-ip", {"ip": "100.64.1.2"}) == {"client_ip": "100.64.1.2"}
    assert run(conn, "SELECT CURRENT_IP_ADDRESS()")[1] == [("100.64.1.2",)]
    assert call("DELETE", "/sandbox/statements") == {"statements": []}
    assert call("GET", "/sandbox/state")["account_parameters"] == {"NETWORK_POLICY": "INTEGRATIONS"}
    assert call("POST", "/sandbox/reset") == {"ok": True}
    assert snowflake_seeded.client_ip == "203.0.113.10"
    assert run(conn, "SHOW NETWORK POLICIES")[1] == []
    with pytest.raises(urllib.error.HTTPError):
        call("POST", "/sandbox/client-ip", {"ip": "not-an-ip"})


def test_state_survives_a_restart(snowflake_seeded: SnowflakeSandbox, tmp_path: Path) -> None:
    state_file = snowflake_seeded.state_file
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    copy = tmp_path / "state"
    copy.mkdir()
    (copy / state_file.name).write_bytes(state_file.read_bytes())
    with SnowflakeSandbox(copy) as restarted:
        conn = snowflake.connector.connect(**restarted.connect_kwargs())
        try:
            assert describe(conn)["ALLOWED_IP_LIST"] == ",".join(HANDOFF_ALLOWED_IPS)
            assert run(conn, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")[1][0][1] == "INTEGRATIONS"
            assert run(conn, "DESC NETWORK RULE GOODWORD_WH.RAW.ANY")[1][0][8] == "0.0.0.0/0"
            run(conn, "ALTER NETWORK POLICY INTEGRATIONS SET COMMENT = 'after restart'")
        finally:
            conn.close()
    assert json.loads((copy / state_file.name).read_text())["policies"][0]["comment"] == "after restart"
    port = restarted.port
    restarted.start()  # the same instance again: same port, state reloaded from memory and disk agree
    try:
        assert restarted.port == port
        conn = snowflake.connector.connect(**restarted.connect_kwargs())
        assert run(conn, "SHOW NETWORK POLICIES")[1][0][1:3] == ("INTEGRATIONS", "after restart")
        conn.close()
    finally:
        restarted.stop()
    assert stat.S_IMODE(os.stat(copy / state_file.name).st_mode) == 0o600
    assert not [p for p in copy.iterdir() if p.name.endswith(".tmp")]
