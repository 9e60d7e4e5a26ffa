"""How a Snowflake network policy decides one address: the single place that knows the precedence.

Shared by the findings, the "why is this address refused?" explanation and the lockout guards, so the three
can never disagree. The order implemented (Snowflake docs, network-policies page, and the project's
reference notes §3):

1. ``BLOCKED_IP_LIST`` — an address in it is refused, whatever else admits it;
2. the policy's *blocked* network rules of type IPV4 (mode INGRESS);
3. ``ALLOWED_IP_LIST`` together with the *allowed* IPV4 rules: if either exists, only addresses in one of them
   are admitted; when neither exists, every address not blocked is admitted.

Rules of other types (AWSVPCEID, AZURELINKID ...) concern private-endpoint traffic, not addresses, and rules of
mode INTERNAL_STAGE govern stage access only; neither takes part in an address decision. A rule the policy
references but whose values we cannot see is treated as *restricting and not matching*: the conservative
answer, because the lockout guards rely on "refused" never being a false "admitted".

Entries are read the way the server keeps them: ``1.2.3.4`` is ``1.2.3.4/32`` and host bits are tolerated
(``strict=False``), so ``1.2.3.4`` and ``1.2.3.4/32`` are the same network.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from goodword_tui.model import NetworkPolicy, NetworkRule

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Rule types whose values are addresses, and the modes that govern logins to the service.
ADDRESS_RULE_TYPES = frozenset({"IPV4", "IPV6"})
LOGIN_RULE_MODES = frozenset({"INGRESS", ""})
PRIVATE_ENDPOINT_RULE_TYPES = frozenset({"AWSVPCEID", "AZURELINKID", "GCPPSCID"})


# --------------------------------------------------------------------------------------------------------------
# Parsing


@functools.lru_cache(maxsize=8192)
def parse_entry(text: str) -> Network | None:
    """An IP-list entry or rule value as a network (single addresses are /32), or None when it is not one.

    Cached: every refresh re-reads the same entries, and networks are immutable values."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except (ValueError, TypeError):
        return None


def parse_address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except (ValueError, TypeError):
        return None


def same_network(a: str, b: str) -> bool:
    """True when two entries denote the same network however they are written ("1.2.3.4" vs "1.2.3.4/32")."""
    na, nb = parse_entry(a), parse_entry(b)
    return na is not None and na == nb


def contains(outer: Network, inner: Network) -> bool:
    """`inner` lies wholly inside `outer` (False across IP versions instead of raising)."""
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def overlaps(a: Network, b: Network) -> bool:
    return a.version == b.version and a.overlaps(b)  # type: ignore[arg-type]


def address_in(address: Address, network: Network) -> bool:
    return address.version == network.version and address in network


def is_catch_all(network: Network) -> bool:
    """0.0.0.0/0 (or ::/0): an entry that admits every address."""
    return network.prefixlen == 0


def host_cidr(ip: str) -> str:
    """A single address as the CIDR an allow-list entry for it would use: "3.1.2.3" → "3.1.2.3/32"."""
    address = parse_address(ip)
    if address is None:
        return ip
    return f"{address}/{address.max_prefixlen}"


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598; Tailscale's range. Not `is_private` in Python.
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def non_internet_reason(network: Network) -> str | None:
    """Why no packet from the internet can carry a source address in `network`, or None if one can.

    Loopback and link-local come from `ipaddress`' properties; RFC 1918 and 100.64.0.0/10 (shared address
    space, which `ipaddress` does not count as private) are listed explicitly. Only networks wholly inside
    such space qualify: 172.0.0.0/8 overlaps RFC 1918 but also holds public addresses.
    """
    first, last = network.network_address, network.broadcast_address
    if first.is_loopback and last.is_loopback:
        return "loopback"
    if first.is_link_local and last.is_link_local:
        return "link-local"
    if isinstance(network, ipaddress.IPv4Network):
        if network.subnet_of(_CGNAT):
            return "carrier-grade NAT space (100.64.0.0/10, Tailscale's range)"
        if any(network.subnet_of(block) for block in _RFC1918):
            return "private (RFC 1918) space"
    elif network.subnet_of(_UNIQUE_LOCAL):
        return "unique-local IPv6 space"
    return None


def normalize_rule_name(name: str) -> str:
    """Rule names as the server may render them (quoted, mixed case) reduced to DB.SCHEMA.RULE upper case."""
    return name.replace('"', "").replace(" ", "").upper()


def index_rules(rules: Iterable[NetworkRule]) -> dict[str, NetworkRule]:
    return {normalize_rule_name(r.name): r for r in rules}


def governs_addresses(rule: NetworkRule) -> bool:
    """A rule whose values take part in deciding whether an address may log in."""
    return rule.type.upper() in ADDRESS_RULE_TYPES and rule.mode.upper() in LOGIN_RULE_MODES


# --------------------------------------------------------------------------------------------------------------
# The verdict


class Decider(enum.StrEnum):
    """Which part of the policy decided."""

    BLOCKED_IP_LIST = "blocked_ip_list"
    BLOCKED_RULE = "blocked_rule"
    ALLOWED_IP_LIST = "allowed_ip_list"
    ALLOWED_RULE = "allowed_rule"
    NO_ALLOW_LIST = "no_allow_list"  # nothing restricts: every address not blocked is admitted
    NOT_ALLOWED = "not_allowed"  # an allow list exists and nothing in it matches
    EMPTIED_ALLOW_LIST = "emptied_allow_list"  # ALLOWED_IP_LIST explicitly set to () with no IPV4 rules
    NO_POLICY = "no_policy"  # no policy is active: Snowflake admits every address
    UNKNOWN_POLICY = "unknown_policy"  # a policy is active whose lists we cannot read
    INVALID_ADDRESS = "invalid_address"


@dataclass(frozen=True)
class IpVerdict:
    """Whether `ip` is admitted, what decided it, and the trace of the evaluation (for "why?" screens)."""

    ip: str
    allowed: bool
    decided_by: Decider
    reason: str
    policy: str = ""
    entry: str = ""  # the entry or rule value that decided, as written on the server
    rule: str = ""  # the rule holding `entry`, when a rule decided
    catch_all: bool = False  # admitted only by 0.0.0.0/0-style entries: the policy restricts nothing for it
    steps: tuple[str, ...] = ()  # one line per list checked, in evaluation order
    notes: tuple[str, ...] = ()  # caveats: unreadable rules, ignored entries ...

    @property
    def where(self) -> str:
        """Where the decision was made, in words: "ALLOWED_IP_LIST entry 1.2.3.4", "allowed rule X (0.0.0.0/0)"."""
        if self.decided_by in (Decider.BLOCKED_IP_LIST, Decider.ALLOWED_IP_LIST):
            return f"{self.decided_by.value.upper()} entry {self.entry}"
        if self.decided_by is Decider.BLOCKED_RULE:
            return f"blocked rule {self.rule} ({self.entry})"
        if self.decided_by is Decider.ALLOWED_RULE:
            return f"allowed rule {self.rule} ({self.entry})"
        return self.decided_by.value.replace("_", " ")

    def explain(self) -> str:
        """Multi-line text for a detail screen or the CLI: the verdict, each list in Snowflake's order, caveats."""
        lines = [f"{'ADMITTED' if self.allowed else 'REFUSED'}: {self.reason}"]
        if self.steps:
            lines.append("Checked in Snowflake's order (blocked first):")
            lines += [f"  {i}. {step}" for i, step in enumerate(self.steps, 1)]
        if self.allowed and self.catch_all:
            lines.append("Note: only a catch-all admits this address; removing it would refuse the address.")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Match:
    decider: Decider
    entry: str
    network: Network
    rule: str = ""


def _rule_matches(
    address: Address, names: Sequence[str], rules: Mapping[str, NetworkRule], decider: Decider, notes: list[str]
) -> tuple[list[_Match], bool]:
    """Matches of `address` among the rules `names`, and whether any of them restricts addresses."""
    matches: list[_Match] = []
    restricting = False
    for name in names:
        rule = rules.get(normalize_rule_name(name))
        if rule is None:
            notes.append(f"rule {name} is referenced but not visible: its values were not considered")
            restricting = True
            continue
        if not governs_addresses(rule):
            notes.append(f"rule {rule.name} ({rule.type}, {rule.mode}) does not decide addresses at login")
            continue
        restricting = True
        for value in rule.values:
            network = parse_entry(value)
            if network is None:
                notes.append(f"rule {rule.name} value {value!r} is not an address or CIDR; ignored")
            elif address_in(address, network):
                matches.append(_Match(decider, value, network, rule.name))
    return matches, restricting


def _list_matches(address: Address, entries: Sequence[str], decider: Decider, notes: list[str]) -> list[_Match]:
    matches: list[_Match] = []
    for entry in entries:
        network = parse_entry(entry)
        if network is None:
            notes.append(f"{decider.value.upper()} entry {entry!r} is not an address or CIDR; ignored")
        elif address_in(address, network):
            matches.append(_Match(decider, entry, network))
    return matches


def evaluate_ip(
    ip: str,
    policy: NetworkPolicy | None,
    rules: Iterable[NetworkRule] = (),
    *,
    allow_list_emptied: bool = False,
) -> IpVerdict:
    """Would `policy` admit a login from `ip`? Blocked lists first, then the allowed list and IPV4 rules.

    `policy` None means no policy applies: every address is admitted. `allow_list_emptied` says the
    ALLOWED_IP_LIST was explicitly set to an empty list (a pending change): Snowflake's docs say no IPv4 address
    can then access unless rules are used, although DESCRIBE cannot tell that state from an unset list.
    """
    address = parse_address(ip)
    if address is None:
        return IpVerdict(ip, False, Decider.INVALID_ADDRESS, f"{ip!r} is not an IP address")
    if policy is None:
        return IpVerdict(
            ip, True, Decider.NO_POLICY, f"{ip} is admitted: no network policy applies, so every address is"
        )
    name = policy.name
    index = index_rules(rules)
    notes: list[str] = []
    steps: list[str] = []

    def verdict(allowed: bool, decider: Decider, reason: str, match: _Match | None = None, **kw: bool) -> IpVerdict:
        return IpVerdict(
            ip=ip,
            allowed=allowed,
            decided_by=decider,
            reason=reason,
            policy=name,
            entry=match.entry if match else "",
            rule=match.rule if match else "",
            steps=tuple(steps),
            notes=tuple(dict.fromkeys(notes)),
            **kw,
        )

    # 1. BLOCKED_IP_LIST
    blocked = _list_matches(address, policy.blocked_ips, Decider.BLOCKED_IP_LIST, notes)
    if blocked:
        hit = blocked[0]
        steps.append(f"BLOCKED_IP_LIST: {hit.entry} matches -> refused")
        return verdict(
            False,
            Decider.BLOCKED_IP_LIST,
            f"{ip} is refused by {name}: BLOCKED_IP_LIST entry {hit.entry} matches "
            "(blocked entries are checked before any allowed one)",
            hit,
        )
    steps.append(
        f"BLOCKED_IP_LIST: {len(policy.blocked_ips)} entries, none matches"
        if policy.blocked_ips
        else "BLOCKED_IP_LIST: empty"
    )

    # 2. Blocked IPV4 rules
    blocked_by_rule, _ = _rule_matches(address, policy.blocked_rules, index, Decider.BLOCKED_RULE, notes)
    if blocked_by_rule:
        hit = blocked_by_rule[0]
        steps.append(f"blocked rule {hit.rule}: {hit.entry} matches -> refused")
        return verdict(
            False,
            Decider.BLOCKED_RULE,
            f"{ip} is refused by {name}: blocked rule {hit.rule} value {hit.entry} matches "
            "(blocked rules are checked before any allowed entry)",
            hit,
        )
    steps.append(
        f"blocked rules: {', '.join(policy.blocked_rules)}; no value matches"
        if policy.blocked_rules
        else "blocked rules: none"
    )

    # 3. Allowed IP list and allowed IPV4 rules, together
    allowed = _list_matches(address, policy.allowed_ips, Decider.ALLOWED_IP_LIST, notes)
    allowed_by_rule, rules_restrict = _rule_matches(address, policy.allowed_rules, index, Decider.ALLOWED_RULE, notes)
    steps.append(
        f"ALLOWED_IP_LIST: {len(policy.allowed_ips)} entries, "
        + (f"matching: {', '.join(m.entry for m in allowed)}" if allowed else "none matches")
        if policy.allowed_ips
        else "ALLOWED_IP_LIST: empty"
    )
    if policy.allowed_rules:
        matched = ", ".join(f"{m.rule} ({m.entry})" for m in allowed_by_rule) or "no value matches"
        steps.append(f"allowed rules: {', '.join(policy.allowed_rules)}; {matched}")
    else:
        steps.append("allowed rules: none")

    matches = allowed + allowed_by_rule
    if matches:
        # The most specific match explains the decision best; on a tie the IP list is named first.
        best = max(matches, key=lambda m: (m.network.prefixlen, m.decider is Decider.ALLOWED_IP_LIST))
        catch_all = all(is_catch_all(m.network) for m in matches)
        where = (
            f"ALLOWED_IP_LIST entry {best.entry}"
            if best.decider is Decider.ALLOWED_IP_LIST
            else f"allowed rule {best.rule} (value {best.entry})"
        )
        reason = f"{ip} is admitted by {name}: {where}"
        if catch_all:
            reason += " — a catch-all that admits every address, not a deliberate entry for this one"
        return verdict(True, best.decider, reason, best, catch_all=catch_all)

    if policy.allowed_ips or rules_restrict:
        return verdict(
            False,
            Decider.NOT_ALLOWED,
            f"{ip} is refused by {name}: no ALLOWED_IP_LIST entry and no allowed IPV4 rule matches it",
        )
    if allow_list_emptied:
        return verdict(
            False,
            Decider.EMPTIED_ALLOW_LIST,
            f"{ip} would be refused by {name}: an ALLOWED_IP_LIST set to an empty list, with no IPV4 rules, "
            "admits no IPv4 address",
        )
    return verdict(
        True,
        Decider.NO_ALLOW_LIST,
        f"{ip} is admitted by {name}: it has no allowed entries and no allowed IPV4 rules, "
        "so every address not blocked is admitted",
        catch_all=True,
    )


# --------------------------------------------------------------------------------------------------------------
# Lockout guard


@dataclass(frozen=True)
class LockoutCheck:
    """The verdict for one address before and after a proposed policy change."""

    before: IpVerdict
    after: IpVerdict

    @property
    def locks_out(self) -> bool:
        """The change turns an admitted address into a refused one."""
        return self.before.allowed and not self.after.allowed


def policy_after(
    policy: NetworkPolicy,
    *,
    allowed_ips: Sequence[str] | None = None,
    blocked_ips: Sequence[str] | None = None,
    allowed_rules: Sequence[str] | None = None,
    blocked_rules: Sequence[str] | None = None,
) -> NetworkPolicy:
    """`policy` with the given lists replaced (what ALTER NETWORK POLICY ... SET would leave)."""
    changes: dict[str, tuple[str, ...]] = {}
    for field_name, value in (
        ("allowed_ips", allowed_ips),
        ("blocked_ips", blocked_ips),
        ("allowed_rules", allowed_rules),
        ("blocked_rules", blocked_rules),
    ):
        if value is not None:
            changes[field_name] = tuple(value)
    return dataclasses.replace(policy, **changes)


def rules_after(rules: Iterable[NetworkRule], rule_values: Mapping[str, Sequence[str]]) -> tuple[NetworkRule, ...]:
    """`rules` with some rules' VALUE_LIST replaced (what ALTER NETWORK RULE ... SET VALUE_LIST would leave)."""
    wanted = {normalize_rule_name(k): tuple(v) for k, v in rule_values.items()}
    return tuple(
        dataclasses.replace(r, values=wanted[normalize_rule_name(r.name)])
        if normalize_rule_name(r.name) in wanted
        else r
        for r in rules
    )


def would_allow_after(
    ip: str,
    policy: NetworkPolicy | None,
    rules: Iterable[NetworkRule] = (),
    *,
    allowed_ips: Sequence[str] | None = None,
    blocked_ips: Sequence[str] | None = None,
    allowed_rules: Sequence[str] | None = None,
    blocked_rules: Sequence[str] | None = None,
    rule_values: Mapping[str, Sequence[str]] | None = None,
) -> LockoutCheck:
    """Evaluate `ip` against `policy` now and after replacing some of its lists or rule values.

    The guard for self-lockout: Snowflake refuses to *activate* a policy that excludes the caller, but whether
    it refuses an ALTER of an already active one is unknown, so the dashboard checks on its side.
    """
    rules = tuple(rules)
    before = evaluate_ip(ip, policy, rules)
    if policy is None:
        return LockoutCheck(before, before)
    new_policy = policy_after(
        policy,
        allowed_ips=allowed_ips,
        blocked_ips=blocked_ips,
        allowed_rules=allowed_rules,
        blocked_rules=blocked_rules,
    )
    new_rules = rules_after(rules, rule_values or {})
    emptied = allowed_ips is not None and not allowed_ips and bool(policy.allowed_ips)
    after = evaluate_ip(ip, new_policy, new_rules, allow_list_emptied=emptied)
    return LockoutCheck(before, after)
