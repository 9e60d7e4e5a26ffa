"""The guards every change passes below the UI: lockout, reach reduction, read-only, typed confirmations.

Lockout and reach are computed on the whole IPv4 space as sets of address ranges, with the precedence of
`analysis.policy.evaluate_ip` (blocked list and blocked rules first, then the allowed list and allowed IPV4
rules together; no allowed list admits everything not blocked). The current IP is judged by `evaluate_ip`
itself, so the guard, the findings and the "why?" screen cannot disagree; a test checks that the range
arithmetic here agrees with `evaluate_ip` address by address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from goodword_tui.analysis.policy import (
    LockoutCheck,
    evaluate_ip,
    governs_addresses,
    index_rules,
    normalize_rule_name,
    parse_address,
    parse_entry,
)
from goodword_tui.config import Settings
from goodword_tui.model import NetworkPolicy, NetworkRule

# Typed exactly to apply a change the lockout guard refused.
LOCKOUT_OVERRIDE_PHRASE = "override lockout"

_IPV4_MAX = 2**32 - 1


# --------------------------------------------------------------------------------------------------------------
# IPv4 address sets


@dataclass(frozen=True)
class AddressSet:
    """A set of IPv4 addresses as sorted, disjoint, non-adjacent inclusive ranges of integers."""

    ranges: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def everything() -> AddressSet:
        return AddressSet(((0, _IPV4_MAX),))

    @staticmethod
    def of(networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> AddressSet:
        spans = [
            (int(n.network_address), int(n.broadcast_address)) for n in networks if isinstance(n, ipaddress.IPv4Network)
        ]
        return AddressSet(_merge(spans))

    def union(self, other: AddressSet) -> AddressSet:
        return AddressSet(_merge([*self.ranges, *other.ranges]))

    def minus(self, other: AddressSet) -> AddressSet:
        """One sweep over both sorted range lists: linear, so 1,000-entry policies stay instant."""
        out: list[tuple[int, int]] = []
        cuts = other.ranges
        j = 0
        for low, high in self.ranges:
            while j < len(cuts) and cuts[j][1] < low:
                j += 1
            start = low
            k = j
            while k < len(cuts) and cuts[k][0] <= high:
                cut_low, cut_high = cuts[k]
                if cut_low > start:
                    out.append((start, cut_low - 1))
                start = max(start, cut_high + 1)
                k += 1
            if start <= high:
                out.append((start, high))
        return AddressSet(tuple(out))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, ipaddress.IPv4Address):
            value = int(item)
            return any(low <= value <= high for low, high in self.ranges)
        if isinstance(item, ipaddress.IPv4Network):
            low, high = int(item.network_address), int(item.broadcast_address)
            return any(a <= low and high <= b for a, b in self.ranges)
        return False

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def size(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    def networks(self, limit: int = 8) -> list[str]:
        """The set as CIDRs (at most `limit`, then "..."), for messages."""
        out: list[str] = []
        for low, high in self.ranges:
            first, last = ipaddress.IPv4Address(low), ipaddress.IPv4Address(high)
            for net in ipaddress.summarize_address_range(first, last):
                if len(out) == limit:
                    return [*out, "..."]
                out.append(str(net.network_address) if net.prefixlen == 32 else str(net))
        return out


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def admitted_addresses(
    policy: NetworkPolicy | None, rules: Iterable[NetworkRule] = (), *, allow_list_emptied: bool = False
) -> AddressSet:
    """Every IPv4 address `policy` admits at login (None: no policy, every address)."""
    if policy is None:
        return AddressSet.everything()
    index = index_rules(rules)

    def rule_networks(names: Sequence[str]) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], bool]:
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        restricting = False
        for name in names:
            rule = index.get(normalize_rule_name(name))
            if rule is None:
                restricting = True  # unseen: restricting and matching nothing, as evaluate_ip treats it
                continue
            if not governs_addresses(rule):
                continue
            restricting = True
            nets += [n for v in rule.values if (n := parse_entry(v)) is not None]
        return nets, restricting

    blocked_rule_nets, _ = rule_networks(policy.blocked_rules)
    blocked = AddressSet.of([n for e in policy.blocked_ips if (n := parse_entry(e)) is not None] + blocked_rule_nets)
    allowed_rule_nets, rules_restrict = rule_networks(policy.allowed_rules)
    if policy.allowed_ips or rules_restrict:
        listed = [n for e in policy.allowed_ips if (n := parse_entry(e)) is not None]
        allowed = AddressSet.of(listed + allowed_rule_nets)
        return allowed.minus(blocked)
    if allow_list_emptied:
        return AddressSet()
    return AddressSet.everything().minus(blocked)


def reach_lost(
    before: NetworkPolicy | None,
    after: NetworkPolicy | None,
    rules: Iterable[NetworkRule] = (),
    *,
    after_emptied: bool = False,
) -> AddressSet:
    """The addresses admitted before and refused after: non-empty means the change reduces who can log in."""
    rules = tuple(rules)
    return admitted_addresses(before, rules).minus(admitted_addresses(after, rules, allow_list_emptied=after_emptied))


# --------------------------------------------------------------------------------------------------------------
# Lockout


@dataclass(frozen=True)
class LockoutItem:
    """One address or protected entry, admitted before and after the change or not."""

    subject: str  # "your address 203.0.113.15", "protected entry 100.64.0.0/10 (Tailscale)"
    before: bool
    after: bool
    detail: str = ""

    @property
    def locked_out(self) -> bool:
        return self.before and not self.after


@dataclass(frozen=True)
class LockoutReport:
    """Whether a policy change would refuse the operator's address or a protected entry it admits now."""

    items: tuple[LockoutItem, ...] = ()
    current_ip: str = ""
    notes: tuple[str, ...] = ()
    unknown_current_ip: bool = False  # Snowflake did not report it and the change reduces reach

    @property
    def locks_out(self) -> bool:
        return self.unknown_current_ip or any(i.locked_out for i in self.items)

    @property
    def locked_out(self) -> tuple[LockoutItem, ...]:
        return tuple(i for i in self.items if i.locked_out)

    def explain(self) -> str:
        lines: list[str] = []
        for item in self.locked_out:
            lines.append(f"{item.subject} would be locked out" + (f": {item.detail}" if item.detail else ""))
        if self.unknown_current_ip:
            lines.append(
                "Snowflake did not report your address (CURRENT_IP_ADDRESS), so whether this change locks you out "
                "cannot be checked, and it refuses addresses that are admitted now"
            )
        lines += list(self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "locks_out": self.locks_out,
            "current_ip": self.current_ip,
            "locked_out": [i.subject for i in self.locked_out],
            "unknown_current_ip": self.unknown_current_ip,
            "notes": list(self.notes),
        }


def check_lockout(
    before: NetworkPolicy | None,
    after: NetworkPolicy | None,
    rules: Iterable[NetworkRule],
    current_ip: str,
    settings: Settings,
    *,
    after_emptied: bool = False,
    notes: Sequence[str] = (),
) -> LockoutReport:
    """Judge the operator's address (with `evaluate_ip`) and every protected entry before and after.

    `before` / `after` are the policies in force for logins (None: no policy, every address admitted). A
    protected entry counts as admitted only when the whole of it is.
    """
    rules = tuple(rules)
    items: list[LockoutItem] = []
    ip = current_ip.strip()
    unknown = False
    if parse_address(ip) is not None:
        check = LockoutCheck(
            evaluate_ip(ip, before, rules), evaluate_ip(ip, after, rules, allow_list_emptied=after_emptied)
        )
        items.append(LockoutItem(f"your address {ip}", check.before.allowed, check.after.allowed, check.after.reason))
    else:
        unknown = bool(reach_lost(before, after, rules, after_emptied=after_emptied))
    admitted_before = admitted_addresses(before, rules)
    admitted_after = admitted_addresses(after, rules, allow_list_emptied=after_emptied)
    for entry in settings.snowflake.allowed:
        if not entry.protected:
            continue
        network = parse_entry(entry.cidr)
        if not isinstance(network, ipaddress.IPv4Network):
            continue
        now, later = network in admitted_before, network in admitted_after
        detail = "" if later else _partly(network, admitted_after)
        items.append(LockoutItem(f"protected entry {entry.cidr} ({entry.label})", now, later, detail))
    return LockoutReport(tuple(items), ip, tuple(notes), unknown)


def _partly(network: ipaddress.IPv4Network, admitted: AddressSet) -> str:
    refused = AddressSet.of([network]).minus(admitted)
    if refused.size() == network.num_addresses:
        return "no address in it would be admitted"
    return f"{', '.join(refused.networks(4))} in it would be refused"
