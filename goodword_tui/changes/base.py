"""Every change is an object: `Change`, what it sends, its preview, its danger, its inverse and its effect.

A `Change` is planned, purely, from an intent (an action name and its parameters, e.g. a finding's
`SuggestedFix`) and the state it applies to (a snapshot's `SnowflakeState` / `AwsState`). Planning validates
every value (`changes.inputs`), so a Change exists only for a request built from validated values. Nothing
here talks to a server; `changes.apply` sends, verifies and journals.

- `request`: the exact SQL statement, or the AWS API operation and its parameters.
- `before` / `after`: the target (policy lists, route table, peering, security group) as it is and as it will
  be; `diff` is the preview. The concurrency guard compares `before` with a fresh read before sending.
- `dangerous` + `danger_reasons`: removing a protected entry, reducing who can reach Snowflake, removing
  network reach in AWS... applying one needs the typed `confirm_phrase`.
- `lockout`: for Snowflake policy changes, whether the operator's address or a protected entry would be
  refused afterwards; applying then needs `guards.LOCKOUT_OVERRIDE_PHRASE` as well.
- `effect`: a declarative check (JSON) that a re-read can evaluate, for verification and for crash recovery.
- `inverse()`: the change that undoes this one, planned on this one's `after` state; `inverse_intent` is
  what the journal keeps so an undo can be planned later on a fresh read.
"""

from __future__ import annotations

import difflib
import enum
import importlib
import importlib.util
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from goodword_tui.changes.guards import LockoutReport
from goodword_tui.changes.inputs import InputError
from goodword_tui.config import Settings
from goodword_tui.model import AwsState, Snapshot, SnowflakeState, SuggestedFix


class System(enum.StrEnum):
    """The system a change modifies; its value is also the Snapshot attribute holding that system's state."""

    SNOWFLAKE = "snowflake"
    AWS = "aws"
    SQLMESH = "sqlmesh"  # for SQLMesh plan/run changes (changes/sqlmesh.py, when it exists)


# --------------------------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class SqlRequest:
    """One SQL statement, sent as is through the Snowflake gateway."""

    sql: str

    def text(self) -> str:
        return self.sql

    def to_json(self) -> dict[str, Any]:
        return {"type": "sql", "sql": self.sql}


@dataclass(frozen=True)
class ApiRequest:
    """One AWS API call: service, operation (as AWS names it) and its parameters."""

    service: str
    operation: str
    params: Mapping[str, Any]

    def text(self) -> str:
        return f"{self.service} {self.operation} " + json.dumps(self.params, sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        return {"type": "api", "service": self.service, "operation": self.operation, "params": _plain(self.params)}


Request = SqlRequest | ApiRequest


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------------------
# Preview


@dataclass(frozen=True)
class DiffLine:
    op: Literal["+", "-", " "]
    text: str

    def __str__(self) -> str:
        return f"{self.op} {self.text}"


def diff_lines(before: Sequence[str], after: Sequence[str]) -> tuple[DiffLine, ...]:
    """A full line diff (unchanged lines kept, so the whole list is shown), removals before additions."""
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=list(before), b=list(after), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [DiffLine(" ", line) for line in before[i1:i2]]
            continue
        out += [DiffLine("-", line) for line in before[i1:i2]]
        out += [DiffLine("+", line) for line in after[j1:j2]]
    return tuple(out)


@dataclass(frozen=True)
class TargetView:
    """What a change touches, rendered: lines for the diff, a key for the concurrency check, data for the journal."""

    kind: str  # network_policy | account_policy | route_table | peering | security_group
    id: str
    lines: tuple[str, ...]
    key: tuple[Any, ...]
    data: Mapping[str, Any] = field(default_factory=dict)

    def same_as(self, other: TargetView) -> bool:
        return self.kind == other.kind and self.id == other.id and self.key == other.key

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "lines": list(self.lines), "data": _plain(self.data)}


@dataclass(frozen=True)
class Effect:
    """What must be true after the change, as data a re-read can check (and the journal can keep)."""

    system: str
    check: str
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"system": self.system, "check": self.check, "params": _plain(self.params)}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Effect:
        return Effect(str(data["system"]), str(data["check"]), dict(data.get("params") or {}))


@dataclass(frozen=True)
class Intent:
    """An action and its parameters: what a finding suggests, what the journal keeps for an undo."""

    action: str
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "params": _plain(self.params)}


@dataclass(frozen=True)
class Verification:
    """The outcome of re-reading a target after a change: is the effect there, and what was seen."""

    ok: bool
    detail: str
    observed: TargetView | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "detail": self.detail,
            "observed": self.observed.to_json() if self.observed is not None else None,
        }


# --------------------------------------------------------------------------------------------------------------
# The change


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Change:
    """One reviewed, guarded modification of one target; see the module docstring."""

    kind: str  # the action: add_allowed_ip, create_route ...
    system: System
    target: str  # INTEGRATIONS, rtb-..., pcx-..., sg-...
    description: str
    request: Request
    before: TargetView
    after: TargetView
    params: Mapping[str, Any]  # the validated intent
    effect: Effect
    dangerous: bool = False
    danger_reasons: tuple[str, ...] = ()
    inverse_intent: Intent | None = None
    irreversible_reason: str = ""
    lockout: LockoutReport | None = None
    notes: tuple[str, ...] = ()
    id: str = field(default_factory=new_id)
    planned_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What it was planned on and what it leaves (SnowflakeState / partial AwsState): for inverse() and batches.
    state_before: Any = field(default=None, repr=False, compare=False)
    state_after: Any = field(default=None, repr=False, compare=False)
    settings: Settings | None = field(default=None, repr=False, compare=False)

    @property
    def diff(self) -> tuple[DiffLine, ...]:
        return diff_lines(self.before.lines, self.after.lines)

    @property
    def confirm_phrase(self) -> str:
        """What to type to apply a dangerous change: the target's name (k9s style)."""
        return self.target

    @property
    def intent(self) -> Intent:
        return Intent(self.kind, self.params)

    @property
    def locks_out(self) -> bool:
        return self.lockout is not None and self.lockout.locks_out

    def preview(self) -> str:
        """Plain text: what is sent, then the before/after diff, then the warnings."""
        lines = [self.description, "", "Request:", f"  {self.request.text()}", "", f"{self.before.kind} {self.target}:"]
        lines += [f"  {d}" for d in self.diff]
        if self.danger_reasons:
            lines += ["", f"DANGEROUS (type {self.confirm_phrase!r} to confirm):"]
            lines += [f"  - {r}" for r in self.danger_reasons]
        if self.locks_out and self.lockout is not None:
            lines += ["", "LOCKOUT:", *[f"  {line}" for line in self.lockout.explain().splitlines()]]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def inverse(self) -> Change | None:
        """The change that undoes this one, planned on the state this one leaves; None when there is none."""
        if self.inverse_intent is None or self.settings is None:
            return None
        return plan(self.inverse_intent.action, self.inverse_intent.params, self.state_after, self.settings)

    def replan(self, state: Any) -> Change:
        """The same intent planned again on `state` (after a concurrent edit); InputError if it no longer fits."""
        if self.settings is None:
            raise InputError("change", "this change was built without settings and cannot be planned again")
        return plan(self.kind, self.params, state, self.settings)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "system": self.system.value,
            "target": self.target,
            "description": self.description,
            "request": self.request.to_json(),
            "params": _plain(self.params),
            "effect": self.effect.to_json(),
            "dangerous": self.dangerous,
            "danger_reasons": list(self.danger_reasons),
            "lockout": self.lockout.to_json() if self.lockout is not None else None,
            "inverse": self.inverse_intent.to_json() if self.inverse_intent is not None else None,
            "irreversible_reason": self.irreversible_reason,
            "notes": list(self.notes),
            "planned_at": self.planned_at.isoformat(),
            "diff": [str(d) for d in self.diff],
        }


# --------------------------------------------------------------------------------------------------------------
# Planning: action name → builder


Builder = Callable[[Mapping[str, Any], Any, Settings], Change]


@dataclass(frozen=True)
class _Registered:
    system: System
    builder: Builder
    summary: str


_BUILDERS: dict[str, _Registered] = {}
_LOADED = False


def register(action: str, system: System, summary: str) -> Callable[[Builder], Builder]:
    """Make `action` plannable; the builder receives validated-or-not params, the system state and settings."""

    def wrap(builder: Builder) -> Builder:
        _BUILDERS[action] = _Registered(system, builder, summary)
        return builder

    return wrap


_MODULES = ("goodword_tui.changes.snowflake", "goodword_tui.changes.aws", "goodword_tui.changes.sqlmesh")


def _load_builders() -> None:
    """Import the modules that register actions (cheap: none imports a client library at import time)."""
    global _LOADED
    if not _LOADED:
        for module in _MODULES:
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
        _LOADED = True


def actions() -> dict[str, tuple[System, str]]:
    """Every plannable action → (system, one-line summary)."""
    _load_builders()
    return {name: (r.system, r.summary) for name, r in sorted(_BUILDERS.items())}


def system_of(action: str) -> System:
    _load_builders()
    found = _BUILDERS.get(action)
    if found is None:
        raise InputError("action", f"unknown change {action!r}", f"known: {', '.join(sorted(_BUILDERS))}")
    return found.system


def plan(action: str, params: Mapping[str, Any], state: Any, settings: Settings) -> Change:
    """Build the Change for `action` on `state` (SnowflakeState for Snowflake actions, AwsState for AWS ones).

    Raises InputError (with a message that says how to fix it) when a value is invalid or the intent does not
    fit the state (the entry is already there, the peering is not pending ...).
    """
    system = system_of(action)
    if state is None:
        raise InputError("state", f"no {system.value} data to plan {action} on", f"refresh {system.value} first")
    expected = _STATE_TYPES.get(system)
    if expected is not None and not isinstance(state, expected):
        raise InputError("state", f"{action} needs {expected.__name__}, got {type(state).__name__}")
    return _BUILDERS[action].builder(dict(params), state, settings)


_STATE_TYPES: dict[System, type] = {System.SNOWFLAKE: SnowflakeState, System.AWS: AwsState}


def state_for(system: System, snapshot: Snapshot) -> Any:
    """The snapshot's data for `system` (None when that source has none)."""
    result = getattr(snapshot, system.value, None)
    return result.data if result is not None else None


def change_from_fix(fix: SuggestedFix, snapshot: Snapshot, settings: Settings) -> Change:
    """A finding's suggested fix as a Change, planned on the snapshot the finding came from."""
    system = system_of(fix.action)
    return plan(fix.action, fix.params, state_for(system, snapshot), settings)


# --------------------------------------------------------------------------------------------------------------
# Talking to a system: how each one reads a target, sends a request and checks an effect (see changes.apply)


class SystemOps(Protocol):
    """How one system reads, sends and checks. Optionally also `effect_in(ctx, effect, state) -> Verification |
    None`: the effect judged on the state `read` returned, so `apply_change` finds a change already done before
    sending it (a system without it is not checked for that)."""

    def read(self, ctx: Any, change: Change) -> tuple[Any, TargetView]:
        """A fresh read of `change`'s target: the state to plan on and the view to compare with `before`."""
        ...

    def read_for(self, ctx: Any, intent: Intent) -> Any:
        """A fresh state to plan `intent` on (an undo planned later)."""
        ...

    def send(self, ctx: Any, request: Request) -> None:
        """Send once; never retry a request that may have reached the server (`apply.outcome_unknown`)."""
        ...

    def check_effect(self, ctx: Any, effect: Effect) -> Verification: ...


_OPS: dict[System, SystemOps] = {}


def register_ops(system: System, ops: SystemOps) -> None:
    _OPS[system] = ops


def ops_for(system: System) -> SystemOps:
    _load_builders()
    return _OPS[system]


# --------------------------------------------------------------------------------------------------------------
# Batches


@dataclass(frozen=True)
class Batch:
    """Several changes reviewed as one unit, applied in order; each is planned on the state the previous leaves."""

    changes: tuple[Change, ...]
    id: str = field(default_factory=new_id)

    @property
    def dangerous(self) -> bool:
        return any(c.dangerous for c in self.changes)

    @property
    def locks_out(self) -> bool:
        return any(c.locks_out for c in self.changes)

    @property
    def confirm_phrase(self) -> str:
        return f"apply {len(self.changes)} changes"

    def preview(self) -> str:
        parts = [f"Batch of {len(self.changes)} changes, applied in this order; stops at the first failure."]
        for number, change in enumerate(self.changes, 1):
            parts += ["", f"[{number}] " + change.preview().replace("\n", "\n    ")]
        return "\n".join(parts)


def plan_batch(
    intents: Sequence[Intent | SuggestedFix], snapshot: Snapshot, settings: Settings
) -> tuple[Batch, list[tuple[Intent, InputError]]]:
    """Plan several intents in order, each on the state the earlier ones leave (two edits of one policy compose).

    Returns the batch and the intents that could not be planned, with why; the batch holds the others.
    """
    states: dict[System, Any] = {system: state_for(system, snapshot) for system in System}
    changes: list[Change] = []
    refused: list[tuple[Intent, InputError]] = []
    for item in intents:
        intent = Intent(item.action, item.params)
        try:
            system = system_of(intent.action)
            change = plan(intent.action, intent.params, states[system], settings)
        except InputError as exc:
            refused.append((intent, exc))
            continue
        changes.append(change)
        states[system] = merge_state(states[system], change.state_after)
    return Batch(tuple(changes)), refused


def merge_state(state: Any, after: Any) -> Any:
    """`state` with what a change leaves laid over it (AWS changes leave only their target resource)."""
    if isinstance(state, AwsState) and isinstance(after, AwsState):

        def over(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
            fresh = {item.id: item for item in new}
            kept = tuple(fresh.pop(item.id, item) for item in old)
            return kept + tuple(fresh.values())

        return replace(
            state,
            route_tables=over(state.route_tables, after.route_tables),
            peerings=over(state.peerings, after.peerings),
            security_groups=over(state.security_groups, after.security_groups),
        )
    return after if after is not None else state
