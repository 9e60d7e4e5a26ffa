"""SQLMesh writes as Changes: applying a previewed plan to an environment, and running its missing intervals.

Both go through `changes.apply.apply_change` like every other change, so they get the same guards (a reason,
read-only mode refused before anything is contacted, the environment's name typed for `prod`), the same journal
(intent before, result after, operator and mode) and the same verification by re-reading:

- `sqlmesh_apply` is planned on a `SqlMeshPlanState`: the environment as state holds it and the plan preview
  (`sqlmesh_actions.build_preview`). Its request lists exactly what the plan does (modified models with their
  categories, the backfill, the diffs); the concurrency guard re-reads the environment and refuses when another
  plan landed since the preview; verification re-reads the environment: finalized, holding exactly the previewed
  snapshots, and the backfilled models without missing intervals.
- `sqlmesh_run` is planned on an `EnvironmentState`; its request is the command line and the models with missing
  intervals; verification re-reads that those intervals are now present. The audits the run executed are kept
  in the reader's results (origin "run").

Neither has an inverse: SQLMesh keeps the previous versions, but undoing a plan means planning the old project
again, which the dashboard leaves to a person (`irreversible_reason` says so).

The send needs the process's SQLMesh thread (`SqlMeshReader.runtime`): `use_reader(ctx, reader)` ties a reader to
a ChangeContext (the dashboard ties the Monitor's); without one, a private reader is made for that context.
Progress, output lines and a cancel ride on the request (`watched`), never in the journal.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goodword_tui.analysis.sqlmesh_views import preview_lines
from goodword_tui.changes.base import (
    Change,
    Effect,
    Intent,
    System,
    TargetView,
    Verification,
    register,
    register_ops,
)
from goodword_tui.changes.inputs import InputError
from goodword_tui.config import Settings
from goodword_tui.sqlmesh_actions import (
    ApplyEvent,
    EnvironmentState,
    PlanPreview,
    RunOutcome,
    SqlMeshActionError,
    SqlMeshReadOnly,
    apply_preview,
    project_path,
    read_environment,
    run_blocking,
    run_command,
    short_name,
    shown_command,
)

if TYPE_CHECKING:
    from goodword_tui.changes.apply import ChangeContext
    from goodword_tui.sources.sqlmesh import SqlMeshReader

ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$")
MODEL_NAME = re.compile(r'^[A-Za-z0-9_."]{1,255}$')
PROD = "prod"
READ_TIMEOUT_S = 300.0  # a state read waits behind whatever the SQLMesh thread is doing (a project comparison ...)
NO_UNDO = (
    "the dashboard does not undo SQLMesh plans or runs: SQLMesh keeps the previous versions, so revert the "
    "project and apply a plan (p) to go back"
)


def _ignore(_: Any) -> None:
    """A callback that drops what it is given."""


@dataclass
class Watch:
    """How the caller follows a SQLMesh change while it is sent: apply progress, run output, a cancel.

    Callbacks run on the thread doing the work (the SQLMesh thread, or the worker running the subprocess).
    After a run, `run` holds how it ended (exit code, output, audits).
    """

    on_event: Callable[[ApplyEvent], None] = _ignore
    on_line: Callable[[str], None] = _ignore
    cancel: threading.Event = field(default_factory=threading.Event)
    run: RunOutcome | None = None


@dataclass(frozen=True)
class SqlMeshRequest:
    """What a SQLMesh change does, in words a person checks: the plan's changes and backfill, or the command."""

    operation: str  # "apply" | "run"
    environment: str
    gateway: str
    project_path: str
    lines: tuple[str, ...]
    command: tuple[str, ...] = ()  # run: what is executed
    shown: str = ""  # run: the same command as a person would type it
    select_models: tuple[str, ...] = ()
    preview: PlanPreview | None = field(default=None, compare=False, repr=False)  # apply: the plan to apply
    watch: Watch | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        return "\n".join(self.lines)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "sqlmesh",
            "operation": self.operation,
            "environment": self.environment,
            "gateway": self.gateway,
            "project_path": self.project_path,
            "text": self.text(),
        }
        if self.operation == "run":
            data["command"] = self.shown
            data["select_models"] = list(self.select_models)
        if self.preview is not None:
            data["execution_time"] = self.preview.execution_time
            data["plan_id"] = self.preview.plan_id
        return data


@dataclass(frozen=True)
class SqlMeshPlanState:
    """What `sqlmesh_apply` is planned on: the environment now and the preview of the plan (None: preview again)."""

    target: EnvironmentState
    preview: PlanPreview | None


def watched(change: Change, watch: Watch) -> Change:
    """`change` with `watch` following its send (the same change: same id, same request as journaled)."""
    if not isinstance(change.request, SqlMeshRequest):
        raise TypeError(f"{change.kind} is not a SQLMesh change")
    return dataclasses.replace(change, request=dataclasses.replace(change.request, watch=watch))


# --------------------------------------------------------------------------------------------------------------
# Validation and views


def _environment(params: Mapping[str, Any]) -> str:
    name = str(params.get("environment") or "").strip()
    if not ENVIRONMENT_NAME.match(name):
        raise InputError(
            "environment", f"{name!r} is not a SQLMesh environment name", "letters, digits, _ and -; e.g. prod, dev"
        )
    return name


def _models(params: Mapping[str, Any]) -> tuple[str, ...]:
    given = params.get("select_models") or ()
    if isinstance(given, str):
        given = (given,)
    names = tuple(str(n).strip() for n in given)
    bad = [n for n in names if not MODEL_NAME.match(n)]
    if bad:
        raise InputError("select_models", f"not a model name: {', '.join(map(repr, bad))}", "e.g. marts.daily_activity")
    return names


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def model_line(model: Any) -> str:
    """One model as the before/after views show it."""
    return (
        f"{short_name(model.fqn or model.name)}  v{model.version or '?'}  {model.change_category or '-'}  "
        f"intervals to {_when(model.last_interval_end)}  {model.missing_intervals} missing"
    )


def environment_view(target: EnvironmentState, *, intervals: bool) -> TargetView:
    """The environment as a target: its plan and every model. `intervals`: missing intervals count as a change
    (a run's concurrency check); a plan's check compares only the plan and its snapshots."""
    name = target.environment
    if not target.has_state:
        lines: tuple[str, ...] = ("no SQLMesh state yet",)
    elif not target.exists:
        lines = (f"environment {name} does not exist yet",)
    else:
        head = f"plan {target.plan_id}" + ("" if target.finalized else " (NOT finalized: a plan is being applied)")
        lines = (head, *(model_line(m) for m in target.models))
    key: tuple[Any, ...] = (target.has_state, target.exists, target.plan_id, target.finalized, target.snapshots)
    if intervals:
        key += (tuple((m.fqn, m.missing_intervals) for m in target.models),)
    data = {"plan_id": target.plan_id, "finalized": target.finalized, "as_of": target.as_of.isoformat()}
    return TargetView("sqlmesh_environment", name, lines, key, data)


def _as_of(params: Mapping[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(params["as_of"]))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------------
# Planning


@register("sqlmesh_apply", System.SQLMESH, "Apply a previewed SQLMesh plan to an environment")
def plan_apply(params: Mapping[str, Any], state: Any, settings: Settings) -> Change:
    environment = _environment(params)
    if not isinstance(state, SqlMeshPlanState) or state.preview is None:
        raise InputError("plan", "this plan has to be previewed again before it is applied", "press p for a preview")
    preview = state.preview
    if preview.environment != environment:
        raise InputError("plan", f"the preview is for '{preview.environment}', not '{environment}'")
    if preview.uncategorized:
        raise InputError("plan", f"uncategorized changes cannot be applied: {', '.join(preview.uncategorized)}")
    if not (preview.has_changes or preview.backfill or preview.is_new_environment):
        raise InputError("plan", f"nothing to apply: '{environment}' already matches the project and has no gaps")
    target = state.target
    changed = {c.name: c for c in preview.changes}
    backfill = {b.name: b for b in preview.backfill}
    after_lines = ["plan (new: this plan)"]
    for model in target.models:
        name = short_name(model.fqn or model.name)
        item = changed.get(name)
        if item is not None and item.change == "removed":
            continue
        line = model_line(model) if item is None else f"{name}  new version  {item.category or item.change}"
        if name in backfill:
            line += f"  backfill {backfill[name].intervals} interval(s) {backfill[name].span}"
        after_lines.append(line)
    known = {short_name(m.fqn or m.name) for m in target.models}
    for item in preview.changes:
        if item.name not in known and item.change != "removed":
            line = f"{item.name}  new  {item.category or item.change}"
            if item.name in backfill:
                line += f"  backfill {backfill[item.name].intervals} interval(s) {backfill[item.name].span}"
            after_lines.append(line)
    counts = {kind: sum(1 for c in preview.changes if c.change == kind) for kind in _KINDS}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no model changes"
    description = f"Apply a SQLMesh plan to '{environment}': {summary}; backfill {len(preview.backfill)} model(s)"
    request = SqlMeshRequest(
        "apply",
        environment,
        preview.gateway,
        preview.project_path,
        tuple(line for line, _tone in preview_lines(preview)),
        preview=preview,
    )
    effect = Effect(
        System.SQLMESH.value,
        "plan_applied",
        {
            "environment": environment,
            "snapshots": list(preview.environment_snapshots),
            "backfilled": [b.fqn for b in preview.backfill if b.fqn],
            "as_of": _as_of({"as_of": preview.execution_time}).isoformat(),
        },
    )
    dangerous = environment == PROD
    reasons = (
        (f"applies to {PROD}: production tables are rebuilt or backfilled and {PROD}'s views switch to them",)
        if dangerous
        else ()
    )
    return Change(
        kind="sqlmesh_apply",
        system=System.SQLMESH,
        target=environment,
        description=description,
        request=request,
        before=environment_view(target, intervals=False),
        after=TargetView("sqlmesh_environment", environment, tuple(after_lines), ("expected",)),
        params={"environment": environment, "plan_id": preview.plan_id},
        effect=effect,
        dangerous=dangerous,
        danger_reasons=reasons,
        irreversible_reason=NO_UNDO,
        notes=(preview.note,) if preview.note else (),
        state_before=state,
        settings=settings,
    )


_KINDS = ("added", "removed", "directly modified", "indirectly modified", "metadata")


@register("sqlmesh_run", System.SQLMESH, "Run an environment's missing intervals (sqlmesh run)")
def plan_run(params: Mapping[str, Any], state: Any, settings: Settings) -> Change:
    environment = _environment(params)
    select = _models(params)
    if not isinstance(state, EnvironmentState):
        raise InputError("state", "a run is planned on the environment read from SQLMesh state")
    if not state.has_state or not state.exists:
        raise InputError(
            "environment", f"'{environment}' is not in the SQLMesh state: nothing to run", "apply a plan (p)"
        )
    if not state.finalized:
        raise InputError("environment", f"a plan is being applied to '{environment}': run after it finishes")
    wanted = {s.lower() for s in select}
    due = [
        m for m in state.models if m.missing_intervals and (not wanted or {m.name.lower(), short_name(m.fqn)} & wanted)
    ]
    if not due:
        raise InputError(
            "environment",
            f"nothing to run: every model of '{environment}' has its intervals up to {_when(state.as_of)}",
        )
    command = tuple(run_command(settings, environment, select))
    shown = shown_command(settings, environment, select)
    total = sum(m.missing_intervals for m in due)
    lines = (f"$ {shown}", f"{total} missing interval(s) in {len(due)} model(s):")
    lines += tuple(f"  {short_name(m.fqn or m.name)}: {m.missing_intervals} interval(s) missing" for m in due)
    due_names = {m.fqn for m in due}
    after = tuple(
        model_line(dataclasses.replace(m, missing_intervals=0)) if m.fqn in due_names else model_line(m)
        for m in state.models
    )
    before = environment_view(state, intervals=True)
    dangerous = environment == PROD
    return Change(
        kind="sqlmesh_run",
        system=System.SQLMESH,
        target=environment,
        description=f"Run the missing intervals of '{environment}': {total} interval(s) in {len(due)} model(s)",
        request=SqlMeshRequest(
            "run",
            environment,
            settings.sqlmesh.gateway,
            str(project_path(settings)),
            lines,
            command=command,
            shown=shown,
            select_models=select,
        ),
        before=before,
        after=TargetView("sqlmesh_environment", environment, (before.lines[0], *after), ("expected",)),
        params={"environment": environment, "select_models": list(select)},
        effect=Effect(
            System.SQLMESH.value,
            "intervals_present",
            {"environment": environment, "models": sorted(due_names), "as_of": state.as_of.isoformat()},
        ),
        dangerous=dangerous,
        danger_reasons=(f"writes to {PROD}'s tables ({len(due)} model(s))",) if dangerous else (),
        irreversible_reason=NO_UNDO,
        state_before=state,
        settings=settings,
    )


# --------------------------------------------------------------------------------------------------------------
# Sending, on the process's SQLMesh thread


_READERS: weakref.WeakKeyDictionary[Any, SqlMeshReader] = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()


def use_reader(ctx: ChangeContext, reader: SqlMeshReader | None) -> None:
    """SQLMesh changes through `ctx` run on `reader`'s SQLMesh thread (the one the dashboard reads on)."""
    if reader is None:
        return
    with _READERS_LOCK:
        _READERS[ctx] = reader


def reader_for(ctx: ChangeContext) -> SqlMeshReader:
    """The reader tied to `ctx`; a private one (closed with the context) when none was given."""
    with _READERS_LOCK:
        found = _READERS.get(ctx)
        if found is None:
            from goodword_tui.sources.sqlmesh import SqlMeshReader

            found = SqlMeshReader()
            _READERS[ctx] = found
            weakref.finalize(ctx, found.close)
        return found


def _read(ctx: ChangeContext, environment: str, as_of: datetime) -> EnvironmentState:
    reader = reader_for(ctx)
    future = reader.runtime.submit(read_environment, reader.session, ctx.settings, environment, as_of)
    return future.result(timeout=READ_TIMEOUT_S)


def _verify_plan(target: EnvironmentState, params: Mapping[str, Any]) -> tuple[bool, str]:
    if not target.exists:
        return False, f"environment {target.environment} is not in state"
    if not target.finalized:
        return False, f"environment {target.environment} is not finalized (the plan did not finish)"
    expected = tuple(sorted(params.get("snapshots") or ()))
    if target.snapshots != expected:
        differ = len(set(target.snapshots) ^ set(expected))
        return False, f"{target.environment} holds other versions than the plan's ({differ} snapshot(s) differ)"
    gaps = [
        m for m in (target.model(f) for f in params.get("backfilled") or ()) if m is not None and m.missing_intervals
    ]
    if gaps:
        return False, "still missing intervals: " + ", ".join(f"{m.name} ({m.missing_intervals})" for m in gaps)
    return True, f"{target.environment} is on plan {target.plan_id}, finalized, with the previewed versions"


def _verify_run(target: EnvironmentState, params: Mapping[str, Any]) -> tuple[bool, str]:
    if not target.exists:
        return False, f"environment {target.environment} is not in state"
    models = [target.model(f) for f in params.get("models") or ()]
    gone = [f for f, m in zip(params.get("models") or (), models, strict=True) if m is None]
    gaps = [m for m in models if m is not None and m.missing_intervals]
    if gone:
        return False, f"no longer in {target.environment}: {', '.join(short_name(f) for f in gone)}"
    if gaps:
        return False, "still missing intervals: " + ", ".join(f"{m.name} ({m.missing_intervals})" for m in gaps)
    return True, f"every interval due by {_when(target.as_of)} is present in {len(models)} model(s)"


_CHECKS = {"plan_applied": _verify_plan, "intervals_present": _verify_run}


class SqlMeshOps:
    """How changes.apply reads, sends and verifies SQLMesh changes (see the module docstring)."""

    def read(self, ctx: ChangeContext, change: Change) -> tuple[Any, TargetView]:
        target = _read(ctx, change.target, _as_of(change.effect.params))
        if change.kind == "sqlmesh_apply":
            # Planned again on this read it needs a new preview: a moved environment means preview again.
            return SqlMeshPlanState(target, None), environment_view(target, intervals=False)
        return target, environment_view(target, intervals=True)

    def read_for(self, ctx: ChangeContext, intent: Intent) -> Any:
        raise InputError("entry", NO_UNDO)

    def send(self, ctx: ChangeContext, request: Any) -> None:
        if ctx.read_only:  # apply_change refused already; this is the second lock on the door
            raise SqlMeshReadOnly(f"read-only mode: sqlmesh {request.operation} of {request.environment} is refused")
        reader = reader_for(ctx)
        watch = request.watch or Watch()
        if request.operation == "apply":
            if request.preview is None:
                raise SqlMeshActionError("the plan's preview is missing: preview again (p)")
            outcome = reader.runtime.submit(
                apply_preview, reader.session, ctx.settings, request.preview, watch.on_event, watch.cancel
            ).result()
            if not outcome.ok:
                raise SqlMeshActionError(outcome.message)
            return
        run = run_blocking(
            request.command,
            Path(request.project_path),
            on_line=watch.on_line,
            cancel=watch.cancel,
            cache_root=reader.session.cache_root,
        )
        watch.run = run
        reader.results.record_audits(run.audits)
        if run.cancelled:
            raise SqlMeshActionError(f"cancelled: sqlmesh run stopped with exit code {run.exit_code}")
        if run.exit_code != 0:
            last = next((line for line in reversed(run.lines) if line.strip()), "")
            raise SqlMeshActionError(f"sqlmesh run failed (exit code {run.exit_code}): {last[:200]}")

    def check_effect(self, ctx: ChangeContext, effect: Effect) -> Verification:
        check = _CHECKS.get(effect.check)
        if check is None:
            raise InputError("effect", f"unknown SQLMesh check {effect.check!r}")
        target = _read(ctx, str(effect.params["environment"]), _as_of(effect.params))
        ok, detail = check(target, effect.params)
        return Verification(ok, detail, environment_view(target, intervals=True))


register_ops(System.SQLMESH, SqlMeshOps())
