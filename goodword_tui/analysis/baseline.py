"""Resolving the config's description of the platform to the live resources in an `AwsState`.

The config names a resource by `id` where the hand-off gives one, otherwise by its Name tag (or, for security
groups, its group name). The rule everywhere: the id first; when there is no id, or nothing has it (a resource
recreated under a new id), the name. Everything here is pure lookups: no findings, no network.
"""

from __future__ import annotations

from dataclasses import dataclass

from goodword_tui.analysis.policy import parse_entry
from goodword_tui.config import (
    EndpointSpec,
    InstanceSpec,
    PeeringSpec,
    RouteTableSpec,
    SecurityGroupSpec,
    Settings,
    VpcSpec,
)
from goodword_tui.model import (
    AwsState,
    Instance,
    Peering,
    RouteTable,
    SecurityGroup,
    Vpc,
    VpcEndpoint,
)

# Peerings in these states no longer connect anything; a lookup by VPC pair prefers the others.
GONE_PEERING_STATES = frozenset({"deleted", "rejected", "expired", "failed"})


def find_vpc(spec: VpcSpec, aws: AwsState) -> Vpc | None:
    found = next((v for v in aws.vpcs if spec.id and v.id == spec.id), None)
    if found is None and spec.name_tag:
        found = next((v for v in aws.vpcs if v.name == spec.name_tag), None)
    return found


def resolve_vpcs(settings: Settings, aws: AwsState) -> dict[str, Vpc | None]:
    """VPC key → the live VPC (None when it cannot be found)."""
    return {spec.key: find_vpc(spec, aws) for spec in settings.aws.vpcs}


def find_peering(spec: PeeringSpec, aws: AwsState, vpcs: dict[str, Vpc | None]) -> Peering | None:
    """By id, else Name tag, else the peering that joins the two configured VPCs (a live one first)."""
    found = next((p for p in aws.peerings if spec.id and p.id == spec.id), None)
    if found is None and spec.name_tag:
        found = next((p for p in aws.peerings if p.name == spec.name_tag), None)
    if found is None and not spec.id and not spec.name_tag:
        requester, accepter = vpcs.get(spec.requester), vpcs.get(spec.accepter)
        if requester is not None and accepter is not None:
            pair = {requester.id, accepter.id}
            joining = [p for p in aws.peerings if {p.requester_vpc_id, p.accepter_vpc_id} == pair]
            joining.sort(key=lambda p: (p.status in GONE_PEERING_STATES, p.status != "active", p.id))
            found = joining[0] if joining else None
    return found


def find_route_table(spec: RouteTableSpec, aws: AwsState) -> RouteTable | None:
    found = next((t for t in aws.route_tables if spec.id and t.id == spec.id), None)
    if found is None and spec.name_tag:
        found = next((t for t in aws.route_tables if t.name == spec.name_tag), None)
    return found


def find_security_group(spec: SecurityGroupSpec, aws: AwsState, vpc: Vpc | None) -> SecurityGroup | None:
    """By id, else by group name; names are unique per VPC, so the VPC narrows the search when known."""
    found = next((g for g in aws.security_groups if spec.id and g.id == spec.id), None)
    if found is None and spec.name:
        candidates = [g for g in aws.security_groups if g.name == spec.name]
        if vpc is not None:
            candidates = [g for g in candidates if g.vpc_id == vpc.id] or candidates
        found = candidates[0] if candidates else None
    return found


def find_endpoint(spec: EndpointSpec, aws: AwsState, vpc: Vpc | None) -> VpcEndpoint | None:
    """By id, else the endpoint for the configured service in the configured VPC."""
    found = next((e for e in aws.endpoints if spec.id and e.id == spec.id), None)
    if found is None and not spec.id and vpc is not None:
        found = next((e for e in aws.endpoints if e.vpc_id == vpc.id and e.service_name == spec.service), None)
    return found


def find_instance(spec: InstanceSpec, aws: AwsState) -> Instance | None:
    found = next((i for i in aws.instances if spec.id and i.id == spec.id), None)
    if found is None and spec.name_tag:
        live = [i for i in aws.instances if i.name == spec.name_tag]
        live.sort(key=lambda i: (i.state == "terminated", i.id))
        found = live[0] if live else None
    return found


def spec_name(spec: VpcSpec | RouteTableSpec | InstanceSpec | PeeringSpec) -> str:
    """How to name a resource that could not be found: its id, else its Name tag."""
    return spec.id or (f"Name={spec.name_tag}" if spec.name_tag else "")


def vpc_cidrs(vpc: Vpc) -> tuple[str, ...]:
    return (vpc.cidr, *vpc.extra_cidrs)


def vpc_has_cidr(vpc: Vpc, cidr: str) -> bool:
    """The VPC carries `cidr` as its primary or a secondary block (compared as networks)."""
    wanted = parse_entry(cidr)
    return wanted is not None and any(parse_entry(c) == wanted for c in vpc_cidrs(vpc))


def label_for_ip(settings: Settings, ip: str) -> str:
    """The config's label for an instance address, e.g. "SQLMesh server"; "" when none is configured."""
    return next((i.label for i in settings.aws.instances if i.private_ip == ip), "")


@dataclass(frozen=True)
class Resolved:
    """The config's resources matched to live ones; None where a resource cannot be found."""

    vpcs: dict[str, Vpc | None]
    peering: Peering | None
    route_tables: tuple[tuple[RouteTableSpec, RouteTable | None], ...]
    security_groups: tuple[tuple[SecurityGroupSpec, SecurityGroup | None], ...]
    endpoints: tuple[tuple[EndpointSpec, VpcEndpoint | None], ...]
    instances: tuple[tuple[InstanceSpec, Instance | None], ...]


def resolve(settings: Settings, aws: AwsState) -> Resolved:
    cfg = settings.aws
    vpcs = resolve_vpcs(settings, aws)
    return Resolved(
        vpcs=vpcs,
        peering=find_peering(cfg.peering, aws, vpcs) if cfg.peering else None,
        route_tables=tuple((s, find_route_table(s, aws)) for s in cfg.route_tables),
        security_groups=tuple((s, find_security_group(s, aws, vpcs.get(s.vpc))) for s in cfg.security_groups),
        endpoints=tuple((s, find_endpoint(s, aws, vpcs.get(s.vpc))) for s in cfg.endpoints),
        instances=tuple((s, find_instance(s, aws)) for s in cfg.instances),
    )
