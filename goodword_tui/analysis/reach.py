"""Reachability reasoning: "why is this address refused by Snowflake?", "can X reach Y?", "where does X egress?".

Pure functions over a snapshot's data. `reach` follows what AWS does with a packet between two private addresses:
the source subnet's route table (longest prefix wins), the peering (which must be active, with a return route on
the far side), then the security groups (stateful: the source's egress rules and the destination's ingress
rules). Network ACLs are not part of the snapshot and are not checked. `egress_for` follows an instance's
default route to the public address Snowflake will see.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass

from goodword_tui.analysis.baseline import label_for_ip
from goodword_tui.analysis.policy import (
    Address,
    Decider,
    IpVerdict,
    Network,
    address_in,
    evaluate_ip,
    parse_address,
    parse_entry,
)
from goodword_tui.config import Settings
from goodword_tui.model import (
    AwsState,
    Instance,
    Route,
    RouteTable,
    RouteTargetKind,
    SecurityGroup,
    SecurityGroupRule,
    SnowflakeState,
    Subnet,
)

# --------------------------------------------------------------------------------------------------------------
# Snowflake: why is an address admitted or refused?


def why(ip: str, state: SnowflakeState) -> IpVerdict:
    """The account-level decision for a login from `ip`, against the policy active on the account.

    When the active policy is not the one the snapshot read (another name), its lists are unknown and the
    verdict says so (decided_by UNKNOWN_POLICY, not admitted). A user-level policy is mentioned in the notes:
    it overrides the account policy for that user's logins only.
    """
    notes: list[str] = []
    if state.user_policy and (state.policy is None or state.user_policy.upper() != state.policy.name.upper()):
        notes.append(
            f"user {state.user or '(current)'} has its own policy {state.user_policy}, which overrides the "
            "account policy for that user's logins"
        )
    active = state.account_policy
    policy = state.policy
    if not active:
        verdict = evaluate_ip(ip, None)
        if policy is not None:
            would = evaluate_ip(ip, policy, state.rules)
            notes.append(
                f"{policy.name} exists but is not active on the account; once active: "
                f"{'admitted' if would.allowed else 'refused'} ({would.where})"
            )
        return _with_notes(verdict, notes)
    if policy is None or policy.name.upper() != active.upper():
        verdict = IpVerdict(
            ip=ip,
            allowed=False,
            decided_by=Decider.UNKNOWN_POLICY,
            reason=f"the account's active policy is {active}, whose lists this snapshot did not read",
            policy=active,
        )
        return _with_notes(verdict, notes)
    return _with_notes(evaluate_ip(ip, policy, state.rules), notes)


def _with_notes(verdict: IpVerdict, notes: list[str]) -> IpVerdict:
    return dataclasses.replace(verdict, notes=(*verdict.notes, *notes)) if notes else verdict


def explain_why(ip: str, state: SnowflakeState) -> str:
    """`why` as text for a detail screen: the verdict, each list in the order Snowflake checks it, the caveats."""
    return why(ip, state).explain()


# --------------------------------------------------------------------------------------------------------------
# Routes


def route_network(route: Route) -> Network | None:
    """A route's destination as a network; None for prefix lists and anything unparsable."""
    return parse_entry(route.destination) if "/" in route.destination else None


def best_route(table: RouteTable, address: Address) -> Route | None:
    """The route AWS uses for `address`: the longest matching prefix (AWS's rule)."""
    best: tuple[int, Route] | None = None
    for route in table.routes:
        network = route_network(route)
        if network is not None and address_in(address, network) and (best is None or network.prefixlen > best[0]):
            best = (network.prefixlen, route)
    return best[1] if best else None


def covering_route(table: RouteTable, network: Network) -> Route | None:
    """The route traffic to all of `network` follows: the most specific route whose destination contains it."""
    best: tuple[int, Route] | None = None
    for route in table.routes:
        dest = route_network(route)
        if (
            dest is not None
            and dest.version == network.version
            and network.subnet_of(dest)  # type: ignore[arg-type]
            and (best is None or dest.prefixlen > best[0])
        ):
            best = (dest.prefixlen, route)
    return best[1] if best else None


def describe_route(route: Route) -> str:
    state = " (blackhole)" if route.is_blackhole else ""
    return f"{route.destination} -> {route.target_id}{state}"


# --------------------------------------------------------------------------------------------------------------
# Egress: the public address an instance's traffic to the internet leaves with


class EgressProblem(enum.StrEnum):
    NONE = ""
    NO_SUBNET = "no_subnet"
    NO_ROUTE_TABLE = "no_route_table"
    NO_DEFAULT_ROUTE = "no_default_route"
    BLACKHOLE = "blackhole"
    NAT_MISSING = "nat_missing"
    NAT_NOT_AVAILABLE = "nat_not_available"
    NO_PUBLIC_IP = "no_public_ip"
    UNKNOWN_TARGET = "unknown_target"  # transit gateway, appliance instance ...: the address is not knowable here


@dataclass(frozen=True)
class Egress:
    """How an instance reaches the internet and with which public address (`public_ip`, "" when none)."""

    instance_id: str
    route_table_id: str = ""
    via_kind: str = ""  # "nat" | "igw" | another RouteTargetKind value
    via_id: str = ""
    public_ip: str = ""
    problem: EgressProblem = EgressProblem.NONE
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is EgressProblem.NONE and bool(self.public_ip)


def egress_for(instance: Instance, aws: AwsState) -> Egress:
    """Follow the instance subnet's default route (0.0.0.0/0) to the public address Snowflake will see."""
    table = aws.route_table_for_subnet(instance.subnet_id)
    if table is None:
        if aws.subnet(instance.subnet_id) is None:
            return Egress(instance.id, problem=EgressProblem.NO_SUBNET, detail=f"subnet {instance.subnet_id} not found")
        return Egress(
            instance.id,
            problem=EgressProblem.NO_ROUTE_TABLE,
            detail=f"subnet {instance.subnet_id} has no route table (no association and no main table)",
        )
    default = next((r for r in table.routes if r.destination == "0.0.0.0/0"), None)
    if default is None:
        return Egress(
            instance.id,
            table.id,
            problem=EgressProblem.NO_DEFAULT_ROUTE,
            detail=f"{table.id} has no default route (0.0.0.0/0): no way to the internet",
        )

    def via(problem: EgressProblem, detail: str, public_ip: str = "") -> Egress:
        return Egress(instance.id, table.id, default.target_kind.value, default.target_id, public_ip, problem, detail)

    if default.is_blackhole:
        return via(
            EgressProblem.BLACKHOLE, f"{table.id} default route to {default.target_id} is a blackhole (target gone)"
        )
    if default.target_kind is RouteTargetKind.NAT_GATEWAY:
        nat = next((n for n in aws.nat_gateways if n.id == default.target_id), None)
        if nat is None:
            return via(EgressProblem.NAT_MISSING, f"NAT gateway {default.target_id} not found")
        if nat.state != "available":
            return via(EgressProblem.NAT_NOT_AVAILABLE, f"NAT gateway {nat.id} is {nat.state}", nat.public_ip)
        if nat.connectivity != "public" or not nat.public_ip:
            detail = f"NAT gateway {nat.id} has no public address ({nat.connectivity} connectivity)"
            return via(EgressProblem.NO_PUBLIC_IP, detail)
        return via(EgressProblem.NONE, f"via NAT gateway {nat.id} as {nat.public_ip}", nat.public_ip)
    if default.target_kind is RouteTargetKind.INTERNET_GATEWAY:
        if not instance.public_ip:
            detail = f"default route goes to {default.target_id} but the instance has no public IP: no egress"
            return via(EgressProblem.NO_PUBLIC_IP, detail)
        detail = f"via internet gateway {default.target_id} as its own public IP {instance.public_ip}"
        return via(EgressProblem.NONE, detail, instance.public_ip)
    detail = (
        f"default route goes to {default.target_kind.value} {default.target_id}; "
        "the public address behind it is not visible here"
    )
    return via(EgressProblem.UNKNOWN_TARGET, detail)


# --------------------------------------------------------------------------------------------------------------
# Security-group matching


_PROTOCOL_NAMES = {
    "-1": "-1",
    "all": "-1",
    "6": "tcp",
    "tcp": "tcp",
    "17": "udp",
    "udp": "udp",
    "1": "icmp",
    "icmp": "icmp",
}


def normalize_protocol(protocol: str) -> str:
    """ "6" → "tcp", "17" → "udp", "1" → "icmp", "-1"/"all" → "-1"; others as given, lower case."""
    text = str(protocol).strip().lower()
    return _PROTOCOL_NAMES.get(text, text)


def rule_allows(
    rule: SecurityGroupRule,
    direction: str,
    peer: Address,
    protocol: str,
    port: int | None,
    peer_groups: tuple[str, ...] = (),
) -> bool:
    """Does `rule` let traffic of `protocol`/`port` to or from `peer` through? `port` None: any port will do."""
    if rule.direction != direction:
        return False
    rule_protocol, wanted = normalize_protocol(rule.protocol), normalize_protocol(protocol)
    if rule_protocol != "-1" and rule_protocol != wanted:
        return False
    if rule.cidr:
        network = parse_entry(rule.cidr)
        if network is None or not address_in(peer, network):
            return False
    elif not (rule.peer_group_id and rule.peer_group_id in peer_groups):
        return False  # prefix lists (and unknown groups) cannot be resolved from the snapshot
    if rule_protocol == "-1" or port is None or wanted not in ("tcp", "udp"):
        return True
    low = rule.from_port if rule.from_port is not None and rule.from_port >= 0 else 0
    high = rule.to_port if rule.to_port is not None and rule.to_port >= 0 else 65535
    return low <= port <= high


def describe_rule(rule: SecurityGroupRule) -> str:
    protocol = normalize_protocol(rule.protocol)
    if protocol == "-1":
        ports = "all traffic"
    elif rule.from_port is None or rule.from_port == -1:
        ports = f"{protocol} all"
    elif rule.from_port == rule.to_port:
        ports = f"{protocol} {rule.from_port}"
    else:
        ports = f"{protocol} {rule.from_port}-{rule.to_port}"
    arrow = "from" if rule.direction == "ingress" else "to"
    return f"{rule.direction} {ports} {arrow} {rule.peer or '?'}"


# --------------------------------------------------------------------------------------------------------------
# Reach: can one private address reach another?


class HopVerdict(enum.StrEnum):
    OK = "ok"
    BROKEN = "broken"
    SKIPPED = "skipped"  # could not be checked from the snapshot (e.g. no instance at the address)


@dataclass(frozen=True)
class Hop:
    step: str  # "source", "destination", "route", "peering", "return route", "egress rules", "ingress rules"
    resource: str  # subnet-..., rtb-..., pcx-..., sg-...
    verdict: HopVerdict
    detail: str


@dataclass(frozen=True)
class PathExplanation:
    """The path from `source_ip` to `dest_ip`, hop by hop, stopping at the first break."""

    source_ip: str
    dest_ip: str
    protocol: str
    port: int | None
    hops: tuple[Hop, ...]

    @property
    def ok(self) -> bool:
        return bool(self.hops) and all(h.verdict is not HopVerdict.BROKEN for h in self.hops)

    @property
    def broken_at(self) -> Hop | None:
        return next((h for h in self.hops if h.verdict is HopVerdict.BROKEN), None)

    @property
    def summary(self) -> str:
        what = f"{self.protocol}" + (f"/{self.port}" if self.port is not None else "")
        broken = self.broken_at
        if broken is None:
            return f"{self.source_ip} can reach {self.dest_ip} ({what})"
        return f"{self.source_ip} cannot reach {self.dest_ip} ({what}): {broken.detail}"

    def explain(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        out = [self.summary]
        out += [f"  [{h.verdict.value:>7}] {h.step}: {h.resource} — {h.detail}" for h in self.hops]
        return out


@dataclass(frozen=True)
class _Endpoint:
    address: Address
    subnet: Subnet | None
    instance: Instance | None
    vpc_id: str


def _locate(ip: Address, aws: AwsState) -> _Endpoint | None:
    """The instance with this private address, else the most specific subnet containing it."""
    holders = [i for i in aws.instances if parse_address(i.private_ip) == ip]
    holders.sort(key=lambda i: (i.state != "running", i.state == "terminated", i.id))  # a live one first
    instance = holders[0] if holders else None
    if instance is not None:
        return _Endpoint(ip, aws.subnet(instance.subnet_id), instance, instance.vpc_id)
    containing = [
        (network.prefixlen, subnet)
        for subnet in aws.subnets
        if (network := parse_entry(subnet.cidr)) is not None and address_in(ip, network)
    ]
    if not containing:
        return None
    best = max(containing, key=lambda pair: pair[0])[1]
    return _Endpoint(ip, best, None, best.vpc_id)


def _name(ip: str, endpoint: _Endpoint, settings: Settings) -> str:
    label = label_for_ip(settings, ip) or (endpoint.instance.name if endpoint.instance else "")
    return f"{label} ({ip})" if label else ip


def _subnet_id(endpoint: _Endpoint) -> str:
    if endpoint.subnet is not None:
        return endpoint.subnet.id
    return endpoint.instance.subnet_id if endpoint.instance else ""


def _groups(instance: Instance, aws: AwsState) -> tuple[list[SecurityGroup], list[str]]:
    found = [g for g in aws.security_groups if g.id in instance.security_group_ids]
    missing = [g for g in instance.security_group_ids if g not in {x.id for x in found}]
    return found, missing


def _route_hop(
    step: str, table: RouteTable, dest: _Endpoint, source_vpc: str, expected_peering: str = ""
) -> tuple[Hop, str]:
    """Check the route `table` uses for `dest.address`; returns the hop and the peering id it uses ("" if local)."""
    route = best_route(table, dest.address)
    if route is None:
        return Hop(step, table.id, HopVerdict.BROKEN, f"{table.id} has no route to {dest.address}"), ""
    shown = describe_route(route)
    if route.is_blackhole:
        return Hop(step, table.id, HopVerdict.BROKEN, f"{table.id} routes {shown}: traffic is dropped"), ""
    if route.target_kind is RouteTargetKind.LOCAL:
        if dest.vpc_id == source_vpc:
            return Hop(step, table.id, HopVerdict.OK, f"{shown} (same VPC)"), ""
        return Hop(step, table.id, HopVerdict.BROKEN, f"{shown} but {dest.address} is in {dest.vpc_id}"), ""
    if route.target_kind is RouteTargetKind.PEERING:
        if expected_peering and route.target_id != expected_peering:
            detail = f"{table.id} routes {shown}, not through {expected_peering} that the traffic came over"
            return Hop(step, table.id, HopVerdict.BROKEN, detail), route.target_id
        return Hop(step, table.id, HopVerdict.OK, shown), route.target_id
    detail = f"{table.id} sends {dest.address} {shown}, out of the VPC instead of to {dest.vpc_id}"
    return Hop(step, table.id, HopVerdict.BROKEN, detail), ""


def _sg_hop(
    step: str,
    instance: Instance,
    direction: str,
    peer: _Endpoint,
    protocol: str,
    port: int | None,
    aws: AwsState,
) -> Hop:
    groups, missing = _groups(instance, aws)
    resource = ",".join(instance.security_group_ids) or instance.id
    if missing:
        return Hop(step, resource, HopVerdict.BROKEN, f"security group(s) {', '.join(missing)} not found")
    peer_groups = peer.instance.security_group_ids if peer.instance else ()
    for group in groups:
        for rule in group.rules:
            if rule_allows(rule, direction, peer.address, protocol, port, peer_groups):
                return Hop(step, group.id, HopVerdict.OK, f"{group.id} ({group.name}): {describe_rule(rule)}")
    what = f"{protocol}" + (f" port {port}" if port is not None else "")
    way = "from" if direction == "ingress" else "to"
    detail = f"no {direction} rule in {resource} allows {what} {way} {peer.address}"
    return Hop(step, resource, HopVerdict.BROKEN, detail)


def reach(
    source_ip: str,
    dest_ip: str,
    aws: AwsState,
    settings: Settings,
    *,
    protocol: str = "tcp",
    port: int | None = None,
) -> PathExplanation:
    """Can `source_ip` reach `dest_ip`? Walks routes, the peering, the return route and both sides' groups.

    `protocol` is "tcp", "udp", "icmp" or "-1"; `port` None means "any port of that protocol".
    """
    hops: list[Hop] = []

    def done() -> PathExplanation:
        return PathExplanation(source_ip, dest_ip, normalize_protocol(protocol), port, tuple(hops))

    def broken(step: str, resource: str, detail: str) -> PathExplanation:
        hops.append(Hop(step, resource, HopVerdict.BROKEN, detail))
        return done()

    src_addr, dst_addr = parse_address(source_ip), parse_address(dest_ip)
    if src_addr is None:
        return broken("source", source_ip, f"{source_ip!r} is not an IP address")
    if dst_addr is None:
        return broken("destination", dest_ip, f"{dest_ip!r} is not an IP address")
    src = _locate(src_addr, aws)
    if src is None:
        return broken("source", source_ip, f"{source_ip} is in no known subnet or instance")
    hops.append(Hop("source", _subnet_id(src), HopVerdict.OK, f"{_name(source_ip, src, settings)} in {src.vpc_id}"))
    dst = _locate(dst_addr, aws)
    if dst is None:
        return broken("destination", dest_ip, f"{dest_ip} is in no known subnet or instance")
    hops.append(Hop("destination", _subnet_id(dst), HopVerdict.OK, f"{_name(dest_ip, dst, settings)} in {dst.vpc_id}"))
    for role, end in (("source", src), ("destination", dst)):
        if end.instance is not None and end.instance.state != "running":
            return broken(role, end.instance.id, f"instance {end.instance.id} is {end.instance.state}")

    # The source subnet's route table, longest prefix first.
    src_table = aws.route_table_for_subnet(_subnet_id(src))
    if src_table is None:
        return broken("route", _subnet_id(src), f"subnet {_subnet_id(src)} has no route table")
    hop, peering_id = _route_hop("route", src_table, dst, src.vpc_id)
    hops.append(hop)
    if hop.verdict is HopVerdict.BROKEN:
        return done()

    if peering_id:
        peering = next((p for p in aws.peerings if p.id == peering_id), None)
        if peering is None:
            return broken("peering", peering_id, f"peering {peering_id} not found")
        if peering.status != "active":
            return broken("peering", peering.id, f"peering {peering.id} is {peering.status}, not active")
        sides = f"{peering.requester_vpc_id} <-> {peering.accepter_vpc_id}"
        if {peering.requester_vpc_id, peering.accepter_vpc_id} != {src.vpc_id, dst.vpc_id}:
            detail = f"peering {peering.id} joins {sides}, not {src.vpc_id} and {dst.vpc_id}"
            return broken("peering", peering.id, detail)
        hops.append(Hop("peering", peering.id, HopVerdict.OK, f"{sides} active"))
        # Replies need the way back: the destination subnet's table must route the source over the same peering.
        dst_table = aws.route_table_for_subnet(_subnet_id(dst))
        if dst_table is None:
            return broken("return route", _subnet_id(dst), f"subnet {_subnet_id(dst)} has no route table")
        back, _ = _route_hop("return route", dst_table, src, dst.vpc_id, expected_peering=peering.id)
        hops.append(back)
        if back.verdict is HopVerdict.BROKEN:
            return done()

    # Security groups are stateful: the source's egress and the destination's ingress decide.
    if src.instance is not None:
        hop = _sg_hop("egress rules", src.instance, "egress", dst, protocol, port, aws)
        hops.append(hop)
        if hop.verdict is HopVerdict.BROKEN:
            return done()
    else:
        hops.append(Hop("egress rules", source_ip, HopVerdict.SKIPPED, "no instance at this address; not checked"))
    if dst.instance is not None:
        hops.append(_sg_hop("ingress rules", dst.instance, "ingress", src, protocol, port, aws))
    else:
        hops.append(Hop("ingress rules", dest_ip, HopVerdict.SKIPPED, "no instance at this address; not checked"))
    return done()


# --------------------------------------------------------------------------------------------------------------
# What was typed at the `w` prompt: one address (why) or two (reach), optionally PROTOCOL[/PORT]

PROTOCOLS = ("tcp", "udp", "icmp", "all")
QUERY_HELP = "Type one address (e.g. 3.14.201.56) or two with an optional protocol: 172.22.2.106 172.20.0.91 tcp/22"


class QueryError(ValueError):
    """What was typed cannot be answered; `message` says what is wrong and how to write it instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ReachQuery:
    """A validated `w` question: `addresses` holds one (why) or two (reach) addresses, normalised."""

    addresses: tuple[str, ...]
    protocol: str = "tcp"  # "tcp", "udp", "icmp" or "-1" (all)
    port: int | None = None  # None: any port


def _protocol_port(word: str) -> tuple[str, int | None]:
    name, _, port_text = word.partition("/")
    protocol = name.lower()
    if protocol not in PROTOCOLS:
        raise QueryError(f"Unknown protocol {name!r}: use one of {', '.join(PROTOCOLS)}, e.g. tcp/443")
    if not port_text:
        return ("-1" if protocol == "all" else protocol), None
    if protocol in ("icmp", "all"):
        raise QueryError(f"{protocol} has no ports: write {protocol} alone, or tcp/{port_text}")
    if not port_text.isascii() or not port_text.isdigit():
        raise QueryError(f"{port_text!r} is not a port number: a port is a whole number from 1 to 65535")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise QueryError(f"Port {port} is out of range: a port is a whole number from 1 to 65535")
    return protocol, port


def _address(word: str) -> str:
    address = parse_address(word)
    if address is not None:
        return str(address)
    if parse_entry(word) is not None:
        raise QueryError(f"{word} is a network, not one address: type a single address such as {word.split('/')[0]}")
    host, sep, port = word.rpartition(":")
    if sep and port.isdigit() and parse_address(host) is not None:
        raise QueryError(f"Write the port apart, as PROTOCOL/PORT: {host} … tcp/{port}")
    raise QueryError(f"Not an IP address: {word} (IPv4 is four numbers 0-255, e.g. 3.14.201.56)")


def parse_query(text: str) -> ReachQuery:
    """Validate what was typed at the `w` prompt; raise QueryError with a message that says how to fix it."""
    words = text.replace(",", " ").replace("->", " ").replace("→", " ").split()
    if not words:
        raise QueryError(QUERY_HELP)
    protocol, port = "tcp", None
    last = words[-1]
    name, slash, _ = last.partition("/")
    if name.lower() in PROTOCOLS or (slash and name.isalpha()):
        protocol, port = _protocol_port(last)
        words = words[:-1]
    if not words:
        raise QueryError(f"An address is missing before {last}. {QUERY_HELP}")
    if len(words) > 2:
        raise QueryError(f"{len(words)} addresses given; at most two (SOURCE DEST). {QUERY_HELP}")
    addresses = tuple(_address(w) for w in words)
    if len(addresses) == 1 and (protocol, port) != ("tcp", None):
        raise QueryError("A protocol or port needs two addresses (SOURCE DEST); one address asks Snowflake's policy")
    return ReachQuery(addresses, protocol, port)


# --------------------------------------------------------------------------------------------------------------
# Baseline labels next to the entries an explanation cites

_ENTRY_TOKEN = re.compile(r"(?<![\w.:/])(\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?)(?![\w.:/])")


def baseline_labels(settings: Settings) -> dict[Network, str]:
    """The config's allowed entries by network: what people call each one ("Airbyte Cloud")."""
    return {n: e.label for e in settings.snowflake.allowed if (n := parse_entry(e.cidr)) is not None}


def label_entries(text: str, settings: Settings) -> str:
    """`text` with the baseline label after each allowed entry it cites: "3.14.201.56/32 (Airbyte Cloud)".

    Addresses that are no baseline entry, and entries already followed by their label, are left as they are.
    """
    labels = baseline_labels(settings)

    def labelled(match: re.Match[str]) -> str:
        token = match.group(1)
        network = parse_entry(token)
        label = labels.get(network) if network is not None else None
        if not label or match.string.startswith(f" ({label})", match.end()):
            return token
        return f"{token} ({label})"

    return _ENTRY_TOKEN.sub(labelled, text)


def explain_why_labelled(ip: str, state: SnowflakeState, settings: Settings) -> tuple[IpVerdict, str]:
    """`why` and its explanation with every cited allowed entry labelled from the baseline."""
    verdict = why(ip, state)
    return verdict, label_entries(verdict.explain(), settings)
