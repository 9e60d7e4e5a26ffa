"""Hand-built snapshots of the Goodword platform as the hand-off describes it, and small helpers to break them.

`handoff_*()` give the healthy-by-the-hand-off state: both VPCs, the active peering, the seven route tables with
their cross-VPC routes, the security groups, the endpoint, the three servers, and the INTEGRATIONS policy with
its 15 entries plus the rules GOODWORD_WH.RAW.ANY (0.0.0.0/0) and AIRBYTE_DB.RAW.AIRBYTE. Tests change one thing
with `dataclasses.replace` or the `with_*` helpers and look at what the analysis says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from goodword_tui.config import Settings, parse_settings
from goodword_tui.model import (
    AwsIdentity,
    AwsState,
    ErrorKind,
    Finding,
    Instance,
    InternetGateway,
    NatGateway,
    NetworkPolicy,
    NetworkRule,
    Peering,
    ProbeResult,
    Route,
    RouteTable,
    RouteTargetKind,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
    SnowflakeState,
    SourceError,
    SourceResult,
    Subnet,
    Vpc,
    VpcEndpoint,
)
from goodword_tui.sandbox.snowflake import AIRBYTE_IPS, HANDOFF_ALLOWED_IPS

T = TypeVar("T")

NOW = datetime(2025, 10, 5, 12, 0, tzinfo=UTC)

OPS_VPC = "vpc-0f0a0744e35746a67"
GW_VPC = "vpc-0c1d2e3f4a5b6c7d8"
OPS_CIDR = "172.22.0.0/16"
GW_CIDR = "172.20.0.0/16"
PCX = "pcx-093256f9adcfae896"
OPS_IGW = "igw-0a0a0a0a0a0a0a0a0"
GW_IGW = "igw-0b0b0b0b0b0b0b0b0"
OPS_NAT = "nat-0123456789abcdef0"
GW_NAT = "nat-0fedcba9876543210"
OPS_NAT_IP = "3.14.15.92"
GW_NAT_IP = "3.20.30.40"
ACCESS_PUBLIC_IP = "18.117.4.20"

OPS_PUBLIC_SUBNET = "subnet-0ops0public000001"
OPS_PRIVATE_SUBNET = "subnet-0ops0private00001"
GW_SUBNETS = {
    "public": ("subnet-0gw0public0000001", "172.20.10.0/24"),
    "private-2a": ("subnet-0gw0private2a0001", "172.20.0.0/24"),
    "private-2b": ("subnet-0gw0private2b0001", "172.20.1.0/24"),
    "private-2c": ("subnet-0gw0private2c0001", "172.20.2.0/24"),
    "db": ("subnet-0gw0db00000000001", "172.20.20.0/24"),
}

OPS_PUBLIC_RT = "rtb-0ops0public00000001"
OPS_PRIVATE_RT = "rtb-0ops0private0000001"
GW_RTS = {
    "public": ("rtb-0gw0public000000001", "goodword-public-rt"),
    "private-2a": ("rtb-0gw0private2a000001", "goodword-private-rt-2a"),
    "private-2b": ("rtb-0gw0private2b000001", "goodword-private-rt-2b"),
    "private-2c": ("rtb-0gw0private2c000001", "goodword-private-rt-2c"),
    "db": ("rtb-0gw0db0000000000001", "goodword-db-rt"),
}

OPS_SG = "sg-033aa1aa2a52b3401"
GW_SG = "sg-0gw0cross0vpc000001"
ENDPOINT = "vpce-06cd22830fe1f953c"

ACCESS = "i-07313ed6e2e8bdc1e"
SQLMESH = "i-03519bd309babd741"
VPN_MESH = "i-03051e6ddd98f5424"
ACCESS_IP, SQLMESH_IP, VPN_MESH_IP = "172.22.1.15", "172.22.2.106", "172.20.0.91"

HANDOFF_ALLOWED = HANDOFF_ALLOWED_IPS  # the hand-off's 15 entries, kept equal to config.toml by a test
PRIVATE_ENTRIES = HANDOFF_ALLOWED[:6]
ANY_RULE = "GOODWORD_WH.RAW.ANY"
AIRBYTE_RULE = "AIRBYTE_DB.RAW.AIRBYTE"


# --------------------------------------------------------------------------------------------------------------
# Settings: config.toml's description of the platform, as a dict (tests do not depend on the file's edits)


def handoff_config() -> dict[str, Any]:
    peering_route = [{"destination": OPS_CIDR, "target": "peering"}]
    back_route = [{"destination": GW_CIDR, "target": "peering"}]
    labels = {
        "public": "Goodword public",
        "private-2a": "Goodword private 2a",
        "private-2b": "Goodword private 2b",
        "private-2c": "Goodword private 2c",
        "db": "Goodword database",
    }
    cross = [
        {"protocol": "icmp", "cidr": "{}"},
        {"protocol": "tcp", "from_port": 0, "to_port": 65535, "cidr": "{}"},
        {"protocol": "udp", "from_port": 0, "to_port": 65535, "cidr": "{}"},
    ]
    protected = {"172.22.0.0/16", "172.20.0.0/16", "100.64.0.0/10", *AIRBYTE_IPS}
    entry_labels = {
        "172.22.0.0/16": "Operations VPC",
        "172.20.0.0/16": "Goodword VPC",
        "100.64.0.0/10": "Tailscale",
        "10.0.0.0/8": "Private networks (10/8)",
        "172.16.0.0/12": "Private networks (172.16/12)",
        "192.168.0.0/16": "Private networks (192.168/16)",
    }
    return {
        "aws": {
            "region": "us-east-2",
            "vpcs": [
                {"key": "operations", "label": "Operations VPC", "id": OPS_VPC, "cidr": OPS_CIDR},
                {"key": "goodword", "label": "Goodword VPC", "name_tag": "goodword-vpc", "cidr": GW_CIDR},
            ],
            "peering": {"id": PCX, "requester": "operations", "accepter": "goodword"},
            "route_tables": [
                {"vpc": "goodword", "label": labels[k], "name_tag": name, "routes": peering_route}
                for k, (_, name) in GW_RTS.items()
            ]
            + [
                {
                    "vpc": "operations",
                    "label": "Operations public",
                    "name_tag": "operations-public-rt",
                    "routes": back_route,
                },
                {
                    "vpc": "operations",
                    "label": "Operations private",
                    "name_tag": "operations-private-rt",
                    "routes": back_route,
                },
            ],
            "security_groups": [
                {
                    "vpc": "operations",
                    "label": "Operations endpoints and servers",
                    "id": OPS_SG,
                    "rules": [{**r, "cidr": GW_CIDR} for r in cross],
                },
                {
                    "vpc": "goodword",
                    "label": "Goodword cross-VPC",
                    "name": "goodword-cross-vpc",
                    "rules": [{**r, "cidr": OPS_CIDR} for r in cross],
                },
            ],
            "endpoints": [
                {
                    "vpc": "operations",
                    "label": "execute-api (API Gateway, private)",
                    "id": ENDPOINT,
                    "service": "com.amazonaws.us-east-2.execute-api",
                }
            ],
            "instances": [
                {
                    "key": "access",
                    "label": "Access server",
                    "id": ACCESS,
                    "private_ip": ACCESS_IP,
                    "vpc": "operations",
                    "must_reach_snowflake": True,
                },
                {
                    "key": "sqlmesh",
                    "label": "SQLMesh server",
                    "id": SQLMESH,
                    "private_ip": SQLMESH_IP,
                    "vpc": "operations",
                    "must_reach_snowflake": True,
                },
                {
                    "key": "vpn-mesh",
                    "label": "VPN mesh server",
                    "id": VPN_MESH,
                    "private_ip": VPN_MESH_IP,
                    "vpc": "goodword",
                },
            ],
        },
        "snowflake": {
            "account": "vsc91540.us-east-1",
            "policy": "INTEGRATIONS",
            "allowed": [
                {
                    "cidr": c,
                    "label": entry_labels.get(c, "Airbyte Cloud US"),
                    "protected": c in protected,
                }
                for c in HANDOFF_ALLOWED
            ],
            "blocked": [],
            "rules": [{"name": ANY_RULE}, {"name": AIRBYTE_RULE}],
        },
        "probes": [
            {
                "name": "Snowflake host",
                "kind": "https",
                "url": "https://vsc91540.us-east-1.snowflakecomputing.com",
                "expect_status": [200, 302],
            },
            {"name": "SQLMesh server UI", "kind": "tcp", "host": SQLMESH_IP, "port": 8000},
            {"name": "SQLMesh state database", "kind": "tcp", "host": SQLMESH_IP, "port": 5432},
        ],
    }


def handoff_settings(edit: Callable[[dict[str, Any]], None] | None = None) -> Settings:
    """The hand-off's settings; `edit` may change the dict first (e.g. add a blocked entry)."""
    data = handoff_config()
    if edit is not None:
        edit(data)
    return parse_settings(data, source="<handoff>")


# --------------------------------------------------------------------------------------------------------------
# AWS


def _local(cidr: str) -> Route:
    return Route(cidr, RouteTargetKind.LOCAL, "local")


def _peer(cidr: str, peering: str = PCX) -> Route:
    return Route(cidr, RouteTargetKind.PEERING, peering)


def _default(kind: RouteTargetKind, target: str) -> Route:
    return Route("0.0.0.0/0", kind, target)


def _cross_rules(cidr: str) -> tuple[SecurityGroupRule, ...]:
    return (
        SecurityGroupRule("ingress", "icmp", -1, -1, cidr),
        SecurityGroupRule("ingress", "tcp", 0, 65535, cidr),
        SecurityGroupRule("ingress", "udp", 0, 65535, cidr),
        SecurityGroupRule("egress", "-1", None, None, "0.0.0.0/0"),
    )


def handoff_aws() -> AwsState:
    gw_subnets = tuple(Subnet(sid, GW_VPC, cidr, name=f"goodword-{key}") for key, (sid, cidr) in GW_SUBNETS.items())
    gw_tables = tuple(
        RouteTable(
            id=rid,
            vpc_id=GW_VPC,
            name=name,
            main=key == "public",
            subnet_ids=(GW_SUBNETS[key][0],),
            routes=(
                _local(GW_CIDR),
                _peer(OPS_CIDR),
                _default(RouteTargetKind.INTERNET_GATEWAY, GW_IGW)
                if key == "public"
                else _default(RouteTargetKind.NAT_GATEWAY, GW_NAT),
            ),
        )
        for key, (rid, name) in GW_RTS.items()
    )
    return AwsState(
        identity=AwsIdentity("123456789012", "arn:aws:iam::123456789012:user/oncall", "us-east-2"),
        vpcs=(
            Vpc(OPS_VPC, OPS_CIDR, name="operations-vpc"),
            Vpc(GW_VPC, GW_CIDR, name="goodword-vpc"),
        ),
        subnets=(
            Subnet(OPS_PUBLIC_SUBNET, OPS_VPC, "172.22.1.0/24", name="operations-public", map_public_ip=True),
            Subnet(OPS_PRIVATE_SUBNET, OPS_VPC, "172.22.2.0/24", name="operations-private"),
            *gw_subnets,
        ),
        route_tables=(
            RouteTable(
                OPS_PUBLIC_RT,
                OPS_VPC,
                name="operations-public-rt",
                main=True,
                subnet_ids=(OPS_PUBLIC_SUBNET,),
                routes=(_local(OPS_CIDR), _peer(GW_CIDR), _default(RouteTargetKind.INTERNET_GATEWAY, OPS_IGW)),
            ),
            RouteTable(
                OPS_PRIVATE_RT,
                OPS_VPC,
                name="operations-private-rt",
                subnet_ids=(OPS_PRIVATE_SUBNET,),
                routes=(_local(OPS_CIDR), _peer(GW_CIDR), _default(RouteTargetKind.NAT_GATEWAY, OPS_NAT)),
            ),
            *gw_tables,
        ),
        peerings=(Peering(PCX, "active", OPS_VPC, OPS_CIDR, GW_VPC, GW_CIDR, name="ops-goodword"),),
        security_groups=(
            SecurityGroup(
                OPS_SG,
                "operations-cross-vpc",
                OPS_VPC,
                # Members of the group talk to each other (the usual self-reference).
                rules=(*_cross_rules(GW_CIDR), SecurityGroupRule("ingress", "-1", None, None, peer_group_id=OPS_SG)),
            ),
            SecurityGroup(GW_SG, "goodword-cross-vpc", GW_VPC, rules=_cross_rules(OPS_CIDR)),
        ),
        endpoints=(
            VpcEndpoint(
                ENDPOINT,
                OPS_VPC,
                "com.amazonaws.us-east-2.execute-api",
                "Interface",
                "available",
                subnet_ids=(OPS_PRIVATE_SUBNET,),
                security_group_ids=(OPS_SG,),
            ),
        ),
        instances=(
            Instance(
                ACCESS,
                "access-server",
                "running",
                OPS_VPC,
                OPS_PUBLIC_SUBNET,
                ACCESS_IP,
                public_ip=ACCESS_PUBLIC_IP,
                security_group_ids=(OPS_SG,),
            ),
            Instance(
                SQLMESH,
                "sqlmesh-server",
                "running",
                OPS_VPC,
                OPS_PRIVATE_SUBNET,
                SQLMESH_IP,
                security_group_ids=(OPS_SG,),
            ),
            Instance(
                VPN_MESH,
                "vpn-mesh",
                "running",
                GW_VPC,
                GW_SUBNETS["private-2a"][0],
                VPN_MESH_IP,
                security_group_ids=(GW_SG,),
            ),
        ),
        nat_gateways=(
            NatGateway(OPS_NAT, OPS_VPC, OPS_PUBLIC_SUBNET, "available", public_ip=OPS_NAT_IP),
            NatGateway(GW_NAT, GW_VPC, GW_SUBNETS["public"][0], "available", public_ip=GW_NAT_IP),
        ),
        internet_gateways=(InternetGateway(OPS_IGW, (OPS_VPC,)), InternetGateway(GW_IGW, (GW_VPC,))),
    )


def replace_in(items: Iterable[T], item_id: str, **changes: Any) -> tuple[T, ...]:
    """`items` with the one whose `id` is `item_id` changed (the test fails loudly if there is none)."""
    items = tuple(items)
    assert any(getattr(i, "id", None) == item_id for i in items), f"no {item_id} in {items!r}"
    return tuple(
        dataclasses.replace(i, **changes) if getattr(i, "id", None) == item_id else i  # type: ignore[type-var]
        for i in items
    )


def without(items: Iterable[T], item_id: str) -> tuple[T, ...]:
    items = tuple(items)
    assert any(getattr(i, "id", None) == item_id for i in items), f"no {item_id} in {items!r}"
    return tuple(i for i in items if getattr(i, "id", None) != item_id)


def with_table(aws: AwsState, table_id: str, **changes: Any) -> AwsState:
    return dataclasses.replace(aws, route_tables=replace_in(aws.route_tables, table_id, **changes))


def with_routes(aws: AwsState, table_id: str, routes: Iterable[Route]) -> AwsState:
    return with_table(aws, table_id, routes=tuple(routes))


def table(aws: AwsState, table_id: str) -> RouteTable:
    return next(t for t in aws.route_tables if t.id == table_id)


def drop_route(aws: AwsState, table_id: str, destination: str) -> AwsState:
    routes = table(aws, table_id).routes
    assert any(r.destination == destination for r in routes)
    return with_routes(aws, table_id, (r for r in routes if r.destination != destination))


def set_route(aws: AwsState, table_id: str, route: Route) -> AwsState:
    routes = [r for r in table(aws, table_id).routes if r.destination != route.destination]
    return with_routes(aws, table_id, [*routes, route])


def with_peering(aws: AwsState, **changes: Any) -> AwsState:
    return dataclasses.replace(aws, peerings=replace_in(aws.peerings, PCX, **changes))


def with_instance(aws: AwsState, instance_id: str, **changes: Any) -> AwsState:
    return dataclasses.replace(aws, instances=replace_in(aws.instances, instance_id, **changes))


def with_group_rules(aws: AwsState, group_id: str, rules: Iterable[SecurityGroupRule]) -> AwsState:
    return dataclasses.replace(aws, security_groups=replace_in(aws.security_groups, group_id, rules=tuple(rules)))


# --------------------------------------------------------------------------------------------------------------
# Snowflake


def handoff_policy(**changes: Any) -> NetworkPolicy:
    policy = NetworkPolicy(
        "INTEGRATIONS",
        allowed_ips=HANDOFF_ALLOWED,
        allowed_rules=(ANY_RULE, AIRBYTE_RULE),
    )
    return dataclasses.replace(policy, **changes)


def handoff_rules() -> tuple[NetworkRule, ...]:
    return (
        NetworkRule(ANY_RULE, "IPV4", "INGRESS", ("0.0.0.0/0",)),
        NetworkRule(AIRBYTE_RULE, "IPV4", "INGRESS", AIRBYTE_IPS),
    )


def handoff_snowflake(**changes: Any) -> SnowflakeState:
    """The operator sits on the access server, so Snowflake sees its public address."""
    state = SnowflakeState(
        account="vsc91540.us-east-1",
        user="CHRIS",
        role="ACCOUNTADMIN",
        current_ip=ACCESS_PUBLIC_IP,
        policy=handoff_policy(),
        account_policy="INTEGRATIONS",
        rules=handoff_rules(),
    )
    return dataclasses.replace(state, **changes)


def without_catch_all(state: SnowflakeState) -> SnowflakeState:
    """The hand-off state with GOODWORD_WH.RAW.ANY no longer admitting everything (it allows a test net)."""
    rules = tuple(dataclasses.replace(r, values=("198.51.100.0/24",)) if r.name == ANY_RULE else r for r in state.rules)
    return dataclasses.replace(state, rules=rules)


# --------------------------------------------------------------------------------------------------------------
# Probes and snapshots


def handoff_probes() -> tuple[ProbeResult, ...]:
    return (
        ProbeResult(
            "Snowflake host",
            "https",
            "https://vsc91540.us-east-1.snowflakecomputing.com",
            True,
            latency_ms=41.0,
            status=302,
        ),
        ProbeResult("SQLMesh server UI", "tcp", f"{SQLMESH_IP}:8000", True, latency_ms=1.2),
        ProbeResult("SQLMesh state database", "tcp", f"{SQLMESH_IP}:5432", True, latency_ms=0.9),
    )


def result(source: str, data: T | None, error: SourceError | None = None, **kw: Any) -> SourceResult[T]:
    return SourceResult(source=source, fetched_at=NOW, data=data, error=error, **kw)


def failed(source: str, message: str, kind: ErrorKind = ErrorKind.UNREACHABLE, hint: str = "") -> SourceResult[Any]:
    return result(source, None, SourceError(source, kind, message, hint))


def stale(source: str, data: T, message: str, age: timedelta = timedelta(minutes=5)) -> SourceResult[T]:
    return result(source, data, SourceError(source, ErrorKind.TIMEOUT, message), stale_since=NOW - age)


def snapshot(
    aws: AwsState | SourceResult[AwsState] | None = None,
    snowflake: SnowflakeState | SourceResult[SnowflakeState] | None = None,
    probes: tuple[ProbeResult, ...] | SourceResult[tuple[ProbeResult, ...]] | None = None,
) -> Snapshot:
    """A snapshot of the hand-off state; pass data or whole SourceResults to change a part."""

    def wrap(source: str, value: Any, default: Any) -> SourceResult[Any]:
        if isinstance(value, SourceResult):
            return value
        return result(source, default if value is None else value)

    return Snapshot(
        taken_at=NOW,
        aws=wrap("aws", aws, handoff_aws()),
        snowflake=wrap("snowflake", snowflake, handoff_snowflake()),
        probes=wrap("probes", probes, handoff_probes()),
    )


# --------------------------------------------------------------------------------------------------------------
# Looking at findings


def run(
    aws: AwsState | SourceResult[AwsState] | None = None,
    snowflake: SnowflakeState | SourceResult[SnowflakeState] | None = None,
    probes: tuple[ProbeResult, ...] | SourceResult[tuple[ProbeResult, ...]] | None = None,
    settings: Settings | None = None,
) -> list[Finding]:
    from goodword_tui.analysis.findings import analyze

    return analyze(snapshot(aws, snowflake, probes), settings or handoff_settings())


def with_code(findings: Iterable[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def one(findings: Iterable[Finding], code: str, resource: str | None = None) -> Finding:
    """The single finding with `code` (and `resource`); fails with the list when there is not exactly one."""
    findings = list(findings)
    hits = [f for f in findings if f.code == code and (resource is None or f.resource == resource)]
    assert len(hits) == 1, f"expected one {code} {resource or ''}, got {[(f.code, f.resource) for f in findings]}"
    return hits[0]


def codes(findings: Iterable[Finding]) -> set[str]:
    return {f.code for f in findings}
