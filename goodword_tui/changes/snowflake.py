"""Snowflake changes: the network policy's four lists, and which policy is active on the account.

Every list edit is planned as a delta (entries to add, remove or replace per list) on the policy as read, and
sent as ONE statement: IP lists have no ADD/REMOVE in Snowflake, so a changed IP list is re-sent whole
(``ALTER NETWORK POLICY P SET ALLOWED_IP_LIST = (...)``), every entry validated (the server's own entries are
re-checked too). A rule-list-only change uses ADD / REMOVE. The inverse of a delta is the swapped delta, planned
later on a fresh read, so an undo never overwrites what someone else changed meanwhile.

Actions (the names findings use in `SuggestedFix.action`):
add_allowed_ip, remove_allowed_ip, edit_allowed_ip, restore_baseline, remove_blocked_ip, add_policy_rule,
remove_policy_rule, policy_delta (the general form; inverses use it), set_account_policy, unset_account_policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from goodword_tui.analysis.policy import Network, normalize_rule_name, parse_entry
from goodword_tui.changes.base import (
    Change,
    Effect,
    Intent,
    Request,
    SqlRequest,
    System,
    TargetView,
    Verification,
    register,
    register_ops,
)
from goodword_tui.changes.guards import LockoutReport, check_lockout, reach_lost
from goodword_tui.changes.inputs import (
    InputError,
    check_list_entries,
    check_text,
    parse_ipv4_entry,
    validate_label,
    validate_policy_name,
    validate_rule_name,
)
from goodword_tui.config import Settings
from goodword_tui.model import NetworkPolicy, SnowflakeState, to_jsonable

if TYPE_CHECKING:
    from goodword_tui.changes.apply import ChangeContext

IP_LISTS = ("allowed_ips", "blocked_ips")
RULE_LISTS = ("allowed_rules", "blocked_rules")
LISTS = IP_LISTS + RULE_LISTS
PROPERTY = {
    "allowed_ips": "ALLOWED_IP_LIST",
    "blocked_ips": "BLOCKED_IP_LIST",
    "allowed_rules": "ALLOWED_NETWORK_RULE_LIST",
    "blocked_rules": "BLOCKED_NETWORK_RULE_LIST",
}
_RULE_LIST_PARAM = {"allowed": "allowed_rules", "blocked": "blocked_rules"}


# --------------------------------------------------------------------------------------------------------------
# Views


def _labels(settings: Settings) -> dict[Network, str]:
    return {n: e.label for e in settings.snowflake.allowed if (n := parse_entry(e.cidr)) is not None}


def policy_view(
    policy: NetworkPolicy | None, settings: Settings, extra_labels: Mapping[str, str] | None = None
) -> TargetView:
    """The policy's lists, one entry per line (with the config's label), in the server's order."""
    name = policy.name if policy is not None else settings.snowflake.policy
    if policy is None:
        return TargetView("network_policy", name, ("(the policy does not exist)",), ("missing",))
    labels = _labels(settings)
    typed = {parse_entry(k): v for k, v in (extra_labels or {}).items()}
    lines: list[str] = []
    for list_name in LISTS:
        entries = getattr(policy, list_name)
        prop = PROPERTY[list_name]
        if not entries:
            lines.append(f"{prop}: (empty)")
        for entry in entries:
            network = parse_entry(entry) if list_name in IP_LISTS else None
            label = (labels.get(network) or typed.get(network)) if network is not None else None
            lines.append(f"{prop}: {entry}" + (f"  ({label})" if label else ""))
    key = (
        tuple(policy.allowed_ips),
        tuple(policy.blocked_ips),
        tuple(normalize_rule_name(r) for r in policy.allowed_rules),
        tuple(normalize_rule_name(r) for r in policy.blocked_rules),
    )
    return TargetView("network_policy", name, tuple(lines), key, to_jsonable(policy))


def account_view(value: str) -> TargetView:
    shown = value or "(none: every address may log in)"
    return TargetView("account_policy", "ACCOUNT", (f"NETWORK_POLICY = {shown}",), (value.upper(),), {"value": value})


# --------------------------------------------------------------------------------------------------------------
# Statements


def _sql() -> Any:
    from goodword_tui.sources import snowflake as sources

    return sources


def policy_statement(before: NetworkPolicy, after: NetworkPolicy) -> str:
    """The one ALTER NETWORK POLICY statement turning `before`'s lists into `after`'s."""
    sf = _sql()
    name = sf.sql_identifier(before.name)
    changed = [f for f in LISTS if _list_key(f, getattr(before, f)) != _list_key(f, getattr(after, f))]
    if not changed:
        raise InputError("change", "nothing to change: the lists would stay as they are")
    if len(changed) == 1 and changed[0] in RULE_LISTS:
        field_name = changed[0]
        old = {normalize_rule_name(r) for r in getattr(before, field_name)}
        new = {normalize_rule_name(r) for r in getattr(after, field_name)}
        added = [r for r in getattr(after, field_name) if normalize_rule_name(r) not in old]
        removed = [r for r in getattr(before, field_name) if normalize_rule_name(r) not in new]
        if bool(added) != bool(removed):
            verb, names = ("ADD", added) if added else ("REMOVE", removed)
            rules = ", ".join(sf.qualified_rule_sql(r) for r in names)
            return f"ALTER NETWORK POLICY {name} {verb} {PROPERTY[field_name]} = ({rules})"
    parts: list[str] = []
    for field_name in changed:
        values = getattr(after, field_name)
        if field_name in IP_LISTS:
            rendered = ", ".join(sf.sql_string(v) for v in values)
        else:
            rendered = ", ".join(sf.qualified_rule_sql(v) for v in values)
        parts.append(f"{PROPERTY[field_name]} = ({rendered})")
    return f"ALTER NETWORK POLICY {name} SET " + " ".join(parts)


def _list_key(field_name: str, values: Sequence[str]) -> tuple[str, ...]:
    if field_name in RULE_LISTS:
        return tuple(normalize_rule_name(v) for v in values)
    return tuple(values)


# --------------------------------------------------------------------------------------------------------------
# Planning a policy delta


@dataclasses.dataclass(frozen=True)
class _Delta:
    add: Mapping[str, tuple[str, ...]]
    remove: Mapping[str, tuple[str, ...]]
    replace: Mapping[str, tuple[tuple[str, str], ...]]
    labels: Mapping[str, str]
    restore: bool  # entries come from the server (an undo): host bits tolerated, "covered" not refused

    def to_params(self, policy: str) -> dict[str, Any]:
        return {
            "policy": policy,
            "add": {k: list(v) for k, v in self.add.items() if v},
            "remove": {k: list(v) for k, v in self.remove.items() if v},
            "replace": {k: [list(p) for p in v] for k, v in self.replace.items() if v},
            "labels": dict(self.labels),
            "restore": self.restore,
        }

    def inverse(self) -> _Delta:
        return _Delta(
            add=self.remove,
            remove=self.add,
            replace={k: tuple((new, old) for old, new in v) for k, v in self.replace.items()},
            labels={},
            restore=True,
        )


def _configured_policy(state: SnowflakeState, settings: Settings, params: Mapping[str, Any]) -> NetworkPolicy:
    name = validate_policy_name(str(params.get("policy") or settings.snowflake.policy))
    configured = settings.snowflake.policy
    if name.upper() != configured.upper():
        raise InputError("policy", f"{name} is not the configured policy {configured}", "only it is read and guarded")
    if state.policy is None:
        raise InputError("policy", f"{configured} does not exist (or this role cannot see it)", "refresh, or fix it")
    return state.policy


def _entry_list(params: Mapping[str, Any], key: str) -> dict[str, tuple[Any, ...]]:
    raw = params.get(key) or {}
    if not isinstance(raw, Mapping):
        raise InputError(key, "expected a mapping of list name to entries")
    out: dict[str, tuple[Any, ...]] = {}
    for list_name, values in raw.items():
        if list_name not in LISTS:
            raise InputError(key, f"unknown list {list_name!r}", f"one of {', '.join(LISTS)}")
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise InputError(key, f"{list_name}: expected a list of entries")
        out[list_name] = tuple(values)
    return out


def _delta_from_params(params: Mapping[str, Any]) -> _Delta:
    replace_raw = _entry_list(params, "replace")
    replace: dict[str, tuple[tuple[str, str], ...]] = {}
    for list_name, pairs in replace_raw.items():
        if list_name not in IP_LISTS:
            raise InputError("replace", "only IP-list entries can be replaced in place")
        checked: list[tuple[str, str]] = []
        for pair in pairs:
            if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise InputError("replace", "expected [old, new] pairs")
            checked.append((str(pair[0]), str(pair[1])))
        replace[list_name] = tuple(checked)
    labels_raw = params.get("labels") or {}
    if not isinstance(labels_raw, Mapping):
        raise InputError("labels", "expected a mapping of entry to label")
    return _Delta(
        add={k: tuple(str(v) for v in vs) for k, vs in _entry_list(params, "add").items()},
        remove={k: tuple(str(v) for v in vs) for k, vs in _entry_list(params, "remove").items()},
        replace=replace,
        labels={str(k): validate_label(str(v), required=False) for k, v in labels_raw.items()},
        restore=bool(params.get("restore", False)),
    )


def _find(entries: Sequence[str], wanted: str, list_name: str) -> int:
    """Index of `wanted` in an IP list: the exact text first, else the same network."""
    if wanted in entries:
        return list(entries).index(wanted)
    network = parse_entry(wanted)
    for index, entry in enumerate(entries):
        if network is not None and parse_entry(entry) == network:
            return index
    raise InputError("entry", f"{wanted} is not in {PROPERTY[list_name]}", "refresh: someone may have removed it")


def _resend_check(entries: Iterable[str], list_name: str) -> None:
    """Entries already on the server are re-sent with the list: they must be safe to put in a statement."""
    for entry in entries:
        try:
            parse_ipv4_entry(entry, field=PROPERTY[list_name], allow_host_bits=True)
        except InputError as exc:
            raise InputError(
                PROPERTY[list_name],
                f"the policy holds {entry!r}, which cannot be re-sent ({exc.message})",
                "IP lists are re-sent whole; fix or remove that entry by hand first",
            ) from None


def _apply_delta(policy: NetworkPolicy, delta: _Delta, settings: Settings) -> NetworkPolicy:
    covered_ok: set[Network] = {n for e in settings.snowflake.allowed if (n := parse_entry(e.cidr)) is not None}
    lists: dict[str, tuple[str, ...]] = {}
    touched = set(delta.add) | set(delta.remove) | set(delta.replace)
    for list_name in IP_LISTS:
        if list_name not in touched:
            continue
        current = list(getattr(policy, list_name))
        for wanted in delta.remove.get(list_name, ()):
            check_text("entry", wanted, max_length=64)
            current.pop(_find(current, wanted, list_name))
        replaced_at: dict[int, str] = {}
        for old, new in delta.replace.get(list_name, ()):
            check_text("entry", old, max_length=64)
            index = _find(current, old, list_name)
            if index in replaced_at:
                raise InputError("entry", f"{old} is replaced twice in one change", "replace it once")
            value = parse_ipv4_entry(new, field="new entry", allow_host_bits=delta.restore)
            if parse_entry(value) == parse_entry(current[index]):
                raise InputError("new entry", f"{new} is the same network as {current[index]}", "nothing to change")
            replaced_at[index] = value
        added = [parse_ipv4_entry(v, allow_host_bits=delta.restore) for v in delta.add.get(list_name, ())]
        for value in [*added, *replaced_at.values()]:
            network = parse_entry(value)
            if network is not None and network.prefixlen == 0 and list_name == "allowed_ips":
                raise InputError(
                    "entry", f"{value} admits every address: the list would restrict nothing", "add a narrower CIDR"
                )
        kept = [e for i, e in enumerate(current) if i not in replaced_at]
        _resend_check(kept, list_name)
        fresh = [*replaced_at.values(), *added]
        allowed_covered = covered_ok if not delta.restore else {n for v in fresh if (n := parse_entry(v)) is not None}
        check_list_entries(kept, fresh, list_name=PROPERTY[list_name], covered_ok=allowed_covered)
        for index, value in replaced_at.items():
            current[index] = value
        lists[list_name] = (*current, *added)
    for list_name in RULE_LISTS:
        if list_name not in touched:
            continue
        current = list(getattr(policy, list_name))
        for wanted in delta.remove.get(list_name, ()):
            key = normalize_rule_name(validate_rule_name(wanted))
            index = next((i for i, r in enumerate(current) if normalize_rule_name(r) == key), None)
            if index is None:
                raise InputError("rule", f"{wanted} is not in {PROPERTY[list_name]}", "refresh: it may be gone")
            current.pop(index)
        for wanted in delta.add.get(list_name, ()):
            name = validate_rule_name(wanted)
            if any(normalize_rule_name(r) == normalize_rule_name(name) for r in current):
                raise InputError("rule", f"{name} is already in {PROPERTY[list_name]}", "nothing to add")
            current.append(name)
        for name in current:
            validate_rule_name(name)  # re-sent with SET when another list changes too
        lists[list_name] = tuple(current)
    return dataclasses.replace(policy, **lists)


def _reach_reasons(
    state: SnowflakeState, before: NetworkPolicy | None, after: NetworkPolicy | None, *, emptied: bool
) -> list[str]:
    lost = reach_lost(before, after, state.rules, after_emptied=emptied)
    if not lost:
        return []
    shown = ", ".join(lost.networks(6))
    count = lost.size()
    plural = "es" if count != 1 else ""
    return [f"reduces who can reach Snowflake: {count} address{plural} no longer admitted ({shown})"]


def _activity_notes(state: SnowflakeState, policy: NetworkPolicy) -> list[str]:
    notes: list[str] = []
    if state.account_policy.upper() != policy.name.upper():
        notes.append(f"{policy.name} is not active on the account: this takes effect when it is activated")
    if state.user_policy and state.user_policy.upper() != policy.name.upper():
        notes.append(f"your user has its own policy {state.user_policy}, which decides your own logins")
    return notes


def _describe_delta(policy: str, delta: _Delta) -> str:
    parts: list[str] = []
    for list_name, values in delta.replace.items():
        for old, new in values:
            parts.append(f"replace {old} with {new}{_label_suffix(new, delta.labels)} in {PROPERTY[list_name]}")
    for list_name, values in delta.remove.items():
        if values:
            parts.append(f"remove {_join(values)} from {PROPERTY[list_name]}")
    for list_name, values in delta.add.items():
        if values:
            shown = _join([v + _label_suffix(v, delta.labels) for v in values])
            parts.append(f"add {shown} to {PROPERTY[list_name]}")
    text = "; ".join(parts) or "no change"
    return f"{policy}: {text[0].upper()}{text[1:]}"


def _label_suffix(entry: str, labels: Mapping[str, str]) -> str:
    label = labels.get(entry)
    return f" ({label})" if label else ""


def _join(values: Sequence[str]) -> str:
    return ", ".join(values) if len(values) <= 4 else f"{', '.join(values[:3])} and {len(values) - 3} more"


def _plan_delta(
    kind: str,
    params: Mapping[str, Any],
    delta: _Delta,
    state: SnowflakeState,
    settings: Settings,
    description: str = "",
) -> Change:
    policy = _configured_policy(state, settings, params)
    after = _apply_delta(policy, delta, settings)
    sql = policy_statement(policy, after)  # also refuses "nothing to change"
    emptied = bool(policy.allowed_ips) and not after.allowed_ips
    notes = _activity_notes(state, policy)
    lockout = check_lockout(policy, after, state.rules, state.current_ip, settings, after_emptied=emptied, notes=notes)
    reasons = _protected_reasons(policy, after, settings) + _reach_reasons(state, policy, after, emptied=emptied)
    if lockout.locks_out:
        who = [i.subject for i in lockout.locked_out] or ["possibly you (your address is unknown)"]
        reasons.append("locks out: " + "; ".join(who))
    present: dict[str, list[str]] = {}
    absent: dict[str, list[str]] = {}
    for list_name in LISTS:
        old, new = getattr(policy, list_name), getattr(after, list_name)
        key = _entry_key if list_name in IP_LISTS else normalize_rule_name
        old_keys, new_keys = {key(v) for v in old}, {key(v) for v in new}
        gained = [v for v in new if key(v) not in old_keys]
        lost = [v for v in old if key(v) not in new_keys]
        if gained:
            present[list_name] = gained
        if lost:
            absent[list_name] = lost
    inverse = delta.inverse()
    return Change(
        kind=kind,
        system=System.SNOWFLAKE,
        target=policy.name,
        description=description or _describe_delta(policy.name, delta),
        request=SqlRequest(sql),
        before=policy_view(policy, settings),
        after=policy_view(after, settings, delta.labels),
        params=dict(params),
        effect=Effect("snowflake", "policy_lists", {"policy": policy.name, "present": present, "absent": absent}),
        dangerous=bool(reasons),
        danger_reasons=tuple(reasons),
        inverse_intent=Intent("policy_delta", inverse.to_params(policy.name)),
        lockout=lockout,
        notes=tuple(notes),
        state_before=state,
        state_after=dataclasses.replace(state, policy=after),
        settings=settings,
    )


def _entry_key(entry: str) -> object:
    """An IP-list entry compared as a network ("1.2.3.4" is "1.2.3.4/32"); text that is none, as text."""
    network = parse_entry(entry)
    return network if network is not None else entry


def _protected_reasons(before: NetworkPolicy, after: NetworkPolicy, settings: Settings) -> list[str]:
    remaining = {parse_entry(e) for e in after.allowed_ips}
    reasons: list[str] = []
    for entry in settings.snowflake.allowed:
        network = parse_entry(entry.cidr)
        if not entry.protected or network is None:
            continue
        if any(parse_entry(e) == network for e in before.allowed_ips) and network not in remaining:
            reasons.append(f"removes the protected entry {entry.cidr} ({entry.label})")
    return reasons


# --------------------------------------------------------------------------------------------------------------
# The actions


def _one(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        raise InputError(key, "is missing")
    return str(value)


@register("policy_delta", System.SNOWFLAKE, "Edit the policy's lists (entries to add, remove or replace)")
def policy_delta(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    return _plan_delta("policy_delta", params, _delta_from_params(params), state, settings)


@register("add_allowed_ip", System.SNOWFLAKE, "Add an IP or CIDR (with a label) to ALLOWED_IP_LIST")
def add_allowed_ip(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    cidr = parse_ipv4_entry(_one(params, "cidr"))
    label = validate_label(str(params.get("label") or ""))
    delta = _Delta({"allowed_ips": (cidr,)}, {}, {}, {cidr: label}, restore=False)
    policy = settings.snowflake.policy
    description = f"Add {cidr} ({label}) to {policy}'s ALLOWED_IP_LIST"
    return _plan_delta("add_allowed_ip", {**params, "cidr": cidr, "label": label}, delta, state, settings, description)


@register("remove_allowed_ip", System.SNOWFLAKE, "Remove an entry from ALLOWED_IP_LIST")
def remove_allowed_ip(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    cidr = check_text("cidr", _one(params, "cidr"), max_length=64)
    delta = _Delta({}, {"allowed_ips": (cidr,)}, {}, {}, restore=False)
    description = f"Remove {cidr} from {settings.snowflake.policy}'s ALLOWED_IP_LIST"
    return _plan_delta("remove_allowed_ip", {**params, "cidr": cidr}, delta, state, settings, description)


@register("edit_allowed_ip", System.SNOWFLAKE, "Replace an ALLOWED_IP_LIST entry in place")
def edit_allowed_ip(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    old = check_text("old", _one(params, "old"), max_length=64)
    new = parse_ipv4_entry(_one(params, "new"), field="new entry")
    label = validate_label(str(params.get("label") or ""), required=False)
    delta = _Delta({}, {}, {"allowed_ips": ((old, new),)}, {new: label} if label else {}, restore=False)
    description = f"Replace {old} with {new}{f' ({label})' if label else ''} in {settings.snowflake.policy}'s list"
    merged = {**params, "old": old, "new": new, "label": label}
    return _plan_delta("edit_allowed_ip", merged, delta, state, settings, description)


@register("restore_baseline", System.SNOWFLAKE, "Add back every baseline entry missing from ALLOWED_IP_LIST")
def restore_baseline(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    policy = _configured_policy(state, settings, params)
    present = {parse_entry(e) for e in policy.allowed_ips}
    missing = [e for e in settings.snowflake.allowed if parse_entry(e.cidr) not in present]
    if not missing:
        raise InputError("baseline", f"every baseline entry is already in {policy.name}'s ALLOWED_IP_LIST")
    entries = tuple(parse_ipv4_entry(e.cidr) for e in missing)
    labels = {value: e.label for value, e in zip(entries, missing, strict=True)}
    delta = _Delta({"allowed_ips": entries}, {}, {}, labels, restore=False)
    description = f"Restore {len(entries)} baseline entr{'y' if len(entries) == 1 else 'ies'} to {policy.name}: " + (
        _join([f"{v} ({labels[v]})" for v in entries])
    )
    return _plan_delta("restore_baseline", dict(params), delta, state, settings, description)


@register("remove_blocked_ip", System.SNOWFLAKE, "Remove an entry from BLOCKED_IP_LIST")
def remove_blocked_ip(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    cidr = check_text("cidr", _one(params, "cidr"), max_length=64)
    delta = _Delta({}, {"blocked_ips": (cidr,)}, {}, {}, restore=False)
    description = f"Remove {cidr} from {settings.snowflake.policy}'s BLOCKED_IP_LIST"
    return _plan_delta("remove_blocked_ip", {**params, "cidr": cidr}, delta, state, settings, description)


def _rule_list(params: Mapping[str, Any]) -> str:
    which = str(params.get("list") or "allowed")
    if which not in _RULE_LIST_PARAM:
        raise InputError("list", f"{which!r} is not allowed or blocked", "use allowed or blocked")
    return _RULE_LIST_PARAM[which]


@register("add_policy_rule", System.SNOWFLAKE, "Add a network rule to the policy's allowed or blocked rule list")
def add_policy_rule(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    rule = validate_rule_name(_one(params, "rule"))
    list_name = _rule_list(params)
    delta = _Delta({list_name: (rule,)}, {}, {}, {}, restore=False)
    description = f"Add rule {rule} to {settings.snowflake.policy}'s {PROPERTY[list_name]}"
    change = _plan_delta("add_policy_rule", {**params, "rule": rule}, delta, state, settings, description)
    if state.rule(rule) is None:
        note = f"rule {rule} is not visible to this role: its values are unknown until it is read"
        return dataclasses.replace(change, notes=(*change.notes, note))
    return change


@register("remove_policy_rule", System.SNOWFLAKE, "Remove a network rule from the policy's rule list")
def remove_policy_rule(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    rule = validate_rule_name(_one(params, "rule"))
    list_name = _rule_list(params)
    delta = _Delta({}, {list_name: (rule,)}, {}, {}, restore=False)
    description = f"Remove rule {rule} from {settings.snowflake.policy}'s {PROPERTY[list_name]}"
    return _plan_delta("remove_policy_rule", {**params, "rule": rule}, delta, state, settings, description)


def _account_change(
    kind: str, params: Mapping[str, Any], state: SnowflakeState, settings: Settings, new_value: str
) -> Change:
    sf = _sql()
    policy = state.policy
    current = state.account_policy
    if current.upper() == new_value.upper():
        shown = new_value or "no policy"
        raise InputError("policy", f"the account already has {shown} active", "nothing to change")

    def in_force(value: str) -> NetworkPolicy | None:
        if not value:
            return None
        if policy is not None and value.upper() == policy.name.upper():
            return policy
        return None  # another policy, not read here: judged as admitting every address (conservative)

    before, after = in_force(current), in_force(new_value)
    notes: list[str] = []
    if current and before is None:
        notes.append(f"the account's current policy {current} is not read here; its lists are not compared")
    if state.user_policy:
        notes.append(f"your user has its own policy {state.user_policy}, which decides your own logins")
    if new_value:
        statement = f"ALTER ACCOUNT SET NETWORK_POLICY = {sf.sql_identifier(new_value)}"
        description = f"Activate {new_value} on the account"
        lockout: LockoutReport | None = check_lockout(
            before, after, state.rules, state.current_ip, settings, notes=notes
        )
        reasons = _reach_reasons(state, before, after, emptied=False)
    else:
        statement = "ALTER ACCOUNT UNSET NETWORK_POLICY"
        description = f"Deactivate {current}: no network policy on the account"
        lockout = None
        reasons = ["opens the account to every address: no network policy will restrict logins"]
    if lockout is not None and lockout.locks_out:
        reasons.append("locks out: " + "; ".join(i.subject for i in lockout.locked_out))
    if current and before is None:
        inverse, irreversible = None, f"the account used {current} before; re-activate it by hand"
    elif current:
        inverse, irreversible = Intent("set_account_policy", {"policy": current}), ""
    else:
        inverse, irreversible = Intent("unset_account_policy", {}), ""
    return Change(
        kind=kind,
        system=System.SNOWFLAKE,
        target=new_value or current,
        description=description,
        request=SqlRequest(statement),
        before=account_view(current),
        after=account_view(new_value),
        params=dict(params),
        effect=Effect("snowflake", "account_policy", {"value": new_value}),
        dangerous=bool(reasons),
        danger_reasons=tuple(reasons),
        inverse_intent=inverse,
        irreversible_reason=irreversible,
        lockout=lockout,
        notes=tuple(notes),
        state_before=state,
        state_after=dataclasses.replace(state, account_policy=new_value),
        settings=settings,
    )


@register("set_account_policy", System.SNOWFLAKE, "Make the configured policy the account's active policy")
def set_account_policy(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    policy = _configured_policy(state, settings, params)
    return _account_change("set_account_policy", {**params, "policy": policy.name}, state, settings, policy.name)


@register("unset_account_policy", System.SNOWFLAKE, "Remove the account's network policy (every address admitted)")
def unset_account_policy(params: Mapping[str, Any], state: SnowflakeState, settings: Settings) -> Change:
    return _account_change("unset_account_policy", dict(params), state, settings, "")


# --------------------------------------------------------------------------------------------------------------
# Reading, sending, checking


def read_policy(ctx: ChangeContext, name: str) -> NetworkPolicy | None:
    sf = _sql()
    try:
        result = ctx.gateway.execute(f"DESCRIBE NETWORK POLICY {sf.sql_identifier(name)}")
    except Exception as exc:
        if getattr(exc, "errno", None) == sf.NOT_FOUND:
            return None
        raise
    return sf.parse_policy(name, result)


def read_account_policy(ctx: ChangeContext) -> str:
    sf = _sql()
    result = ctx.gateway.execute("SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")
    return str(sf.parse_parameter(result, "NETWORK_POLICY", "ACCOUNT"))


class SnowflakeOps:
    """How Snowflake changes read their target, send their statement and check their effect (one gateway)."""

    def read(self, ctx: ChangeContext, change: Change) -> tuple[SnowflakeState, TargetView]:
        state = self.read_for(ctx, change.intent)
        if change.before.kind == "account_policy":
            return state, account_view(state.account_policy)
        return state, policy_view(state.policy, ctx.settings)

    def read_for(self, ctx: ChangeContext, intent: Intent) -> SnowflakeState:
        from goodword_tui.sources.snowflake import read_state

        return read_state(ctx.gateway)

    def send(self, ctx: ChangeContext, request: Request) -> None:
        if not isinstance(request, SqlRequest):
            raise TypeError("a Snowflake change sends SQL")
        ctx.gateway.execute(request.sql, no_retry=True)  # sent once: a timed-out write is resolved by re-reading

    def check_effect(self, ctx: ChangeContext, effect: Effect) -> Verification:
        """Re-read only what the effect is about (one statement) and judge it."""
        if effect.check == "account_policy":
            return _account_effect(effect, read_account_policy(ctx))
        if effect.check != "policy_lists":
            raise ValueError(f"unknown Snowflake effect {effect.check!r}")
        return _lists_effect(ctx.settings, effect, read_policy(ctx, str(effect.params["policy"])))

    def effect_in(self, ctx: ChangeContext, effect: Effect, state: SnowflakeState) -> Verification | None:
        """The effect judged on a state already read (before sending: is it already done?); None when the state
        does not hold what the effect is about (another policy than the configured one)."""
        if effect.check == "account_policy":
            return _account_effect(effect, state.account_policy)
        params = effect.params
        checks_something = bool(params.get("present") or params.get("absent"))  # not a mere reordering
        if (
            effect.check == "policy_lists"
            and checks_something
            and str(params["policy"]).upper() == ctx.settings.snowflake.policy.upper()
        ):
            return _lists_effect(ctx.settings, effect, state.policy)
        return None


def _account_effect(effect: Effect, value: str) -> Verification:
    wanted = str(effect.params.get("value") or "")
    ok = value.upper() == wanted.upper()
    detail = f"NETWORK_POLICY is {value or '(none)'}" + ("" if ok else f", expected {wanted or '(none)'}")
    return Verification(ok, detail, account_view(value))


def _lists_effect(settings: Settings, effect: Effect, policy: NetworkPolicy | None) -> Verification:
    params = effect.params
    name = str(params["policy"])
    if policy is None:
        return Verification(False, f"{name} does not exist", policy_view(None, settings))
    problems: list[str] = []

    def keys(list_name: str) -> tuple[Callable[[str], object], set[object]]:
        key = _entry_key if list_name in IP_LISTS else normalize_rule_name
        return key, {key(e) for e in getattr(policy, list_name)}

    for list_name, entries in (params.get("present") or {}).items():
        key, held = keys(list_name)
        problems += [f"{e} is not in {PROPERTY[list_name]}" for e in entries if key(e) not in held]
    for list_name, entries in (params.get("absent") or {}).items():
        key, held = keys(list_name)
        problems += [f"{e} is still in {PROPERTY[list_name]}" for e in entries if key(e) in held]
    detail = "; ".join(problems) if problems else f"{name}'s lists show the change"
    return Verification(not problems, detail, policy_view(policy, settings))


register_ops(System.SNOWFLAKE, SnowflakeOps())
