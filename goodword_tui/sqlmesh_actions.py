"""SQLMesh actions launched from the dashboard: model details, plan previews, unit tests (all read-only), and the
two that write: applying a previewed plan and running missing intervals.

Every piece of SQLMesh work in this process goes through the reader's runtime (its one thread) and its session
(the parsed project, the read-only state opener). A preview is built on the session's read-only context: the
state is attached through a connection the database keeps read-only, so building a plan cannot write, and a
project with no state yet is previewed against an empty in-memory state (everything "added").

The two writes are not sent from here directly: `plan_apply` / `plan_run` make them Changes (changes/sqlmesh.py)
that only `changes.apply.apply_change` sends, with its guards (a reason, read-only mode refused before anything
is contacted, `prod` typed for prod, a re-read for concurrent plans), the journal and the verification.
`apply_preview` re-builds the plan on a writable `Context` and applies it only if it is still the plan that was
shown (same new snapshots, same backfill); progress comes from a console that forwards SQLMesh's events, and a
cancel stops between models (SQLMesh's circuit breaker). `sqlmesh run` has no cancel hook in the API, so
`run_blocking` runs it as a subprocess (`sqlmesh_child`, which also records its audits) whose output is streamed
line by line: cancel interrupts it, then terminates it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goodword_tui.config import Settings
from goodword_tui.model import SqlMeshAuditResult, SqlMeshModelStatus, SqlMeshTestResult
from goodword_tui.sqlmesh_child import AUDIT_LOG_ENV, read_audit_log
from goodword_tui.sqlmesh_runtime import (
    IMPORT_SWITCHES,
    NoStateYet,
    ReadOnlyState,
    SqlMeshUnavailable,
    first_line,
    open_read_only_adapter,
    project_cache_dir,
)

if TYPE_CHECKING:
    from goodword_tui.changes.base import Change
    from goodword_tui.sources.sqlmesh import SqlMeshReader, SqlMeshSession


class SqlMeshReadOnly(Exception):
    """A write (apply, run) asked for in read-only mode: refused before anything is contacted."""


class SqlMeshActionError(Exception):
    """An action could not be done; the message is one line, safe to show."""


def snapshot_key(snapshot_id: Any) -> str:
    """A SQLMesh `SnapshotId` as one comparable string: `name@identifier` (the identifier is the fingerprint's)."""
    return f"{snapshot_id.name}@{snapshot_id.identifier}"


def _ms_to_dt(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def short_name(fqn: str) -> str:
    """`"CATALOG"."SCHEMA"."TABLE"` → `schema.table` (how the pane names models)."""
    parts = [p.strip('"') for p in fqn.split('"."')]
    return ".".join(parts[-2:]).lower() if len(parts) >= 2 else fqn.strip('"').lower()


# --------------------------------------------------------------------------------------------------------------
# Plain results


@dataclass(frozen=True)
class PlanChange:
    name: str
    change: str  # "added" | "removed" | "directly modified" | "indirectly modified" | "metadata"
    category: str = ""  # BREAKING, NON_BREAKING, INDIRECT_NON_BREAKING, ... ("" until categorized)
    because_of: tuple[str, ...] = ()  # for an indirect change: the directly modified parents behind it
    diff: str = ""  # the text diff of a direct change


@dataclass(frozen=True)
class BackfillItem:
    name: str
    intervals: int
    span: str  # "2025-09-01 - 2025-10-05"
    fqn: str = ""  # the name in state ("CATALOG"."SCHEMA"."TABLE"): what verification looks up


@dataclass(frozen=True)
class PlanPreview:
    """A plan built and not applied: what it would change, how, and what it would backfill."""

    environment: str
    gateway: str
    project_path: str
    execution_time: str
    plan_id: str
    is_new_environment: bool
    has_changes: bool
    requires_backfill: bool
    changes: tuple[PlanChange, ...] = ()
    backfill: tuple[BackfillItem, ...] = ()
    uncategorized: tuple[str, ...] = ()
    build_s: float = 0.0
    note: str = ""  # e.g. "no state yet: previewed against an empty state"
    signature: tuple[Any, ...] = ()  # new snapshot ids and backfill: apply refuses a plan that differs
    environment_snapshots: tuple[str, ...] = ()  # "name@identifier" of every snapshot the environment will hold

    @property
    def needs_typed_confirmation(self) -> bool:
        return self.environment == "prod"


@dataclass(frozen=True)
class ModelDetail:
    name: str
    fqn: str
    kind: str
    cron: str
    description: str = ""
    owner: str = ""
    rendered_sql: str = ""
    intervals: tuple[tuple[datetime, datetime], ...] = ()  # in the environment (state), merged
    parents: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    audits: tuple[tuple[str, str], ...] = ()  # (audit name, its arguments as SQL)
    columns: tuple[tuple[str, str], ...] = ()
    error: str = ""  # what could not be loaded (the rest is still shown)


@dataclass(frozen=True)
class ApplyEvent:
    """One step of an apply, forwarded from SQLMesh's console (called on the SQLMesh thread)."""

    kind: str  # "start" | "create" | "evaluate" | "model" | "promote" | "log" | "done"
    message: str
    model: str = ""
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class ApplyOutcome:
    ok: bool
    message: str
    cancelled: bool = False
    duration_s: float = 0.0


@dataclass(frozen=True)
class AuditOutcome:
    """The audits of an environment's models, run from the dashboard (`a`)."""

    environment: str
    results: tuple[SqlMeshAuditResult, ...] = ()
    errors: tuple[str, ...] = ()  # "model: why" for models whose audits could not run
    duration_s: float = 0.0

    @property
    def failed(self) -> tuple[SqlMeshAuditResult, ...]:
        return tuple(r for r in self.results if not r.ok)


# --------------------------------------------------------------------------------------------------------------
# On the SQLMesh thread


def _execution_time(settings: Settings) -> str:
    moment = settings.sqlmesh.as_of or datetime.now(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _empty_state(project: Any) -> ReadOnlyState:
    """A migrated, empty state in an in-memory DuckDB: what a first plan compares against. Nothing on disk."""
    import duckdb
    from sqlmesh.core.engine_adapter import DuckDBEngineAdapter
    from sqlmesh.core.state_sync import EngineAdapterStateSync

    connection = duckdb.connect(":memory:")
    adapter = DuckDBEngineAdapter(lambda: connection, default_catalog=project.state_connection.get_catalog())
    sync = EngineAdapterStateSync(adapter, schema=project.state_schema, cache_dir=project.cache_dir / "empty-state")
    sync.migrate()
    return ReadOnlyState(sync, adapter)


def preview_from(
    plan: Any, gateway: str, project_path: str, execution_time: str, build_s: float, note: str
) -> PlanPreview:
    """A SQLMesh `Plan` as plain data: direct > indirect > metadata, as SQLMesh's own console ranks them."""
    diff = plan.context_diff
    categories = {s.snapshot_id: (s.change_category.name if s.change_category else "") for s in plan.new_snapshots}
    changes: list[PlanChange] = []
    seen: set[str] = set()
    for sid in sorted(diff.added, key=lambda s: s.name):
        changes.append(PlanChange(short_name(sid.name), "added", categories.get(sid, "")))
        seen.add(sid.name)
    for sid in sorted(diff.removed_snapshots, key=lambda s: s.name):
        changes.append(PlanChange(short_name(sid.name), "removed"))
        seen.add(sid.name)
    direct = sorted(plan.directly_modified, key=lambda s: s.name)
    for sid in direct:
        text = ""
        with contextlib.suppress(Exception):  # a diff is a courtesy; the change itself is what matters
            text = diff.text_diff(sid.name)
        changes.append(PlanChange(short_name(sid.name), "directly modified", categories.get(sid, ""), diff=text))
        seen.add(sid.name)
    causes: dict[str, list[str]] = {}
    ids: dict[str, Any] = {}
    for parent, children in plan.indirectly_modified.items():
        for child in children:
            causes.setdefault(child.name, []).append(short_name(parent.name))
            ids[child.name] = child
    for name in sorted(causes):
        if name not in seen:
            changes.append(
                PlanChange(short_name(name), "indirectly modified", categories.get(ids[name], ""), tuple(causes[name]))
            )
            seen.add(name)
    for name in sorted(diff.modified_snapshots):
        if name not in seen and diff.metadata_updated(name):
            new, _old = diff.modified_snapshots[name]
            changes.append(PlanChange(short_name(name), "metadata", categories.get(new.snapshot_id, "")))
    backfill = tuple(
        sorted(
            (
                BackfillItem(
                    short_name(si.snapshot_id.name), len(si.intervals), si.format_intervals(), si.snapshot_id.name
                )
                for si in plan.missing_intervals
            ),
            key=lambda b: b.name,
        )
    )
    signature = (
        tuple(sorted(str(s.snapshot_id) for s in plan.new_snapshots)),
        tuple((b.name, b.intervals) for b in backfill),
    )
    return PlanPreview(
        environment=plan.environment.name,
        gateway=gateway,
        project_path=project_path,
        execution_time=execution_time,
        plan_id=str(plan.plan_id),
        is_new_environment=bool(diff.is_new_environment),
        has_changes=bool(plan.has_changes),
        requires_backfill=bool(plan.requires_backfill),
        changes=tuple(changes),
        backfill=backfill,
        uncategorized=tuple(short_name(s.name) for s in plan.uncategorized),
        build_s=build_s,
        note=note,
        signature=signature,
        environment_snapshots=tuple(sorted(snapshot_key(s.snapshot_id) for s in plan.environment.snapshots)),
    )


def build_preview(session: SqlMeshSession, settings: Settings, environment: str) -> PlanPreview:
    """Build the plan for `environment` on the read-only context; never applies, never writes."""
    started = time.perf_counter()
    project = session.project(settings)
    context = session.context(project)
    note = ""
    try:
        state = session.open_state(project, settings)
        owned = False
    except NoStateYet as reason:
        state, owned = _empty_state(project), True
        note = f"no SQLMesh state yet ({reason}): previewed against an empty state"
    execution_time = _execution_time(settings)
    failed = True
    try:
        context.read_only_state = state
        try:
            builder = context.plan_builder(environment, execution_time=execution_time, skip_tests=True)
            plan = builder.build()
        finally:
            context.read_only_state = None
        failed = False
    finally:
        if owned:
            state.close()
        else:
            session.release_state(state, failed)
    return preview_from(plan, project.gateway, str(project.path), execution_time, time.perf_counter() - started, note)


@dataclass(frozen=True)
class EnvironmentState:
    """One environment as state holds it: what a SQLMesh change is planned on and verified against."""

    environment: str
    as_of: datetime  # missing intervals are judged at this time
    has_state: bool = True
    exists: bool = False
    plan_id: str = ""
    finalized: bool = False
    snapshots: tuple[str, ...] = ()  # snapshot_key of each, sorted
    models: tuple[SqlMeshModelStatus, ...] = ()

    def model(self, fqn: str) -> SqlMeshModelStatus | None:
        return next((m for m in self.models if m.fqn == fqn), None)


def read_environment(
    session: SqlMeshSession, settings: Settings, environment: str, as_of: datetime
) -> EnvironmentState:
    """Read `environment` from state, read-only (nothing is created when there is no state)."""
    from goodword_tui.sources.sqlmesh import environment_models

    project = session.project(settings)
    try:
        state = session.open_state(project, settings)
    except NoStateYet:
        return EnvironmentState(environment, as_of, has_state=False)
    failed = True
    try:
        env = state.sync.get_environment(environment)
        if env is None:
            found = EnvironmentState(environment, as_of)
        else:
            found = EnvironmentState(
                environment,
                as_of,
                exists=True,
                plan_id=str(env.plan_id or ""),
                finalized=env.finalized_ts is not None,
                snapshots=tuple(sorted(snapshot_key(s.snapshot_id) for s in env.snapshots)),
                models=environment_models(state.sync, env, as_of, settings.sqlmesh.grace_s),
            )
        failed = False
    finally:
        session.release_state(state, failed)
    return found


def model_detail(session: SqlMeshSession, settings: Settings, environment: str, name: str) -> ModelDetail:
    """One model from the parsed project (rendered SQL, audits, lineage) and its intervals from the environment."""
    project = session.project(settings)
    context = session.context(project)
    model = context.get_model(name)
    if model is None:
        raise SqlMeshActionError(f"model {name} is not in the project on disk")
    fqn = model.fqn
    errors: list[str] = []
    graph = context.dag.graph
    parents = tuple(sorted(short_name(p) for p in graph.get(fqn, ())))
    children = tuple(sorted(short_name(child) for child, deps in graph.items() if fqn in deps))
    audits = tuple(
        (str(audit), ", ".join(f"{k} := {v.sql(dialect=model.dialect or None)}" for k, v in args.items()))
        for audit, args in model.audits
    )
    columns = tuple((str(k), v.sql(dialect=model.dialect or None)) for k, v in (model.columns_to_types or {}).items())
    intervals: tuple[tuple[datetime, datetime], ...] = ()
    rendered = ""
    try:
        state, owned = session.open_state(project, settings), False
    except NoStateYet:
        state, owned = _empty_state(project), True
    failed = True
    try:
        env = state.sync.get_environment(environment)
        if env is not None:
            infos = [s for s in env.snapshots if s.name == fqn]
            for snapshot in state.sync.get_snapshots(infos).values():
                intervals = tuple((_ms_to_dt(a), _ms_to_dt(b)) for a, b in snapshot.intervals)
        context.read_only_state = state  # rendering resolves the parents' tables through the state
        try:
            rendered = context.render(model).sql(pretty=True, dialect=model.dialect or None)
        except Exception as exc:  # a model that does not render still has everything else worth showing
            errors.append(f"render: {first_line(exc)}")
        finally:
            context.read_only_state = None
        failed = False
    finally:
        if owned:
            state.close()
        else:
            session.release_state(state, failed)
    return ModelDetail(
        name=str(model.name),
        fqn=fqn,
        kind=model.kind.name.value if hasattr(model.kind.name, "value") else str(model.kind.name),
        cron=str(model.cron),
        description=str(model.description or ""),
        owner=str(model.owner or ""),
        rendered_sql=rendered,
        intervals=intervals,
        parents=parents,
        children=children,
        audits=audits,
        columns=columns,
        error="; ".join(errors),
    )


def _warehouse_adapter(project: Any, settings: Settings, read_only: bool) -> Any:
    """The gateway's warehouse for audit queries: read-only where the database can enforce it (DuckDB,
    PostgreSQL). Elsewhere (Snowflake) the gateway's own connection, and only when not in read-only mode:
    audit queries are SELECTs, but read-only mode promises more than our word for it."""
    connection = project.config.get_connection(project.gateway)
    try:
        return open_read_only_adapter(connection, settings.sqlmesh.connect_timeout_s, settings.sqlmesh.timeout_s)
    except NoStateYet as reason:
        raise SqlMeshActionError(f"no warehouse to audit: {reason}") from None
    except SqlMeshUnavailable:
        if read_only:
            raise SqlMeshReadOnly(
                f"read-only mode: audits on {connection.type_} cannot be run on a read-only connection"
            ) from None
    return connection.create_engine_adapter()


def run_audits(session: SqlMeshSession, settings: Settings, environment: str, *, read_only: bool) -> AuditOutcome:
    """Run every audit of the models in `environment` over the intervals it holds, reading only.

    The environment's own snapshots (from state, read-only) are audited, not the project on disk: a local change
    has no table yet. `Context.audit` is not used: it opens the state through `Context.state_sync` (which
    migrates an empty database) and returns only a bool. The results go to the reader's results store.
    """
    from sqlmesh.core.snapshot.evaluator import SnapshotEvaluator

    started = time.perf_counter()
    project = session.project(settings)
    execution_time = _execution_time(settings)
    try:
        state = session.open_state(project, settings)
    except NoStateYet as reason:
        raise SqlMeshActionError(f"nothing to audit: no SQLMesh state yet ({reason})") from None
    failed = True
    try:
        env = state.sync.get_environment(environment)
        if env is None:
            raise SqlMeshActionError(f"environment '{environment}' not found in state")
        snapshots = state.sync.get_snapshots(env.snapshots)
        failed = False
    finally:
        session.release_state(state, failed)
    by_name = {s.name: s for s in snapshots.values()}
    adapter = _warehouse_adapter(project, settings, read_only)
    evaluator = SnapshotEvaluator(adapter, selected_gateway=project.gateway)
    errors: list[str] = []
    try:
        for snapshot in sorted(snapshots.values(), key=lambda s: s.name):
            if not snapshot.is_model or not snapshot.node.audits_with_args or not snapshot.intervals:
                continue
            try:
                results = evaluator.audit(
                    snapshot=snapshot,
                    snapshots=by_name,
                    start=snapshot.intervals[0][0],
                    end=snapshot.intervals[-1][1],
                    execution_time=execution_time,
                )
            except Exception as exc:  # one model's audit failing to run does not stop the others
                errors.append(f"{short_name(snapshot.name)}: {first_line(exc)}")
                continue
            session.results.record_sqlmesh_audits(results, "audit")
    finally:
        adapter.close()
    recorded = session.results.audits()
    audited = {str(s.node.name) for s in snapshots.values() if s.is_model}
    mine = tuple(r for r in recorded if r.model in audited and r.origin == "audit")
    return AuditOutcome(environment, mine, tuple(errors), time.perf_counter() - started)


def _recording_audits(context: Any, session: SqlMeshSession, origin: str) -> None:
    """Make the audits SQLMesh's scheduler runs during an apply land in the reader's results store: SQLMesh
    keeps none, and its console hears only counts. Wraps this Context's own evaluator (and the copies the plan
    evaluator makes of it with `set_correlation_id`), nothing global."""

    def instrument(evaluator: Any) -> Any:
        audit, correlate = evaluator.audit, evaluator.set_correlation_id

        def recording_audit(*args: Any, **kwargs: Any) -> Any:
            results = audit(*args, **kwargs)
            with contextlib.suppress(Exception):  # recording is a courtesy; the apply must not fail for it
                session.results.record_sqlmesh_audits(results, origin)
            return results

        def recording_copy(*args: Any, **kwargs: Any) -> Any:
            return instrument(correlate(*args, **kwargs))

        evaluator.audit = recording_audit
        evaluator.set_correlation_id = recording_copy
        return evaluator

    instrument(context.snapshot_evaluator)


def _forwarding_console(emit: Callable[[ApplyEvent], None]) -> Any:
    """A SQLMesh console that hands plan/apply progress to `emit` (on the SQLMesh thread) and prints nothing."""
    from sqlmesh.core.console import NoopConsole

    class ForwardingConsole(NoopConsole):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.total = 0
            self.done = 0

        def start_creation_progress(self, snapshots: Any, *_: Any, **__: Any) -> None:
            emit(ApplyEvent("create", f"creating {len(snapshots)} physical table(s)"))

        def start_evaluation_progress(self, batched_intervals: Any, *_: Any, **__: Any) -> None:
            self.total = sum(len(b) for b in batched_intervals.values())
            emit(ApplyEvent("evaluate", f"backfilling {len(batched_intervals)} model(s)", total=self.total))

        def update_snapshot_evaluation_progress(
            self, snapshot: Any, interval: Any, batch_idx: int, duration_ms: Any, *args: Any, **kwargs: Any
        ) -> None:
            self.done += 1
            passed = kwargs.get("num_audits_passed", args[0] if args else 0)
            failed = kwargs.get("num_audits_failed", args[1] if len(args) > 1 else 0)
            emit(
                ApplyEvent(
                    "model",
                    f"{short_name(snapshot.name)} batch {batch_idx + 1} in {duration_ms or 0} ms, "
                    f"audits {passed} passed, {failed} failed",
                    short_name(snapshot.name),
                    self.done,
                    self.total,
                )
            )

        def start_promotion_progress(self, snapshots: Any, environment_naming_info: Any, *_: Any, **__: Any) -> None:
            emit(ApplyEvent("promote", f"promoting {len(snapshots)} model(s) to '{environment_naming_info.name}'"))

        def log_warning(self, short_message: str, long_message: str | None = None) -> None:
            emit(ApplyEvent("log", f"warning: {short_message}"))

        def log_error(self, message: str) -> None:
            emit(ApplyEvent("log", f"error: {message}"))

    return ForwardingConsole()


def apply_preview(
    session: SqlMeshSession,
    settings: Settings,
    preview: PlanPreview,
    emit: Callable[[ApplyEvent], None],
    cancel: threading.Event,
) -> ApplyOutcome:
    """Apply the previewed plan through a writable Context (only this writes). Call on the SQLMesh thread."""
    from sqlmesh import Context
    from sqlmesh.core.console import get_console, set_console
    from sqlmesh.utils.errors import CircuitBreakerError

    started = time.perf_counter()
    project = session.project(settings)  # the session's state handles are closed after each read
    previous = get_console()
    set_console(_forwarding_console(emit))  # read by Context() at construction: set before it
    context = None
    try:
        context = Context(paths=project.path, config=project.configs, gateway=project.gateway)
        _recording_audits(context, session, "plan")
        plan = context.plan_builder(preview.environment, execution_time=preview.execution_time, skip_tests=True).build()
        again = preview_from(plan, project.gateway, str(project.path), preview.execution_time, 0.0, "")
        if again.signature != preview.signature:
            return ApplyOutcome(
                False, "the project or the state changed since the preview: preview again (p) before applying"
            )
        if plan.uncategorized:
            return ApplyOutcome(False, f"uncategorized changes: {', '.join(again.uncategorized)}")
        emit(ApplyEvent("start", f"applying plan {plan.plan_id[:8]} to '{preview.environment}'"))
        context.apply(plan, circuit_breaker=cancel.is_set)
    except CircuitBreakerError:
        return ApplyOutcome(False, "cancelled between models", cancelled=True, duration_s=time.perf_counter() - started)
    except Exception as exc:
        return ApplyOutcome(False, f"apply failed: {first_line(exc)}", duration_s=time.perf_counter() - started)
    finally:
        if context is not None:
            context.close()
        set_console(previous)
    elapsed = time.perf_counter() - started
    emit(ApplyEvent("done", f"applied to '{preview.environment}' in {elapsed:.1f}s"))
    return ApplyOutcome(True, f"plan applied to '{preview.environment}'", duration_s=elapsed)


# --------------------------------------------------------------------------------------------------------------
# `sqlmesh run` as a subprocess


def run_arguments(settings: Settings, environment: str, select_models: Sequence[str] = ()) -> list[str]:
    """The `sqlmesh` CLI arguments for a run of `environment` (up to the settings' clock when one is fixed)."""
    arguments = ["-p", str(project_path(settings)), "--gateway", settings.sqlmesh.gateway, "run", environment]
    if settings.sqlmesh.as_of is not None:
        arguments += ["--end", settings.sqlmesh.as_of.strftime("%Y-%m-%d %H:%M:%S")]
    for model in select_models:
        arguments += ["--select-model", model]
    return arguments


def run_command(settings: Settings, environment: str, select_models: Sequence[str] = ()) -> list[str]:
    """What is executed: the `sqlmesh` CLI through `goodword_tui.sqlmesh_child`, which also records audits."""
    return [sys.executable, "-m", "goodword_tui.sqlmesh_child", *run_arguments(settings, environment, select_models)]


def shown_command(settings: Settings, environment: str, select_models: Sequence[str] = ()) -> str:
    """The same run as a person would type it (what the preview and the journal show)."""
    return shlex.join(["sqlmesh", *run_arguments(settings, environment, select_models)])


@dataclass
class RunOutcome:
    """How a `sqlmesh run` ended: its exit code, whether it was cancelled, its output and the audits it ran."""

    exit_code: int
    cancelled: bool = False
    lines: list[str] = field(default_factory=list)
    audits: tuple[SqlMeshAuditResult, ...] = ()


def _escalate(process: subprocess.Popen[bytes], cancel: threading.Event, grace_s: float) -> None:
    """Wait for `cancel`; then SIGINT (SQLMesh stops like on ctrl-c), SIGTERM, SIGKILL, each after `grace_s`."""
    while process.poll() is None:
        if cancel.wait(0.1):
            break
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)


def run_blocking(
    command: Sequence[str],
    project: Path,
    *,
    on_line: Callable[[str], None] = lambda _line: None,
    cancel: threading.Event | None = None,
    cache_root: Path | None = None,
    grace_s: float = 5.0,
) -> RunOutcome:
    """Run `command` (from `run_command`) for `project` and wait for it: call it from a worker thread.

    Output lines go to `on_line` as they are written; setting `cancel` interrupts, then terminates the process.
    The audits SQLMesh ran come back in the outcome (the child writes them to a file; SQLMesh keeps none).
    """
    cancel = cancel or threading.Event()
    workdir = project_cache_dir(project, cache_root) / "run"  # the CLI writes logs/ here
    workdir.mkdir(parents=True, exist_ok=True)
    audit_log = workdir / f"audits-{os.getpid()}-{threading.get_ident()}.jsonl"
    audit_log.unlink(missing_ok=True)
    env = {
        **os.environ,
        **IMPORT_SWITCHES,
        AUDIT_LOG_ENV: str(audit_log),
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }
    process = subprocess.Popen(
        list(command),
        cwd=str(workdir),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a ctrl-c in the dashboard's terminal is not the run's
    )
    watcher = threading.Thread(target=_escalate, args=(process, cancel, grace_s), daemon=True, name="sqlmesh-run")
    watcher.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            lines.append(line)
            with contextlib.suppress(Exception):  # a closed screen must not stop the run being read to its end
                on_line(line)
        code = process.wait()
    finally:
        if process.poll() is None:
            cancel.set()
        watcher.join()
        if process.stdout is not None:
            process.stdout.close()
    audits = read_audit_log(audit_log)
    audit_log.unlink(missing_ok=True)
    return RunOutcome(code, cancel.is_set(), lines, audits)


# --------------------------------------------------------------------------------------------------------------
# The facade the UI uses


class SqlMeshActions:
    """Plan previews, details, tests and audits on the reader's SQLMesh thread; applies and runs planned as
    Changes (`plan_apply`, `plan_run`) that only `changes.apply.apply_change` sends (guards, journal, verify)."""

    def __init__(self, reader: SqlMeshReader, settings: Settings, *, read_only: bool) -> None:
        self.reader = reader
        self.settings = settings
        self.read_only = read_only

    def _settings_for(self, environment: str) -> Settings:
        if environment == self.settings.sqlmesh.environment:
            return self.settings
        sqlmesh = self.settings.sqlmesh.model_copy(update={"environment": environment})
        return self.settings.model_copy(update={"sqlmesh": sqlmesh})

    async def preview(self, environment: str) -> PlanPreview:
        return await self.reader.runtime.call(build_preview, self.reader.session, self.settings, environment)

    async def environment(self, environment: str) -> EnvironmentState:
        """The environment as state holds it now (plan, snapshots, missing intervals), read-only."""
        as_of = self.settings.sqlmesh.as_of or self.reader.clock()
        return await self.reader.runtime.call(read_environment, self.reader.session, self.settings, environment, as_of)

    async def prepare_apply(self, environment: str) -> tuple[PlanPreview, Change | None, str]:
        """The preview of a plan for `environment`, and the Change that applies it (None, with why, when there
        is nothing it could apply). Nothing is applied."""
        from goodword_tui.changes.base import plan
        from goodword_tui.changes.inputs import InputError
        from goodword_tui.changes.sqlmesh import SqlMeshPlanState

        target = await self.environment(environment)  # first: a plan applied meanwhile shows as a conflict
        preview = await self.preview(environment)
        state = SqlMeshPlanState(target, preview)
        try:
            change = plan("sqlmesh_apply", {"environment": environment}, state, self.settings)
        except InputError as error:
            return preview, None, error.message
        return preview, change, ""

    async def plan_apply(self, environment: str) -> Change:
        """The Change that applies a plan for `environment` (System.SQLMESH); InputError when there is none."""
        from goodword_tui.changes.inputs import InputError

        _preview, change, problem = await self.prepare_apply(environment)
        if change is None:
            raise InputError("plan", problem)
        return change

    async def plan_run(self, environment: str, select_models: Sequence[str] = ()) -> Change:
        """A run of `environment`'s missing intervals as a Change; InputError when nothing is missing."""
        from goodword_tui.changes.base import plan

        target = await self.environment(environment)
        params = {"environment": environment, "select_models": list(select_models)}
        return plan("sqlmesh_run", params, target, self.settings)

    async def detail(self, environment: str, name: str) -> ModelDetail:
        return await self.reader.runtime.call(model_detail, self.reader.session, self.settings, environment, name)

    async def run_tests(self) -> SqlMeshTestResult:
        """Unit tests never touch state (SQLMesh's test connection): allowed in read-only mode."""
        return await self.reader.run_unit_tests(self.settings)

    async def audit(self, environment: str) -> AuditOutcome:
        """Audits only read (state read-only, the warehouse read-only where it can be): allowed in read-only
        mode, except on a warehouse that cannot be opened read-only (refused below the UI)."""
        return await self.reader.runtime.call(
            run_audits, self.reader.session, self._settings_for(environment), environment, read_only=self.read_only
        )


def reader_of(monitor: Any) -> SqlMeshReader | None:
    """The Monitor's SQLMesh reader when it uses the real source (None with scripted fetchers); when the sources
    are read in the reader process, the in-process reader that actions use beside it."""
    from goodword_tui.sources.sqlmesh import SqlMeshReader

    fetcher = getattr(monitor, "fetchers", {}).get("sqlmesh")
    if isinstance(fetcher, SqlMeshReader):
        return fetcher
    local = getattr(fetcher, "local_reader", None)
    reader = local() if callable(local) else None
    return reader if isinstance(reader, SqlMeshReader) else None


def project_path(settings: Settings) -> Path:
    return settings.resolve(settings.sqlmesh.project_path).resolve()
