"""Snowflake: the single gateway every statement goes through, and the read source built on it.

`SnowflakeGateway` is the only code that talks to Snowflake. It opens the sync connector with the connector's
own named connection (`connections.toml`), so credentials never pass through our config. In read-only mode it
refuses, before anything is sent, every statement that is not SELECT / SHOW / DESC[RIBE]: that is where audit
mode is enforced, not in the UI.

`fetch_snowflake` reads who we are (CURRENT_IP_ADDRESS / USER / ROLE), which policy is active on the account
and on the user, the configured policy (DESC NETWORK POLICY) and its rules (DESC NETWORK RULE), parsing the
result shapes real Snowflake returns. It never raises: failures become a `SourceError` with a kind and a hint.

The SQL lexer here (`tokenize`, `split_statements`) follows Snowflake's lexical rules (quoted identifiers,
'' and backslash escapes, $$ strings, --, // and /* */ comments); the sandbox's account layer reuses it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import math
import re
import socket
import threading
import time
import tomllib
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goodword_tui.config import Settings
from goodword_tui.model import (
    ErrorKind,
    NetworkPolicy,
    NetworkRule,
    SnowflakeState,
    SourceError,
    SourceResult,
)

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

SOURCE = "snowflake"

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------------------
# Lexing


class SqlLexError(ValueError):
    """Text that is not lexically valid Snowflake SQL (an unterminated string, identifier or comment)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass(frozen=True)
class SqlToken:
    """One lexical token. `value` is the decoded text (string contents, quoted identifier contents)."""

    kind: str  # "ident" (bare word), "qident" ("quoted"), "string", "number", "punct"
    value: str
    pos: int  # offset of the token's first character in the statement text
    end: int

    def is_word(self, *words: str) -> bool:
        """A bare word equal (case-insensitively) to one of `words`; quoted identifiers never are keywords."""
        return self.kind == "ident" and self.value.upper() in words

    def is_punct(self, *chars: str) -> bool:
        return self.kind == "punct" and self.value in chars


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "0": "\0", "'": "'", '"': '"', "\\": "\\"}
_MULTI_PUNCT = ("::", "||", "<=", ">=", "<>", "!=", "=>", "->")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _read_string(sql: str, start: int) -> tuple[str, int]:
    """A '...' literal from `start` (the opening quote): '' and backslash escapes, as Snowflake reads them."""
    out: list[str] = []
    i = start + 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = sql[i + 1]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", sql[i + 2 : i + 4]):
                out.append(chr(int(sql[i + 2 : i + 4], 16)))
                i += 4
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", sql[i + 2 : i + 6]):
                out.append(chr(int(sql[i + 2 : i + 6], 16)))
                i += 6
            else:
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
            continue
        if ch == "'":
            if i + 1 < n and sql[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SqlLexError("unterminated string literal", start)


def tokenize(sql: str) -> list[SqlToken]:
    """Snowflake SQL text to tokens, comments and whitespace dropped. Raises SqlLexError on broken text."""
    tokens: list[SqlToken] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith(("--", "//"), i):
            newline = sql.find("\n", i)
            i = n if newline == -1 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            if close == -1:
                raise SqlLexError("unterminated /* comment", i)
            i = close + 2
        elif ch == "'":
            value, end = _read_string(sql, i)
            tokens.append(SqlToken("string", value, i, end))
            i = end
        elif sql.startswith("$$", i):
            close = sql.find("$$", i + 2)
            if close == -1:
                raise SqlLexError("unterminated $$ string", i)
            tokens.append(SqlToken("string", sql[i + 2 : close], i, close + 2))
            i = close + 2
        elif ch == '"':
            j = i + 1
            parts: list[str] = []
            while True:
                close = sql.find('"', j)
                if close == -1:
                    raise SqlLexError("unterminated quoted identifier", i)
                parts.append(sql[j:close])
                if sql.startswith('""', close):
                    parts.append('"')
                    j = close + 2
                    continue
                break
            value = "".join(parts)
            if not value:
                raise SqlLexError("empty quoted identifier", i)
            tokens.append(SqlToken("qident", value, i, close + 1))
            i = close + 1
        elif _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_char(sql[j]):
                j += 1
            tokens.append(SqlToken("ident", sql[i:j], i, j))
            i = j
        elif ch.isdigit() or (ch == "." and i + 1 < n and sql[i + 1].isdigit()):
            match = _NUMBER.match(sql, i)
            assert match is not None  # a digit always matches
            tokens.append(SqlToken("number", match.group(), i, match.end()))
            i = match.end()
        else:
            op = next((p for p in _MULTI_PUNCT if sql.startswith(p, i)), ch)
            tokens.append(SqlToken("punct", op, i, i + len(op)))
            i += len(op)
    return tokens


def split_statements(tokens: Sequence[SqlToken]) -> list[list[SqlToken]]:
    """Tokens split at `;`, empty statements dropped (so one trailing `;` leaves one statement)."""
    statements: list[list[SqlToken]] = [[]]
    for token in tokens:
        if token.is_punct(";"):
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


# --------------------------------------------------------------------------------------------------------------
# Identifiers

_SIMPLE_UPPER = re.compile(r"[A-Z_][A-Z0-9_$]*")
_SIMPLE_ANY_CASE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def render_identifier(value: str) -> str:
    """An identifier as Snowflake prints it in SQL: bare when that reads back the same, else double-quoted."""
    if _SIMPLE_UPPER.fullmatch(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def sql_identifier(name: str) -> str:
    """A name from our config as SQL: a plain word stays bare (Snowflake upper-cases it), anything else quoted."""
    if _SIMPLE_ANY_CASE.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified_rule_sql(name: str) -> str:
    """A fully qualified rule name (DB.SCH.R, parts possibly "quoted") as safe SQL, or ValueError.

    Names come from the server (the policy's JSON) or from config; either way they are checked to be exactly
    three identifier parts before they go into a statement.
    """
    try:
        tokens = tokenize(name)
    except SqlLexError as exc:
        raise ValueError(f"not a rule name: {name!r} ({exc})") from None
    parts: list[str] = []
    expect_ident = True
    for token in tokens:
        if expect_ident and token.kind in ("ident", "qident"):
            parts.append(token.value if token.kind == "ident" else '"' + token.value.replace('"', '""') + '"')
        elif not expect_ident and token.is_punct("."):
            pass
        else:
            raise ValueError(f"not a fully qualified rule name: {name!r}")
        expect_ident = not expect_ident
    if len(parts) != 3 or expect_ident:
        raise ValueError(f"not a fully qualified rule name (DB.SCHEMA.RULE): {name!r}")
    return ".".join(parts)


def sql_string(value: str) -> str:
    """A Snowflake string literal: quotes doubled, backslashes escaped (Snowflake reads \\ as an escape)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------------------------
# The read-only gate

READ_ONLY_KEYWORDS = frozenset({"SELECT", "SHOW", "DESC", "DESCRIBE"})


class WriteRefused(Exception):
    """A statement refused by the read-only gate; nothing was sent. The message names the kind, not the SQL."""


def leading_keyword(sql: str) -> str:
    """The first keyword of the single statement in `sql`, upper-cased; WriteRefused when that is unclear."""
    try:
        tokens = tokenize(sql)
    except SqlLexError as exc:
        raise WriteRefused(f"read-only mode: refusing a statement that cannot be parsed ({exc})") from None
    statements = split_statements(tokens)
    if not statements:
        raise WriteRefused("read-only mode: refusing an empty statement")
    if len(statements) > 1:
        raise WriteRefused(f"read-only mode: refusing {len(statements)} statements sent as one")
    first = statements[0][0]
    if first.kind != "ident":
        raise WriteRefused("read-only mode: refusing a statement that does not start with a keyword")
    return first.value.upper()


def check_read_only(sql: str) -> None:
    """Raise WriteRefused unless `sql` is one SELECT / SHOW / DESC[RIBE] statement with no side effects.

    SYSTEM$ functions are refused even inside a SELECT: several of them change things (cancel queries, abort
    sessions, refresh pipes), and read-only mode promises that nothing can change anything.
    """
    keyword = leading_keyword(sql)
    if keyword not in READ_ONLY_KEYWORDS:
        raise WriteRefused(f"read-only mode: refusing a {keyword} statement (only SELECT, SHOW, DESCRIBE)")
    if any(t.kind == "ident" and t.value.upper().startswith("SYSTEM$") for t in tokenize(sql)):
        raise WriteRefused("read-only mode: refusing a call to a SYSTEM$ function")


# --------------------------------------------------------------------------------------------------------------
# The gateway

# Codes after which the session is gone and a fresh login may work: 390104 "must login again",
# 390112 session expired, 390114 authentication token expired; 290401 is the connector's HTTP 401; 250002
# "Connection is closed" is raised before sending, by a statement that ran concurrently with the one that found the
# token gone (the connector closed the connection under it), so a fresh login and one more try are safe.
SESSION_GONE_CODES = frozenset({390104, 390112, 390114, 290401, 250002})


@dataclass(frozen=True)
class QueryResult:
    """The rows of one statement with its column names as Snowflake returned them."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        """Rows keyed by lower-cased column name (SHOW/DESC columns are lower-case in Snowflake)."""
        keys = [c.lower() for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


class SnowflakeGateway:
    """The single place that talks to Snowflake: one lazily opened connection, a read-only gate, reconnects.

    Thread-safe (one statement at a time): sources run it in a worker thread, changes in another.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        read_only: bool | None = None,
        connect_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.read_only = settings.read_only if read_only is None else read_only
        self.connect_overrides = dict(connect_overrides or {})
        self._conn: SnowflakeConnection | None = None
        self._lock = threading.RLock()

    # -- connection

    @property
    def connection_name(self) -> str:
        return self.settings.snowflake.connection_name

    @property
    def connections_file(self) -> Path | None:
        configured = self.settings.snowflake.connections_file
        return self.settings.resolve(configured) if configured else None

    def connect_kwargs(self) -> dict[str, Any]:
        """What goes to `snowflake.connector.connect`: the named connection plus our timeouts (no secrets).

        `socket_timeout` bounds each HTTP attempt (connect and read; the connector's default is 60 s), while
        `login_timeout` / `network_timeout` bound the connector's retries of the login and of each statement;
        `_open` also caps the backoff between retries so its last sleep cannot overrun them much (default 16 s).

        `platform_detection_timeout_seconds=0.0` keeps the connector (4.x) from probing, at every login (its cache
        is keyed by a session manager it clones each time), the cloud metadata endpoints of AWS, Azure and GCP and
        AWS STS with whatever credentials are about, to label its login telemetry: an on-call laptop has no
        business sending those, and they held each login back by up to their 0.2 s timeout.
        """
        sf = self.settings.snowflake
        kwargs: dict[str, Any] = {
            "connection_name": sf.connection_name,
            "login_timeout": math.ceil(sf.login_timeout_s),
            "network_timeout": math.ceil(sf.network_timeout_s),
            "socket_timeout": socket_timeout_s(self.settings),
            "platform_detection_timeout_seconds": 0.0,
        }
        if self.connections_file is not None:
            kwargs["connections_file_path"] = self.connections_file
        kwargs.update(self.connect_overrides)
        return kwargs

    def _open(self) -> SnowflakeConnection:
        import snowflake.connector  # slow (~0.8 s): only when a statement is about to be sent
        from snowflake.connector.backoff_policies import exponential_backoff

        _quiet_cancel_timers()
        path = self.connections_file
        if path is not None and not path.is_file():
            raise SnowflakeConfigError(f"the connections file {path} does not exist")
        backoff = exponential_backoff(cap=backoff_cap_s(self.settings))
        return snowflake.connector.connect(**{"backoff_policy": backoff, **self.connect_kwargs()})

    def connection(self) -> SnowflakeConnection:
        with self._lock:
            if self._conn is None or self._conn.is_closed() or getattr(self._conn, "expired", False):
                self._close_quietly()
                self._conn = self._open()
                _open_gateways.add(self)
                # After the connector's own exit hook for this connection, so that ours runs first (LIFO).
                atexit.unregister(_close_open_gateways)
                atexit.register(_close_open_gateways)
            return self._conn

    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # A dead or expired session may refuse to close, and a goodbye to an unreachable server is no
            # reason for the connector to log a traceback.
            with contextlib.suppress(Exception), _connector_logs_muted():
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def __enter__(self) -> SnowflakeGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements

    def execute(self, sql: str, *, no_retry: bool = False) -> QueryResult:
        """Run one statement. Read-only mode refuses writes here, before anything leaves the process.

        Statements from several threads run concurrently on the one connection (the connector is DB-API
        threadsafety 2); only opening and replacing the connection is serialised. `no_retry`: the connector
        sends the statement once (a change: a timed-out write is resolved by re-reading, never re-sent blindly).
        """
        if self.read_only:
            check_read_only(sql)
        conn = self.connection()
        try:
            return self._run(conn, sql, no_retry=no_retry)
        except Exception as exc:
            if _errno(exc) not in SESSION_GONE_CODES:
                raise
            # The session expired (or the server forgot it): log in again once and retry. The statement
            # was refused at authentication, so it did not run and sending it again is safe.
            self._discard(conn)
            return self._run(self.connection(), sql, no_retry=no_retry)

    def _discard(self, conn: SnowflakeConnection) -> None:
        """Drop a dead connection, unless another thread has already replaced it."""
        with self._lock:
            if self._conn is conn:
                self._close_quietly()

    def login_user(self) -> str:
        """The user this gateway logs in as (from the named connection), known without a round trip."""
        return str(getattr(self.connection(), "user", "") or "")

    @staticmethod
    def _run(conn: SnowflakeConnection, sql: str, *, no_retry: bool = False) -> QueryResult:
        cursor = conn.cursor()
        cursor.execute(sql, _no_retry=no_retry)
        description = cursor.description or []
        rows = cursor.fetchall() if description else []
        # Closed on success only: after a failure, close() waits for the connector's cancel request (sent when
        # the statement outlives network_timeout), which a hung server makes as slow again. Closing a cursor is
        # local bookkeeping; an unclosed one is simply collected.
        cursor.close()
        columns = tuple(str(d[0]) for d in description)
        return QueryResult(columns=columns, rows=tuple(tuple(r) for r in rows))


def socket_timeout_s(settings: Settings) -> int:
    """One HTTP attempt's limit: no longer than the login or a statement may take in all."""
    sf = settings.snowflake
    return math.ceil(min(sf.login_timeout_s, sf.network_timeout_s))


def backoff_cap_s(settings: Settings) -> int:
    """The longest sleep between the connector's retries (whole seconds, as the connector counts them)."""
    sf = settings.snowflake
    return max(1, int(min(sf.login_timeout_s, sf.network_timeout_s) // 4))


def read_deadline_s(settings: Settings) -> float:
    """The longest one read of the source may take: the login, then two rounds of statements, each bounded by
    the connector (its limit, plus the last backoff and the attempt in flight when it runs out), and a second
    of slack. The net under the connector's own timeouts, which end a hung read well before it."""
    sf = settings.snowflake
    overrun = backoff_cap_s(settings) + socket_timeout_s(settings)
    return math.ceil(sf.login_timeout_s) + overrun + 2 * (math.ceil(sf.network_timeout_s) + overrun) + 1


# Gateways with a session, closed quietly at exit: left to the connector's own exit hook, a session whose
# server is already gone (the demo stops its sandbox first) would be closed with a traceback in the log.
_open_gateways: weakref.WeakSet[SnowflakeGateway] = weakref.WeakSet()


def _close_open_gateways() -> None:
    for gateway in list(_open_gateways):
        gateway.close()


class _MutedThreads(logging.Filter):
    """Drops the connector's log records from the threads listed (only while they close a session)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.everywhere = False  # set once the program is exiting: every goodbye, from any thread, is best effort

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.everywhere and record.thread not in self.threads


_muted = _MutedThreads()
# The loggers a failed session delete writes to: the connector's HTTP layer and its vendored urllib3.
for _name in ("snowflake.connector.network", "snowflake.connector.vendored.urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(_muted)


def mute_session_goodbyes() -> None:
    """From now on, drop the connector's logs of failed session closes from every thread (the program is exiting;
    a connection the garbage collector closes late, after the server went away, is no reason for a traceback)."""
    _muted.everywhere = True


@contextlib.contextmanager
def _connector_logs_muted() -> Iterator[None]:
    ident = threading.get_ident()
    _muted.threads.add(ident)
    try:
        yield
    finally:
        _muted.threads.discard(ident)


_cancel_hook_lock = threading.Lock()
_cancel_hook_installed = False


def _quiet_cancel_timers() -> None:
    """Log, instead of printing over the screen, a failure of the connector's query-cancel timer thread.

    The connector starts a timer per statement (`network_timeout`); when it fires on a hung server, its abort
    request fails in that thread and Python's default hook would print the traceback to the terminal.
    """
    global _cancel_hook_installed
    with _cancel_hook_lock:
        if _cancel_hook_installed:
            return
        previous = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            if type(args.thread).__name__ == "_TrackedQueryCancellationTimer":
                log.warning("the Snowflake connector could not cancel a timed-out statement: %s", args.exc_value)
                return
            previous(args)

        threading.excepthook = hook
        _cancel_hook_installed = True


class SnowflakeConfigError(Exception):
    """Our own setup problem (a missing connections file): a CONFIG error, not a server answer."""


def _errno(exc: BaseException) -> int | None:
    value = getattr(exc, "errno", None)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------------------
# Parsing Snowflake's result shapes


class BadResponse(ValueError):
    """A result whose shape is not what Snowflake returns for that statement."""


def _require_columns(result: QueryResult, *names: str) -> None:
    missing = [n for n in names if n not in {c.lower() for c in result.columns}]
    if missing:
        raise BadResponse(f"expected columns {', '.join(missing)}, got {', '.join(result.columns) or 'none'}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_identity(result: QueryResult) -> tuple[str, str, str]:
    """SELECT CURRENT_IP_ADDRESS(), CURRENT_USER(), CURRENT_ROLE() → (ip, user, role)."""
    if len(result.rows) != 1 or len(result.rows[0]) != 3:
        raise BadResponse(f"expected 1 row of 3 values for the session identity, got {len(result.rows)} rows")
    ip, user, role = (_text(v) for v in result.rows[0])
    return ip, user, role


def parse_parameter(result: QueryResult, key: str, level: str) -> str:
    """The value of `key` from SHOW PARAMETERS when it is set at `level` (ACCOUNT or USER); "" otherwise."""
    records = result.records()
    _require_columns(result, "key", "value", "level")
    for record in records:
        if _text(record["key"]).upper() == key and _text(record["level"]).upper() == level:
            return _text(record["value"])
    return ""


def _split_list(value: Any) -> tuple[str, ...]:
    """A comma-separated DESCRIBE value → entries in order ("" is the empty list)."""
    return tuple(part.strip() for part in _text(value).split(",") if part.strip())


def _rule_names(value: Any) -> tuple[str, ...]:
    """A DESCRIBE rule-list value: a JSON array of {"fullyQualifiedRuleName": "DB.SCH.R"}."""
    try:
        items = json.loads(_text(value))
    except json.JSONDecodeError:
        raise BadResponse(f"a network rule list that is not JSON: {_text(value)[:80]!r}") from None
    if not isinstance(items, list):
        raise BadResponse("a network rule list that is not a JSON array")
    names: list[str] = []
    for item in items:
        name = item.get("fullyQualifiedRuleName") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise BadResponse("a network rule list entry without fullyQualifiedRuleName")
        names.append(name)
    return tuple(names)


def parse_policy(name: str, result: QueryResult, comment: str = "") -> NetworkPolicy:
    """DESCRIBE NETWORK POLICY rows (name, value) → NetworkPolicy; unset lists have no row."""
    records = result.records()
    _require_columns(result, "name", "value")
    fields: dict[str, tuple[str, ...]] = {}
    for record in records:
        prop = _text(record["name"]).upper()
        if prop in ("ALLOWED_IP_LIST", "BLOCKED_IP_LIST"):
            fields[prop] = _split_list(record["value"])
        elif prop in ("ALLOWED_NETWORK_RULE_LIST", "BLOCKED_NETWORK_RULE_LIST"):
            fields[prop] = _rule_names(record["value"])
    return NetworkPolicy(
        name=name,
        allowed_ips=fields.get("ALLOWED_IP_LIST", ()),
        blocked_ips=fields.get("BLOCKED_IP_LIST", ()),
        allowed_rules=fields.get("ALLOWED_NETWORK_RULE_LIST", ()),
        blocked_rules=fields.get("BLOCKED_NETWORK_RULE_LIST", ()),
        comment=comment,
    )


def parse_policy_comment(result: QueryResult, name: str) -> tuple[str, str] | None:
    """SHOW NETWORK POLICIES LIKE ... → (exact name, comment) of the row for `name`, None when absent.

    LIKE treats `_` as a wildcard, so the row is picked by exact name (case-insensitive for a bare name).
    """
    records = result.records()
    _require_columns(result, "name", "comment")
    for record in records:
        found = _text(record["name"])
        if found == name or (_SIMPLE_ANY_CASE.fullmatch(name) and found == name.upper()):
            return found, _text(record["comment"])
    return None


def parse_rule(result: QueryResult) -> NetworkRule:
    """DESCRIBE NETWORK RULE: one row of 9 columns; value_list is comma-separated ("" = empty)."""
    records = result.records()
    _require_columns(result, "name", "database_name", "schema_name", "type", "mode", "value_list")
    if len(records) != 1:
        raise BadResponse(f"DESCRIBE NETWORK RULE returned {len(records)} rows, expected 1")
    record = records[0]
    name = ".".join(render_identifier(_text(record[k])) for k in ("database_name", "schema_name", "name"))
    return NetworkRule(
        name=name,
        type=_text(record["type"]),
        mode=_text(record["mode"]),
        values=_split_list(record["value_list"]),
        comment=_text(record.get("comment")),
    )


# --------------------------------------------------------------------------------------------------------------
# The source

NOT_FOUND = 2003  # 002003: "... does not exist or not authorized."


def _dedupe(names: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for name in names:
        key = name.upper()
        if key not in seen:
            seen.add(key)
            yield name


def _absent_if_missing(gateway: SnowflakeGateway, sql: str) -> QueryResult | None:
    """A DESCRIBE whose object may not exist: 'does not exist' is an answer (None), anything else an error."""
    try:
        return gateway.execute(sql)
    except Exception as exc:
        if _errno(exc) != NOT_FOUND:
            raise
        return None


def _rule_statement(name: str) -> str:
    try:
        return f"DESCRIBE NETWORK RULE {qualified_rule_sql(name)}"
    except ValueError as exc:
        raise BadResponse(str(exc)) from None


def read_state(gateway: SnowflakeGateway) -> SnowflakeState:
    """Every read the Snowflake pane needs, in one blocking call (run it in a thread).

    After the login, the reads go out at once on one connection: the refresh costs one round trip, not eight.
    Only rules the policy references that the config does not name need a second round.
    """
    settings = gateway.settings.snowflake
    user_hint = gateway.login_user()  # opens the session first: every later read shares it
    policy_sql = sql_identifier(settings.policy)
    configured = list(_dedupe(rule.name for rule in settings.rules))
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="snowflake-read") as pool:
        identity = pool.submit(gateway.execute, "SELECT CURRENT_IP_ADDRESS(), CURRENT_USER(), CURRENT_ROLE()")
        account = pool.submit(gateway.execute, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")
        user_param = (
            pool.submit(gateway.execute, f"SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN USER {sql_identifier(user_hint)}")
            if user_hint
            else None
        )
        described = pool.submit(_absent_if_missing, gateway, f"DESCRIBE NETWORK POLICY {policy_sql}")
        shown = pool.submit(gateway.execute, f"SHOW NETWORK POLICIES LIKE {sql_string(settings.policy)}")
        rule_reads = {name: pool.submit(_absent_if_missing, gateway, _rule_statement(name)) for name in configured}

        ip, user, role = parse_identity(identity.result())
        account_policy = parse_parameter(account.result(), "NETWORK_POLICY", "ACCOUNT")
        if user_param is None and user:
            user_param = pool.submit(
                gateway.execute, f"SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN USER {sql_identifier(user)}"
            )
        user_policy = parse_parameter(user_param.result(), "NETWORK_POLICY", "USER") if user_param else ""

        policy: NetworkPolicy | None = None
        description = described.result()
        if description is not None:
            found = parse_policy_comment(shown.result(), settings.policy)
            name, comment = found if found is not None else (settings.policy, "")
            policy = parse_policy(name, description, comment)
        else:
            shown.result()  # surface its error, if any, like every other read

        referenced = list(policy.allowed_rules + policy.blocked_rules) if policy else []
        for name in _dedupe(referenced):
            if name not in rule_reads:
                rule_reads[name] = pool.submit(_absent_if_missing, gateway, _rule_statement(name))
        ordered = list(_dedupe(referenced + configured))
        rules = [parse_rule(found) for n in ordered if (found := rule_reads[n].result()) is not None]
    return SnowflakeState(
        account=settings.account,
        user=user,
        role=role,
        current_ip=ip,
        policy=policy,
        account_policy=account_policy,
        user_policy=user_policy,
        rules=tuple(rules),
    )


async def fetch_snowflake(settings: Settings, gateway: SnowflakeGateway | None = None) -> SourceResult[SnowflakeState]:
    """Read the Snowflake state in a worker thread; every failure becomes a SourceError, never an exception.

    Without a gateway a temporary read-only one is opened and closed; the dashboard passes its long-lived one
    so a refresh does not log in again.
    """
    fetched_at = datetime.now(UTC)
    started = time.monotonic()
    own = gateway is None
    active = gateway if gateway is not None else SnowflakeGateway(settings, read_only=True)
    deadline = read_deadline_s(settings)
    try:
        # The connector's own timeouts end a hung read; the deadline is the net under them.
        state = await asyncio.wait_for(asyncio.to_thread(read_state, active), deadline)
        return SourceResult(SOURCE, fetched_at, data=state, duration_s=time.monotonic() - started)
    except Exception as exc:  # a source reports every failure as data
        if isinstance(exc, TimeoutError) and time.monotonic() - started >= deadline:
            error = SourceError(
                SOURCE,
                ErrorKind.TIMEOUT,
                f"no answer from Snowflake within {deadline:g} s",
                "Snowflake or the network is slow; the next refresh retries (timeouts are in [snowflake])",
            )
        else:
            error = classify_error(exc, active)
        return SourceResult(SOURCE, fetched_at, error=error, duration_s=time.monotonic() - started)
    finally:
        if own:
            await asyncio.to_thread(active.close)


# --------------------------------------------------------------------------------------------------------------
# Errors → SourceError

AUTH_CODES = frozenset({390100, 390101, 390102, 390104, 390112, 390114, 390144, 390303, 390318, 394300, 394304})
DENIED_CODES = frozenset({3001, 3003, 390201, 390422, 390432})  # privileges, network policy
_TIMEOUT_CODES = frozenset({251011, 251012, 251010})
_REFUSED_IP = re.compile(r"Incoming request with IP/Token (\S+?) is not allowed", re.IGNORECASE)


def one_line(text: str, limit: int = 300) -> str:
    """A message fit for a status line: whitespace collapsed, connector secrets masked, bounded length."""
    try:
        from snowflake.connector.secret_detector import SecretDetector

        masked = SecretDetector.mask_secrets(text).masked_text or text
    except Exception:  # masking is best effort on top of never putting secrets in messages
        masked = text
    flat = " ".join(str(masked).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _endpoint(gateway: SnowflakeGateway) -> tuple[str, int] | None:
    """Host and port the named connection points at, as the connector resolved it (only host/port/account read).

    The connector's own CONFIG_MANAGER has just loaded the connection (it honours SNOWFLAKE_HOME and the
    connections file we passed); the file is re-read with tomllib only if that is not available.
    """
    section: Mapping[str, Any] = {}
    try:
        from snowflake.connector.config_manager import CONFIG_MANAGER

        section = CONFIG_MANAGER["connections"].get(gateway.connection_name) or {}
    except Exception:  # diagnosis only; never worse than no answer
        path = gateway.connections_file
        if path is not None:
            with contextlib.suppress(OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                section = tomllib.loads(path.read_text(encoding="utf-8")).get(gateway.connection_name, {})
    merged = {**section, **gateway.connect_overrides}  # overrides win, as in connect()
    account = merged.get("account")
    host = merged.get("host") or (f"{account}.snowflakecomputing.com" if account else "")
    protocol = merged.get("protocol", "https")
    try:
        port = int(merged.get("port") or (80 if protocol == "http" else 443))
    except (TypeError, ValueError):
        return None
    return (str(host), port) if host else None


def _refused(endpoint: tuple[str, int] | None) -> bool:
    """Whether the endpoint actively refuses TCP (or its name does not resolve): down, not slow."""
    if endpoint is None:
        return False
    try:
        with socket.create_connection(endpoint, timeout=1.0):
            return False
    except (ConnectionRefusedError, socket.gaierror):
        return True
    except OSError:
        return False


def classify_error(exc: BaseException, gateway: SnowflakeGateway) -> SourceError:
    """Map a connector (or parsing) failure to an ErrorKind, a one-line message and a hint."""
    conn_name = gateway.connection_name
    where = str(gateway.connections_file) if gateway.connections_file else "the connector's connections.toml"
    errno = _errno(exc)
    text = str(exc)

    if isinstance(exc, BadResponse):
        return SourceError(SOURCE, ErrorKind.BAD_RESPONSE, one_line(f"unexpected answer from Snowflake: {text}"))
    if isinstance(exc, WriteRefused):
        return SourceError(SOURCE, ErrorKind.DENIED, one_line(text), "read-only mode allows only reads")
    if isinstance(exc, SnowflakeConfigError) or "Invalid connection_name" in text or _is_config_error(exc):
        return SourceError(
            SOURCE,
            ErrorKind.CONFIG,
            one_line(text),
            f"add a [{conn_name}] connection to {where} (mode 0600), or fix snowflake.connection_name",
        )
    if errno == 390422 or _REFUSED_IP.search(text):
        match = _REFUSED_IP.search(text)
        ip = match.group(1) if match else "this client's address"
        return SourceError(
            SOURCE,
            ErrorKind.DENIED,
            one_line(f"Snowflake refused the login from {ip}: not allowed by the network policy (390422)"),
            f"the current IP {ip} is refused by the account's network policy; connect from an allowed network "
            "(Operations VPC, Tailscale) or have an ACCOUNTADMIN add it",
        )
    if errno in AUTH_CODES or "Incorrect username or password" in text:
        return SourceError(
            SOURCE,
            ErrorKind.AUTH,
            one_line(f"Snowflake authentication failed ({errno}): {_server_message(text)}"),
            f"fix the credentials of connection [{conn_name}] in {where}",
        )
    if errno in DENIED_CODES:
        return SourceError(
            SOURCE,
            ErrorKind.DENIED,
            one_line(f"Snowflake denied the request ({errno}): {_server_message(text)}"),
            "use a role that owns the network policy or has MANAGE GRANTS (e.g. SECURITYADMIN)",
        )
    if isinstance(exc, TimeoutError | socket.timeout) or errno in _TIMEOUT_CODES or errno == 250001:
        endpoint = _endpoint(gateway)
        target = f"{endpoint[0]}:{endpoint[1]}" if endpoint else "Snowflake"
        if isinstance(exc, ConnectionRefusedError) or _refused(endpoint):
            return SourceError(
                SOURCE,
                ErrorKind.UNREACHABLE,
                one_line(f"cannot reach {target}: connection refused"),
                "check the network path to Snowflake (VPN/Tailscale, proxy, DNS) and the host in connections.toml",
            )
        return SourceError(
            SOURCE,
            ErrorKind.TIMEOUT,
            one_line(f"no answer from {target} in time: {_server_message(text)}"),
            "Snowflake or the network is slow; the next refresh retries (timeouts are in [snowflake])",
        )
    if errno == FAILED_TO_REQUEST or _HTTP_5XX.search(text):
        return _request_failed(gateway, text)
    if isinstance(exc, ConnectionError | OSError):
        return SourceError(SOURCE, ErrorKind.UNREACHABLE, one_line(f"cannot reach Snowflake: {text}"))
    if isinstance(exc, KeyError | IndexError | TypeError | ValueError | json.JSONDecodeError):
        return SourceError(
            SOURCE, ErrorKind.BAD_RESPONSE, one_line(f"unexpected answer from Snowflake: {type(exc).__name__}")
        )
    return SourceError(SOURCE, ErrorKind.ERROR, one_line(f"Snowflake error: {text or type(exc).__name__}"))


FAILED_TO_REQUEST = 250003  # a statement's HTTP request failed after the connector's retries
_HTTP_5XX = re.compile(r"\bHTTP (5\d\d)\b")


def _request_failed(gateway: SnowflakeGateway, text: str) -> SourceError:
    """A statement that got no usable answer: timed out, connection dropped, or Snowflake's HTTP 5xx."""
    endpoint = _endpoint(gateway)
    target = f"{endpoint[0]}:{endpoint[1]}" if endpoint else "Snowflake"
    lowered = text.lower()
    status = _HTTP_5XX.search(text)
    if status:
        return SourceError(
            SOURCE,
            ErrorKind.ERROR,
            one_line(f"Snowflake answered HTTP {status.group(1)} ({target})"),
            "a Snowflake service problem (status.snowflake.com); the next refresh retries",
        )
    if "timed out" in lowered or "timeout" in lowered:
        return SourceError(
            SOURCE,
            ErrorKind.TIMEOUT,
            one_line(f"no answer from {target} in time (a statement waited its network_timeout)"),
            "Snowflake or the network is slow; the next refresh retries (timeouts are in [snowflake])",
        )
    return SourceError(
        SOURCE,
        ErrorKind.UNREACHABLE,
        one_line(f"the connection to {target} was dropped: {_server_message(text)}"),
        "check the network path to Snowflake (VPN/Tailscale, proxy); the next refresh retries",
    )


def _is_config_error(exc: BaseException) -> bool:
    """The connector's own config-file errors (bad permissions, unreadable TOML)."""
    return type(exc).__name__ in ("ConfigSourceError", "ConfigManagerError", "MissingConfigOptionError")


def _server_message(text: str) -> str:
    """The connector's error text without its 'NNNNNN (SSSSS): ' prefix and 'Failed to connect to DB' preamble."""
    text = re.sub(r"^\d{6} \(\w+\): ", "", text.strip())
    text = re.sub(r"^(None: )?Failed to connect to DB: \S+\. ", "", text)
    return text
