"""The change journal: JSON lines, append-only, fsync'd, readable by its owner only.

Every change writes two records with the same `id`: an **intent** before anything is sent (who, in which mode,
what change, the target before, the expected after, the reason) and a **result** after the re-read (applied,
failed ..., the target as observed, the verification). An intent with no result means the process died in
between; `changes.apply.reconcile_pending` finds those at the next start, re-reads, and appends a result with
`"reconciled": true`.

A change whose request failed in a way that leaves its outcome open (a timeout, a reset connection) gets a
result record `unknown` first; the re-read that settles it appends `applied` or `failed`. A change whose effect
was already there before sending is journaled `already_done` (nothing was sent).

Records are only ever appended (O_APPEND, one write per line, under an exclusive lock for concurrent
processes) and flushed to disk (fsync) before the call returns. The file is created mode 0600 in a 0700
folder (every folder we create on the way is 0700): the user's state directory (platformdirs) unless the
config names `platform.journal_path`. A journal every user could tamper with (the file or its folder writable
by everyone, or a file owned by someone else) is refused before anything is written (`UnsafePathError`).

Secrets never reach it: every record goes through `scrub` with the secrets the caller knows (the Snowflake
password from the connection, the AWS keys of the session) and patterns for AWS key ids and `password=...`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goodword_tui.config import Settings, unsafe_path_problems

APP_NAME = "goodword-tui"
JOURNAL_FILE = "journal.jsonl"
REDACTED = "[redacted]"

# Result values a result record may carry.
APPLIED = "applied"
NOT_APPLIED = "not_applied"  # reconciled: the effect is absent, so the request did not take
FAILED = "failed"
VERIFY_FAILED = "verify_failed"  # sent without error, but the re-read does not show the effect
UNKNOWN = "unknown"  # the request may or may not have taken (timeout, reset); a re-read settles it
ALREADY_DONE = "already_done"  # the effect was there before sending: nothing was sent
PENDING = "pending"  # no result record (yet)
UNRESOLVED = (PENDING, UNKNOWN)  # what `changes.apply.reconcile_pending` settles by re-reading


def default_journal_path(settings: Settings) -> Path:
    """`platform.journal_path` (relative to the config file), else the user's state directory."""
    configured = settings.platform.journal_path
    if configured:
        return settings.resolve(configured)
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME)) / JOURNAL_FILE


# --------------------------------------------------------------------------------------------------------------
# Scrubbing

_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|ANPA|AGPA)[A-Z0-9]{12,}\b")
_ASSIGNED = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|secret_access_key|session_token|token|private_key_file_pwd|passcode)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "passcode",
        "token",
        "secret",
        "aws_secret_access_key",
        "secret_access_key",
        "aws_session_token",
        "session_token",
        "private_key",
        "private_key_file_pwd",
        "secretstring",
    }
)
MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words; no real secret is that short


def scrub(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`value` (JSON data) with known secret values, AWS key ids and `password=...` assignments redacted."""
    known = sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def text(s: str) -> str:
        for secret in known:
            if secret in s:
                s = s.replace(secret, REDACTED)
        s = _KEY_ID.sub(REDACTED, s)
        return _ASSIGNED.sub(lambda m: m.group(1) + m.group(2) + REDACTED, s)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return text(v)
        if isinstance(v, Mapping):
            return {
                text(str(k)): (REDACTED if str(k).lower() in _SECRET_KEYS and v[k] not in (None, "") else walk(v[k]))
                for k in v
            }
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value)


_SECRET_FIELDS = ("password", "token", "passcode", "private_key_file_pwd", "oauth_client_secret", "private_key")
_SECRET_ENV = re.compile(r"^(SNOWFLAKE|AWS)_.*(PASSWORD|SECRET|TOKEN|PASSCODE|PRIVATE_KEY|ACCESS_KEY)")


def known_secrets(settings: Settings, *, session: Any = None, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Secret values this process can see, to redact wherever we write: the Snowflake connection's password
    (and tokens) from its connections.toml, AWS keys from the session or the environment.
    """
    found = [v for k, v in os.environ.items() if _SECRET_ENV.match(k) and v]
    sf = settings.snowflake
    if sf.connections_file:
        path = settings.resolve(sf.connections_file)
    else:
        home = os.environ.get("SNOWFLAKE_HOME")
        path = Path(home).expanduser() / "connections.toml" if home else Path.home() / ".snowflake/connections.toml"
    section: Mapping[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):  # tomllib's TOMLDecodeError is a ValueError
        import tomllib

        section = tomllib.loads(path.read_text(encoding="utf-8")).get(sf.connection_name) or {}
    found += [str(section[k]) for k in _SECRET_FIELDS if section.get(k)]
    found += [str(v) for k, v in (overrides or {}).items() if k in _SECRET_FIELDS and v]
    found += _shared_credentials(settings)
    if session is not None:
        with contextlib.suppress(Exception):  # no usable credentials: nothing to hide
            credentials = session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
            if frozen is not None:
                found += [v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v]
    return [s for s in dict.fromkeys(found) if s]


def _shared_credentials(settings: Settings) -> list[str]:
    """The keys of the configured profile in the AWS shared credentials file (read without boto3: it is cheap)."""
    import configparser

    configured = settings.aws.shared_credentials_file
    if configured:
        path = settings.resolve(configured)
    else:
        path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials")
    parser = configparser.RawConfigParser()
    with contextlib.suppress(OSError, configparser.Error, UnicodeDecodeError):
        parser.read_string(path.expanduser().read_text(encoding="utf-8"))
    profile = settings.aws.profile or os.environ.get("AWS_PROFILE") or "default"
    if not parser.has_section(profile):
        return []
    keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    return [parser.get(profile, k) for k in keys if parser.has_option(profile, k) and parser.get(profile, k)]


# --------------------------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class Operator:
    """Who made a change: the OS user, and who the platforms saw ("" when it could not be read)."""

    os_user: str
    aws_arn: str = ""
    snowflake_user: str = ""
    snowflake_role: str = ""
    host: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "os_user": self.os_user,
            "host": self.host,
            "aws_arn": self.aws_arn,
            "snowflake_user": self.snowflake_user,
            "snowflake_role": self.snowflake_role,
        }


@dataclass(frozen=True)
class JournalEntry:
    """An intent merged with its result (if any): one change as the journal tells it."""

    id: str
    time: datetime
    operator: Mapping[str, Any]
    mode: str
    change: Mapping[str, Any]
    before: Mapping[str, Any]
    after: Mapping[str, Any]  # expected after (from the intent)
    reason: str
    batch_id: str = ""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    result: str = PENDING
    result_time: datetime | None = None
    observed: Mapping[str, Any] | None = None  # the target as re-read after the change
    verification: Mapping[str, Any] | None = None
    error: str = ""
    reconciled: bool = False

    @property
    def pending(self) -> bool:
        return self.result == PENDING

    @property
    def unresolved(self) -> bool:
        """No result, or an `unknown` one: whether the change took is still to be found by re-reading."""
        return self.result in UNRESOLVED

    @property
    def applied(self) -> bool:
        return self.result == APPLIED

    @property
    def kind(self) -> str:
        return str(self.change.get("kind", ""))

    @property
    def description(self) -> str:
        return str(self.change.get("description", ""))

    @property
    def target(self) -> str:
        return str(self.change.get("target", ""))

    @property
    def inverse(self) -> Mapping[str, Any] | None:
        found = self.change.get("inverse")
        return found if isinstance(found, Mapping) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "operator": dict(self.operator),
            "mode": self.mode,
            "change": dict(self.change),
            "before": dict(self.before),
            "after": dict(self.after),
            "reason": self.reason,
            "batch_id": self.batch_id,
            "overrides": dict(self.overrides),
            "result": self.result,
            "result_time": self.result_time.isoformat() if self.result_time else None,
            "observed": dict(self.observed) if self.observed is not None else None,
            "verification": dict(self.verification) if self.verification is not None else None,
            "error": self.error,
            "reconciled": self.reconciled,
        }


def _time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------------
# Private files


class UnsafePathError(PermissionError):
    """A path every user could tamper with; the message says which and how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(self.problems)


def check_private_path(path: Path, what: str) -> None:
    """Refuse to write `path` when every user could tamper with it (see `config.unsafe_path_problems`)."""
    problems = unsafe_path_problems(path, what=what, must_own=True)
    if problems:
        raise UnsafePathError(problems)


def make_private_dir(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents, each mode 0700 (`mkdir -p` would make the parents 0755);
    returns the folders created, outermost first."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another process
        created.append(path)
    return created


# --------------------------------------------------------------------------------------------------------------
# The journal


class Journal:
    """One append-only JSONL file. `secrets` is called at each write for the values to redact."""

    def __init__(self, path: Path | str, *, secrets: Callable[[], Iterable[str]] | Iterable[str] = ()) -> None:
        self.path = Path(path).expanduser()
        self._secrets = secrets
        self.damaged_lines = 0  # lines that could not be read on the last read (e.g. torn by a crash)

    @classmethod
    def for_settings(cls, settings: Settings, **kwargs: Any) -> Journal:
        return cls(default_journal_path(settings), **kwargs)

    def _known_secrets(self) -> list[str]:
        source = self._secrets() if callable(self._secrets) else self._secrets
        return [s for s in source if s]

    def add_secrets(self, source: Callable[[], Iterable[str]]) -> None:
        """Redact what `source` returns as well (a ChangeContext adds its connections' secrets)."""
        previous = self._secrets

        def both() -> list[str]:
            first = list(previous() if callable(previous) else previous)
            return first + list(source())

        self._secrets = both

    # -- writing

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as one line, scrubbed, then fsync; creates the file 0600 (its folders 0700).

        Raises UnsafePathError (an OSError) when every user could tamper with the journal: nothing is written.
        """
        clean = scrub(dict(record), self._known_secrets())
        line = (json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str) + "\n").encode("utf-8")
        folder = self.path.parent
        created_folders = make_private_dir(folder)
        check_private_path(self.path, "the journal")
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # also tightens a file someone loosened
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                _repair_tail(fd)
                written = 0
                while written < len(line):
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(folder)
        for made in created_folders:
            _fsync_dir(made.parent)

    def write_intent(
        self,
        *,
        change: Mapping[str, Any],
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        operator: Operator,
        mode: str,
        reason: str,
        batch_id: str = "",
        overrides: Mapping[str, Any] | None = None,
        entry_id: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Record what is about to be sent; returns the entry id the result must carry."""
        entry_id = entry_id or uuid.uuid4().hex
        self.append(
            {
                "type": "intent",
                "id": entry_id,
                "time": (time or datetime.now(UTC)).isoformat(),
                "operator": operator.to_json(),
                "mode": mode,
                "change": dict(change),
                "before": dict(before),
                "after": dict(after),
                "reason": reason,
                "batch_id": batch_id,
                "overrides": dict(overrides or {}),
            }
        )
        return entry_id

    def write_result(
        self,
        entry_id: str,
        result: str,
        *,
        observed: Mapping[str, Any] | None = None,
        verification: Mapping[str, Any] | None = None,
        error: str = "",
        reconciled: bool = False,
        time: datetime | None = None,
    ) -> None:
        self.append(
            {
                "type": "result",
                "id": entry_id,
                "time": (time or datetime.now(UTC)).isoformat(),
                "result": result,
                "observed": dict(observed) if observed is not None else None,
                "verification": dict(verification) if verification is not None else None,
                "error": error,
                "reconciled": reconciled,
            }
        )

    # -- reading

    def records(self) -> list[dict[str, Any]]:
        """Every readable record in file order; unreadable lines are counted in `damaged_lines`, not raised."""
        self.damaged_lines = 0
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.damaged_lines += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                out.append(record)
            else:
                self.damaged_lines += 1
        return out

    def entries(self, since: datetime | None = None) -> list[JournalEntry]:
        """Intents merged with their results, oldest first; `since` keeps entries at or after that time."""
        intents: dict[str, dict[str, Any]] = {}
        results: dict[str, dict[str, Any]] = {}
        for record in self.records():
            if record.get("type") == "intent":
                intents.setdefault(record["id"], record)
            elif record.get("type") == "result":
                results[record["id"]] = record  # a later result (a reconciliation) wins
        entries: list[JournalEntry] = []
        for entry_id, intent in intents.items():
            result = results.get(entry_id)
            entry = JournalEntry(
                id=entry_id,
                time=_time(intent.get("time")),
                operator=intent.get("operator") or {},
                mode=str(intent.get("mode", "")),
                change=intent.get("change") or {},
                before=intent.get("before") or {},
                after=intent.get("after") or {},
                reason=str(intent.get("reason", "")),
                batch_id=str(intent.get("batch_id") or ""),
                overrides=intent.get("overrides") or {},
                result=str(result.get("result", FAILED)) if result else PENDING,
                result_time=_time(result.get("time")) if result else None,
                observed=result.get("observed") if result else None,
                verification=result.get("verification") if result else None,
                error=str(result.get("error") or "") if result else "",
                reconciled=bool(result.get("reconciled")) if result else False,
            )
            if since is None or entry.time >= since:
                entries.append(entry)
        return sorted(entries, key=lambda e: e.time)

    def pending(self) -> list[JournalEntry]:
        """Intents with no result: the process stopped between sending and recording."""
        return [e for e in self.entries() if e.pending]

    def unresolved(self) -> list[JournalEntry]:
        """Intents with no result or an `unknown` one: each is settled by re-reading its target."""
        return [e for e in self.entries() if e.unresolved]

    def entry(self, entry_id: str) -> JournalEntry | None:
        return next((e for e in self.entries() if e.id == entry_id), None)

    def read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""


def _repair_tail(fd: int) -> None:
    """A crash mid-write can leave a last line without its newline; end it so the next record starts clean."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    if os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")


def _fsync_dir(folder: Path) -> None:
    """Make a newly created entry in `folder` durable (its directory entry), as fsync of the file does not."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
