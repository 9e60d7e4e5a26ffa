"""The sandbox Snowflake: fakesnow's server plus the account layer that fakesnow lacks.

fakesnow 0.11.10 speaks the connector's real HTTP protocol with DuckDB behind it, but knows nothing of network
policies, network rules, account parameters or the client's IP. This module builds its own Starlette app that
reuses fakesnow's handlers and puts an account layer in front of them:

- NETWORK POLICY / NETWORK RULE DDL, SHOW and DESCRIBE with Snowflake's result shapes (JSON rowsets, rowtypes,
  statementTypeId), `SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT | USER`, `ALTER ACCOUNT | USER SET/UNSET
  NETWORK_POLICY`, and `SELECT CURRENT_IP_ADDRESS(), CURRENT_USER(), CURRENT_ROLE()`;
- login enforcement: the active policy (user's, else account's) is checked against a pretend client IP, and a
  refused login gets Snowflake's 390422 answer;
- a statement log (who sent what, handled here or passed through), used by tests to prove read-only mode sent
  no write;
- the account state persisted as JSON (0600, written atomically) so a restart keeps it.

Everything else goes to fakesnow unchanged. Statements are parsed with a small recursive-descent grammar over
Snowflake's tokens (sqlglot cannot parse these DDLs); anything malformed is refused with a syntax error rather
than guessed at. This is the only module that knows the Snowflake it serves is not Snowflake.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import ipaddress
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from goodword_tui.sandbox.faults import SNOWFLAKE_SESSION_KINDS, ActiveFault, FaultSwitch
from goodword_tui.sources.snowflake import (
    SqlLexError,
    SqlToken,
    render_identifier,
    split_statements,
    tokenize,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

STATE_FILE = "snowflake-account.json"
DEFAULT_ACCOUNT = "vsc91540.us-east-1"
DEFAULT_PASSWORD = "sandbox-password"  # a sandbox-only secret; the real account uses key-pair auth

# The hand-off's 15 allowed entries, in its order (config.toml [snowflake].allowed; a test keeps them equal).
HANDOFF_ALLOWED_IPS: tuple[str, ...] = (
    "172.22.0.0/16",
    "172.20.0.0/16",
    "100.64.0.0/10",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "34.106.109.131",
    "34.106.196.165",
    "34.106.60.246",
    "34.106.229.69",
    "34.106.127.139",
    "34.106.218.58",
    "34.106.115.240",
    "34.106.225.141",
    "34.33.7.0/29",
)
AIRBYTE_IPS: tuple[str, ...] = HANDOFF_ALLOWED_IPS[6:]

# statementTypeId values (from the JDBC driver's SFStatementType, as fakesnow uses them).
STATEMENT_SELECT = 0x1000
STATEMENT_SHOW = 0x4400
STATEMENT_DESCRIBE = 0x4500
STATEMENT_DDL = 0x6000

SUCCESS = "Statement executed successfully."

# --------------------------------------------------------------------------------------------------------------
# Errors, as Snowflake reports them


class SnowflakeSqlError(Exception):
    """A statement Snowflake would refuse: its GS code, SQLSTATE and message, as the connector shows them."""

    def __init__(self, code: str, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.sqlstate = sqlstate
        self.message = message


def compilation_error(code: str, sqlstate: str, text: str) -> SnowflakeSqlError:
    return SnowflakeSqlError(code, sqlstate, f"SQL compilation error:\n{text}")


def not_found(kind: str, name: str) -> SnowflakeSqlError:
    """002003 (02000), Snowflake's generic missing-object error."""
    return compilation_error("002003", "02000", f"{kind} '{name}' does not exist or not authorized.")


def already_exists(name: str) -> SnowflakeSqlError:
    return compilation_error("002002", "42710", f"Object '{name}' already exists.")


def invalid_value(text: str) -> SnowflakeSqlError:
    """An invalid property value (a bad IP, a wrong rule type). The code is ours: Snowflake's is unknown."""
    return compilation_error("001008", "22023", text)


def unsupported(text: str) -> SnowflakeSqlError:
    return SnowflakeSqlError("000002", "0A000", f"Unsupported feature '{text}'.")


def no_current(kind: Literal["database", "schema"], action: str) -> SnowflakeSqlError:
    """090105 / 090106 (22000): an unqualified name in a session without a current database or schema."""
    code, command = ("090105", "USE DATABASE") if kind == "database" else ("090106", "USE SCHEMA")
    return SnowflakeSqlError(
        code,
        "22000",
        f"Cannot perform {action}. This session does not have a current {kind}. "
        f"Call '{command}', or use a qualified name.",
    )


def syntax_error(sql: str, token: SqlToken | None) -> SnowflakeSqlError:
    """001003 (42000) with Snowflake's 'line L at position P unexpected X' wording."""
    if token is None:
        offset, shown = len(sql), "<EOF>"
    else:
        offset, shown = token.pos, sql[token.pos : token.end]
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1)
    return compilation_error("001003", "42000", f"syntax error line {line} at position {column} unexpected '{shown}'.")


# --------------------------------------------------------------------------------------------------------------
# Account state

RuleKey = tuple[str, str, str]  # (database, schema, rule) as stored (bare names upper-cased)

RULE_TYPES = ("IPV4", "IPV6", "AWSVPCEID", "AZURELINKID", "GCPPSCID", "HOST_PORT", "PRIVATE_HOST_PORT")
RULE_MODES = ("INGRESS", "INTERNAL_STAGE", "EGRESS")
POLICY_LISTS = ("ALLOWED_IP_LIST", "BLOCKED_IP_LIST", "ALLOWED_NETWORK_RULE_LIST", "BLOCKED_NETWORK_RULE_LIST")
POLICY_PROPERTIES = (*POLICY_LISTS, "COMMENT")


def rule_display(key: RuleKey) -> str:
    return ".".join(render_identifier(part) for part in key)


@dataclass
class PolicyRecord:
    """One network policy. IP lists are None when unset and [] when set empty (which allows no IPv4 at all)."""

    name: str
    created_on: float
    owner: str
    allowed_ips: list[str] | None = None
    blocked_ips: list[str] | None = None
    allowed_rules: list[RuleKey] = field(default_factory=list)
    blocked_rules: list[RuleKey] = field(default_factory=list)
    comment: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["allowed_rules"] = [list(k) for k in self.allowed_rules]
        data["blocked_rules"] = [list(k) for k in self.blocked_rules]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyRecord:
        return cls(
            name=str(data["name"]),
            created_on=float(data["created_on"]),
            owner=str(data.get("owner", "")),
            allowed_ips=None if data.get("allowed_ips") is None else [str(v) for v in data["allowed_ips"]],
            blocked_ips=None if data.get("blocked_ips") is None else [str(v) for v in data["blocked_ips"]],
            allowed_rules=[_rule_key(k) for k in data.get("allowed_rules", [])],
            blocked_rules=[_rule_key(k) for k in data.get("blocked_rules", [])],
            comment=str(data.get("comment", "")),
        )


def _rule_key(value: Sequence[Any]) -> RuleKey:
    if len(value) != 3:
        raise ValueError(f"a rule reference needs 3 parts, got {value!r}")
    return (str(value[0]), str(value[1]), str(value[2]))


@dataclass
class RuleRecord:
    database: str
    schema: str
    name: str
    type: str
    mode: str
    created_on: float
    owner: str
    values: list[str] = field(default_factory=list)
    comment: str = ""

    @property
    def key(self) -> RuleKey:
        return (self.database, self.schema, self.name)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleRecord:
        return cls(
            database=str(data["database"]),
            schema=str(data["schema"]),
            name=str(data["name"]),
            type=str(data["type"]),
            mode=str(data["mode"]),
            created_on=float(data["created_on"]),
            owner=str(data.get("owner", "")),
            values=[str(v) for v in data.get("values", [])],
            comment=str(data.get("comment", "")),
        )


@dataclass
class AccountState:
    """Everything the layer knows about the account; what is persisted."""

    policies: dict[str, PolicyRecord] = field(default_factory=dict)
    rules: dict[RuleKey, RuleRecord] = field(default_factory=dict)
    account_policy: str = ""  # the NETWORK_POLICY account parameter ("" = unset)
    user_policies: dict[str, str] = field(default_factory=dict)  # user → NETWORK_POLICY

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "policies": [p.to_json() for p in self.policies.values()],
            "rules": [r.to_json() for r in self.rules.values()],
            "account_parameters": {"NETWORK_POLICY": self.account_policy},
            "user_parameters": {user: {"NETWORK_POLICY": p} for user, p in self.user_policies.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountState:
        if data.get("version") != 1:
            raise ValueError(f"unknown state version {data.get('version')!r}")
        policies = [PolicyRecord.from_json(p) for p in data.get("policies", [])]
        rules = [RuleRecord.from_json(r) for r in data.get("rules", [])]
        users = data.get("user_parameters", {})
        return cls(
            policies={p.name: p for p in policies},
            rules={r.key: r for r in rules},
            account_policy=str(data.get("account_parameters", {}).get("NETWORK_POLICY", "")),
            user_policies={str(u): str(v.get("NETWORK_POLICY", "")) for u, v in users.items()},
        )

    def policy_in_use(self, name: str) -> bool:
        return self.account_policy == name or name in self.user_policies.values()

    def policies_using_rule(self, key: RuleKey) -> list[str]:
        return [p.name for p in self.policies.values() if key in p.allowed_rules or key in p.blocked_rules]


def _networks(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for entry in entries:
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(entry, strict=False))
    return nets


def policy_allows(state: AccountState, policy: PolicyRecord, client_ip: str) -> bool:
    """Snowflake's evaluation for an IPv4 client: blocked entries first, then the allowed list.

    An allowed list exists when ALLOWED_IP_LIST is set (even empty) or an IPV4 rule is allowed; then every
    address outside it is refused. A policy with no allowed list admits every address it does not block.
    """
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False

    def rule_values(keys: Iterable[RuleKey]) -> list[str]:
        values: list[str] = []
        for key in keys:
            rule = state.rules.get(key)
            if rule is not None and rule.type in ("IPV4", "IPV6"):
                values += rule.values
        return values

    blocked = _networks((policy.blocked_ips or []) + rule_values(policy.blocked_rules))
    if any(address in net for net in blocked):
        return False
    ip_rules = [k for k in policy.allowed_rules if k in state.rules and state.rules[k].type in ("IPV4", "IPV6")]
    if policy.allowed_ips is None and not ip_rules:
        return True
    allowed = _networks((policy.allowed_ips or []) + rule_values(ip_rules))
    return any(address in net for net in allowed)


# --------------------------------------------------------------------------------------------------------------
# Results


ColumnKind = Literal["text", "fixed", "timestamp_ltz"]


@dataclass(frozen=True)
class Result:
    """A result set in the shape the connector reads from a JSON query response."""

    columns: tuple[tuple[str, ColumnKind], ...]
    rows: tuple[tuple[Any, ...], ...]
    statement_type: int

    @classmethod
    def status(cls, message: str = SUCCESS) -> Result:
        return cls((("status", "text"),), ((message,),), STATEMENT_DDL)


def rowtype(name: str, kind: ColumnKind) -> dict[str, Any]:
    """One rowtype entry with every key `ResultMetadataV2.from_column` indexes."""
    column: dict[str, Any] = {"name": name, "database": "", "schema": "", "table": "", "nullable": True}
    if kind == "text":
        column |= {"type": "text", "length": 16777216, "byteLength": 16777216, "precision": None, "scale": None}
    elif kind == "fixed":
        column |= {"type": "fixed", "length": None, "byteLength": None, "precision": 38, "scale": 0}
    else:
        column |= {"type": kind, "length": None, "byteLength": None, "precision": 0, "scale": 3}
    column["collation"] = None
    return column


def _cell(value: Any, kind: ColumnKind) -> str | None:
    """JSON rowsets carry every value as a string; timestamps as epoch seconds with `scale` decimals."""
    if value is None:
        return None
    if kind == "fixed":
        return str(int(value))
    if kind == "timestamp_ltz":
        return f"{float(value):.3f}"
    return str(value)


def result_json(result: Result, *, database: str | None, schema: str | None) -> dict[str, Any]:
    rows = [[_cell(v, kind) for v, (_, kind) in zip(row, result.columns, strict=True)] for row in result.rows]
    return {
        "data": {
            "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
            "rowtype": [rowtype(name, kind) for name, kind in result.columns],
            "rowset": rows,
            "total": len(rows),
            "returned": len(rows),
            "queryId": str(uuid.uuid4()),
            "queryResultFormat": "json",
            "statementTypeId": result.statement_type,
            "finalDatabaseName": database,
            "finalSchemaName": schema,
        },
        "code": None,
        "message": None,
        "success": True,
    }


def error_json(error: SnowflakeSqlError) -> dict[str, Any]:
    return {
        "data": {"errorCode": error.code, "sqlState": error.sqlstate, "queryId": str(uuid.uuid4())},
        "code": error.code,
        "message": error.message,
        "success": False,
        "headers": None,
    }


# --------------------------------------------------------------------------------------------------------------
# Statements the layer understands (parsed into these, then executed against the state)

RuleRef = tuple[str, ...]  # 1 to 3 name parts, resolved against the session's database and schema


@dataclass(frozen=True)
class CreatePolicy:
    name: str
    replace: bool
    if_not_exists: bool
    or_alter: bool
    props: Mapping[str, Any]


@dataclass(frozen=True)
class AlterPolicy:
    name: str
    if_exists: bool
    action: Literal["set", "unset", "add", "remove", "rename"]
    props: Mapping[str, Any] = field(default_factory=dict)  # set: property → value; add/remove: list → refs
    unset: tuple[str, ...] = ()
    new_name: str = ""


@dataclass(frozen=True)
class DropPolicy:
    name: str
    if_exists: bool


@dataclass(frozen=True)
class DescribePolicy:
    name: str


@dataclass(frozen=True)
class ShowPolicies:
    like: str | None


@dataclass(frozen=True)
class CreateRule:
    ref: RuleRef
    replace: bool
    if_not_exists: bool
    props: Mapping[str, Any]


@dataclass(frozen=True)
class AlterRule:
    ref: RuleRef
    if_exists: bool
    props: Mapping[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()


@dataclass(frozen=True)
class DropRule:
    ref: RuleRef
    if_exists: bool


@dataclass(frozen=True)
class DescribeRule:
    ref: RuleRef


@dataclass(frozen=True)
class ShowRules:
    like: str | None
    scope: Literal["default", "account", "database", "schema"]
    scope_ref: RuleRef = ()
    starts_with: str | None = None
    limit: int | None = None
    from_name: str | None = None


@dataclass(frozen=True)
class ShowParameters:
    like: str | None
    scope: str  # SESSION | ACCOUNT | USER | WAREHOUSE | DATABASE | SCHEMA | TASK | TABLE
    target: RuleRef = ()


@dataclass(frozen=True)
class SetNetworkPolicy:
    target: Literal["account", "user"]
    user: str = ""
    if_exists: bool = False
    policy: str | None = None  # None: UNSET


@dataclass(frozen=True)
class SelectContext:
    items: tuple[tuple[str, str], ...]  # (function, column name)


Command = (
    CreatePolicy
    | AlterPolicy
    | DropPolicy
    | DescribePolicy
    | ShowPolicies
    | CreateRule
    | AlterRule
    | DropRule
    | DescribeRule
    | ShowRules
    | ShowParameters
    | SetNetworkPolicy
    | SelectContext
)

CONTEXT_FUNCTIONS = ("CURRENT_IP_ADDRESS", "CURRENT_USER", "CURRENT_ROLE")


class _Parser:
    """Recursive descent over one statement's tokens; every dead end is a Snowflake-style syntax error."""

    def __init__(self, sql: str, tokens: Sequence[SqlToken]) -> None:
        self.sql = sql
        self.tokens = list(tokens)
        self.i = 0

    # -- primitives

    def peek(self, ahead: int = 0) -> SqlToken | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def error(self, token: SqlToken | None = None) -> SnowflakeSqlError:
        return syntax_error(self.sql, token if token is not None else self.peek())

    def word(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.is_word(*words):
            self.i += 1
            return True
        return False

    def words(self, *sequence: str) -> bool:
        """Accept the whole sequence of keywords or nothing."""
        for ahead, word in enumerate(sequence):
            token = self.peek(ahead)
            if token is None or not token.is_word(word):
                return False
        self.i += len(sequence)
        return True

    def expect_word(self, *words: str) -> str:
        token = self.peek()
        if token is None or not token.is_word(*words):
            raise self.error()
        self.i += 1
        return token.value.upper()

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.is_punct(char):
            self.i += 1
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            raise self.error()

    def end(self) -> None:
        if self.peek() is not None:
            raise self.error()

    def at_end(self) -> bool:
        return self.peek() is None

    def next_is(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.is_word(*words)

    def next_is_ident(self) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("ident", "qident")

    def ident(self) -> str:
        token = self.peek()
        if token is None or token.kind not in ("ident", "qident"):
            raise self.error()
        self.i += 1
        return token.value.upper() if token.kind == "ident" else token.value

    def qualified(self, max_parts: int = 3) -> RuleRef:
        parts = [self.ident()]
        while len(parts) < max_parts and self.punct("."):
            parts.append(self.ident())
        token = self.peek()
        if token is not None and token.is_punct("."):
            raise self.error()
        return tuple(parts)

    def string(self) -> str:
        token = self.peek()
        if token is None or token.kind != "string":
            raise self.error()
        self.i += 1
        return token.value

    def number(self) -> int:
        token = self.peek()
        if token is None or token.kind != "number" or not token.value.isdigit():
            raise self.error()
        self.i += 1
        return int(token.value)

    def equals(self) -> None:
        self.expect_punct("=")

    # -- composite pieces

    def string_list(self) -> list[str]:
        """( ['v' {, 'v'}] )"""
        self.expect_punct("(")
        values: list[str] = []
        if not self.punct(")"):
            values.append(self.string())
            while self.punct(","):
                values.append(self.string())
            self.expect_punct(")")
        return values

    def rule_ref(self) -> RuleRef:
        """A rule name as a quoted string literal ('DB.SCH.R') or an identifier (DB.SCH.R, "DB"."SCH"."R")."""
        token = self.peek()
        if token is not None and token.kind == "string":
            self.i += 1
            try:
                inner = _Parser(token.value, tokenize(token.value))
                ref = inner.qualified()
                inner.end()
            except (SqlLexError, SnowflakeSqlError):
                raise self.error(token) from None
            return ref
        return self.qualified()

    def rule_list(self) -> list[RuleRef]:
        self.expect_punct("(")
        refs: list[RuleRef] = []
        if not self.punct(")"):
            refs.append(self.rule_ref())
            while self.punct(","):
                refs.append(self.rule_ref())
            self.expect_punct(")")
        return refs

    def like(self) -> str | None:
        return self.string() if self.word("LIKE") else None

    def policy_properties(self, *, at_least_one: bool) -> dict[str, Any]:
        """{ALLOWED|BLOCKED}_{IP_LIST|NETWORK_RULE_LIST} = (...), COMMENT = '...'; any order, each once."""
        props: dict[str, Any] = {}
        while True:
            token = self.peek()
            if token is None or not token.is_word(*POLICY_PROPERTIES):
                break
            name = token.value.upper()
            if name in props:
                raise self.error(token)
            self.i += 1
            self.equals()
            if name == "COMMENT":
                props[name] = self.string()
            elif name.endswith("_IP_LIST"):
                props[name] = self.string_list()
            else:
                props[name] = self.rule_list()
            if not self.punct(","):
                continue
            following = self.peek()
            if following is None or not following.is_word(*POLICY_PROPERTIES):
                raise self.error()
        if at_least_one and not props:
            raise self.error()
        return props

    def rule_properties(self, allowed: Sequence[str], *, at_least_one: bool) -> dict[str, Any]:
        props: dict[str, Any] = {}
        while True:
            token = self.peek()
            if token is None or not token.is_word(*allowed):
                break
            name = token.value.upper()
            if name in props:
                raise self.error(token)
            self.i += 1
            self.equals()
            if name == "VALUE_LIST":
                props[name] = self.string_list()
            elif name == "COMMENT":
                props[name] = self.string()
            else:
                props[name] = self.expect_word(*(RULE_TYPES if name == "TYPE" else RULE_MODES))
            if self.punct(","):
                following = self.peek()
                if following is None or not following.is_word(*allowed):
                    raise self.error()
        if at_least_one and not props:
            raise self.error()
        return props

    def unset_names(self, allowed: Sequence[str]) -> tuple[str, ...]:
        names = [self.expect_word(*allowed)]
        while self.punct(","):
            names.append(self.expect_word(*allowed))
        if len(set(names)) != len(names):
            raise self.error(self.tokens[self.i - 1])
        return tuple(names)

    # -- statements

    def parse(self) -> Command:
        token = self.peek()
        assert token is not None
        if self.word("CREATE"):
            return self.create()
        if self.word("ALTER"):
            return self.alter()
        if self.word("DROP"):
            self.expect_word("NETWORK")
            kind = self.expect_word("POLICY", "RULE")
            if_exists = self.words("IF", "EXISTS")
            if kind == "POLICY":
                name = self.ident()
                self.end()
                return DropPolicy(name, if_exists)
            ref = self.qualified()
            self.end()
            return DropRule(ref, if_exists)
        if self.word("DESC", "DESCRIBE"):
            self.expect_word("NETWORK")
            kind = self.expect_word("POLICY", "RULE")
            if kind == "POLICY":
                name = self.ident()
                self.end()
                return DescribePolicy(name)
            ref = self.qualified()
            self.end()
            return DescribeRule(ref)
        if self.word("SHOW"):
            return self.show()
        if self.word("SELECT"):
            return self.select()
        raise self.error(token)

    def create(self) -> Command:
        replace = or_alter = False
        if self.word("OR"):
            replace = self.expect_word("REPLACE", "ALTER") == "REPLACE"
            or_alter = not replace
        self.expect_word("NETWORK")
        kind = self.expect_word("POLICY", "RULE")
        if_not_exists = self.words("IF", "NOT", "EXISTS")
        if (replace or or_alter) and if_not_exists:
            raise self.error(self.tokens[self.i - 3])
        if kind == "POLICY":
            name = self.ident()
            props = self.policy_properties(at_least_one=False)
            self.end()
            return CreatePolicy(name, replace, if_not_exists, or_alter, props)
        if or_alter:
            raise unsupported("CREATE OR ALTER NETWORK RULE")
        ref = self.qualified()
        props = self.rule_properties(("TYPE", "VALUE_LIST", "MODE", "COMMENT"), at_least_one=False)
        self.end()
        for required in ("TYPE", "VALUE_LIST"):
            if required not in props:
                raise compilation_error("001003", "42000", f"missing required property {required}.")
        return CreateRule(ref, replace, if_not_exists, props)

    def alter(self) -> Command:
        if self.word("ACCOUNT"):
            return self.set_network_policy("account", "")
        if self.word("USER"):
            if_exists = self.words("IF", "EXISTS")
            user = self.ident()
            command = self.set_network_policy("user", user)
            return dataclasses.replace(command, if_exists=if_exists)
        self.expect_word("NETWORK")
        kind = self.expect_word("POLICY", "RULE")
        if_exists = self.words("IF", "EXISTS")
        if kind == "RULE":
            ref = self.qualified()
            if self.word("SET"):
                props = self.rule_properties(("VALUE_LIST", "COMMENT"), at_least_one=True)
                self.end()
                return AlterRule(ref, if_exists, props=props)
            self.expect_word("UNSET")
            names = self.unset_names(("VALUE_LIST", "COMMENT"))
            self.end()
            return AlterRule(ref, if_exists, unset=names)
        name = self.ident()
        action = self.expect_word("SET", "UNSET", "ADD", "REMOVE", "RENAME")
        if action == "SET":
            if self.next_is("TAG"):
                raise unsupported("ALTER NETWORK POLICY ... SET TAG")
            props = self.policy_properties(at_least_one=True)
            self.end()
            return AlterPolicy(name, if_exists, "set", props=props)
        if action == "UNSET":
            if self.next_is("TAG"):
                raise unsupported("ALTER NETWORK POLICY ... UNSET TAG")
            names = self.unset_names(POLICY_PROPERTIES)
            self.end()
            return AlterPolicy(name, if_exists, "unset", unset=names)
        if action == "RENAME":
            self.expect_word("TO")
            new_name = self.ident()
            self.end()
            return AlterPolicy(name, if_exists, "rename", new_name=new_name)
        # ADD / REMOVE: only rule lists; the value with or without parentheses.
        which = self.expect_word("ALLOWED_NETWORK_RULE_LIST", "BLOCKED_NETWORK_RULE_LIST")
        self.equals()
        token = self.peek()
        refs = self.rule_list() if token is not None and token.is_punct("(") else [self.rule_ref()]
        if not refs:
            raise self.error(self.tokens[self.i - 1])
        self.end()
        return AlterPolicy(name, if_exists, "add" if action == "ADD" else "remove", props={which: refs})

    def set_network_policy(self, target: Literal["account", "user"], user: str) -> SetNetworkPolicy:
        if self.word("UNSET"):
            self.expect_word("NETWORK_POLICY")
            self.end()
            return SetNetworkPolicy(target, user=user)
        self.expect_word("SET")
        self.expect_word("NETWORK_POLICY")
        self.equals()
        token = self.peek()
        policy = self.string() if token is not None and token.kind == "string" else self.ident()
        self.end()
        return SetNetworkPolicy(target, user=user, policy=policy)

    def show(self) -> Command:
        if self.word("PARAMETERS"):
            like = self.like()
            scope, target = "SESSION", ()
            if self.word("IN", "FOR"):
                scope = self.expect_word(
                    "SESSION", "ACCOUNT", "USER", "WAREHOUSE", "DATABASE", "SCHEMA", "TASK", "TABLE"
                )
                if scope not in ("SESSION", "ACCOUNT") and not self.at_end():
                    target = self.qualified()
            self.end()
            return ShowParameters(like, scope, target)
        self.expect_word("NETWORK")
        kind = self.expect_word("POLICIES", "RULES")
        like = self.like()
        if kind == "POLICIES":
            self.end()
            return ShowPolicies(like)
        scope: Literal["default", "account", "database", "schema"] = "default"
        scope_ref: RuleRef = ()
        if self.word("IN"):
            if self.word("ACCOUNT"):
                scope = "account"
            elif self.word("DATABASE"):
                scope = "database"
                if self.next_is_ident() and not self.next_is("STARTS", "LIMIT"):
                    scope_ref = self.qualified(1)
            else:
                self.word("SCHEMA")
                scope = "schema"
                if self.next_is_ident() and not self.next_is("STARTS", "LIMIT"):
                    scope_ref = self.qualified(2)
        starts_with = self.string() if self.words("STARTS", "WITH") else None
        limit = from_name = None
        if self.word("LIMIT"):
            limit = self.number()
            if self.word("FROM"):
                from_name = self.string()
        self.end()
        return ShowRules(like, scope, scope_ref, starts_with, limit, from_name)

    def select(self) -> Command:
        """Only a SELECT list of CURRENT_IP_ADDRESS() / CURRENT_USER() / CURRENT_ROLE(), each optionally aliased.

        fakesnow answers these functions with DuckDB's values ('duckdb'), so a query mixing them with anything
        else is refused as unsupported rather than answered wrongly.
        """
        try:
            return self._select_list()
        except SnowflakeSqlError:
            raise unsupported(
                "the sandbox answers CURRENT_IP_ADDRESS(), CURRENT_USER() and CURRENT_ROLE() only in a SELECT "
                "list of those functions"
            ) from None

    def _select_list(self) -> Command:
        items: list[tuple[str, str]] = []
        while True:
            token = self.peek()
            if token is None or not token.is_word(*CONTEXT_FUNCTIONS):
                raise self.error(token)
            self.i += 1
            self.expect_punct("(")
            self.expect_punct(")")
            function = token.value.upper()
            column = f"{function}()"
            if self.word("AS") or self.next_is_ident():
                column = self.ident()
            items.append((function, column))
            if not self.punct(","):
                break
        self.end()
        return SelectContext(tuple(items))


def _mentions_context_function(tokens: Sequence[SqlToken]) -> bool:
    return any(t.is_word(*CONTEXT_FUNCTIONS) for t in tokens)


def classify_statement(sql: str) -> tuple[list[SqlToken], bool]:
    """(tokens of the single statement, whether the account layer owns it). Raises SqlLexError.

    The layer owns what fakesnow cannot know: network policies and rules, SHOW PARAMETERS, NETWORK_POLICY on
    the account or a user, and SELECTs of CURRENT_IP_ADDRESS/USER/ROLE. Everything else passes through.
    """
    statements = split_statements(tokenize(sql))
    tokens = statements[0] if statements else []
    if len(tokens) < 2:
        return tokens, False
    first, second = tokens[0], tokens[1]
    if first.is_word("CREATE"):
        kind_at = 3 if second.is_word("OR") else 1  # CREATE [OR REPLACE | OR ALTER] NETWORK ...
        return tokens, len(tokens) > kind_at and tokens[kind_at].is_word("NETWORK")
    if first.is_word("ALTER", "DROP", "DESC", "DESCRIBE") and second.is_word("NETWORK"):
        return tokens, True
    if first.is_word("ALTER") and second.is_word("ACCOUNT", "USER"):
        return tokens, any(t.is_word("NETWORK_POLICY") for t in tokens)
    if first.is_word("SHOW") and second.is_word("NETWORK", "PARAMETERS"):
        return tokens, True
    if first.is_word("SELECT"):
        return tokens, _mentions_context_function(tokens)
    return tokens, False


def parse_statement(sql: str, tokens: Sequence[SqlToken]) -> Command:
    return _Parser(sql, tokens).parse()


# --------------------------------------------------------------------------------------------------------------
# Executing statements against the state


@dataclass(frozen=True)
class SessionContext:
    """Who sends a statement and where: the session's user, role, current database and schema."""

    user: str
    role: str
    database: str | None
    schema: str | None
    schema_exists: Callable[[str, str], bool] = lambda _db, _schema: True
    database_exists: Callable[[str], bool] = lambda _db: True


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (case-insensitive, % and _, backslash escapes) as a regex, as SHOW ... LIKE matches names."""
    out: list[str] = []
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _validate_ips(prop: str, values: Sequence[str]) -> None:
    for value in values:
        try:
            ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            raise invalid_value(f"Invalid IP address or CIDR '{value}' in {prop}.") from None


def _validate_rule(rule_type: str, mode: str, values: Sequence[str]) -> None:
    if rule_type in ("HOST_PORT", "PRIVATE_HOST_PORT") and mode != "EGRESS":
        raise invalid_value(f"Network rule of type {rule_type} requires MODE = EGRESS.")
    if rule_type in ("IPV4", "IPV6") and mode == "EGRESS":
        raise invalid_value(f"Network rule of type {rule_type} cannot use MODE = EGRESS.")
    if rule_type == "IPV4":
        _validate_ips("VALUE_LIST", values)
    if rule_type == "IPV6":
        for value in values:
            try:
                ipaddress.IPv6Network(value, strict=False)
            except ValueError:
                raise invalid_value(f"Invalid IPv6 address or CIDR '{value}' in VALUE_LIST.") from None


class AccountLayer:
    """Executes the parsed statements against an AccountState. Callers hold the sandbox's lock."""

    def __init__(self, state: AccountState, *, users: Iterable[str], client_ip: Callable[[], str]) -> None:
        self.state = state
        self.users = {u.upper() for u in users}
        self.client_ip = client_ip

    # -- helpers

    def _policy(self, name: str) -> PolicyRecord:
        policy = self.state.policies.get(name)
        if policy is None:
            raise not_found("Network policy", name)
        return policy

    def _resolve(self, ref: RuleRef, ctx: SessionContext, action: str) -> RuleKey:
        if len(ref) == 3:
            return (ref[0], ref[1], ref[2])
        if ctx.database is None:
            raise no_current("database", action)
        if len(ref) == 2:
            return (ctx.database, ref[0], ref[1])
        if ctx.schema is None:
            raise no_current("schema", action)
        return (ctx.database, ctx.schema, ref[0])

    def _policy_rules(self, refs: Sequence[RuleRef], ctx: SessionContext) -> list[RuleKey]:
        keys: list[RuleKey] = []
        for ref in refs:
            key = self._resolve(ref, ctx, "ALTER NETWORK POLICY")
            rule = self.state.rules.get(key)
            if rule is None:
                raise not_found("Network rule", rule_display(key))
            if rule.mode == "EGRESS":
                raise invalid_value(
                    f"Network rule '{rule_display(key)}' has MODE = EGRESS and cannot be used in a network policy."
                )
            if key not in keys:
                keys.append(key)
        return keys

    def _apply_policy_props(self, policy: PolicyRecord, props: Mapping[str, Any], ctx: SessionContext) -> None:
        """Validate everything first, then assign: a refused statement changes nothing."""
        updates: dict[str, Any] = {}
        for prop, value in props.items():
            if prop in ("ALLOWED_IP_LIST", "BLOCKED_IP_LIST"):
                _validate_ips(prop, value)
                updates[prop] = list(value)
            elif prop in ("ALLOWED_NETWORK_RULE_LIST", "BLOCKED_NETWORK_RULE_LIST"):
                updates[prop] = self._policy_rules(value, ctx)
            else:
                updates[prop] = value
        for prop, value in updates.items():
            attribute = {
                "ALLOWED_IP_LIST": "allowed_ips",
                "BLOCKED_IP_LIST": "blocked_ips",
                "ALLOWED_NETWORK_RULE_LIST": "allowed_rules",
                "BLOCKED_NETWORK_RULE_LIST": "blocked_rules",
                "COMMENT": "comment",
            }[prop]
            setattr(policy, attribute, value)

    # -- dispatch

    def execute(self, command: Command, ctx: SessionContext) -> tuple[Result, bool]:
        """(result, whether the state changed)."""
        handler = getattr(self, "_" + type(command).__name__)
        return handler(command, ctx)

    # -- policies

    def _CreatePolicy(self, c: CreatePolicy, ctx: SessionContext) -> tuple[Result, bool]:
        existing = self.state.policies.get(c.name)
        if existing is not None:
            if c.if_not_exists:
                return Result.status(f"{c.name} already exists, statement succeeded."), False
            if c.or_alter:
                fresh = PolicyRecord(name=c.name, created_on=existing.created_on, owner=existing.owner)
                self._apply_policy_props(fresh, c.props, ctx)
                self.state.policies[c.name] = fresh
                return Result.status(), True
            if not c.replace:
                raise already_exists(c.name)
            if self.state.policy_in_use(c.name):
                raise compilation_error(
                    "003531",
                    "23001",
                    f"Policy {c.name} cannot be dropped/replaced as it is associated with one or more entities.",
                )
        policy = PolicyRecord(name=c.name, created_on=time.time(), owner=ctx.role)
        self._apply_policy_props(policy, c.props, ctx)
        self.state.policies[c.name] = policy
        return Result.status(), True

    def _AlterPolicy(self, c: AlterPolicy, ctx: SessionContext) -> tuple[Result, bool]:
        if c.name not in self.state.policies and c.if_exists:
            return Result.status(), False
        policy = self._policy(c.name)
        if c.action == "set":
            self._apply_policy_props(policy, c.props, ctx)
        elif c.action == "unset":
            for prop in c.unset:
                if prop == "ALLOWED_IP_LIST":
                    policy.allowed_ips = None
                elif prop == "BLOCKED_IP_LIST":
                    policy.blocked_ips = None
                elif prop == "ALLOWED_NETWORK_RULE_LIST":
                    policy.allowed_rules = []
                elif prop == "BLOCKED_NETWORK_RULE_LIST":
                    policy.blocked_rules = []
                else:
                    policy.comment = ""
        elif c.action == "rename":
            if c.new_name in self.state.policies:
                raise already_exists(c.new_name)
            del self.state.policies[c.name]
            policy.name = c.new_name
            self.state.policies[c.new_name] = policy
            if self.state.account_policy == c.name:
                self.state.account_policy = c.new_name
            for user, name in list(self.state.user_policies.items()):
                if name == c.name:
                    self.state.user_policies[user] = c.new_name
        else:
            ((which, refs),) = c.props.items()
            keys = self._policy_rules(refs, ctx)
            current = policy.allowed_rules if which.startswith("ALLOWED") else policy.blocked_rules
            for key in keys:
                if c.action == "add" and key not in current:
                    current.append(key)
                elif c.action == "remove" and key in current:
                    current.remove(key)
        return Result.status(), True

    def _DropPolicy(self, c: DropPolicy, ctx: SessionContext) -> tuple[Result, bool]:
        if c.name not in self.state.policies:
            if c.if_exists:
                return Result.status(f"Drop statement executed successfully ({c.name} already dropped)."), False
            raise not_found("Network policy", c.name)
        if self.state.policy_in_use(c.name):
            raise compilation_error(
                "003531",
                "23001",
                f"Policy {c.name} cannot be dropped/replaced as it is associated with one or more entities.",
            )
        del self.state.policies[c.name]
        return Result.status(f"{c.name} successfully dropped."), True

    def _DescribePolicy(self, c: DescribePolicy, ctx: SessionContext) -> tuple[Result, bool]:
        policy = self._policy(c.name)
        rows: list[tuple[str, str]] = []
        if policy.allowed_ips:
            rows.append(("ALLOWED_IP_LIST", ",".join(policy.allowed_ips)))
        if policy.blocked_ips:
            rows.append(("BLOCKED_IP_LIST", ",".join(policy.blocked_ips)))
        for prop, keys in (
            ("ALLOWED_NETWORK_RULE_LIST", policy.allowed_rules),
            ("BLOCKED_NETWORK_RULE_LIST", policy.blocked_rules),
        ):
            if keys:
                value = [{"fullyQualifiedRuleName": rule_display(k)} for k in keys]
                rows.append((prop, json.dumps(value, separators=(",", ":"))))
        return Result((("name", "text"), ("value", "text")), tuple(rows), STATEMENT_DESCRIBE), False

    def _ShowPolicies(self, c: ShowPolicies, ctx: SessionContext) -> tuple[Result, bool]:
        pattern = like_regex(c.like) if c.like is not None else None
        rows = [
            (
                p.created_on,
                p.name,
                p.comment,
                len(p.allowed_ips or []),
                len(p.blocked_ips or []),
                len(p.allowed_rules),
                len(p.blocked_rules),
            )
            for p in sorted(self.state.policies.values(), key=lambda p: p.name)
            if pattern is None or pattern.fullmatch(p.name)
        ]
        columns: tuple[tuple[str, ColumnKind], ...] = (
            ("created_on", "timestamp_ltz"),
            ("name", "text"),
            ("comment", "text"),
            ("entries_in_allowed_ip_list", "fixed"),
            ("entries_in_blocked_ip_list", "fixed"),
            ("entries_in_allowed_network_rules", "fixed"),
            ("entries_in_blocked_network_rules", "fixed"),
        )
        return Result(columns, tuple(rows), STATEMENT_SHOW), False

    # -- rules

    def _CreateRule(self, c: CreateRule, ctx: SessionContext) -> tuple[Result, bool]:
        key = self._resolve(c.ref, ctx, "CREATE NETWORK RULE")
        if not ctx.schema_exists(key[0], key[1]):
            if not ctx.database_exists(key[0]):
                raise not_found("Database", render_identifier(key[0]))
            raise not_found("Schema", f"{render_identifier(key[0])}.{render_identifier(key[1])}")
        existing = self.state.rules.get(key)
        if existing is not None:
            if c.if_not_exists:
                return Result.status(f"{key[2]} already exists, statement succeeded."), False
            if not c.replace:
                raise already_exists(key[2])
        rule_type = c.props["TYPE"]
        mode = c.props.get("MODE", "INGRESS")
        values = list(c.props["VALUE_LIST"])
        _validate_rule(rule_type, mode, values)
        if existing is not None and mode == "EGRESS" and self.state.policies_using_rule(key):
            raise invalid_value(f"Network rule '{rule_display(key)}' is used by a network policy and cannot be EGRESS.")
        self.state.rules[key] = RuleRecord(
            database=key[0],
            schema=key[1],
            name=key[2],
            type=rule_type,
            mode=mode,
            created_on=time.time(),
            owner=ctx.role,
            values=values,
            comment=c.props.get("COMMENT", ""),
        )
        return Result.status(), True

    def _rule(self, ref: RuleRef, ctx: SessionContext, action: str) -> tuple[RuleKey, RuleRecord | None]:
        key = self._resolve(ref, ctx, action)
        return key, self.state.rules.get(key)

    def _AlterRule(self, c: AlterRule, ctx: SessionContext) -> tuple[Result, bool]:
        key, rule = self._rule(c.ref, ctx, "ALTER NETWORK RULE")
        if rule is None:
            if c.if_exists:
                return Result.status(), False
            raise not_found("Network rule", rule_display(key))
        if "VALUE_LIST" in c.props:
            _validate_rule(rule.type, rule.mode, c.props["VALUE_LIST"])
            rule.values = list(c.props["VALUE_LIST"])
        if "COMMENT" in c.props:
            rule.comment = c.props["COMMENT"]
        for prop in c.unset:
            if prop == "VALUE_LIST":
                rule.values = []
            else:
                rule.comment = ""
        return Result.status(), True

    def _DropRule(self, c: DropRule, ctx: SessionContext) -> tuple[Result, bool]:
        key, rule = self._rule(c.ref, ctx, "DROP NETWORK RULE")
        if rule is None:
            if c.if_exists:
                return Result.status(f"Drop statement executed successfully ({key[2]} already dropped)."), False
            raise not_found("Network rule", rule_display(key))
        users = self.state.policies_using_rule(key)
        if users:
            raise compilation_error(
                "003531",
                "23001",
                f"Network rule {rule_display(key)} cannot be dropped as it is used by network policy {users[0]}.",
            )
        del self.state.rules[key]
        return Result.status(f"{key[2]} successfully dropped."), True

    def _DescribeRule(self, c: DescribeRule, ctx: SessionContext) -> tuple[Result, bool]:
        key, rule = self._rule(c.ref, ctx, "DESCRIBE NETWORK RULE")
        if rule is None:
            raise not_found("Network rule", rule_display(key))
        columns: tuple[tuple[str, ColumnKind], ...] = (
            ("created_on", "timestamp_ltz"),
            ("name", "text"),
            ("database_name", "text"),
            ("schema_name", "text"),
            ("owner", "text"),
            ("comment", "text"),
            ("type", "text"),
            ("mode", "text"),
            ("value_list", "text"),
        )
        row = (
            rule.created_on,
            rule.name,
            rule.database,
            rule.schema,
            rule.owner,
            rule.comment,
            rule.type,
            rule.mode,
            ",".join(rule.values),
        )
        return Result(columns, (row,), STATEMENT_DESCRIBE), False

    def _ShowRules(self, c: ShowRules, ctx: SessionContext) -> tuple[Result, bool]:
        scope = c.scope
        if scope == "default":
            scope = "database" if ctx.database else "account"
        database = schema = None
        if scope == "database":
            database = c.scope_ref[0] if c.scope_ref else ctx.database
            if database is None:
                raise no_current("database", "SHOW NETWORK RULES")
            if not ctx.database_exists(database):
                raise not_found("Database", render_identifier(database))
        elif scope == "schema":
            if len(c.scope_ref) == 2:
                database, schema = c.scope_ref
            elif len(c.scope_ref) == 1:
                database, schema = ctx.database, c.scope_ref[0]
            else:
                database, schema = ctx.database, ctx.schema
            if database is None or schema is None:
                raise no_current("schema", "SHOW NETWORK RULES")
            if not ctx.schema_exists(database, schema):
                raise not_found("Schema", f"{render_identifier(database)}.{render_identifier(schema)}")
        pattern = like_regex(c.like) if c.like is not None else None
        rules = sorted(self.state.rules.values(), key=lambda r: (r.name, r.database, r.schema))
        selected = [
            r
            for r in rules
            if (database is None or r.database == database)
            and (schema is None or r.schema == schema)
            and (pattern is None or pattern.fullmatch(r.name))
            and (c.starts_with is None or r.name.startswith(c.starts_with))
            and (c.from_name is None or r.name > c.from_name)
        ]
        if c.limit is not None:
            selected = selected[: c.limit]
        columns: tuple[tuple[str, ColumnKind], ...] = (
            ("created_on", "timestamp_ltz"),
            ("name", "text"),
            ("database_name", "text"),
            ("schema_name", "text"),
            ("owner", "text"),
            ("comment", "text"),
            ("type", "text"),
            ("mode", "text"),
            ("entries_in_valuelist", "fixed"),
            ("owner_role_type", "text"),
        )
        rows = tuple(
            (r.created_on, r.name, r.database, r.schema, r.owner, r.comment, r.type, r.mode, len(r.values), "ROLE")
            for r in selected
        )
        return Result(columns, rows, STATEMENT_SHOW), False

    # -- parameters

    def _user(self, name: str) -> str:
        if name.upper() not in self.users:
            raise not_found("User", name)
        return name.upper()

    def _ShowParameters(self, c: ShowParameters, ctx: SessionContext) -> tuple[Result, bool]:
        columns: tuple[tuple[str, ColumnKind], ...] = (
            ("key", "text"),
            ("value", "text"),
            ("default", "text"),
            ("level", "text"),
            ("description", "text"),
            ("type", "text"),
        )
        rows: list[tuple[str, ...]] = []
        description = "Network policy assigned for the given target."
        matches = c.like is None or like_regex(c.like).fullmatch("NETWORK_POLICY")
        if c.scope == "ACCOUNT" and matches:
            value = self.state.account_policy
            rows.append(("NETWORK_POLICY", value, "", "ACCOUNT" if value else "", description, "STRING"))
        elif c.scope == "USER":
            user = self._user(c.target[-1] if c.target else ctx.user)
            if matches:
                value = self.state.user_policies.get(user, "")
                rows.append(("NETWORK_POLICY", value, "", "USER" if value else "", description, "STRING"))
        return Result(columns, tuple(rows), STATEMENT_SHOW), False

    def _SetNetworkPolicy(self, c: SetNetworkPolicy, ctx: SessionContext) -> tuple[Result, bool]:
        user = ""
        if c.target == "user":
            if c.user.upper() not in self.users and c.if_exists:
                return Result.status(), False
            user = self._user(c.user)
        if c.policy is None:
            if c.target == "account":
                self.state.account_policy = ""
            else:
                self.state.user_policies.pop(user, None)
            return Result.status(), True
        policy = self._policy(c.policy)
        # Snowflake refuses to activate a policy that would lock out the address the statement comes from.
        if (c.target == "account" or user == ctx.user.upper()) and not policy_allows(
            self.state, policy, self.client_ip()
        ):
            raise SnowflakeSqlError(
                "002043",
                "42000",
                f"Network policy {policy.name} cannot be activated. Requestor IP address/Token, {self.client_ip()}, "
                "must be included in the allowed_ip_list or allowed network rules. To add the specific IP, execute "
                f"command \"ALTER NETWORK POLICY {policy.name} SET ALLOWED_IP_LIST=('{self.client_ip()}');\". "
                "Similarly, a CIDR block of IP addresses can be added instead of the specific IP address.",
            )
        if c.target == "account":
            self.state.account_policy = policy.name
        else:
            self.state.user_policies[user] = policy.name
        return Result.status(), True

    # -- context functions

    def _SelectContext(self, c: SelectContext, ctx: SessionContext) -> tuple[Result, bool]:
        values = {"CURRENT_IP_ADDRESS": self.client_ip(), "CURRENT_USER": ctx.user, "CURRENT_ROLE": ctx.role}
        columns = tuple((column, "text") for _, column in c.items)
        row = tuple(values[function] for function, _ in c.items)
        return Result(columns, (row,), STATEMENT_SELECT), False  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True)
class StatementRecord:
    """One statement the server received: when, from whom, what, and who answered it."""

    at: datetime
    user: str
    sql: str
    handled_by: Literal["layer", "passthrough"]
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "user": self.user,
            "sql": self.sql,
            "handled_by": self.handled_by,
            "error_code": self.error_code,
        }


@dataclass
class _Session:
    user: str
    role: str


class SandboxStateError(Exception):
    """The persisted state file cannot be read; the message names the file."""


def _write_private(path: Path, text: str) -> None:
    """Write atomically (temp file + rename in the same folder) with mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class SnowflakeSandbox:
    """fakesnow's server with the account layer, served by uvicorn on a loopback port in a background thread.

    fakesnow keeps its sessions and DuckDB database in module globals, so every sandbox in one process shares
    the passthrough data (tables); the account state (policies, rules, parameters) is per sandbox.
    """

    def __init__(
        self,
        state_dir: Path,
        client_ip: str = "203.0.113.10",
        user: str = "CHRIS",
        role: str = "ACCOUNTADMIN",
        *,
        password: str = DEFAULT_PASSWORD,
        account: str = DEFAULT_ACCOUNT,
        host: str = "127.0.0.1",
        port: int = 0,
        max_statements: int = 10_000,
    ) -> None:
        ipaddress.ip_address(client_ip)  # fail early on a typo
        self.state_dir = Path(state_dir)
        self.user = user.upper()
        self.role = role.upper()
        self.password = password
        self.account = account
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._initial_client_ip = client_ip
        self._client_ip = client_ip
        self._lock = threading.RLock()
        self._statements: deque[StatementRecord] = deque(maxlen=max_statements)
        self._sessions: dict[str, _Session] = {}
        self._masters: dict[str, str] = {}  # master token → the session token it renews
        # Session faults (issue 6): only this layer knows sessions, so it answers them, as Snowflake would.
        self._fault = FaultSwitch(SNOWFLAKE_SESSION_KINDS)
        self._expiring: set[str] = set()  # session tokens that answer 390112 once (session-expired)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.state = self._load()
        self._layer = AccountLayer(self.state, users=[self.user], client_ip=lambda: self._client_ip)

    # -- persistence

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def _load(self) -> AccountState:
        if not self.state_file.exists():
            return AccountState()
        try:
            return AccountState.from_json(json.loads(self.state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SandboxStateError(f"cannot read the sandbox state {self.state_file}: {exc}") from None

    def _save(self) -> None:
        _write_private(self.state_file, json.dumps(self.state.to_json(), indent=2, sort_keys=True) + "\n")

    # -- public controls

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client_ip(self) -> str:
        return self._client_ip

    def set_client_ip(self, ip: str) -> None:
        """The address the server pretends the client connects from (CURRENT_IP_ADDRESS, login checks)."""
        ipaddress.ip_address(ip)
        with self._lock:
            self._client_ip = ip

    def statements(self) -> list[StatementRecord]:
        with self._lock:
            return list(self._statements)

    def clear_statements(self) -> None:
        with self._lock:
            self._statements.clear()

    def reset(self) -> None:
        """An empty account (no policies, rules or parameters), the initial client IP, an empty log."""
        with self._lock:
            self.state = AccountState()
            self._layer.state = self.state
            self._client_ip = self._initial_client_ip
            self._statements.clear()
            self._save()

    def expire_sessions(self) -> None:
        """Forget every session, as Snowflake does when tokens expire: the next statement gets 390114."""
        import fakesnow.server as fakesnow_server

        with self._lock:
            for token in list(self._sessions):
                fakesnow_server.sessions.pop(token, None)
            self._sessions.clear()
            self._masters.clear()
            self._expiring.clear()

    # -- session faults (see sandbox/faults.py for the transport ones)

    def set_fault(self, kind: str, count: int | None = None) -> ActiveFault:
        """Fail sessions the way Snowflake does.

        `session-expired`: every open session's token has expired (Snowflake: after an hour); its next request
        gets 390112 once and the connector renews the token with its master token (/session/token-request).
        `token-expired`: the master tokens have expired too (after four idle hours): every session is gone and
        answers 390114; the client must log in again. `login-refused`: logins get 390422 (`count` of them, or
        until cleared).
        """
        active = self._fault.set(kind, count)
        with self._lock:
            self._expiring = set(self._sessions) if kind == "session-expired" else set()
        if kind == "token-expired":
            self.expire_sessions()
        return active

    def clear_fault(self) -> None:
        with self._lock:
            self._expiring.clear()
        self._fault.clear()

    def fault_status(self) -> dict[str, Any]:
        return self._fault.status()

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Arguments for `snowflake.connector.connect` that reach this sandbox as its user."""
        kwargs: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "role": self.role,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "login_timeout": 5,
            "network_timeout": 5,
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
        kwargs.update(overrides)
        return kwargs

    def write_connections_toml(self, path: Path, connection_name: str = "goodword", **overrides: Any) -> Path:
        return write_connections_toml(path, connection_name, **self.connect_kwargs(**overrides))

    # -- lifecycle

    def start(self) -> None:
        import uvicorn

        if self._thread is not None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ensure_schemas()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this; without it every response waits ~40 ms for a delayed ACK (Nagle),
        # because uvicorn does not set TCP_NODELAY on sockets it is handed.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self._port or self._requested_port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="snowflake-sandbox", daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the Snowflake sandbox did not start on {self.host}:{self._port}")
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None
        self.expire_sessions()

    def __enter__(self) -> SnowflakeSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ensure_schemas(self) -> None:
        """The databases and schemas the persisted rules live in, so a restarted sandbox is consistent."""
        import fakesnow.server as fakesnow_server

        for database, schema in {(r.database, r.schema) for r in self.state.rules.values()}:
            fakesnow_server.shared_fs.connect(database, schema).close()  # connecting creates both

    # -- the app

    def app(self) -> Starlette:
        import fakesnow.server as fakesnow_server
        from starlette.applications import Starlette
        from starlette.routing import Route

        logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
        ours = {"/session/v1/login-request", "/queries/v1/query-request", "/session", "/session/token-request"}
        routes = [
            Route("/session/v1/login-request", self._login, methods=["POST"]),
            Route("/queries/v1/query-request", self._query, methods=["POST"]),
            Route("/session", self._session, methods=["POST"]),
            Route("/session/token-request", self._token_request, methods=["POST"]),
            *(r for r in fakesnow_server.routes if getattr(r, "path", None) not in ours),
            Route("/", self._home, methods=["GET", "HEAD"]),
            Route("/sandbox/health", self._admin_health, methods=["GET"]),
            Route("/sandbox/client-ip", self._admin_client_ip, methods=["GET", "POST"]),
            Route("/sandbox/statements", self._admin_statements, methods=["GET", "DELETE"]),
            Route("/sandbox/reset", self._admin_reset, methods=["POST"]),
            Route("/sandbox/expire-sessions", self._admin_expire, methods=["POST"]),
            Route("/sandbox/state", self._admin_state, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    @staticmethod
    async def _json_body(request: Request) -> dict[str, Any]:
        body = await request.body()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        return data

    def _refused(self, code: str, message: str) -> Response:
        from starlette.responses import JSONResponse

        return JSONResponse({"data": None, "code": code, "message": message, "success": False})

    async def _login(self, request: Request) -> Response:
        import fakesnow.server as fakesnow_server
        from starlette.responses import JSONResponse

        try:
            data = (await self._json_body(request)).get("data") or {}
        except (ValueError, OSError):
            return JSONResponse({"data": None, "code": "390400", "message": "Bad request.", "success": False})
        login_name = str(data.get("LOGIN_NAME") or "").upper()
        if login_name != self.user or data.get("PASSWORD") != self.password:
            return self._refused("390100", "Incorrect username or password was specified.")
        role = str(request.query_params.get("roleName") or self.role).upper()
        with self._lock:
            ip = self._client_ip
            name = self.state.user_policies.get(login_name) or self.state.account_policy
            policy = self.state.policies.get(name) if name else None
            allowed = policy is None or policy_allows(self.state, policy, ip)
        if self._fault.take(("login-refused",)) is not None:
            allowed = False
        if not allowed:
            return self._refused(
                "390422",
                f"Incoming request with IP/Token {ip} is not allowed to access Snowflake. "
                "Contact your account administrator.",
            )
        response = await fakesnow_server.login_request(request)
        answer = json.loads(bytes(response.body))
        token = answer["data"]["token"]
        # Snowflake also hands out a master token (valid 4 h) that renews the session token (valid 1 h).
        master = "master-" + uuid.uuid4().hex
        answer["data"].update({"masterToken": master, "validityInSeconds": 3600, "masterValidityInSeconds": 14400})
        with self._lock:
            self._sessions[token] = _Session(user=login_name, role=role)
            self._masters[master] = token
        return JSONResponse(answer)

    async def _token_request(self, request: Request) -> Response:
        """Renew a session token with the master token (the connector does this on 390112), as Snowflake does."""
        import fakesnow.server as fakesnow_server
        from starlette.responses import JSONResponse

        master = (request.headers.get("Authorization") or "")[17:-1]
        try:
            old = str((await self._json_body(request)).get("oldSessionToken") or "")
        except (ValueError, OSError):
            old = ""
        with self._lock:
            session = self._sessions.pop(old, None) if self._masters.get(master) == old else None
            conn = fakesnow_server.sessions.pop(old, None) if session is not None else None
            if session is None or conn is None:
                return self._refused("390114", "Authentication token has expired.  The user must authenticate again.")
            new = uuid.uuid4().hex + uuid.uuid4().hex
            self._sessions[new] = session
            fakesnow_server.sessions[new] = conn
            self._masters[master] = new
            self._expiring.discard(old)
        return JSONResponse(
            {
                "data": {
                    "sessionToken": new,
                    "validityInSecondsST": 3600,
                    "masterToken": master,
                    "validityInSecondsMT": 14400,
                },
                "code": None,
                "message": None,
                "success": True,
            }
        )

    async def _session(self, request: Request) -> Response:
        """Close a session; one the sandbox already forgot closes quietly, as Snowflake's does."""
        import fakesnow.server as fakesnow_server
        from starlette.responses import JSONResponse

        auth = request.headers.get("Authorization") or ""
        token = auth[17:-1]
        with self._lock:
            known = self._sessions.get(token) is not None and token in fakesnow_server.sessions
            if request.query_params.get("delete"):
                self._sessions.pop(token, None)
                self._masters = {m: t for m, t in self._masters.items() if t != token}
        if not known:
            return JSONResponse({"data": None, "code": None, "message": None, "success": True})
        return await fakesnow_server.session(request)

    def _record(self, user: str, sql: str, handled_by: Literal["layer", "passthrough"], code: str | None) -> None:
        with self._lock:
            self._statements.append(StatementRecord(datetime.now(UTC), user, sql, handled_by, code))

    async def _query(self, request: Request) -> Response:
        import fakesnow.server as fakesnow_server
        from starlette.responses import JSONResponse

        auth = request.headers.get("Authorization")
        if not auth:
            return await fakesnow_server.query_request(request)  # its 401 / 390101
        token = auth[17:-1]
        try:
            body = await self._json_body(request)
            sql = str(body["sqlText"])
        except (ValueError, KeyError, OSError):
            return JSONResponse(error_json(SnowflakeSqlError("000900", "42601", "Bad request: no sqlText.")))
        with self._lock:
            session = self._sessions.get(token)
            conn = fakesnow_server.sessions.get(token)
            expired = token in self._expiring and self._fault.take(("session-expired",)) is not None
            self._expiring.discard(token)
        if expired:
            self._record(session.user if session else "", sql, "layer", "390112")
            return self._refused("390112", "Your session has expired. Please login again.")
        if session is None or conn is None:
            self._record("", sql, "layer", "390114")
            return JSONResponse(
                {
                    "data": {"errorCode": "390114", "sqlState": "08001"},
                    "code": "390114",
                    "message": "Authentication token has expired.  The user must authenticate again.",
                    "success": False,
                }
            )

        try:
            tokens, owned = classify_statement(sql)
            statements = len(split_statements(tokenize(sql)))
        except SqlLexError as exc:
            # Snowflake refuses text it cannot even tokenize; fakesnow would crash on it (HTTP 500).
            error = syntax_error(sql, SqlToken("punct", sql[exc.pos : exc.pos + 1], exc.pos, exc.pos + 1))
            self._record(session.user, sql, "layer", error.code)
            return JSONResponse(error_json(error))
        wanted = (body.get("parameters") or {}).get("MULTI_STATEMENT_COUNT", 1)
        if statements > 1 and str(wanted) == "1":
            error = SnowflakeSqlError(
                "000008", "0A000", f"Actual statement count {statements} did not match the desired statement count 1."
            )
            self._record(session.user, sql, "layer", error.code)
            return JSONResponse(error_json(error))

        if not owned:
            response = await fakesnow_server.query_request(request)
            code = None
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                answer = json.loads(bytes(response.body))
                code = None if answer.get("success") else str(answer.get("code"))
                if answer.get("success") and _dml_as_json(answer):
                    response = JSONResponse(answer)
            self._record(session.user, sql, "passthrough", code)
            return response

        ctx = SessionContext(
            user=session.user,
            role=session.role,
            database=conn.database,
            schema=conn.schema,
            schema_exists=lambda db, sch: _schema_exists(conn, db, sch),
            database_exists=lambda db: _schema_exists(conn, db, None),
        )
        try:
            command = parse_statement(sql, tokens)
            with self._lock:
                result, changed = self._layer.execute(command, ctx)
                if changed:
                    self._save()
        except SnowflakeSqlError as error:
            self._record(session.user, sql, "layer", error.code)
            return JSONResponse(error_json(error))
        self._record(session.user, sql, "layer", None)
        return JSONResponse(result_json(result, database=conn.database, schema=conn.schema))

    # -- admin endpoints (loopback only; for scenarios and tests in other processes)

    async def _home(self, request: Request) -> Response:
        """The account URL answers a browser with a redirect to the login page, as the real host does (302)."""
        from starlette.responses import RedirectResponse

        return RedirectResponse("/console/login", status_code=302)

    async def _admin_health(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        return JSONResponse({"ok": True, "client_ip": self._client_ip})

    async def _admin_client_ip(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        if request.method == "POST":
            try:
                self.set_client_ip(str((await self._json_body(request))["ip"]))
            except (ValueError, KeyError, OSError):
                return JSONResponse({"error": 'expected {"ip": "<IPv4 or IPv6 address>"}'}, status_code=400)
        return JSONResponse({"client_ip": self._client_ip})

    async def _admin_statements(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        if request.method == "DELETE":
            self.clear_statements()
        return JSONResponse({"statements": [s.to_json() for s in self.statements()]})

    async def _admin_reset(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        self.reset()
        return JSONResponse({"ok": True})

    async def _admin_expire(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        self.expire_sessions()
        return JSONResponse({"ok": True})

    async def _admin_state(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        with self._lock:
            return JSONResponse(self.state.to_json())


DML_STATEMENT_TYPES = {"inserted": 0x3100, "updated": 0x3200, "deleted": 0x3300}


def _dml_as_json(answer: dict[str, Any]) -> bool:
    """Rewrite fakesnow 0.11.10's DML answer the way Snowflake sends it; True when rewritten.

    fakesnow sends INSERT/UPDATE/DELETE counts as an Arrow batch of one row with `total` = rows affected and
    no statementTypeId; connector 4.8 checks `total` against the rows in the batch and fails with 252013
    ("Incomplete result"). Snowflake sends a JSON rowset, total 1 and a DML statementTypeId, from which the
    connector takes `rowcount`.
    """
    data = answer.get("data") or {}
    names = [str(c.get("name", "")) for c in data.get("rowtype") or []]
    encoded = data.get("rowsetBase64")
    if not names or not encoded or not all(n.startswith("number of ") for n in names):
        return False
    import base64

    import pyarrow.ipc

    table = pyarrow.ipc.open_stream(base64.b64decode(encoded)).read_all()
    rows = [[None if v is None else str(v) for v in row.values()] for row in table.to_pylist()]
    kinds = [kind for kind in DML_STATEMENT_TYPES if any(kind in n for n in names)]
    data.update(
        {
            "rowset": rows,
            "rowsetBase64": None,
            "total": len(rows),
            "queryResultFormat": "json",
            "statementTypeId": 0x3400 if len(kinds) > 1 else DML_STATEMENT_TYPES[kinds[0]] if kinds else 0x3000,
        }
    )
    return True


def _schema_exists(conn: Any, database: str, schema: str | None) -> bool:
    """Whether fakesnow (DuckDB) has the database, or the schema in it (names as fakesnow stores them)."""
    cursor = conn._duck_conn.cursor()
    try:
        if schema is None:
            query = "select 1 from information_schema.schemata where upper(catalog_name) = ?"
            found = cursor.execute(query, [database.upper()]).fetchone()
        else:
            query = "select 1 from information_schema.schemata where upper(catalog_name) = ? and upper(schema_name) = ?"
            found = cursor.execute(query, [database.upper(), schema.upper()]).fetchone()
        return found is not None
    finally:
        cursor.close()


# --------------------------------------------------------------------------------------------------------------
# Helpers for scenarios


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def write_connections_toml(path: Path, connection_name: str = "goodword", **params: Any) -> Path:
    """A connector connections.toml with one named connection, mode 0600 (the connector refuses looser files)."""
    lines = [f"[{_toml_key(connection_name)}]"]
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in params.items() if v is not None]
    _write_private(Path(path), "\n".join(lines) + "\n")
    return Path(path)


def seed_handoff(conn: Any, allowed: Sequence[str] = HANDOFF_ALLOWED_IPS) -> None:
    """Create the hand-off's Snowflake state through SQL sent by the real connector.

    The rules GOODWORD_WH.RAW.ANY (0.0.0.0/0 — the sandbox's assumption: a rule named ANY admits every address,
    which the hand-off missed) and AIRBYTE_DB.RAW.AIRBYTE (the 9 Airbyte addresses), the policy INTEGRATIONS
    with the 15 allowed entries in the hand-off's order and both rules, active on the account.
    """

    def quoted(values: Iterable[str]) -> str:
        return ", ".join("'" + v.replace("'", "''") + "'" for v in values)

    statements = [
        "CREATE DATABASE IF NOT EXISTS GOODWORD_WH",
        "CREATE SCHEMA IF NOT EXISTS GOODWORD_WH.RAW",
        "CREATE DATABASE IF NOT EXISTS AIRBYTE_DB",
        "CREATE SCHEMA IF NOT EXISTS AIRBYTE_DB.RAW",
        "ALTER ACCOUNT UNSET NETWORK_POLICY",
        "DROP NETWORK POLICY IF EXISTS INTEGRATIONS",
        "CREATE OR REPLACE NETWORK RULE GOODWORD_WH.RAW.ANY TYPE = IPV4 MODE = INGRESS VALUE_LIST = ('0.0.0.0/0')",
        f"CREATE OR REPLACE NETWORK RULE AIRBYTE_DB.RAW.AIRBYTE TYPE = IPV4 MODE = INGRESS "
        f"VALUE_LIST = ({quoted(AIRBYTE_IPS)})",
        f"CREATE NETWORK POLICY INTEGRATIONS ALLOWED_IP_LIST = ({quoted(allowed)}) "
        "ALLOWED_NETWORK_RULE_LIST = ('GOODWORD_WH.RAW.ANY', 'AIRBYTE_DB.RAW.AIRBYTE')",
        "ALTER ACCOUNT SET NETWORK_POLICY = INTEGRATIONS",
    ]
    cursor = conn.cursor()
    try:
        for statement in statements:
            cursor.execute(statement)
    finally:
        cursor.close()
