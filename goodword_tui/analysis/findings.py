"""Findings: the snapshot checked against the config's baseline and against itself.

`analyze(snapshot, settings)` is pure and deterministic: the same inputs give the same list, in the same order
(critical first; within a severity, root causes before the findings they explain, consequences last; then area,
code, resource). A source that could not be read yields one SOURCE_UNAVAILABLE finding and none of its own; a source
showing stale data yields SOURCE_STALE and its findings are still drawn.

Every code is listed in `CODES` (code → one line), which the README renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from goodword_tui.analysis.baseline import (
    Resolved,
    resolve,
    spec_name,
    vpc_has_cidr,
)
from goodword_tui.analysis.policy import (
    PRIVATE_ENDPOINT_RULE_TYPES,
    Decider,
    IpVerdict,
    Network,
    contains,
    evaluate_ip,
    governs_addresses,
    host_cidr,
    index_rules,
    is_catch_all,
    non_internet_reason,
    normalize_rule_name,
    overlaps,
    parse_address,
    parse_entry,
)
from goodword_tui.analysis.reach import (
    EgressProblem,
    covering_route,
    describe_route,
    describe_rule,
    egress_for,
    normalize_protocol,
    route_network,
)
from goodword_tui.analysis.registry import new_finding
from goodword_tui.analysis.reuse import PartCache, direct
from goodword_tui.analysis.sqlmesh import CODES as SQLMESH_CODES
from goodword_tui.analysis.sqlmesh import sqlmesh_findings
from goodword_tui.config import ExpectedSgRule, PeeringSpec, Settings
from goodword_tui.model import (
    Area,
    AwsState,
    Finding,
    NetworkPolicy,
    Peering,
    ProbeResult,
    RouteTable,
    RouteTargetKind,
    SecurityGroupRule,
    Severity,
    Snapshot,
    SnowflakeState,
    SourceResult,
    SuggestedFix,
)

CRITICAL, WARNING, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO

CODES: dict[str, str] = {
    # Sources
    "SOURCE_UNAVAILABLE": "A source could not be read and has no earlier data; its checks were not run.",
    "SOURCE_STALE": "A source's last read failed; its findings are drawn from older data.",
    # Network
    "NET_VPC_MISSING": "A configured VPC was not found (by id, else by Name tag).",
    "NET_VPC_CIDR_MISMATCH": "A VPC's CIDR is not the configured one.",
    "NET_PEERING_MISSING": "The configured VPC peering connection was not found.",
    "NET_PEERING_PENDING": "The peering connection is waiting for acceptance: no traffic crosses it.",
    "NET_PEERING_NOT_ACTIVE": "The peering connection is not active (rejected, deleted, failed, expired ...).",
    "NET_PEERING_WRONG_VPCS": "The peering connection does not join the two configured VPCs.",
    "NET_PEERING_CIDR_MISMATCH": "The peering connection records a CIDR other than the configured one for a side.",
    "NET_ROUTE_TABLE_MISSING": "A configured route table was not found.",
    "NET_SUBNET_NO_ROUTE_TABLE": "A subnet holding an instance has no route table (no association, no main table).",
    "NET_ROUTE_MISSING": "A route table lacks a route it needs (configured, or to the peered VPC for an instance).",
    "NET_ROUTE_WRONG_TARGET": "A route exists but points at another target (e.g. another peering).",
    "NET_ROUTE_BLACKHOLE": "A route's target is gone (blackhole): its traffic is dropped.",
    "NET_SG_MISSING": "A configured security group was not found (by id, else by group name).",
    "NET_SG_RULE_MISSING": "A security group has no rule covering an expected cross-VPC rule.",
    "NET_SG_OPEN_TO_WORLD": "A security group admits all ports from 0.0.0.0/0 (or ::/0).",
    "NET_ENDPOINT_MISSING": "A configured VPC endpoint was not found.",
    "NET_ENDPOINT_NOT_AVAILABLE": "A VPC endpoint is not in the available state.",
    "NET_ENDPOINT_SERVICE_MISMATCH": "A VPC endpoint serves another service than the configured one.",
    "NET_INSTANCE_MISSING": "A configured instance was not found (by id, else by Name tag).",
    "NET_INSTANCE_NOT_RUNNING": "A configured instance is not running.",
    "NET_INSTANCE_IP_MISMATCH": "An instance's private IP is not the configured one.",
    # Egress (an instance that must reach Snowflake, followed out to the internet)
    "EGRESS_NO_ROUTE": "An instance that must reach Snowflake has no default route (or no route table).",
    "EGRESS_ROUTE_BROKEN": "An instance's default route leads nowhere (blackhole, missing or unavailable NAT).",
    "EGRESS_NO_PUBLIC_IP": "An instance's default route needs a public address it does not have.",
    "EGRESS_UNKNOWN": "An instance egresses through a target whose public address is not visible.",
    "EGRESS_REFUSED": "The network policy refuses the public address an instance reaches Snowflake from.",
    "EGRESS_CATCH_ALL": "An instance's egress address is admitted only by a catch-all (0.0.0.0/0).",
    # Snowflake
    "SF_POLICY_MISSING": "The configured network policy does not exist (or is not visible to this role).",
    "SF_POLICY_NOT_ACTIVE": "The configured network policy is not the account's active policy.",
    "SF_USER_POLICY_OVERRIDE": "The current user has its own network policy, which overrides the account's.",
    "SF_ENTRY_MISSING": "An expected ALLOWED_IP_LIST entry is absent.",
    "SF_ENTRY_UNEXPECTED": "An ALLOWED_IP_LIST entry is not in the config's baseline.",
    "SF_ENTRY_INVALID": "An IP-list entry is not an address or CIDR.",
    "SF_ENTRY_DUPLICATE": "The same network appears more than once in ALLOWED_IP_LIST, written differently.",
    "SF_ENTRY_REDUNDANT": "An ALLOWED_IP_LIST entry lies inside another entry of the list.",
    "SF_ENTRY_NEVER_MATCHES": "An allowed entry is private/CGNAT/loopback/link-local: Snowflake never sees such "
    "a source address without PrivateLink.",
    "SF_BLOCKED_UNEXPECTED": "A BLOCKED_IP_LIST entry is not in the config's baseline.",
    "SF_BLOCKED_MISSING": "An expected BLOCKED_IP_LIST entry is absent.",
    "SF_BLOCKED_SHADOWS_ALLOWED": "A blocked entry or rule overlaps allowed entries; blocked wins there.",
    "SF_RULE_MISSING": "An expected network rule is not in the policy's list.",
    "SF_RULE_WRONG_LIST": "An expected network rule is in the policy's other list (allowed vs blocked).",
    "SF_RULE_NOT_FOUND": "The policy references a network rule this role cannot see; its values are unknown.",
    "SF_RULE_UNEXPECTED": "The policy references a network rule the config does not list.",
    "SF_RULE_KIND_MISMATCH": "A network rule's TYPE or MODE is not the configured one.",
    "SF_RULE_VALUES_MISMATCH": "A network rule's VALUE_LIST differs from the configured values.",
    "SF_ADMITS_ALL": "An allowed entry or rule admits every address (0.0.0.0/0): the IP list restricts nothing.",
    "SF_CURRENT_IP_REFUSED": "Your own address (CURRENT_IP_ADDRESS) is refused by the policy.",
    "SF_CURRENT_IP_CATCH_ALL": "Your own address is admitted only by a catch-all; removing it locks you out.",
    "SF_CURRENT_IP_UNKNOWN": "Snowflake did not report the session's address; lockout checks cannot run.",
    # Probes
    "PROBE_FAILED": "A connectivity probe failed.",
    "PROBE_REACHABILITY_ONLY": "The Snowflake host answers: reachability, which says nothing about admission.",
}
CODES.update(SQLMESH_CODES)

_GONE_INSTANCE_STATES = frozenset({"terminated", "shutting-down"})
_TARGET_KINDS = {
    "peering": RouteTargetKind.PEERING,
    "nat": RouteTargetKind.NAT_GATEWAY,
    "igw": RouteTargetKind.INTERNET_GATEWAY,
    "local": RouteTargetKind.LOCAL,
    "vpce": RouteTargetKind.VPC_ENDPOINT,
}
_LOGIN_NOTE = (
    "The network policy is applied at login (a refused login gets error 390422), after the connection is made."
)


def _finding(
    severity: Severity,
    code: str,
    area: Area,
    resource: str,
    message: str,
    evidence: Iterable[str] = (),
    fix: SuggestedFix | None = None,
) -> Finding:
    return new_finding(CODES, severity, code, area, resource, message, evidence, fix)


# Within one severity the finding that explains others comes first: an on-call engineer fixes the cause, and the
# consequences (an inactive policy makes its catch-all moot; a refused egress follows from the policy) go away.
ROOT_CAUSES: frozenset[str] = frozenset(
    {
        "SOURCE_UNAVAILABLE",
        "SOURCE_STALE",
        "NET_VPC_MISSING",
        "NET_PEERING_MISSING",
        "NET_PEERING_PENDING",
        "NET_PEERING_NOT_ACTIVE",
        "NET_PEERING_WRONG_VPCS",
        "NET_ROUTE_TABLE_MISSING",
        "NET_SG_MISSING",
        "NET_INSTANCE_MISSING",
        "NET_INSTANCE_NOT_RUNNING",
        "SF_POLICY_MISSING",
        "SF_POLICY_NOT_ACTIVE",
        "SF_USER_POLICY_OVERRIDE",
        "SQLMESH_NO_STATE",
        "SQLMESH_ENV_MISSING",
    }
)
CONSEQUENCE_PREFIXES: tuple[str, ...] = ("EGRESS_", "SF_CURRENT_IP_", "PROBE_")


def cause_rank(code: str) -> int:
    """0 for a root cause, 2 for a consequence of other findings (what an address or a probe suffers), else 1."""
    if code in ROOT_CAUSES:
        return 0
    return 2 if code.startswith(CONSEQUENCE_PREFIXES) else 1


def sort_key(finding: Finding) -> tuple[int, int, str, str, str, str]:
    """Worst first; within a severity, root causes before the findings they explain; then area, code, resource."""
    return (
        -int(finding.severity),
        cause_rank(finding.code),
        finding.area.value,
        finding.code,
        finding.resource,
        finding.message,
    )


def analyze(snapshot: Snapshot, settings: Settings, parts: PartCache | None = None) -> list[Finding]:
    """Every finding for `snapshot` against `settings`, worst first; deterministic.

    With `parts`, a check whose inputs are the very objects of the previous call returns its previous findings.
    """
    part = parts.get if parts is not None else direct
    findings = source_findings(snapshot)
    aws = _data(snapshot.aws)
    snowflake = _data(snapshot.snowflake)
    probes = _data(snapshot.probes)
    if aws is not None:
        findings += part("network", network_findings, aws, settings)
        findings += part("egress", egress_findings, aws, snowflake, settings)
    if snowflake is not None:
        findings += part("snowflake", snowflake_findings, snowflake, settings, aws)
    if probes is not None:
        findings += part("probes", probe_findings, probes, settings)
    sqlmesh = _data(snapshot.sqlmesh)
    if sqlmesh is not None:
        findings += part("sqlmesh", sqlmesh_findings, sqlmesh, settings)
    unique = {(f.code, f.resource, f.message): f for f in reversed(findings)}  # first occurrence wins
    return sorted(unique.values(), key=sort_key)


def _data(result: SourceResult[Any] | None) -> Any:
    return None if result is None else result.data


# --------------------------------------------------------------------------------------------------------------
# Sources


def source_findings(snapshot: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for result in snapshot.results():
        error = result.error
        if result.data is None and error is None:
            continue  # not read yet (still loading): nothing is known, nothing is wrong
        if result.data is None:
            message = error.message if error else "the source returned no data"
            kind = f" ({error.kind.value})" if error else ""
            out.append(
                _finding(
                    CRITICAL,
                    "SOURCE_UNAVAILABLE",
                    Area.SOURCES,
                    result.source,
                    f"{result.source} could not be read{kind}; its checks were not run",
                    (message, f"hint: {error.hint}" if error and error.hint else ""),
                )
            )
        elif error is not None or result.stale_since is not None:
            since = result.stale_since or result.fetched_at
            age = max(0, int((snapshot.taken_at - since).total_seconds()))
            out.append(
                _finding(
                    WARNING,
                    "SOURCE_STALE",
                    Area.SOURCES,
                    result.source,
                    f"{result.source} shows data from {_age(age)} ago: the last read failed",
                    (error.message if error else "", f"stale since {since.isoformat()}"),
                )
            )
    return out


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


# --------------------------------------------------------------------------------------------------------------
# Network


def network_findings(aws: AwsState, settings: Settings) -> list[Finding]:
    resolved = resolve(settings, aws)
    out = _vpc_findings(settings, resolved)
    if settings.aws.peering is not None:
        out += _peering_findings(settings, settings.aws.peering, resolved, aws)
    out += _route_findings(settings, resolved, aws)
    out += _security_group_findings(resolved, aws)
    out += _endpoint_findings(resolved)
    out += _instance_findings(resolved)
    return out


def _vpc_findings(settings: Settings, resolved: Resolved) -> list[Finding]:
    out: list[Finding] = []
    for spec in settings.aws.vpcs:
        vpc = resolved.vpcs[spec.key]
        if vpc is None:
            out.append(
                _finding(
                    CRITICAL,
                    "NET_VPC_MISSING",
                    Area.NETWORK,
                    spec_name(spec),
                    f"{spec.label} ({spec_name(spec)}) not found",
                    (f"expected CIDR {spec.cidr}",),
                )
            )
        elif not vpc_has_cidr(vpc, spec.cidr):
            out.append(
                _finding(
                    CRITICAL,
                    "NET_VPC_CIDR_MISMATCH",
                    Area.NETWORK,
                    vpc.id,
                    f"{spec.label} {vpc.id} has CIDR {vpc.cidr}, config expects {spec.cidr}",
                    (f"CIDR blocks: {', '.join((vpc.cidr, *vpc.extra_cidrs))}",),
                )
            )
    return out


def _peering_findings(settings: Settings, spec: PeeringSpec, resolved: Resolved, aws: AwsState) -> list[Finding]:
    peering = resolved.peering
    requester, accepter = resolved.vpcs.get(spec.requester), resolved.vpcs.get(spec.accepter)
    req_spec, acc_spec = settings.aws.vpc_spec(spec.requester), settings.aws.vpc_spec(spec.accepter)
    pair = f"{req_spec.label} <-> {acc_spec.label}"
    if peering is None:
        ids = {v.id for v in (requester, accepter) if v is not None}
        joining = [
            f"{p.id} ({p.status}) joins {p.requester_vpc_id} and {p.accepter_vpc_id}"
            for p in aws.peerings
            if len(ids) == 2 and {p.requester_vpc_id, p.accepter_vpc_id} == ids
        ]
        resource = spec.id or (f"Name={spec.name_tag}" if spec.name_tag else pair)
        return [
            _finding(
                CRITICAL,
                "NET_PEERING_MISSING",
                Area.NETWORK,
                resource,
                f"peering {resource} ({pair}) not found: no traffic crosses between the VPCs",
                joining or ["no peering joins the two VPCs"],
            )
        ]
    out: list[Finding] = []
    if peering.status == "pending-acceptance":
        out.append(
            _finding(
                CRITICAL,
                "NET_PEERING_PENDING",
                Area.NETWORK,
                peering.id,
                f"peering {peering.id} ({pair}) is waiting for acceptance: no traffic crosses it",
                (peering.status_message,),
                SuggestedFix("accept_peering", f"Accept peering connection {peering.id}", {"peering_id": peering.id}),
            )
        )
    elif peering.status != "active":
        out.append(
            _finding(
                CRITICAL,
                "NET_PEERING_NOT_ACTIVE",
                Area.NETWORK,
                peering.id,
                f"peering {peering.id} ({pair}) is {peering.status}: no traffic crosses it",
                (peering.status_message,),
            )
        )
    expected_ids = {v.id for v in (requester, accepter) if v is not None}
    sides = {peering.requester_vpc_id, peering.accepter_vpc_id}
    if not expected_ids <= sides:
        out.append(
            _finding(
                CRITICAL,
                "NET_PEERING_WRONG_VPCS",
                Area.NETWORK,
                peering.id,
                f"peering {peering.id} joins {peering.requester_vpc_id} and {peering.accepter_vpc_id}, not {pair}",
                [f"{s.label}: {v.id}" for s, v in ((req_spec, requester), (acc_spec, accepter)) if v is not None],
            )
        )
        return out
    wrong: list[str] = []
    for vpc_id, cidr in (
        (peering.requester_vpc_id, peering.requester_cidr),
        (peering.accepter_vpc_id, peering.accepter_cidr),
    ):
        side = next((s for s, v in ((req_spec, requester), (acc_spec, accepter)) if v and v.id == vpc_id), None)
        if side is not None and parse_entry(cidr) != parse_entry(side.cidr):
            wrong.append(f"{side.label} ({vpc_id}): peering records {cidr}, config expects {side.cidr}")
    if wrong:
        out.append(
            _finding(
                CRITICAL,
                "NET_PEERING_CIDR_MISMATCH",
                Area.NETWORK,
                peering.id,
                f"peering {peering.id} records other CIDRs than the config for {len(wrong)} side(s)",
                wrong,
            )
        )
    return out


@dataclass
class _RouteCheck:
    table: RouteTable
    label: str
    destination: str
    network: Network
    target: str  # config target: peering | nat | igw | local | vpce
    contexts: list[str] = field(default_factory=list)


def _route_findings(settings: Settings, resolved: Resolved, aws: AwsState) -> list[Finding]:
    out: list[Finding] = []
    checks: dict[tuple[str, Network], _RouteCheck] = {}

    def add(table: RouteTable, label: str, destination: str, target: str, context: str) -> None:
        network = parse_entry(destination)
        if network is None:
            return
        check = checks.setdefault((table.id, network), _RouteCheck(table, label, destination, network, target))
        if context not in check.contexts:
            check.contexts.append(context)

    for spec, table in resolved.route_tables:
        if table is None:
            name = spec_name(spec)
            out.append(
                _finding(
                    CRITICAL,
                    "NET_ROUTE_TABLE_MISSING",
                    Area.NETWORK,
                    name,
                    f"route table {spec.label or name} ({name}) not found",
                    [f"expected routes: {', '.join(r.destination for r in spec.routes)}"] if spec.routes else [],
                )
            )
            continue
        label = spec.label or table.name or table.id
        for route in spec.routes:
            add(table, label, route.destination, route.target, f"configured for {label}")

    # Both sides must route to each other: the table each instance's subnet actually uses, listed or not.
    peering_spec = settings.aws.peering
    no_table: set[str] = set()
    if peering_spec is not None:
        for this_key, other_key in (
            (peering_spec.requester, peering_spec.accepter),
            (peering_spec.accepter, peering_spec.requester),
        ):
            this_vpc = resolved.vpcs.get(this_key)
            if this_vpc is None:
                continue
            other = settings.aws.vpc_spec(other_key)
            for instance in sorted(aws.instances, key=lambda i: i.id):
                if instance.vpc_id != this_vpc.id or instance.state in _GONE_INSTANCE_STATES:
                    continue
                who = f"subnet {instance.subnet_id} of {instance.name or instance.id} ({instance.private_ip})"
                table = aws.route_table_for_subnet(instance.subnet_id)
                if table is None:
                    if instance.subnet_id not in no_table:
                        no_table.add(instance.subnet_id)
                        out.append(
                            _finding(
                                CRITICAL,
                                "NET_SUBNET_NO_ROUTE_TABLE",
                                Area.NETWORK,
                                instance.subnet_id,
                                f"{who} has no route table: it cannot reach {other.label}",
                            )
                        )
                    continue
                label = next((s.label for s, t in resolved.route_tables if t is table and s.label), "")
                add(table, label or table.name or table.id, other.cidr, "peering", f"used by {who}")

    for key in sorted(checks, key=lambda k: (k[0], str(k[1]))):
        out += _check_route(checks[key], resolved.peering)
    return out


def _check_route(check: _RouteCheck, peering: Peering | None) -> list[Finding]:
    table, dest = check.table, check.destination
    kind = _TARGET_KINDS[check.target]
    peering_id = peering.id if peering is not None and check.target == "peering" else ""
    named = f"{check.label} ({table.id})" if check.label != table.id else table.id
    expected = peering_id or check.target
    route = covering_route(table, check.network)
    exact = route is not None and route_network(route) == check.network

    def fix(action: str, verb: str) -> SuggestedFix | None:
        if not peering_id:
            return None
        return SuggestedFix(
            action,
            f"{verb} route {dest} -> {peering_id} in {table.id}",
            {"route_table_id": table.id, "destination": dest, "peering_id": peering_id},
        )

    def on_target(r: Any) -> bool:
        return r.target_kind is kind and (not peering_id or r.target_id == peering_id)

    evidence = list(check.contexts)
    if route is not None and on_target(route) and not route.is_blackhole:
        return []
    if route is not None and exact and route.is_blackhole:
        evidence.append(f"route: {describe_route(route)}")
        return [
            _finding(
                CRITICAL,
                "NET_ROUTE_BLACKHOLE",
                Area.NETWORK,
                table.id,
                f"{named} routes {dest} into a blackhole ({route.target_id} is gone): its traffic is dropped",
                evidence,
                fix("replace_route", "Replace"),
            )
        ]
    if route is not None and exact:
        evidence.append(f"route: {describe_route(route)}")
        return [
            _finding(
                CRITICAL,
                "NET_ROUTE_WRONG_TARGET",
                Area.NETWORK,
                table.id,
                f"{named} routes {dest} to {route.target_id}, expected {expected}",
                evidence,
                fix("replace_route", "Replace"),
            )
        ]
    if route is not None:
        evidence.append(f"traffic to {dest} follows {describe_route(route)} instead")
    else:
        evidence.append(f"no route covers {dest}")
    return [
        _finding(
            CRITICAL,
            "NET_ROUTE_MISSING",
            Area.NETWORK,
            table.id,
            f"{named} has no route {dest} -> {expected}",
            evidence,
            fix("create_route", "Create"),
        )
    ]


def _ports(protocol: str, low: int | None, high: int | None) -> tuple[int, int] | None:
    """A rule's port range (or ICMP type range) as inclusive bounds; None means "all"."""
    if protocol == "icmp":
        return None if low is None or low == -1 else (low, low if high is None or high == -1 else high)
    if low is None or low == -1:
        return None
    return (low, 65535 if high is None or high == -1 else high)


def sg_rule_covers(actual: SecurityGroupRule, expected: ExpectedSgRule) -> bool:
    """Does `actual` let through everything `expected` asks for? -1 covers all protocols, ranges contain."""
    if actual.direction != expected.direction or not actual.cidr:
        return False
    have, want = parse_entry(actual.cidr), parse_entry(expected.cidr)
    if have is None or want is None or not contains(have, want):
        return False
    actual_protocol, expected_protocol = normalize_protocol(actual.protocol), normalize_protocol(expected.protocol)
    if actual_protocol == "-1":
        return True
    if actual_protocol != expected_protocol:
        return False
    if expected_protocol not in ("tcp", "udp", "icmp"):
        return True
    have_ports = _ports(actual_protocol, actual.from_port, actual.to_port)
    want_ports = _ports(expected_protocol, expected.from_port, expected.to_port)
    if expected_protocol != "icmp":
        have_ports = have_ports or (0, 65535)
        want_ports = want_ports or (0, 65535)
    if have_ports is None:
        return True
    if want_ports is None:
        return False
    if expected_protocol == "icmp":  # type must match; code -1 covers every code
        codes_ok = actual.to_port in (None, -1) or actual.to_port == expected.to_port
        return have_ports[0] == want_ports[0] and codes_ok
    return have_ports[0] <= want_ports[0] and have_ports[1] >= want_ports[1]


def _sg_fix_params(group_id: str, rule: ExpectedSgRule) -> dict[str, Any]:
    """Parameters as EC2 wants them: tcp/udp all ports = 0-65535, ICMP all types = -1/-1, protocol -1 no ports."""
    protocol = normalize_protocol(rule.protocol)
    if protocol == "-1":
        low, high = None, None
    elif protocol == "icmp":
        low = -1 if rule.from_port is None else rule.from_port
        high = -1 if rule.to_port is None else rule.to_port
    else:
        low = 0 if rule.from_port is None else rule.from_port
        high = 65535 if rule.to_port is None else rule.to_port
    return {
        "group_id": group_id,
        "direction": rule.direction,
        "protocol": protocol,
        "from_port": low,
        "to_port": high,
        "cidr": rule.cidr,
    }


def _expected_rule_text(rule: ExpectedSgRule) -> str:
    params = _sg_fix_params("", rule)
    return describe_rule(
        SecurityGroupRule(rule.direction, params["protocol"], params["from_port"], params["to_port"], rule.cidr)
    )


def _security_group_findings(resolved: Resolved, aws: AwsState) -> list[Finding]:
    out: list[Finding] = []
    for spec, group in resolved.security_groups:
        if group is None:
            name = spec.id or f"name={spec.name}"
            out.append(
                _finding(
                    CRITICAL,
                    "NET_SG_MISSING",
                    Area.NETWORK,
                    name,
                    f"security group {spec.label or name} ({name}) not found",
                    [f"expected: {_expected_rule_text(r)}" for r in spec.rules],
                )
            )
            continue
        for rule in spec.rules:
            if any(sg_rule_covers(actual, rule) for actual in group.rules):
                continue
            text = _expected_rule_text(rule)
            out.append(
                _finding(
                    CRITICAL,
                    "NET_SG_RULE_MISSING",
                    Area.NETWORK,
                    group.id,
                    f"{group.id} ({group.name}) has no rule allowing {text}",
                    [f"{spec.label}" if spec.label else ""]
                    + [f"has: {describe_rule(r)}" for r in group.rules if r.direction == rule.direction],
                    SuggestedFix("add_sg_rule", f"Add {text} to {group.id}", _sg_fix_params(group.id, rule)),
                )
            )
    for group in sorted(aws.security_groups, key=lambda g: g.id):
        for rule in group.rules:
            network = parse_entry(rule.cidr) if rule.cidr else None
            if rule.direction != "ingress" or network is None or not is_catch_all(network):
                continue
            protocol = normalize_protocol(rule.protocol)
            all_ports = protocol == "-1" or (
                protocol in ("tcp", "udp") and _ports(protocol, rule.from_port, rule.to_port) in (None, (0, 65535))
            )
            if all_ports:
                out.append(
                    _finding(
                        WARNING,
                        "NET_SG_OPEN_TO_WORLD",
                        Area.NETWORK,
                        group.id,
                        f"{group.id} ({group.name}) admits {describe_rule(rule)}: every port, from anywhere",
                        (rule.description,),
                    )
                )
    return out


def _endpoint_findings(resolved: Resolved) -> list[Finding]:
    out: list[Finding] = []
    for spec, endpoint in resolved.endpoints:
        if endpoint is None:
            name = spec.id or spec.service
            out.append(
                _finding(
                    CRITICAL,
                    "NET_ENDPOINT_MISSING",
                    Area.NETWORK,
                    name,
                    f"VPC endpoint {spec.label or name} ({name}) not found",
                    (f"service {spec.service}",),
                )
            )
            continue
        if endpoint.state.lower() != "available":
            out.append(
                _finding(
                    CRITICAL,
                    "NET_ENDPOINT_NOT_AVAILABLE",
                    Area.NETWORK,
                    endpoint.id,
                    f"VPC endpoint {endpoint.id} ({spec.label or endpoint.service_name}) is {endpoint.state}",
                )
            )
        if endpoint.service_name != spec.service:
            out.append(
                _finding(
                    WARNING,
                    "NET_ENDPOINT_SERVICE_MISMATCH",
                    Area.NETWORK,
                    endpoint.id,
                    f"VPC endpoint {endpoint.id} serves {endpoint.service_name}, config expects {spec.service}",
                )
            )
    return out


def _instance_findings(resolved: Resolved) -> list[Finding]:
    out: list[Finding] = []
    for spec, instance in resolved.instances:
        name = spec_name(spec)
        if instance is None:
            out.append(
                _finding(
                    CRITICAL,
                    "NET_INSTANCE_MISSING",
                    Area.NETWORK,
                    name,
                    f"{spec.label} ({name}) not found",
                    (f"expected at {spec.private_ip}",),
                )
            )
            continue
        if instance.state != "running":
            out.append(
                _finding(
                    CRITICAL,
                    "NET_INSTANCE_NOT_RUNNING",
                    Area.NETWORK,
                    instance.id,
                    f"{spec.label} {instance.id} is {instance.state}",
                )
            )
        if parse_address(instance.private_ip) != parse_address(spec.private_ip):
            # A warning: the server may be fine at its new address, but probes and policy entries name the old one.
            out.append(
                _finding(
                    WARNING,
                    "NET_INSTANCE_IP_MISMATCH",
                    Area.NETWORK,
                    instance.id,
                    f"{spec.label} {instance.id} has private IP {instance.private_ip}, config expects "
                    f"{spec.private_ip}",
                )
            )
    return out


# --------------------------------------------------------------------------------------------------------------
# Egress: the address Snowflake sees for the servers that must reach it


_EGRESS_CODES = {
    EgressProblem.NO_SUBNET: ("EGRESS_NO_ROUTE", CRITICAL),
    EgressProblem.NO_ROUTE_TABLE: ("EGRESS_NO_ROUTE", CRITICAL),
    EgressProblem.NO_DEFAULT_ROUTE: ("EGRESS_NO_ROUTE", CRITICAL),
    EgressProblem.BLACKHOLE: ("EGRESS_ROUTE_BROKEN", CRITICAL),
    EgressProblem.NAT_MISSING: ("EGRESS_ROUTE_BROKEN", CRITICAL),
    EgressProblem.NAT_NOT_AVAILABLE: ("EGRESS_ROUTE_BROKEN", CRITICAL),
    EgressProblem.NO_PUBLIC_IP: ("EGRESS_NO_PUBLIC_IP", CRITICAL),
    # A warning: traffic may well get out (transit gateway, firewall appliance); we just cannot name its address.
    EgressProblem.UNKNOWN_TARGET: ("EGRESS_UNKNOWN", WARNING),
}


def egress_findings(aws: AwsState, snowflake: SnowflakeState | None, settings: Settings) -> list[Finding]:
    """For each instance that must reach Snowflake: can it get out, and does the policy admit where it comes from?"""
    out: list[Finding] = []
    resolved = resolve(settings, aws)
    policy = snowflake.policy if snowflake is not None else None
    for spec, instance in resolved.instances:
        if not spec.must_reach_snowflake or instance is None:
            continue
        egress = egress_for(instance, aws)
        who = f"{spec.label} ({instance.id}, {instance.private_ip})"
        if egress.problem is not EgressProblem.NONE:
            code, severity = _EGRESS_CODES[egress.problem]
            out.append(
                _finding(
                    severity,
                    code,
                    Area.NETWORK,
                    instance.id,
                    f"{spec.label} cannot reach Snowflake: {egress.detail}",
                    (f"instance: {who}", f"route table: {egress.route_table_id}" if egress.route_table_id else ""),
                )
            )
            continue
        if snowflake is None or policy is None:
            continue
        verdict = evaluate_ip(egress.public_ip, policy, snowflake.rules)
        via = egress.via_id
        evidence = [
            f"instance: {who}",
            f"route table {egress.route_table_id}: 0.0.0.0/0 -> {via}",
            f"Snowflake sees {egress.public_ip}, not {instance.private_ip}",
            verdict.reason,
            *verdict.notes,
        ]
        label = f"{spec.label} egress ({via})"
        active = snowflake.account_policy.upper() == policy.name.upper()
        refuses = "refuses it" if active else "would refuse it once active"
        if not verdict.allowed:
            out.append(
                _finding(
                    CRITICAL,
                    "EGRESS_REFUSED",
                    Area.SNOWFLAKE,
                    instance.id,
                    f"{spec.label} egresses as {egress.public_ip} via {via}; {policy.name} {refuses}",
                    evidence,
                    _admit_fix(policy, egress.public_ip, label, verdict),
                )
            )
        elif verdict.catch_all:
            out.append(
                _finding(
                    WARNING,
                    "EGRESS_CATCH_ALL",
                    Area.SNOWFLAKE,
                    instance.id,
                    f"{spec.label} egresses as {egress.public_ip} via {via}; only the catch-all "
                    f"{verdict.entry or 'policy'} admits it",
                    [*evidence, "removing the catch-all would cut this server off from Snowflake"],
                    _admit_fix(policy, egress.public_ip, label, verdict),
                )
            )
    return out


def _admit_fix(policy: NetworkPolicy, ip: str, label: str, verdict: IpVerdict) -> SuggestedFix | None:
    """Adding the address to ALLOWED_IP_LIST fixes a refusal only when no blocked entry is what refuses it."""
    if verdict.decided_by in (Decider.BLOCKED_IP_LIST, Decider.BLOCKED_RULE, Decider.INVALID_ADDRESS):
        return None
    cidr = host_cidr(ip)
    return SuggestedFix(
        "add_allowed_ip",
        f"Add {cidr} ({label}) to {policy.name}'s ALLOWED_IP_LIST",
        {"policy": policy.name, "cidr": cidr, "label": label},
    )


# --------------------------------------------------------------------------------------------------------------
# Snowflake


def snowflake_findings(state: SnowflakeState, settings: Settings, aws: AwsState | None = None) -> list[Finding]:
    """The policy against the baseline and against itself; `aws`, when read, names the servers' egress."""
    cfg = settings.snowflake
    policy = state.policy
    if policy is None:
        return [
            _finding(
                CRITICAL,
                "SF_POLICY_MISSING",
                Area.SNOWFLAKE,
                cfg.policy,
                f"network policy {cfg.policy} does not exist (or this role cannot see it)",
                (
                    f"account policy: {state.account_policy or '(none)'}",
                    f"role: {state.role}" if state.role else "",
                ),
            )
        ]
    out: list[Finding] = []
    out += _activation_findings(state, policy)
    out += _allowed_entry_findings(policy, settings, state)
    out += _blocked_findings(state, policy, settings)
    out += _rule_findings(state, policy, settings)
    out += _catch_all_findings(state, policy)
    out += _current_ip_findings(state, policy)
    out += _never_matching_findings(state, policy, settings, aws)
    out += _redundant_findings(policy)
    return out


def _activation_findings(state: SnowflakeState, policy: NetworkPolicy) -> list[Finding]:
    out: list[Finding] = []
    if state.account_policy.upper() != policy.name.upper():
        if state.account_policy:
            message = f"{policy.name} is not active: the account uses {state.account_policy}"
        else:
            message = f"{policy.name} is not active: no account policy, so Snowflake admits every address"
        evidence = [f"SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT = {state.account_policy or '(empty)'}"]
        if state.current_ip:
            verdict = evaluate_ip(state.current_ip, policy, state.rules)
            outcome = "admit" if verdict.allowed else "REFUSE"
            evidence.append(f"once active it would {outcome} your address {state.current_ip} ({verdict.where})")
        out.append(
            _finding(
                CRITICAL,
                "SF_POLICY_NOT_ACTIVE",
                Area.SNOWFLAKE,
                policy.name,
                message,
                evidence,
                SuggestedFix(
                    "set_account_policy", f"ALTER ACCOUNT SET NETWORK_POLICY = {policy.name}", {"policy": policy.name}
                ),
            )
        )
    if state.user_policy and state.user_policy.upper() != policy.name.upper():
        user = state.user or "the current user"
        out.append(
            _finding(
                WARNING,
                "SF_USER_POLICY_OVERRIDE",
                Area.SNOWFLAKE,
                state.user or state.user_policy,
                f"{user} has its own network policy {state.user_policy}, which overrides {policy.name} for "
                f"{user}'s logins",
                ("a user-level policy is more specific than the account's and replaces it for that user",),
            )
        )
    return out


def _covering_rule(network: Network | None, policy: NetworkPolicy, state: SnowflakeState | None) -> str:
    """An allowed rule (not a catch-all) whose values hold all of `network`, as "RULE (value)"; else ""."""
    if network is None or state is None:
        return ""
    for name in policy.allowed_rules:
        rule = state.rule(name)
        if rule is None or rule.type.upper() != "IPV4" or rule.mode.upper() != "INGRESS":
            continue
        for value in rule.values:
            held = parse_entry(value)
            if held is not None and not is_catch_all(held) and contains(held, network):
                return f"{rule.name} ({value})"
    return ""


def _allowed_entry_findings(
    policy: NetworkPolicy, settings: Settings, state: SnowflakeState | None = None
) -> list[Finding]:
    out: list[Finding] = []
    expected = [(parse_entry(e.cidr), e) for e in settings.snowflake.allowed]
    actual = [(parse_entry(x), x) for x in policy.allowed_ips]
    actual_nets = [n for n, _ in actual if n is not None]
    for network, entry in expected:
        if network in actual_nets:
            continue
        # Critical for a protected entry: something the platform relies on (a VPC, Airbyte) is refused now,
        # unless an allowed rule still admits the same addresses (then it is drift, not an outage).
        covered_by = _covering_rule(network, policy, state)
        severity = CRITICAL if entry.protected and not covered_by else WARNING
        out.append(
            _finding(
                severity,
                "SF_ENTRY_MISSING",
                Area.SNOWFLAKE,
                entry.cidr,
                f"{entry.cidr} ({entry.label}) is missing from {policy.name}'s ALLOWED_IP_LIST"
                + (f"; still admitted by rule {covered_by}" if covered_by else ""),
                (
                    "protected entry" if entry.protected else "",
                    f"the allowed rule {covered_by} still admits it: logins from it work today" if covered_by else "",
                ),
                SuggestedFix(
                    "add_allowed_ip",
                    f"Add {entry.cidr} ({entry.label}) to {policy.name}'s ALLOWED_IP_LIST",
                    {"policy": policy.name, "cidr": entry.cidr, "label": entry.label},
                ),
            )
        )
    expected_nets = [n for n, _ in expected]
    seen: dict[Network, str] = {}
    for network, text in actual:
        if network is None:
            out.append(
                _finding(
                    WARNING,
                    "SF_ENTRY_INVALID",
                    Area.SNOWFLAKE,
                    text,
                    f"ALLOWED_IP_LIST entry {text!r} of {policy.name} is not an address or CIDR",
                )
            )
            continue
        if network in seen:
            out.append(
                _finding(
                    INFO,
                    "SF_ENTRY_DUPLICATE",
                    Area.SNOWFLAKE,
                    text,
                    f"{text} repeats {seen[network]} in {policy.name}'s ALLOWED_IP_LIST (the same network)",
                )
            )
            continue
        seen[network] = text
        if network not in expected_nets and not is_catch_all(network):  # a catch-all has its own finding
            out.append(
                _finding(
                    WARNING,
                    "SF_ENTRY_UNEXPECTED",
                    Area.SNOWFLAKE,
                    text,
                    f"{text} is in {policy.name}'s ALLOWED_IP_LIST but not in the config's baseline",
                    ("if it is meant to stay, add it to [snowflake].allowed in config.toml with a label",),
                    SuggestedFix(
                        "remove_allowed_ip",
                        f"Remove {text} from {policy.name}'s ALLOWED_IP_LIST",
                        {"policy": policy.name, "cidr": text},
                    ),
                )
            )
    return out


@dataclass(frozen=True)
class _Entry:
    text: str
    network: Network
    rule: str = ""  # the rule holding the value; "" for an IP-list entry

    @property
    def where(self) -> str:
        return f"rule {self.rule} value {self.text}" if self.rule else self.text


def _rule_entries(state: SnowflakeState, names: Sequence[str]) -> list[_Entry]:
    index = index_rules(state.rules)
    out: list[_Entry] = []
    for name in names:
        rule = index.get(normalize_rule_name(name))
        if rule is None or not governs_addresses(rule):
            continue
        out += [_Entry(v, n, rule.name) for v in rule.values if (n := parse_entry(v)) is not None]
    return out


def _list_entries(entries: Sequence[str]) -> list[_Entry]:
    return [_Entry(x, n) for x in entries if (n := parse_entry(x)) is not None]


def _blocked_findings(state: SnowflakeState, policy: NetworkPolicy, settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    cfg = settings.snowflake
    expected = {parse_entry(c) for c in cfg.blocked}
    present = set()
    for text in policy.blocked_ips:
        network = parse_entry(text)
        if network is None:
            out.append(
                _finding(
                    WARNING,
                    "SF_ENTRY_INVALID",
                    Area.SNOWFLAKE,
                    text,
                    f"BLOCKED_IP_LIST entry {text!r} of {policy.name} is not an address or CIDR",
                )
            )
            continue
        present.add(network)
        if network not in expected:
            out.append(
                _finding(
                    WARNING,
                    "SF_BLOCKED_UNEXPECTED",
                    Area.SNOWFLAKE,
                    text,
                    f"{text} is in {policy.name}'s BLOCKED_IP_LIST but not in the config's baseline",
                )
            )
    for cidr in cfg.blocked:
        if parse_entry(cidr) not in present:
            out.append(
                _finding(
                    WARNING,
                    "SF_BLOCKED_MISSING",
                    Area.SNOWFLAKE,
                    cidr,
                    f"{cidr} is missing from {policy.name}'s BLOCKED_IP_LIST: it is not refused",
                )
            )

    # Blocked entries win over allowed ones. A blocked entry overlapping an allowed one refuses those addresses.
    protected = [(n, e) for e in cfg.allowed if e.protected and (n := parse_entry(e.cidr)) is not None]
    allowed = [
        e
        for e in _list_entries(policy.allowed_ips) + _rule_entries(state, policy.allowed_rules)
        if not is_catch_all(e.network)  # carving addresses out of a catch-all is what blocked lists are for
    ]
    blocked = _list_entries(policy.blocked_ips) + _rule_entries(state, policy.blocked_rules)
    for block in blocked:
        shadowed = [a for a in allowed if overlaps(block.network, a.network)]
        hit_protected = [e for n, e in protected if overlaps(block.network, n)]
        if not shadowed and not hit_protected:
            continue
        full = [a for a in shadowed if contains(block.network, a.network)]
        if hit_protected:
            severity = CRITICAL
        elif block.network in expected and not full:
            severity = INFO  # a configured carve-out from a wider allowed range: intended
        else:
            severity = WARNING
        evidence = [f"{'fully' if a in full else 'partly'} shadows allowed {a.where}" for a in shadowed] + [
            f"overlaps protected entry {e.cidr} ({e.label})" for e in hit_protected
        ]
        evidence.append("blocked entries are checked first: an address in both lists is refused")
        names = ", ".join(a.where for a in shadowed) or ", ".join(e.cidr for e in hit_protected)
        out.append(
            _finding(
                severity,
                "SF_BLOCKED_SHADOWS_ALLOWED",
                Area.SNOWFLAKE,
                block.rule or block.text,
                f"blocked {block.where} overrides allowed {names} in {policy.name}",
                evidence,
            )
        )
    return out


def _rule_findings(state: SnowflakeState, policy: NetworkPolicy, settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    index = index_rules(state.rules)
    lists = {
        "allowed": {normalize_rule_name(n): n for n in policy.allowed_rules},
        "blocked": {normalize_rule_name(n): n for n in policy.blocked_rules},
    }
    expected_keys: set[str] = set()
    for spec in settings.snowflake.rules:
        key = normalize_rule_name(spec.name)
        expected_keys.add(key)
        other_list = "blocked" if spec.list == "allowed" else "allowed"
        rule = index.get(key)
        list_name = f"{spec.list.upper()}_NETWORK_RULE_LIST"
        if key in lists[other_list]:
            out.append(
                _finding(
                    CRITICAL,
                    "SF_RULE_WRONG_LIST",
                    Area.SNOWFLAKE,
                    spec.name,
                    f"rule {spec.name} is in {policy.name}'s {other_list} list, expected in the {spec.list} list",
                )
            )
        elif key not in lists[spec.list]:
            # Critical either way: a missing allowed rule refuses what it admitted, a missing blocked rule admits
            # what it refused.
            out.append(
                _finding(
                    CRITICAL,
                    "SF_RULE_MISSING",
                    Area.SNOWFLAKE,
                    spec.name,
                    f"rule {spec.name} is not in {policy.name}'s {list_name}",
                    ("" if rule is not None else "the rule itself is not visible either",),
                    SuggestedFix(
                        "add_policy_rule",
                        f"ALTER NETWORK POLICY {policy.name} ADD {list_name} = ('{spec.name}')",
                        {"policy": policy.name, "rule": spec.name, "list": spec.list},
                    ),
                )
            )
        if rule is None:
            continue
        if rule.type.upper() != spec.type.upper() or rule.mode.upper() != spec.mode.upper():
            out.append(
                _finding(
                    WARNING,
                    "SF_RULE_KIND_MISMATCH",
                    Area.SNOWFLAKE,
                    rule.name,
                    f"rule {rule.name} is TYPE={rule.type} MODE={rule.mode}, config expects "
                    f"TYPE={spec.type} MODE={spec.mode}",
                )
            )
        if spec.values is not None:
            missing, extra = _value_difference(rule.type, rule.values, spec.values)
            if missing or extra:
                out.append(
                    _finding(
                        WARNING,
                        "SF_RULE_VALUES_MISMATCH",
                        Area.SNOWFLAKE,
                        rule.name,
                        f"rule {rule.name} VALUE_LIST differs from the config: "
                        f"{len(missing)} missing, {len(extra)} unexpected",
                        [f"missing: {v}" for v in missing] + [f"unexpected: {v}" for v in extra],
                    )
                )
    for list_name, names in lists.items():
        for key, shown in names.items():
            if key not in index:
                out.append(
                    _finding(
                        WARNING,
                        "SF_RULE_NOT_FOUND",
                        Area.SNOWFLAKE,
                        shown,
                        f"{policy.name} references rule {shown} ({list_name}), which this role cannot see",
                        ("its values are unknown; address checks treat it as admitting nothing",),
                    )
                )
            if key not in expected_keys:
                out.append(
                    _finding(
                        WARNING,
                        "SF_RULE_UNEXPECTED",
                        Area.SNOWFLAKE,
                        shown,
                        f"{policy.name} references rule {shown} ({list_name}), which the config does not list",
                    )
                )
    return out


def _value_difference(rule_type: str, actual: Sequence[str], expected: Sequence[str]) -> tuple[list[str], list[str]]:
    """Values missing from and unexpected in a rule; addresses compare as networks, other values as text."""
    if rule_type.upper() in ("IPV4", "IPV6"):

        def key(value: str) -> object:
            return parse_entry(value) or value.strip().upper()

    else:

        def key(value: str) -> object:
            return value.strip().upper()

    have = {key(v) for v in actual}
    want = {key(v) for v in expected}
    return [v for v in expected if key(v) not in have], [v for v in actual if key(v) not in want]


def _catch_all_findings(state: SnowflakeState, policy: NetworkPolicy) -> list[Finding]:
    out: list[Finding] = []
    message = "admits every address: the IP list restricts nothing"
    for entry in _list_entries(policy.allowed_ips):
        if is_catch_all(entry.network):
            out.append(
                _finding(
                    CRITICAL,
                    "SF_ADMITS_ALL",
                    Area.SNOWFLAKE,
                    policy.name,
                    f"{policy.name}'s ALLOWED_IP_LIST entry {entry.text} {message}",
                    (f"{len(policy.allowed_ips)} allowed entries, all made moot",),
                    SuggestedFix(
                        "remove_allowed_ip",
                        f"Remove {entry.text} from {policy.name}'s ALLOWED_IP_LIST",
                        {"policy": policy.name, "cidr": entry.text},
                    ),
                )
            )
    for entry in _rule_entries(state, policy.allowed_rules):
        if is_catch_all(entry.network):
            out.append(
                _finding(
                    CRITICAL,
                    "SF_ADMITS_ALL",
                    Area.SNOWFLAKE,
                    entry.rule,
                    f"allowed rule {entry.rule} (value {entry.text}) {message}",
                    (
                        f"{policy.name}'s {len(policy.allowed_ips)} ALLOWED_IP_LIST entries are made moot by it",
                        "before removing it, make sure every address that must get in is allowed explicitly "
                        "(see the catch-all warnings)",
                    ),
                )
            )
    verdict = evaluate_ip("192.0.2.1", policy, state.rules)  # any address: is anything restricting at all?
    if verdict.decided_by is Decider.NO_ALLOW_LIST:
        out.append(
            _finding(
                CRITICAL,
                "SF_ADMITS_ALL",
                Area.SNOWFLAKE,
                policy.name,
                f"{policy.name} has no allowed entries and no allowed IPV4 rules: it {message}",
            )
        )
    return out


def _current_ip_findings(state: SnowflakeState, policy: NetworkPolicy) -> list[Finding]:
    ip = state.current_ip.strip()
    if not ip or parse_address(ip) is None:
        return [
            _finding(
                INFO,
                "SF_CURRENT_IP_UNKNOWN",
                Area.SNOWFLAKE,
                policy.name,
                "Snowflake did not report this session's address; lockout checks cannot run",
                (f"CURRENT_IP_ADDRESS() = {ip!r}" if ip else "",),
            )
        ]
    verdict = evaluate_ip(ip, policy, state.rules)
    active = state.account_policy.upper() == policy.name.upper()
    label = f"operator {state.user}" if state.user else "operator"
    evidence = [verdict.reason, *verdict.steps, *verdict.notes]
    overridden = bool(state.user_policy) and state.user_policy.upper() != policy.name.upper()
    if not verdict.allowed:
        if overridden:
            consequence = f"only your user policy {state.user_policy} keeps you in; without it you are locked out"
        elif active:
            consequence = "your next login from here will be refused"
        else:
            consequence = f"activating {policy.name} would lock you out"
        return [
            _finding(
                CRITICAL,
                "SF_CURRENT_IP_REFUSED",
                Area.SNOWFLAKE,
                ip,
                f"your address {ip} is refused by {policy.name} ({verdict.where}): {consequence}",
                evidence,
                _admit_fix(policy, ip, label, verdict),
            )
        ]
    if verdict.catch_all:
        return [
            _finding(
                WARNING,
                "SF_CURRENT_IP_CATCH_ALL",
                Area.SNOWFLAKE,
                ip,
                f"your address {ip} is admitted only by the catch-all {verdict.where}: removing it locks you out",
                evidence,
                _admit_fix(policy, ip, label, verdict),
            )
        ]
    return []


def privatelink_in_use(state: SnowflakeState, policy: NetworkPolicy, settings: Settings) -> bool:
    """PrivateLink traffic reaches Snowflake with private source addresses; then private entries do match."""
    index = index_rules(state.rules)
    for name in (*policy.allowed_rules, *policy.blocked_rules):
        rule = index.get(normalize_rule_name(name))
        if rule is not None and rule.type.upper() in PRIVATE_ENDPOINT_RULE_TYPES:
            return True
    hosts = [settings.snowflake.account] + [p.url or "" for p in settings.probes if "snowflake" in (p.url or "")]
    return any("privatelink" in h.lower() for h in hosts)


def _egress_lines(network: Network, aws: AwsState | None, settings: Settings) -> list[str]:
    """For the configured servers inside `network`: the address Snowflake actually sees from each."""
    if aws is None:
        return []
    lines: list[str] = []
    for spec, instance in resolve(settings, aws).instances:
        address = parse_address(instance.private_ip) if instance is not None else None
        if instance is None or address is None or address.version != network.version or address not in network:
            continue
        egress = egress_for(instance, aws)
        seen = f"as {egress.public_ip} via {egress.via_id}" if egress.ok else f"not at all: {egress.detail}"
        lines.append(f"{spec.label} ({instance.private_ip}) reaches Snowflake {seen}")
    return lines


def _never_matching_findings(
    state: SnowflakeState, policy: NetworkPolicy, settings: Settings, aws: AwsState | None
) -> list[Finding]:
    if privatelink_in_use(state, policy, settings):
        return []
    labels = {n: e.label for e in settings.snowflake.allowed if (n := parse_entry(e.cidr)) is not None}
    out: list[Finding] = []
    for entry in _list_entries(policy.allowed_ips) + _rule_entries(state, policy.allowed_rules):
        reason = non_internet_reason(entry.network)
        if reason is None:
            continue
        label = labels.get(entry.network)
        named = f"{entry.where} ({label})" if label else entry.where
        out.append(
            _finding(
                WARNING,
                "SF_ENTRY_NEVER_MATCHES",
                Area.SNOWFLAKE,
                entry.rule or entry.text,
                f"{named} can never match: it is {reason}, and Snowflake sees the public address traffic leaves from",
                (
                    "over the internet Snowflake sees the NAT gateway's, internet gateway's or VPN exit's public "
                    "address, never a private one; only PrivateLink (not in use here) carries private sources",
                    "Tailscale addresses live only inside the tailnet: Snowflake sees the device's (or exit "
                    "node's) internet address"
                    if "Tailscale" in reason
                    else "",
                    *_egress_lines(entry.network, aws, settings),
                ),
            )
        )
    return out


def _redundant_findings(policy: NetworkPolicy) -> list[Finding]:
    """Entries inside another entry. Walks each entry's supernets (at most 32 or 128 lookups) instead of
    comparing every pair, so a 1,000-entry list costs milliseconds, not seconds."""
    entries = _list_entries(policy.allowed_ips)

    # The catch-all has its own, critical finding; it is not named as a container here.
    def key(network: Any, prefix: int) -> tuple[int, int, int]:
        bits = network.max_prefixlen
        mask = ((1 << prefix) - 1) << (bits - prefix)
        return (network.version, int(network.network_address) & mask, prefix)

    by_key = {key(e.network, e.network.prefixlen): e for e in reversed(entries) if not is_catch_all(e.network)}
    out: list[Finding] = []
    for entry in entries:
        containers = [
            by_key[k]
            for prefix in range(entry.network.prefixlen - 1, 0, -1)
            if (k := key(entry.network, prefix)) in by_key
        ]
        if containers:
            tightest = containers[0]
            out.append(
                _finding(
                    INFO,
                    "SF_ENTRY_REDUNDANT",
                    Area.SNOWFLAKE,
                    entry.text,
                    f"{entry.text} lies inside {tightest.text} in {policy.name}'s ALLOWED_IP_LIST",
                    [f"contained in {c.text}" for c in containers],
                )
            )
    return out


# --------------------------------------------------------------------------------------------------------------
# Probes


def is_snowflake_probe(probe: ProbeResult, settings: Settings) -> bool:
    if probe.kind not in ("http", "https"):
        return False
    host = (urlsplit(probe.target).hostname or "").lower()
    account = settings.snowflake.account.lower()
    return host.endswith(".snowflakecomputing.com") or (bool(account) and host.startswith(account))


def probe_findings(probes: Sequence[ProbeResult], settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    for probe in probes:
        snowflake = is_snowflake_probe(probe, settings)
        seen = [
            f"{probe.kind} {probe.target}",
            f"HTTP status {probe.status}" if probe.status is not None else "",
            f"{probe.latency_ms:.0f} ms" if probe.latency_ms is not None else "",
            probe.detail,
        ]
        if not probe.ok:
            # Critical for the Snowflake host: if it cannot be reached from here, neither this dashboard nor
            # anything egressing the same way can work with Snowflake, and no policy change will help.
            severity = CRITICAL if snowflake else WARNING
            if snowflake:
                seen.append(
                    "this fails below the network policy (DNS, route/egress, TLS or the HTTP answer); " + _LOGIN_NOTE
                )
            out.append(
                _finding(
                    severity,
                    "PROBE_FAILED",
                    Area.PROBES,
                    probe.name,
                    f"{probe.name} ({probe.target}) failed: {probe.detail or f'status {probe.status}'}",
                    seen,
                )
            )
        elif snowflake:
            out.append(
                _finding(
                    INFO,
                    "PROBE_REACHABILITY_ONLY",
                    Area.PROBES,
                    probe.name,
                    f"{probe.name} answers{f' HTTP {probe.status}' if probe.status else ''}: the host is "
                    "reachable; admission by the network policy is a separate question",
                    [
                        *seen,
                        "An HTTPS 200/302 from the Snowflake host proves reachability, not admission by the "
                        "network policy. " + _LOGIN_NOTE,
                    ],
                )
            )
    return out
