"""The SQLMesh read side: environments, model freshness and intervals, and local changes, without writing anything.

`SqlMeshReader` is the source: called with the settings it returns a `SourceResult[SqlMeshStatus]`, never raises,
and does every piece of SQLMesh work on its own single thread (`SqlMeshRuntime`). A read opens the configured
gateway's state read-only (see `sqlmesh_runtime`): a missing or empty state database is reported as "no SQLMesh
state yet" (data, not an error) and nothing is created; a database that is down, refuses the password or times out
is a `SourceError`.

Freshness. SQLMesh keeps no run log, so "fresh" is judged from state the way `sqlmesh run` would: the intervals a
run at `as_of` would process (`missing_intervals`, cron-aware), less the ones re-read only because of a lookback.
A model is stale once the first of those became due by its cron more than `grace_s` ago, i.e. its last interval
end is more than one interval plus the grace behind. `as_of` is `settings.sqlmesh.as_of` when set (the sandbox:
its data is a fixed snapshot, see sandbox/sqlmesh.py) or the reader's clock, which tests inject.

Local changes (the project on disk against the environment, what a plan would pick up) need the whole project
parsed, which takes seconds on a large project; the status read never waits for it. After a read, the comparison
runs next on the same thread unless the project files and the environment's plan are unchanged since the last
one; its result rides along from the following read on (`local_changes_checked_at` says when; `on_update` is
called when it lands). Unit test and audit results come from what the dashboard ran (`SqlMeshResults`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from goodword_tui.config import Settings
from goodword_tui.model import (
    ErrorKind,
    SourceError,
    SourceResult,
    SqlMeshAuditResult,
    SqlMeshEnvironment,
    SqlMeshLocalChange,
    SqlMeshModelStatus,
    SqlMeshStatus,
    SqlMeshTestResult,
)
from goodword_tui.sqlmesh_runtime import (
    MemorySnapshotCache,
    NoStateYet,
    ProjectConfig,
    ReadOnlyState,
    SqlMeshRuntime,
    SqlMeshUnavailable,
    config_signature,
    first_line,
    load_project_config,
    load_read_only_context,
    project_cache_dir,
)

SOURCE = "sqlmesh"
# Written into a project folder by whoever is still building its state (the sandbox): its text is shown instead.
PREPARING_MARKER = ".goodword-preparing"
# Not part of the project's definition: ignored when deciding whether the project changed on disk.
_IGNORED_DIRS = {".cache", "logs", "__pycache__", ".git", "target"}
_IGNORED_SUFFIXES = (".duckdb", ".duckdb.wal", ".wal", ".pyc", ".log", ".tmp")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# --------------------------------------------------------------------------------------------------------------
# Results of what the dashboard ran (the seam the plan/run/test actions fill)


class SqlMeshResults:
    """The last unit test run and the latest result of every (model, audit) from runs the dashboard launched.

    SQLMesh stores neither in state, so they live here, in memory, for the status to carry. Thread-safe: the
    SQLMesh thread records, the event loop reads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tests: SqlMeshTestResult | None = None
        self._audits: dict[tuple[str, str], SqlMeshAuditResult] = {}

    def record_tests(self, result: SqlMeshTestResult) -> None:
        with self._lock:
            self._tests = result

    def record_audits(self, results: Iterable[SqlMeshAuditResult]) -> None:
        """Each result replaces the previous one for its (model, audit)."""
        with self._lock:
            for result in results:
                self._audits[(result.model, result.audit)] = result

    def record_sqlmesh_audits(self, results: Iterable[Any], origin: str, at: datetime | None = None) -> None:
        """Record SQLMesh `AuditResult`s (from `snapshot_evaluator.audit` or a console hook) as they come."""
        self.record_audits(audit_results_from(results, origin, at))

    def tests(self) -> SqlMeshTestResult | None:
        with self._lock:
            return self._tests

    def audits(self) -> tuple[SqlMeshAuditResult, ...]:
        with self._lock:
            return tuple(sorted(self._audits.values(), key=lambda a: (a.model, a.audit)))

    def clear(self) -> None:
        with self._lock:
            self._tests = None
            self._audits.clear()


def audit_results_from(results: Iterable[Any], origin: str, at: datetime | None = None) -> list[SqlMeshAuditResult]:
    """SQLMesh `AuditResult`s as plain data, each named by its model and audit (the key they are kept under)."""
    ran_at = at or utc_now()
    return [
        SqlMeshAuditResult(
            model=str(getattr(r.model, "name", "") or ""),
            audit=str(r.audit.name),
            ran_at=ran_at,
            failed_rows=int(r.count or 0),
            blocking=bool(r.blocking),
            skipped=bool(r.skipped),
            origin=origin,
        )
        for r in results
    ]


# --------------------------------------------------------------------------------------------------------------
# From SQLMesh objects to the model (pure; SQLMesh objects are only read)


def environment_from(summary: Any, as_of: datetime) -> SqlMeshEnvironment:
    expiration = _from_ms(summary.expiration_ts)
    return SqlMeshEnvironment(
        name=str(summary.name),
        finalized=summary.finalized_ts is not None,
        expiration_ts=expiration,
        plan_id=str(summary.plan_id or ""),
        finalized_at=_from_ms(summary.finalized_ts),
        expired=expiration is not None and expiration <= as_of,
        previous_plan_id=str(summary.previous_plan_id or ""),
    )


def _covered(start: int, end: int, intervals: Sequence[tuple[int, int]]) -> bool:
    return any(low <= start and end <= high for low, high in intervals)


def due_at(node: Any, interval_end: int) -> datetime:
    """When an interval ending at `interval_end` (ms) is due: the first cron tick at or after its end."""
    end = _from_ms(interval_end)
    assert end is not None
    tick = node.cron_next(end - timedelta(seconds=1))
    return tick if tick.tzinfo else tick.replace(tzinfo=UTC)


def model_status(
    snapshot: Any, missing: Sequence[tuple[int, int]], as_of: datetime, grace_s: float
) -> SqlMeshModelStatus:
    """One model's status: `missing` is what SQLMesh's `missing_intervals` gives for it at `as_of`."""
    node = snapshot.node
    kind = snapshot.model_kind_name.value if snapshot.model_kind_name else type(node).__name__.upper()
    intervals = [(int(a), int(b)) for a, b in snapshot.intervals]
    last_end = _from_ms(intervals[-1][1]) if intervals else None
    # Lookback intervals are re-read by every run but were done: only the others are behind.
    not_done = sorted((a, b) for a, b in missing if not _covered(a, b, intervals))
    next_due: datetime | None = None
    stale = False
    if not_done:
        next_due = due_at(node, not_done[0][1])
        stale = as_of - next_due > timedelta(seconds=grace_s)
    elif last_end is not None and kind not in ("SEED", "EXTERNAL") and snapshot.evaluatable:
        next_due = due_at(node, _ms(node.interval_unit.cron_next(last_end)))
    if kind == "EXTERNAL":
        detail = "external table (not built by SQLMesh)"
    elif kind == "SEED":
        detail = "seed (loaded by a plan, not by the cron)"
    elif stale:
        behind = as_of - next_due if next_due else timedelta()
        detail = f"behind its cron: {len(not_done)} interval(s) due, the first {_age(behind)} ago ({_fmt(next_due)})"
    elif not_done:
        detail = f"{len(not_done)} interval(s) due since {_fmt(next_due)}, within the grace period"
    elif last_end is None:
        detail = "no intervals yet"
    else:
        detail = f"up to date; next interval due {_fmt(next_due)}" if next_due else "up to date"
    return SqlMeshModelStatus(
        name=str(node.name),
        kind=str(kind),
        cron=str(getattr(node, "cron", "") or ""),
        last_interval_end=last_end,
        missing_intervals=len(not_done),
        stale=stale,
        last_altered=_from_ms(snapshot.last_altered_ts),
        detail=detail,
        fqn=str(snapshot.name),
        next_due=next_due,
        change_category=snapshot.change_category.name if snapshot.change_category is not None else "",
        version=str(snapshot.version or ""),
        parents=tuple(sorted(str(p.name) for p in snapshot.parents)),
    )


def environment_models(sync: Any, env: Any, as_of: datetime, grace_s: float) -> tuple[SqlMeshModelStatus, ...]:
    """Every model of a SQLMesh `Environment` as `model_status` judges it at `as_of` (external ones last)."""
    from sqlmesh.core.snapshot.definition import missing_intervals

    snapshots = sync.get_snapshots(env.snapshots)
    as_of_ms = _ms(as_of)
    missing = missing_intervals(snapshots.values(), end=as_of_ms, execution_time=as_of_ms)
    return tuple(
        sorted(
            (model_status(s, missing.get(s, []), as_of, grace_s) for s in snapshots.values()),
            key=lambda m: (m.kind == "EXTERNAL", m.name),
        )
    )


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 7200:
        return f"{max(0, seconds) // 60}m"
    if seconds < 3 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def display_name(fqn: str) -> str:
    """`"CATALOG"."SCHEMA"."TABLE"` → `SCHEMA.TABLE`, for models known only by their state name."""
    parts = [p.strip('"') for p in fqn.split('"."')]
    return ".".join(parts[-2:]).lower() if len(parts) >= 2 else fqn.strip('"')


def local_changes_from(diff: Any) -> tuple[SqlMeshLocalChange, ...]:
    """A `ContextDiff` as the models that differ, direct changes named by how, children of them as "indirect"."""
    changes: dict[str, str] = {}
    names: dict[str, str] = {}
    for sid in diff.added:
        snapshot = diff.snapshots.get(sid) if isinstance(diff.snapshots, dict) else None
        names[sid.name] = str(snapshot.node.name) if snapshot is not None else display_name(sid.name)
        changes[sid.name] = "added"
    for sid in diff.removed_snapshots:
        names[sid.name] = display_name(sid.name)
        changes[sid.name] = "removed"
    for fqn, (new, _old) in diff.modified_snapshots.items():
        names[fqn] = str(new.node.name)
        if diff.directly_modified(fqn):
            changes[fqn] = "modified"
        elif diff.indirectly_modified(fqn):
            changes[fqn] = "indirect"
        else:
            changes[fqn] = "metadata"
    return tuple(sorted((SqlMeshLocalChange(names[k], v) for k, v in changes.items()), key=lambda c: c.name))


def project_signature(project: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file that defines the project, with its mtime and size: when this changes, reload and compare."""
    out: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(_IGNORED_SUFFIXES) or name == PREPARING_MARKER:
                continue
            path = Path(root) / name
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            out.append((str(path.relative_to(project)), st.st_mtime_ns, st.st_size))
    return tuple(out)


def test_result_from(result: Any, ran_at: datetime, duration_s: float) -> SqlMeshTestResult:
    """A SQLMesh `ModelTextTestResult` as plain data: names and the first meaningful line of each problem."""

    def line(text: str) -> str:
        lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
        meaningful = [ln for ln in lines if not ln.startswith(("Traceback", "File "))]
        return (meaningful or lines or [""])[0][:300]

    def named(items: Iterable[tuple[Any, str]]) -> tuple[tuple[str, str], ...]:
        return tuple((str(getattr(test, "test_name", test)), line(text)) for test, text in items)

    return SqlMeshTestResult(
        ran_at=ran_at,
        tests_run=int(result.testsRun),
        failures=named(result.failures),
        errors=named(result.errors),
        skipped=int(getattr(result, "tests_skipped", 0) or 0),
        duration_s=duration_s,
    )


# --------------------------------------------------------------------------------------------------------------
# Errors


def describe_error(exc: BaseException, settings: Settings) -> SourceError:
    """One line, safe to show (never a password), and what to do about it."""
    secrets = _secrets_of(settings)
    if isinstance(exc, SqlMeshUnavailable):
        kind = ErrorKind(exc.kind) if exc.kind in ErrorKind._value2member_map_ else ErrorKind.ERROR
        return SourceError(SOURCE, kind, _scrub(exc.message, secrets), exc.hint)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return SourceError(
            SOURCE,
            ErrorKind.TIMEOUT,
            f"SQLMesh status did not arrive within {settings.sqlmesh.timeout_s:g}s",
            "is the state database slow or unreachable? [sqlmesh] timeout_s sets the limit",
        )
    text = _scrub(first_line(exc), secrets)
    lowered = str(exc).lower()
    module = type(exc).__module__
    if module.startswith("psycopg2"):
        unknown_role = 'role "' in lowered and "does not exist" in lowered
        if unknown_role or "password authentication failed" in lowered or "no password supplied" in lowered:
            return SourceError(SOURCE, ErrorKind.AUTH, "the SQLMesh state database refused the login", _PG_AUTH_HINT)
        if "permission denied" in lowered:
            return SourceError(SOURCE, ErrorKind.DENIED, f"SQLMesh state: {text}", "grant SELECT on the state schema")
        if "timeout" in lowered or "canceling statement" in lowered:
            return SourceError(SOURCE, ErrorKind.TIMEOUT, f"SQLMesh state database: {text}", _PG_DOWN_HINT)
        if "database" in lowered and "does not exist" in lowered:
            return SourceError(SOURCE, ErrorKind.CONFIG, f"SQLMesh state database: {text}", _PG_CONFIG_HINT)
        return SourceError(SOURCE, ErrorKind.UNREACHABLE, f"SQLMesh state database unreachable: {text}", _PG_DOWN_HINT)
    if module.startswith("duckdb") or module.startswith("_duckdb"):
        if "lock" in lowered:
            return SourceError(
                SOURCE,
                ErrorKind.UNREACHABLE,
                "the SQLMesh DuckDB state file is locked by another process (a plan or run in progress?)",
                "it reads again at the next refresh; for concurrent use put the state in PostgreSQL",
            )
        if "already attached" in lowered or "different configuration" in lowered:
            return SourceError(
                SOURCE,
                ErrorKind.UNREACHABLE,
                "the SQLMesh DuckDB state file is open for writing in this process (a plan or run in progress?)",
                "it reads again at the next refresh",
            )
        return SourceError(SOURCE, ErrorKind.BAD_RESPONSE, f"SQLMesh DuckDB state: {text}", "")
    return SourceError(SOURCE, ErrorKind.ERROR, f"SQLMesh: {text}", "")


_PG_AUTH_HINT = "check the state connection's user and password (environment variables read by the project config)"
_PG_DOWN_HINT = "is PostgreSQL running and reachable from here? see the SQLMesh state database probe"
_PG_CONFIG_HINT = "check the state connection's database name in the project config"


def _secrets_of(settings: Settings) -> tuple[str, ...]:
    """Values that must never appear in a message: every password-like variable the projects read."""
    names = [n for n in os.environ if any(w in n.upper() for w in ("PASSWORD", "PASSPHRASE", "SECRET", "TOKEN"))]
    return tuple(v for v in (os.environ.get(n, "") for n in names) if len(v) >= 3)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# --------------------------------------------------------------------------------------------------------------
# The work on the SQLMesh thread


@dataclass(frozen=True)
class _LocalCheck:
    key: tuple[Any, ...]  # (project signature, environment, its plan id)
    changes: tuple[SqlMeshLocalChange, ...]
    checked_at: datetime
    error: str = ""


class SqlMeshSession:
    """What a reader keeps between reads. Used only on the SQLMesh thread (no locking needed)."""

    def __init__(self, results: SqlMeshResults, cache_root: Path | None = None) -> None:
        self.results = results
        self.cache_root = cache_root  # where parsed-project caches go; default: the user's cache directory
        self._project: ProjectConfig | None = None
        self._project_key: tuple[Any, ...] | None = None
        self._state: ReadOnlyState | None = None  # kept open between reads for server databases only
        self._snapshot_cache = MemorySnapshotCache()
        self._context: Any = None
        self._context_signature: tuple[Any, ...] | None = None
        self._local: _LocalCheck | None = None
        # Where the last status read spent its time: loading the project config, reading state (for the bench).
        self.timings: dict[str, float] = {}

    # -- project and state ----------------------------------------------------------------------------------

    def project(self, settings: Settings) -> ProjectConfig:
        path = settings.resolve(settings.sqlmesh.project_path).resolve()
        key = (str(path), settings.sqlmesh.gateway.lower(), config_signature(path))
        if self._project is None or self._project_key != key:
            self.close()
            cache = project_cache_dir(path, self.cache_root)
            self._project = load_project_config(path, settings.sqlmesh.gateway, cache)
            self._project_key = key
        return self._project

    def open_state(self, project: ProjectConfig, settings: Settings) -> ReadOnlyState:
        if self._state is not None:
            return self._state
        state = ReadOnlyState.open(
            project,
            connect_timeout_s=settings.sqlmesh.connect_timeout_s,
            statement_timeout_s=settings.sqlmesh.timeout_s,
            snapshot_cache=self._snapshot_cache,
        )
        if project.state_connection.type_ != "duckdb":
            self._state = state  # a server connection is worth keeping; a DuckDB file lock is not
        return state

    def release_state(self, state: ReadOnlyState, failed: bool) -> None:
        if state is not self._state:
            state.close()
        elif failed:
            self._state = None
            state.close()

    def close(self) -> None:
        if self._state is not None:
            state, self._state = self._state, None
            state.close()
        if self._context is not None:
            context, self._context = self._context, None
            context.close()
        self._context_signature = None
        self._snapshot_cache.clear()
        self._project = None
        self._project_key = None
        self._local = None

    # -- status -----------------------------------------------------------------------------------------------

    def read_status(self, settings: Settings, as_of: datetime) -> tuple[SqlMeshStatus, bool]:
        """The status, and whether the local comparison is out of date (then `check_local_changes` should run)."""
        env_name = settings.sqlmesh.environment
        path = settings.resolve(settings.sqlmesh.project_path).resolve()
        base = SqlMeshStatus(
            environment=env_name, gateway=settings.sqlmesh.gateway, project_path=str(path), as_of=as_of
        )
        marker = path / PREPARING_MARKER
        if marker.is_file():
            text = marker.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            note = text[0][:200] if text else "preparing the SQLMesh state"
            return dataclasses.replace(base, has_state=False, note=note), False
        started = time.perf_counter()
        project = self.project(settings)
        loaded = time.perf_counter()
        self.timings = {"config_s": loaded - started}
        base = dataclasses.replace(base, gateway=project.gateway)
        try:
            state = self.open_state(project, settings)
        except NoStateYet as reason:
            return dataclasses.replace(base, has_state=False, note=f"no SQLMesh state yet: {reason}"), False
        failed = True
        try:
            summaries = state.sync.get_environments_summary()
            environments = tuple(
                sorted((environment_from(s, as_of) for s in summaries), key=lambda e: (e.name != "prod", e.name))
            )
            env = state.sync.get_environment(env_name)
            models: tuple[SqlMeshModelStatus, ...] = ()
            note = ""
            plan_id = ""
            if env is None:
                note = f"environment '{env_name}' not found in state"
            else:
                plan_id = env.plan_id
                models = environment_models(state.sync, env, as_of, settings.sqlmesh.grace_s)
            failed = False
        finally:
            self.release_state(state, failed)
            self.timings["state_s"] = time.perf_counter() - loaded
        status = dataclasses.replace(base, environments=environments, models=models, note=note)
        key = (project_signature(project.path), env_name, plan_id)
        local = self._local
        if local is not None and _same_check(local.key, key):
            return self._with_local(status, local), False
        return status, True

    @staticmethod
    def _with_local(status: SqlMeshStatus, local: _LocalCheck) -> SqlMeshStatus:
        unapplied = tuple(c.name for c in local.changes if c.change != "indirect")
        return dataclasses.replace(
            status,
            unapplied_changes=unapplied,
            local_changes=local.changes,
            local_changes_checked_at=local.checked_at,
            local_changes_error=local.error,
        )

    # -- the project against the environment -----------------------------------------------------------------

    def context(self, project: ProjectConfig) -> Any:
        """The parsed project, reloaded when any of its files changed."""
        signature = (str(project.path), project.gateway, project_signature(project.path))
        if self._context is None or self._context_signature != signature:
            if self._context is not None:
                self._context.close()
                self._context = None
            self._context = load_read_only_context(project)
            self._context_signature = signature
        return self._context

    def check_local_changes(self, settings: Settings, now: datetime) -> None:
        """Compare the project on disk with the environment, as a plan would (`ContextDiff`), reading only.

        The project is parsed before the state is opened, so a DuckDB state file is held only for the diff.
        A project that does not parse is reported in `local_changes_error` (until its files change), not raised.
        """
        from sqlmesh.core.context_diff import ContextDiff

        env_name = settings.sqlmesh.environment
        project = self.project(settings)
        signature = project_signature(project.path)
        try:
            context = self.context(project)
        except Exception as exc:
            if not _is_project_error(exc):
                raise
            self._local = _LocalCheck((signature, env_name, ANY_PLAN), (), now, first_line(exc))
            return
        try:
            state = self.open_state(project, settings)
        except NoStateYet:
            return
        failed = True
        try:
            env = state.sync.get_environment(env_name)
            key = (signature, env_name, env.plan_id if env is not None else "")
            if self._local is None or not _same_check(self._local.key, key):
                context.read_only_state = state
                try:
                    diff = ContextDiff.create(env_name, context.snapshots, create_from="prod", state_reader=state.sync)
                finally:
                    context.read_only_state = None
                self._local = _LocalCheck(key, local_changes_from(diff), now)
            failed = False
        except Exception as exc:
            if not _is_project_error(exc):
                raise
            self._local = _LocalCheck((signature, env_name, ANY_PLAN), (), now, first_line(exc))
            failed = False
        finally:
            self.release_state(state, failed)

    # -- unit tests --------------------------------------------------------------------------------------------

    def run_unit_tests(self, settings: Settings) -> SqlMeshTestResult:
        """The project's unit tests, on SQLMesh's test connection (in-memory DuckDB unless the project says
        otherwise); no state is attached to the context, so nothing can reach it."""
        ran_at = utc_now()
        started = time.perf_counter()
        try:
            context = self.context(self.project(settings))
            result = context.test()
            outcome = test_result_from(result, ran_at, time.perf_counter() - started)
        except SqlMeshUnavailable as exc:
            outcome = SqlMeshTestResult(ran_at, 0, errors=(("project", exc.message),))
        except Exception as exc:  # a project that does not load, a broken test file: shown, not raised
            outcome = SqlMeshTestResult(
                ran_at, 0, errors=(("project", first_line(exc)),), duration_s=time.perf_counter() - started
            )
        self.results.record_tests(outcome)
        return outcome


ANY_PLAN = "*"  # in a comparison's key: valid whatever the environment's plan (the project itself failed to load)


def _same_check(stored: tuple[Any, ...], current: tuple[Any, ...]) -> bool:
    return stored[:2] == current[:2] and stored[2] in (ANY_PLAN, current[2])


def _is_project_error(exc: BaseException) -> bool:
    """Errors that come from the project's files (shown as the comparison's error) rather than the database."""
    module = type(exc).__module__
    return module.startswith(("sqlmesh", "sqlglot", "pydantic")) or isinstance(exc, ValueError | SyntaxError)


# --------------------------------------------------------------------------------------------------------------
# The source


class SqlMeshReader:
    """The SQLMesh source: `await reader(settings)` → `SourceResult[SqlMeshStatus]`; `close()` when done.

    Owns the SQLMesh thread (`runtime`, which plan and run actions should share) and the results store
    (`results`). A read that times out keeps running on the thread; the next call waits for that same read
    instead of queueing another behind it.

    `clock`: "now" for freshness when the settings give no `as_of` (tests inject one). `wait_for_local_changes`:
    make a read also wait for the project comparison when it is out of date (one-shot users such as `check`);
    otherwise it runs after the read and `on_update` (called from the SQLMesh thread) says when it landed.
    `cache_root`: where parsed-project caches go (default: the user's cache directory, never the project).
    """

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        runtime: SqlMeshRuntime | None = None,
        results: SqlMeshResults | None = None,
        wait_for_local_changes: bool = False,
        on_update: Callable[[], None] | None = None,
        cache_root: Path | None = None,
    ) -> None:
        self.clock = clock
        self.runtime = runtime or SqlMeshRuntime()
        self._owns_runtime = runtime is None
        self.results = results or SqlMeshResults()
        self.session = SqlMeshSession(self.results, cache_root)
        self.wait_for_local_changes = wait_for_local_changes
        self.on_update = on_update
        self._inflight: concurrent.futures.Future[tuple[SqlMeshStatus, bool]] | None = None
        self._local_future: concurrent.futures.Future[None] | None = None

    async def __call__(self, settings: Settings) -> SourceResult[SqlMeshStatus]:
        fetched_at = utc_now()
        started = time.monotonic()
        timeout = settings.sqlmesh.timeout_s
        try:
            status, stale_local = await self._read(settings, timeout)
            if stale_local and status.has_state:
                local = self._schedule_local_check(settings)
                if self.wait_for_local_changes:
                    remaining = max(0.1, timeout - (time.monotonic() - started))
                    await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(local)), remaining)
                    status, _ = await self._read(settings, max(0.1, timeout - (time.monotonic() - started)))
        except Exception as exc:
            return SourceResult(
                SOURCE, fetched_at, error=describe_error(exc, settings), duration_s=time.monotonic() - started
            )
        status = dataclasses.replace(status, tests=self.results.tests(), audits=self.results.audits())
        return SourceResult(SOURCE, fetched_at, data=status, duration_s=time.monotonic() - started)

    async def _read(self, settings: Settings, timeout: float) -> tuple[SqlMeshStatus, bool]:
        if self._inflight is None or self._inflight.done():
            as_of = settings.sqlmesh.as_of or self.clock()
            self._inflight = self.runtime.submit(self.session.read_status, settings, as_of)
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._inflight)), timeout)

    def _schedule_local_check(self, settings: Settings) -> concurrent.futures.Future[None]:
        if self._local_future is not None and not self._local_future.done():
            return self._local_future
        future = self.runtime.submit(self.session.check_local_changes, settings, self.clock())
        if self.on_update is not None:
            callback = self.on_update
            future.add_done_callback(lambda f: callback() if not f.cancelled() and f.exception() is None else None)
        self._local_future = future
        return future

    async def check_local_changes(self, settings: Settings) -> SourceResult[SqlMeshStatus]:
        """Compare the project with the environment now (if anything changed), then read the status."""
        try:
            await asyncio.wrap_future(self._schedule_local_check(settings))
        except Exception as exc:
            return SourceResult(SOURCE, utc_now(), error=describe_error(exc, settings))
        return await self(settings)

    async def run_unit_tests(self, settings: Settings) -> SqlMeshTestResult:
        """Run the project's unit tests on the SQLMesh thread; the result is also kept for the status."""
        return await self.runtime.call(self.session.run_unit_tests, settings)

    def close(self) -> None:
        """Drop pending comparisons, close connections on the SQLMesh thread, stop the thread if it is ours.

        Never blocks: a read still running finishes first, then the connections close behind it.
        """
        for future in (self._local_future, self._inflight):
            if future is not None:
                future.cancel()
        try:
            self.runtime.submit(self.session.close)
        except RuntimeError:
            return  # the runtime is already closed
        if self._owns_runtime:
            self.runtime.close(wait=False, cancel_pending=False)


def run_unit_tests(settings: Settings, session: SqlMeshSession | None = None) -> SqlMeshTestResult:
    """Run the project's unit tests without touching state; call it on the SQLMesh thread (`SqlMeshRuntime`)."""
    return (session or SqlMeshSession(SqlMeshResults())).run_unit_tests(settings)
