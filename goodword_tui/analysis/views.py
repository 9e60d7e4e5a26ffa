"""Snapshot + settings → the rows the dashboard shows, as plain data (no Textual here).

The faces render; this decides what a row says: which expected route is there (✓) or not (✗), what state a
policy entry is in, whether an egress address can log in to Snowflake. Keeping it pure lets the dashboard,
`check` and the tests agree, and lets the UI diff rows by key instead of rebuilding tables.

Lookups go through `baseline.resolve`, address decisions through `reach.why` / `policy` helpers, so this module only
arranges what those two decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from goodword_tui.analysis.baseline import Resolved, resolve, spec_name
from goodword_tui.analysis.findings import privatelink_in_use, sg_rule_covers, sort_key
from goodword_tui.analysis.policy import (
    IpVerdict,
    Network,
    contains,
    governs_addresses,
    index_rules,
    is_catch_all,
    non_internet_reason,
    normalize_rule_name,
    overlaps,
    parse_entry,
    same_network,
)
from goodword_tui.analysis.reach import egress_for, why
from goodword_tui.analysis.reuse import PartCache, direct
from goodword_tui.analysis.rows import (  # noqa: F401  (re-exported: statuses are part of what `views` gives)
    BAD_MARK,
    OK_MARK,
    SOURCE_TITLES,
    WARN_MARK,
    Row,
    SourceState,
    SourceStatus,
    Table,
    Tone,
    format_age,
    source_status,
    with_look,
)
from goodword_tui.config import ExpectedRoute, Settings
from goodword_tui.model import (
    AwsState,
    Finding,
    ProbeResult,
    Route,
    RouteTable,
    RouteTargetKind,
    SecurityGroup,
    SecurityGroupRule,
    Severity,
    Snapshot,
    SnowflakeState,
    Vpc,
)


def _mark(good: bool) -> str:
    return OK_MARK if good else BAD_MARK


def _refs(*values: str | None) -> frozenset[str]:
    return frozenset(v for v in values if v)


# --------------------------------------------------------------------------------------------------------------
# Network


def _vpc_label(settings: Settings, resolved: Resolved, vpc_id: str) -> str:
    for spec in settings.aws.vpcs:
        live = resolved.vpcs.get(spec.key)
        if live is not None and live.id == vpc_id:
            return spec.label
    return vpc_id


def vpc_table(aws: AwsState, settings: Settings, resolved: Resolved | None = None) -> Table:
    resolved = resolved or resolve(settings, aws)
    rows: list[Row] = []
    seen: set[str] = set()
    for spec in settings.aws.vpcs:
        vpc = resolved.vpcs.get(spec.key)
        if vpc is None:
            rows.append(
                Row(
                    f"vpc:{spec.key}",
                    (BAD_MARK, spec.label, spec_name(spec), spec.cidr, "not found"),
                    "bad",
                    _refs(spec.id, spec.name_tag, spec.key),
                    spec,
                    spec.id or "",
                    spec.label,
                )
            )
            continue
        seen.add(vpc.id)
        cidr_ok = same_network(vpc.cidr, spec.cidr) or any(same_network(c, spec.cidr) for c in vpc.extra_cidrs)
        good = cidr_ok and vpc.state == "available"
        state = vpc.state if cidr_ok else f"{vpc.state}, expected {spec.cidr}"
        rows.append(
            Row(
                f"vpc:{vpc.id}",
                (_mark(good), spec.label, vpc.id, ", ".join((vpc.cidr, *vpc.extra_cidrs)), state),
                "ok" if good else "bad",
                _refs(vpc.id, vpc.name, spec.key),
                vpc,
                vpc.id,
                f"VPC {vpc.id} ({spec.label})",
                (("expected CIDR", spec.cidr),),
            )
        )
    for vpc in aws.vpcs:
        if vpc.id not in seen:
            rows.append(
                Row(
                    f"vpc:{vpc.id}",
                    ("", vpc.name or "(not in config)", vpc.id, vpc.cidr, vpc.state),
                    "muted",
                    _refs(vpc.id, vpc.name),
                    vpc,
                    vpc.id,
                    f"VPC {vpc.id}",
                )
            )
    return Table("vpcs", "VPCs", ("", "VPC", "Id", "CIDR", "State"), tuple(rows), "no VPCs found")


def peering_table(aws: AwsState, settings: Settings, resolved: Resolved | None = None) -> Table:
    resolved = resolved or resolve(settings, aws)
    spec = settings.aws.peering
    rows: list[Row] = []
    live = resolved.peering
    if spec is not None and live is None:
        rows.append(
            Row(
                "pcx:expected",
                (BAD_MARK, spec.id or spec.name_tag or "peering", "not found", spec.requester, spec.accepter),
                "bad",
                _refs(spec.id, spec.name_tag),
                spec,
                spec.id or "",
                "Peering (not found)",
            )
        )
    for pcx in aws.peerings:
        expected = live is not None and pcx.id == live.id
        good = pcx.status == "active"
        side = f"{_vpc_label(settings, resolved, pcx.requester_vpc_id)} {pcx.requester_cidr}"
        other = f"{_vpc_label(settings, resolved, pcx.accepter_vpc_id)} {pcx.accepter_cidr}"
        status = pcx.status + (f" ({pcx.status_message})" if pcx.status_message and not good else "")
        rows.append(
            Row(
                f"pcx:{pcx.id}",
                (_mark(good) if expected else "", pcx.id, status, side, other),
                ("ok" if good else "bad") if expected else "muted",
                _refs(pcx.id, pcx.name),
                pcx,
                pcx.id,
                f"Peering {pcx.id}",
                (("expected", "yes" if expected else "no (not the configured peering)"),),
            )
        )
    return Table("peering", "Peering", ("", "Id", "Status", "Requester", "Accepter"), tuple(rows), "no peering found")


def _route_target(route: Route) -> str:
    return route.target_id if route.target_kind is not RouteTargetKind.LOCAL else "local"


def route_check(expected: ExpectedRoute, table: RouteTable, peering_id: str | None) -> tuple[bool, str]:
    """Is the expected route in `table`, active, to the right kind of target (the configured peering)?"""
    found = next((r for r in table.routes if same_network(r.destination, expected.destination)), None)
    if found is None:
        return False, f"{expected.destination} missing"
    if found.is_blackhole:
        return False, f"{expected.destination} → {found.target_id} blackhole"
    if found.target_kind.value != expected.target:
        return False, f"{expected.destination} → {_route_target(found)} (expected {expected.target})"
    if expected.target == "peering" and peering_id and found.target_id != peering_id:
        return False, f"{expected.destination} → {found.target_id} (expected {peering_id})"
    return True, f"{expected.destination} → {expected.target}"


def route_table_table(aws: AwsState, settings: Settings, resolved: Resolved | None = None) -> Table:
    """Every configured table with a ✓/✗ per expected route and its blackholes, then the unconfigured ones."""
    resolved = resolved or resolve(settings, aws)
    peering_id = resolved.peering.id if resolved.peering else None
    rows: list[Row] = []
    seen: set[str] = set()
    for spec, table in resolved.route_tables:
        label = spec.label or spec.name_tag or spec.id or "route table"
        if table is None:
            rows.append(
                Row(
                    f"rtb:{spec_name(spec)}",
                    (BAD_MARK, label, spec_name(spec), "table not found", ""),
                    "bad",
                    _refs(spec.id, spec.name_tag),
                    spec,
                    spec.id or spec.name_tag or "",
                    f"Route table {label} (not found)",
                )
            )
            continue
        seen.add(table.id)
        checks = [route_check(r, table, peering_id) for r in spec.routes]
        blackholes = [r for r in table.routes if r.is_blackhole]
        good = all(ok for ok, _ in checks) and not blackholes
        expected_text = "  ".join(f"{_mark(ok)} {text}" for ok, text in checks) or "(none expected)"
        hole_text = ", ".join(f"{r.destination} → {r.target_id}" for r in blackholes)
        facts = tuple((f"expected {i + 1}", f"{_mark(ok)} {text}") for i, (ok, text) in enumerate(checks))
        facts += tuple(("blackhole", f"{r.destination} → {r.target_id}") for r in blackholes)
        rows.append(
            Row(
                f"rtb:{table.id}",
                (_mark(good), label, table.id, expected_text, hole_text or "none"),
                "ok" if good else "bad",
                _refs(table.id, table.name, spec.name_tag),
                table,
                table.id,
                f"Route table {table.id} ({label})",
                facts,
            )
        )
    for table in aws.route_tables:
        if table.id not in seen:
            holes = [r for r in table.routes if r.is_blackhole]
            rows.append(
                Row(
                    f"rtb:{table.id}",
                    (
                        BAD_MARK if holes else "",
                        table.name or "(not in config)",
                        table.id,
                        "(not in config)",
                        ", ".join(f"{r.destination} → {r.target_id}" for r in holes) or "none",
                    ),
                    "bad" if holes else "muted",
                    _refs(table.id, table.name),
                    table,
                    table.id,
                    f"Route table {table.id}",
                )
            )
    return Table(
        "route_tables",
        "Route tables",
        ("", "Route table", "Id", "Expected routes", "Blackholes"),
        tuple(rows),
        "no route tables found",
    )


def _ports(from_port: int | None, to_port: int | None, protocol: str) -> str:
    if protocol in ("-1", "all"):
        return "all"
    if from_port in (None, -1) and to_port in (None, -1):
        return "all" if protocol != "icmp" else "all types"
    if from_port == to_port:
        return str(from_port)
    return f"{from_port}-{to_port}"


def _is_cross_vpc(rule: SecurityGroupRule, group: SecurityGroup, vpcs: Iterable[Vpc]) -> bool:
    """A rule whose peer CIDR overlaps another configured VPC than the group's own."""
    network = parse_entry(rule.cidr) if rule.cidr else None
    if network is None or is_catch_all(network):
        return False
    for vpc in vpcs:
        if vpc.id == group.vpc_id:
            continue
        other = parse_entry(vpc.cidr)
        if other is not None and network.version == other.version and network.overlaps(other):  # type: ignore[arg-type]
            return True
    return False


def sg_rule_table(aws: AwsState, settings: Settings, resolved: Resolved | None = None) -> Table:
    """The expected cross-VPC rules per group (✓ present / ✗ missing), then other cross-VPC rules found."""
    resolved = resolved or resolve(settings, aws)
    live_vpcs = [v for v in resolved.vpcs.values() if v is not None]
    rows: list[Row] = []
    for spec, group in resolved.security_groups:
        label = spec.label or spec.name or spec.id or "security group"
        ident = spec.id or spec.name or label
        if group is None:
            rows.append(
                Row(
                    f"sg:{ident}",
                    (BAD_MARK, label, ident, "", "", "", "group not found"),
                    "bad",
                    _refs(spec.id, spec.name),
                    spec,
                    spec.id or spec.name or "",
                    f"Security group {label} (not found)",
                )
            )
            continue
        used: set[int] = set()
        for number, expected in enumerate(spec.rules):
            match = next((i for i, r in enumerate(group.rules) if sg_rule_covers(r, expected)), None)
            if match is not None:
                used.add(match)
            good = match is not None
            rule = group.rules[match] if match is not None else None
            rows.append(
                Row(
                    f"sg:{group.id}:expected:{number}",
                    (
                        _mark(good),
                        label,
                        group.id,
                        expected.direction,
                        expected.protocol if expected.protocol != "-1" else "all",
                        _ports(expected.from_port, expected.to_port, expected.protocol),
                        expected.cidr + ("" if good else "  missing"),
                    ),
                    "ok" if good else "bad",
                    _refs(group.id, group.name, spec.name),
                    rule if rule is not None else expected,
                    group.id,
                    f"Security group {group.id} ({label}) rule",
                    (("expected", "yes"), ("present", "yes" if good else "no")),
                )
            )
        for index, rule in enumerate(group.rules):
            if index in used or not _is_cross_vpc(rule, group, live_vpcs):
                continue
            rows.append(
                Row(
                    f"sg:{group.id}:extra:{rule.rule_id or index}",
                    (
                        "",
                        label,
                        group.id,
                        rule.direction,
                        rule.protocol if rule.protocol != "-1" else "all",
                        _ports(rule.from_port, rule.to_port, rule.protocol),
                        rule.peer,
                    ),
                    "muted",
                    _refs(group.id, group.name),
                    rule,
                    group.id,
                    f"Security group {group.id} ({label}) rule",
                    (("expected", "no (not in config)"),),
                )
            )
    return Table(
        "security_groups",
        "Security groups: cross-VPC rules",
        ("", "Group", "Id", "Dir", "Proto", "Ports", "Peer"),
        tuple(rows),
        "no security groups configured",
    )


def endpoint_table(aws: AwsState, settings: Settings, resolved: Resolved | None = None) -> Table:
    resolved = resolved or resolve(settings, aws)
    rows: list[Row] = []
    seen: set[str] = set()
    for spec, endpoint in resolved.endpoints:
        label = spec.label or spec.service
        if endpoint is None:
            rows.append(
                Row(
                    f"vpce:{spec.id or spec.service}",
                    (BAD_MARK, label, spec.id or "", spec.service, "not found"),
                    "bad",
                    _refs(spec.id, spec.service),
                    spec,
                    spec.id or "",
                    f"Endpoint {label} (not found)",
                )
            )
            continue
        seen.add(endpoint.id)
        good = endpoint.state.lower() == "available" and endpoint.service_name == spec.service
        rows.append(
            Row(
                f"vpce:{endpoint.id}",
                (_mark(good), label, endpoint.id, endpoint.service_name, endpoint.state),
                "ok" if good else "bad",
                _refs(endpoint.id, *endpoint.dns_names),
                endpoint,
                endpoint.dns_names[0] if endpoint.dns_names else endpoint.id,
                f"Endpoint {endpoint.id} ({label})",
            )
        )
    for endpoint in aws.endpoints:
        if endpoint.id not in seen:
            rows.append(
                Row(
                    f"vpce:{endpoint.id}",
                    ("", "(not in config)", endpoint.id, endpoint.service_name, endpoint.state),
                    "muted",
                    _refs(endpoint.id),
                    endpoint,
                    endpoint.id,
                    f"Endpoint {endpoint.id}",
                )
            )
    return Table("endpoints", "Endpoints", ("", "Endpoint", "Id", "Service", "State"), tuple(rows), "none")


def instance_table(aws: AwsState, settings: Settings, resolved: Resolved | None = None) -> Table:
    resolved = resolved or resolve(settings, aws)
    rows: list[Row] = []
    for spec, instance in resolved.instances:
        if instance is None:
            rows.append(
                Row(
                    f"i:{spec.key}",
                    (BAD_MARK, spec.label, spec_name(spec), "not found", spec.private_ip, ""),
                    "bad",
                    _refs(spec.id, spec.name_tag, spec.private_ip),
                    spec,
                    spec.private_ip,
                    f"Instance {spec.label} (not found)",
                )
            )
            continue
        ip_ok = instance.private_ip == spec.private_ip
        good = ip_ok and instance.state == "running"
        state = instance.state if ip_ok else f"{instance.state}, expected {spec.private_ip}"
        rows.append(
            Row(
                f"i:{instance.id}",
                (_mark(good), spec.label, instance.id, state, instance.private_ip, instance.public_ip or "-"),
                "ok" if good else "bad",
                _refs(instance.id, instance.name, instance.private_ip, instance.public_ip, spec.key),
                instance,
                instance.private_ip,
                f"Instance {instance.id} ({spec.label})",
            )
        )
    return Table(
        "instances",
        "Instances",
        ("", "Instance", "Id", "State", "Private IP", "Public IP"),
        tuple(rows),
        "no instances configured",
    )


def _snowflake_verdict(ip: str, snowflake: SnowflakeState | None) -> IpVerdict | None:
    """The account-level decision (`reach.why`), the same one the findings and the `w` screen give."""
    if snowflake is None or not ip:
        return None
    return why(ip, snowflake)


def _verdict_text(verdict: IpVerdict | None) -> tuple[str, Tone]:
    if verdict is None:
        return "unknown", "muted"
    if verdict.decided_by.value == "unknown_policy":
        return f"unknown ({verdict.reason})", "warn"
    if not verdict.allowed:
        return f"REFUSED ({verdict.decided_by.value.replace('_', ' ')})", "bad"
    if verdict.catch_all:
        what = f"rule {verdict.rule}" if verdict.rule else (f"entry {verdict.entry}" if verdict.entry else "policy")
        return f"admitted only by catch-all {what}", "warn"
    return f"admitted ({verdict.where})", "ok"


def egress_table(
    aws: AwsState, settings: Settings, snowflake: SnowflakeState | None = None, resolved: Resolved | None = None
) -> Table:
    """Where each configured instance's traffic leaves for the internet (`reach.egress_for`) and whether
    Snowflake admits that address, then the NAT and Internet gateways themselves."""
    resolved = resolved or resolve(settings, aws)
    rows: list[Row] = []
    for spec, instance in resolved.instances:
        if instance is None:
            continue
        egress = egress_for(instance, aws)
        verdict = _snowflake_verdict(egress.public_ip, snowflake) if egress.ok else None
        if egress.ok:
            text, tone = _verdict_text(verdict)
            via = f"{egress.via_kind} {egress.via_id}"
        else:
            text, tone = "no egress", "bad" if spec.must_reach_snowflake else "warn"
            via = egress.detail
        rows.append(
            Row(
                f"egress:{instance.id}",
                (spec.label, via, egress.public_ip or "-", text),
                tone,
                _refs(instance.id, egress.public_ip, egress.via_id, instance.private_ip),
                egress,
                egress.public_ip or instance.id,
                f"Egress of {spec.label} ({instance.id})",
                (
                    ("route", egress.detail),
                    ("must reach Snowflake", "yes" if spec.must_reach_snowflake else "no"),
                    ("Snowflake", verdict.reason if verdict else "not evaluated"),
                ),
            )
        )
    for nat in aws.nat_gateways:
        verdict = _snowflake_verdict(nat.public_ip, snowflake)
        text, tone = _verdict_text(verdict) if nat.public_ip else ("no public address", "muted")
        state = "" if nat.state == "available" else f" ({nat.state})"
        rows.append(
            Row(
                f"nat:{nat.id}",
                (f"NAT, {_vpc_label(settings, resolved, nat.vpc_id)}", nat.id + state, nat.public_ip or "-", text),
                tone if not state else "bad",
                _refs(nat.id, nat.public_ip),
                nat,
                nat.public_ip or nat.id,
                f"NAT gateway {nat.id}",
                (("Snowflake", verdict.reason if verdict else "unknown"),),
            )
        )
    for igw in aws.internet_gateways:
        vpcs = ", ".join(_vpc_label(settings, resolved, v) for v in igw.vpc_ids) or "detached"
        rows.append(
            Row(
                f"igw:{igw.id}",
                (f"IGW, {vpcs}", igw.id, "-", "instances' own public IPs"),
                "" if igw.vpc_ids else "warn",
                _refs(igw.id, igw.name),
                igw,
                igw.id,
                f"Internet gateway {igw.id}",
            )
        )
    return Table(
        "egress",
        "Egress: where traffic leaves, and Snowflake's answer",
        ("From", "Via", "Public IP", "Snowflake login"),
        tuple(rows),
        "no instances, NAT or Internet gateways",
    )


def network_tables(aws: AwsState, settings: Settings, snowflake: SnowflakeState | None = None) -> list[Table]:
    resolved = resolve(settings, aws)
    return [
        vpc_table(aws, settings, resolved),
        peering_table(aws, settings, resolved),
        route_table_table(aws, settings, resolved),
        sg_rule_table(aws, settings, resolved),
        endpoint_table(aws, settings, resolved),
        instance_table(aws, settings, resolved),
        egress_table(aws, settings, snowflake, resolved),
    ]


# --------------------------------------------------------------------------------------------------------------
# Snowflake


def effective_policy_name(state: SnowflakeState) -> str:
    """The policy that decides this user's logins: the user's own overrides the account's."""
    return state.user_policy or state.account_policy


@dataclass(frozen=True)
class PolicySummary:
    """What the top of the Snowflake pane says: is the policy active and where, and are *you* admitted."""

    policy: str
    exists: bool
    active_on: tuple[str, ...]  # "account VSC91540", "user CHRIS"
    overridden_by: str  # another policy that decides instead ("" when none)
    me: str  # the address Snowflake sees for this session
    my_verdict: IpVerdict | None
    lines: tuple[tuple[str, Tone], ...] = field(default=())


def policy_summary(state: SnowflakeState, settings: Settings) -> PolicySummary:
    name = settings.snowflake.policy
    exists = state.policy is not None
    active: list[str] = []
    if state.account_policy.upper() == name.upper():
        active.append(f"account {state.account}")
    if state.user_policy.upper() == name.upper():
        active.append(f"user {state.user}")
    effective = effective_policy_name(state)
    overridden = effective if effective and effective.upper() != name.upper() else ""
    verdict = _snowflake_verdict(state.current_ip, state)

    lines: list[tuple[str, Tone]] = []
    if not exists:
        lines.append((f"{BAD_MARK} Policy {name} does not exist", "bad"))
    elif active:
        lines.append((f"{OK_MARK} Policy {name}: ACTIVE on {' and '.join(active)}", "ok"))
    else:
        where = f"set on neither the account nor user {state.user}"
        lines.append((f"{BAD_MARK} Policy {name}: NOT ACTIVE ({where})", "bad"))
    if overridden:
        lines.append((f"{WARN_MARK} Logins of {state.user} are decided by policy {overridden} instead", "warn"))
    who = f"You ({state.user or '?'}) from {state.current_ip or 'an unknown address'}"
    if verdict is None:
        lines.append((f"{who}: not evaluated", "muted"))
    else:
        text, tone = _verdict_text(verdict)
        mark = {"ok": OK_MARK, "warn": WARN_MARK}.get(tone, BAD_MARK)
        lines.append((f"{mark} {who}: {text}", tone))
    return PolicySummary(name, exists, tuple(active), overridden, state.current_ip, verdict, tuple(lines))


NEVER_MATCH_WHY = (
    "Snowflake sees the public address a login comes from (unless it arrives through PrivateLink), "
    "so a private or CGNAT range in the list admits nobody."
)


@dataclass(frozen=True)
class EntryState:
    """One IP-list entry and every status that applies to it (an entry can be expected *and* redundant)."""

    entry: str
    list: Literal["allowed", "blocked"]
    label: str
    present: bool
    statuses: tuple[str, ...]  # short words, as the table shows them
    tone: Tone
    position: int | None = None  # index in the server's list


def _blocked_networks(state: SnowflakeState) -> list[tuple[str, Network]]:
    """Blocked IP-list entries and blocked IPV4 rule values: all are checked before any allowed entry."""
    policy = state.policy
    if policy is None:
        return []
    out = [(text, n) for text in policy.blocked_ips if (n := parse_entry(text)) is not None]
    index = index_rules(state.rules)
    for name in policy.blocked_rules:
        rule = index.get(normalize_rule_name(name))
        if rule is not None and governs_addresses(rule):
            out += [(f"{v} (rule {rule.name})", n) for v in rule.values if (n := parse_entry(v)) is not None]
    return out


def _short_reason(reason: str) -> str:
    """ "private (RFC 1918) space" → "private range"; the full reason is in the finding's message."""
    if reason.startswith("private"):
        return "private"
    if reason.startswith("carrier-grade"):
        return "CGNAT"
    return reason.split(" (")[0]


# An allowed entry as plain integers (version, prefix length, network address): supernets are then a shift away.
NetworkBits = tuple[int, int, int]


def _bits(network: Network) -> NetworkBits:
    return network.version, network.prefixlen, int(network.network_address)


def _tightest_container(network: Network, present: dict[NetworkBits, str]) -> str | None:
    """The narrowest *other* allowed entry holding `network`, found by walking its supernets (32 lookups for
    IPv4 instead of a scan of the whole list: a 1,000-entry policy stays cheap). Catch-alls do not count.

    The supernets are masked integers rather than `ipaddress` objects: building 31 networks per entry was most
    of the cost of a refresh of a 1,000-entry policy."""
    version, length, address = _bits(network)
    width = network.max_prefixlen
    for prefix in range(length - 1, 0, -1):
        shift = width - prefix
        outer = present.get((version, prefix, address >> shift << shift))
        if outer is not None:
            return outer
    return None


def _allowed_statuses(
    network: Network,
    present: dict[NetworkBits, str],
    blocked: list[tuple[str, Network]],
    private_ok: bool,
) -> tuple[list[str], Tone]:
    """Shadowed, can never match, inside another: the same tests the findings make (policy.py helpers)."""
    words: list[str] = []
    tone: Tone = "ok"
    for text, block in blocked:
        if overlaps(block, network) and not is_catch_all(network):
            words.append(f"{'shadowed' if contains(block, network) else 'partly shadowed'} by blocked {text}")
            tone = "bad"
    reason = None if private_ok else non_internet_reason(network)
    if reason is not None:
        words.append(f"never matches ({_short_reason(reason)})")
        tone = tone if tone == "bad" else "warn"
    container = _tightest_container(network, present)
    if container is not None:
        words.append(f"inside {container}")
        tone = tone if tone != "ok" else "warn"
    if is_catch_all(network):
        words.append("admits every address")
        tone = "bad"
    return words, tone


def entry_states(state: SnowflakeState, settings: Settings) -> list[EntryState]:
    """Every allowed and blocked entry (and the baseline's missing ones) with its statuses.

    Entries are compared as networks ("1.2.3.4" is "1.2.3.4/32"), through dictionaries, so the cost stays
    linear in the size of the policy and the baseline.
    """
    policy = state.policy
    allowed = list(policy.allowed_ips) if policy else []
    blocked_list = list(policy.blocked_ips) if policy else []
    labels: dict[Network, str] = {}
    for spec in settings.snowflake.allowed:
        if (net := parse_entry(spec.cidr)) is not None:
            labels.setdefault(net, spec.label)
    present: dict[Network, str] = {}
    for entry in allowed:
        if (net := parse_entry(entry)) is not None:
            present.setdefault(net, entry)
    present_bits = {_bits(net): entry for net, entry in present.items()}
    blocked = _blocked_networks(state)
    private_ok = policy is not None and privatelink_in_use(state, policy, settings)
    result: list[EntryState] = []

    for position, entry in enumerate(allowed):
        network = parse_entry(entry)
        in_baseline = network is not None and network in labels
        words = [] if in_baseline else ["unexpected"]
        tone: Tone = "ok" if in_baseline else "warn"
        if network is None:
            words.append("never matches (not an address)")
            tone = "bad"
        else:
            more, more_tone = _allowed_statuses(network, present_bits, blocked, private_ok)
            words += more
            if more_tone == "bad" or (more_tone == "warn" and tone == "ok"):
                tone = more_tone
        label = labels.get(network, "") if network is not None else ""
        result.append(EntryState(entry, "allowed", label, True, tuple(words or ["expected"]), tone, position))

    if policy is not None:
        for spec in settings.snowflake.allowed:
            if parse_entry(spec.cidr) not in present:
                result.append(EntryState(spec.cidr, "allowed", spec.label, False, ("missing",), "bad"))

    expected_blocked = {n for c in settings.snowflake.blocked if (n := parse_entry(c)) is not None}
    present_blocked = set()
    for position, entry in enumerate(blocked_list):
        network = parse_entry(entry)
        present_blocked.add(network)
        known = network in expected_blocked
        words = ["expected"] if known else ["unexpected"]
        if network is None:
            words.append("never matches (not an address)")
        result.append(EntryState(entry, "blocked", "", True, tuple(words), "ok" if known else "warn", position))
    if policy is not None:
        for cidr in settings.snowflake.blocked:
            if parse_entry(cidr) not in present_blocked:
                result.append(EntryState(cidr, "blocked", "", False, ("missing",), "bad"))
    return result


def _never(item: EntryState) -> bool:
    return any(word.startswith("never matches") for word in item.statuses)


def entry_table(state: SnowflakeState, settings: Settings) -> Table:
    rows: list[Row] = []
    for item in entry_states(state, settings):
        mark = OK_MARK if item.tone == "ok" else (BAD_MARK if item.tone == "bad" else WARN_MARK)
        rows.append(
            Row(
                f"ip:{item.list}:{item.entry}",
                (mark, item.entry, "; ".join(item.statuses), item.label or "-", item.list),
                item.tone,
                _refs(item.entry, str(parse_entry(item.entry) or "")),
                item,
                item.entry,
                f"{item.list.capitalize()} entry {item.entry}" + (f" ({item.label})" if item.label else ""),
                (
                    *((("why it can never match", NEVER_MATCH_WHY),) if _never(item) else ()),
                    ("in baseline", "no" if "unexpected" in item.statuses else "yes"),
                ),
            )
        )
    name = state.policy.name if state.policy else settings.snowflake.policy
    return Table(
        "entries",
        f"{name}: allowed and blocked IP entries",
        ("", "Entry", "Status", "Label", "List"),
        tuple(rows),
        f"policy {name} not found",
        status_column=2,
    )


def rule_table(state: SnowflakeState, settings: Settings) -> Table:
    policy = state.policy
    attached: dict[str, str] = {}
    if policy is not None:
        attached |= {normalize_rule_name(n): "allowed" for n in policy.allowed_rules}
        attached |= {normalize_rule_name(n): "blocked" for n in policy.blocked_rules}
    expected = {normalize_rule_name(r.name): r for r in settings.snowflake.rules}
    visible = {normalize_rule_name(r.name): r for r in state.rules}
    rows: list[Row] = []
    for key in dict.fromkeys([*attached, *expected, *visible]):
        rule = visible.get(key)
        spec = expected.get(key)
        where = attached.get(key, "not attached")
        words: list[str] = []
        tone: Tone = "ok"
        if spec is None:
            words.append("unexpected (not in baseline)" if key in attached else "not in baseline")
            tone = "warn" if key in attached else "muted"
        elif where == "not attached":
            words.append(f"missing from {settings.snowflake.policy}")
            tone = "bad"
        elif where != spec.list:
            words.append(f"on the {where} list, expected {spec.list}")
            tone = "bad"
        else:
            words.append("expected")
        if rule is None:
            words.append("not visible (values unknown)")
            tone = "bad" if tone != "muted" else tone
        else:
            if spec is not None and spec.values is not None and sorted(spec.values) != sorted(rule.values):
                words.append("values differ from baseline")
                tone = "bad"
            networks = [parse_entry(v) for v in rule.values]
            if where == "allowed" and any(n is not None and is_catch_all(n) for n in networks):
                words.append("admits every address (0.0.0.0/0)")
                tone = "bad"
        values = ", ".join(rule.values) if rule else "?"
        rows.append(
            Row(
                f"rule:{key}",
                (
                    OK_MARK if tone == "ok" else (BAD_MARK if tone == "bad" else WARN_MARK if tone == "warn" else ""),
                    rule.name if rule else key,
                    where,
                    f"{rule.type}/{rule.mode}" if rule else "?",
                    values,
                    "; ".join(words),
                ),
                tone,
                _refs(key, rule.name if rule else None),
                rule if rule is not None else spec,
                rule.name if rule else key,
                f"Network rule {key}",
                tuple(("value", v) for v in (rule.values if rule else ())),
            )
        )
    return Table(
        "rules",
        "Network rules",
        ("", "Rule", "List", "Type/mode", "Values", "Status"),
        tuple(rows),
        "no network rules",
    )


# --------------------------------------------------------------------------------------------------------------
# Probes and findings


def probe_table(probes: Sequence[ProbeResult]) -> Table:
    rows = tuple(
        Row(
            f"probe:{p.name}",
            (
                _mark(p.ok),
                p.name,
                "OK" if p.ok else "FAILED",
                "-" if p.latency_ms is None else f"{p.latency_ms:.0f} ms",
                p.target,
                p.detail,
            ),
            "ok" if p.ok else "bad",
            _refs(p.name, p.target),
            p,
            p.target,
            f"Probe {p.name}",
        )
        for p in probes
    )
    return Table(
        "probes",
        "Probes",
        ("", "Probe", "Status", "Latency", "Target", "Detail"),
        rows,
        "no probes configured",
        status_column=2,
    )


SEVERITY_WORD = {Severity.CRITICAL: "CRIT", Severity.WARNING: "WARN", Severity.INFO: "INFO"}


def finding_key(finding: Finding) -> str:
    return f"{finding.code}:{finding.resource}"


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Critical on top; then by area and code (the findings' own order), stable across refreshes."""
    return sorted(findings, key=sort_key)


def finding_table(findings: Iterable[Finding]) -> Table:
    rows: list[Row] = []
    seen: set[str] = set()
    for finding in sorted_findings(findings):
        key = finding_key(finding)
        if key in seen:
            key = f"{key}:{len(seen)}"
        seen.add(key)
        tone: Tone = {Severity.CRITICAL: "bad", Severity.WARNING: "warn"}.get(finding.severity, "")
        rows.append(
            Row(
                key,
                (SEVERITY_WORD[finding.severity], finding.area.value, finding.resource, finding.message),
                tone,
                _refs(finding.resource),
                finding,
                finding.resource,
                f"{finding.code}: {finding.resource}",
            )
        )
    return Table(
        "findings", "Findings", ("Sev", "Area", "Resource", "Finding"), tuple(rows), "no findings: all as expected"
    )


def related_findings(row: Row, findings: Iterable[Finding]) -> list[Finding]:
    """The findings about the resource a row shows (a finding's resource is one of the row's refs)."""
    if not row.refs:
        return []
    upper = {r.upper() for r in row.refs}
    return sorted_findings(f for f in findings if f.resource in row.refs or f.resource.upper() in upper)


# --------------------------------------------------------------------------------------------------------------
# Sources and the whole dashboard


@dataclass(frozen=True)
class DashboardView:
    """Everything the panes show for one snapshot, built off the UI thread."""

    findings: Table
    network: tuple[Table, ...]
    entries: Table | None
    rules: Table | None
    summary: PolicySummary | None
    probes: Table | None
    counts: dict[str, int]  # findings per severity word


def dashboard_view(
    snapshot: Snapshot, settings: Settings, findings: Sequence[Finding], parts: PartCache | None = None
) -> DashboardView:
    """Tables for every pane; a pane whose source has no data yet gets None (it shows its loading line).

    With `parts`, a table whose inputs are the very objects of the previous call is reused, look included.
    """
    part = parts.get if parts is not None else direct
    aws = snapshot.aws.data
    snowflake = snapshot.snowflake.data
    probes = snapshot.probes.data
    counts = {word: 0 for word in SEVERITY_WORD.values()}
    for finding in findings:
        counts[SEVERITY_WORD[finding.severity]] += 1
    findings_table = (
        parts.get_equal("findings table", _finding_table_look, tuple(findings))
        if parts is not None
        else _finding_table_look(findings)
    )
    return DashboardView(
        findings=findings_table,
        network=part("network tables", _network_tables_look, aws, settings, snowflake) if aws is not None else (),
        entries=part("entries table", _entry_table_look, snowflake, settings) if snowflake is not None else None,
        rules=part("rules table", _rule_table_look, snowflake, settings) if snowflake is not None else None,
        summary=part("policy summary", policy_summary, snowflake, settings) if snowflake is not None else None,
        probes=part("probes table", _probe_table_look, probes) if probes is not None else None,
        counts=counts,
    )


def _finding_table_look(findings: Iterable[Finding]) -> Table:
    return with_look(finding_table(findings))


def _network_tables_look(aws: AwsState, settings: Settings, snowflake: SnowflakeState | None) -> tuple[Table, ...]:
    return tuple(with_look(t) for t in network_tables(aws, settings, snowflake))


def _entry_table_look(snowflake: SnowflakeState, settings: Settings) -> Table:
    return with_look(entry_table(snowflake, settings))


def _rule_table_look(snowflake: SnowflakeState, settings: Settings) -> Table:
    return with_look(rule_table(snowflake, settings))


def _probe_table_look(probes: Sequence[ProbeResult]) -> Table:
    return with_look(probe_table(probes))
