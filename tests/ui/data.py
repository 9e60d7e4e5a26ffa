"""Hand-built platform states for the UI tests, made from the model types.

These stand in for our own source layer (dependency injection of `Monitor` fetchers), not for boto3 or the
Snowflake connector: the UI only ever sees `SourceResult`s, so a fetcher returning a fixed one exercises the
same code paths as the real sources, deterministically and in microseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from goodword_tui.config import Settings, load_settings
from goodword_tui.model import (
    AwsIdentity,
    AwsState,
    ErrorKind,
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
    SnowflakeState,
    SourceError,
    SourceResult,
    SqlMeshEnvironment,
    SqlMeshModelStatus,
    SqlMeshStatus,
    Subnet,
    Vpc,
    VpcEndpoint,
)
from goodword_tui.sandbox.snowflake import AIRBYTE_IPS, HANDOFF_ALLOWED_IPS

REPO = Path(__file__).resolve().parents[2]

# The frozen "now" of every UI test; sources answered four seconds before it.
NOW = datetime(2025, 10, 6, 9, 30, 0, tzinfo=UTC)
FETCHED = NOW - timedelta(seconds=4)

OPS_VPC = "vpc-0f0a0744e35746a67"
GW_VPC = "vpc-0b7e3c9d2a4f61e58"
PCX = "pcx-093256f9adcfae896"
OPS_SG = "sg-033aa1aa2a52b3401"
GW_SG = "sg-0d4c7b1e9a2f35c60"
VPCE = "vpce-06cd22830fe1f953c"
OPS_NAT = "nat-0e5b2c7d1a3f49e62"
GW_NAT = "nat-0f6a3d8e2b4c5a173"
OPS_IGW = "igw-0a9d8c7b6e5f41230"
GW_IGW = "igw-0b8e7d6c5f4a31209"
ACCESS_PUBLIC_IP = "3.142.18.77"
OPS_NAT_IP = "3.14.201.56"
GW_NAT_IP = "18.224.77.19"

RT_IDS = {
    "goodword-public-rt": "rtb-0c1a2b3c4d5e6f701",
    "goodword-private-rt-2a": "rtb-0c1a2b3c4d5e6f702",
    "goodword-private-rt-2b": "rtb-0c1a2b3c4d5e6f703",
    "goodword-private-rt-2c": "rtb-0c1a2b3c4d5e6f704",
    "goodword-db-rt": "rtb-0c1a2b3c4d5e6f705",
    "operations-public-rt": "rtb-0d9e8f7a6b5c4d301",
    "operations-private-rt": "rtb-0d9e8f7a6b5c4d302",
}

HANDOFF_ALLOWED = HANDOFF_ALLOWED_IPS  # the hand-off's 15 entries, kept equal to config.toml by a test


def settings(**platform: Any) -> Settings:
    """The production description (config.toml at the repository root), optionally with platform overrides."""
    loaded = load_settings(REPO / "config.toml")
    if not platform:
        return loaded
    return loaded.model_copy(update={"platform": loaded.platform.model_copy(update=platform)})


# --------------------------------------------------------------------------------------------------------------
# AWS


def _local(cidr: str) -> Route:
    return Route(cidr, RouteTargetKind.LOCAL, "local")


def _table(name: str, vpc: str, subnets: tuple[str, ...], *routes: Route, main: bool = False) -> RouteTable:
    return RouteTable(RT_IDS[name], vpc, name=name, main=main, subnet_ids=subnets, routes=routes)


def _cross_vpc_rules(cidr: str, label: str) -> tuple[SecurityGroupRule, ...]:
    return (
        SecurityGroupRule("ingress", "icmp", -1, -1, cidr, description=f"ICMP from {label}", rule_id="sgr-01"),
        SecurityGroupRule("ingress", "tcp", 0, 65535, cidr, description=f"TCP from {label}", rule_id="sgr-02"),
        SecurityGroupRule("ingress", "udp", 0, 65535, cidr, description=f"UDP from {label}", rule_id="sgr-03"),
    )


def handoff_aws() -> AwsState:
    """The AWS side exactly as the hand-off describes it: peering active, every expected route in place."""
    to_ops = Route("172.22.0.0/16", RouteTargetKind.PEERING, PCX)
    to_gw = Route("172.20.0.0/16", RouteTargetKind.PEERING, PCX)
    gw_local, ops_local = _local("172.20.0.0/16"), _local("172.22.0.0/16")
    gw_nat = Route("0.0.0.0/0", RouteTargetKind.NAT_GATEWAY, GW_NAT)
    allow_all_out = SecurityGroupRule("egress", "-1", None, None, "0.0.0.0/0", rule_id="sgr-09")
    return AwsState(
        identity=AwsIdentity("123456789012", "arn:aws:sts::123456789012:assumed-role/OnCall/chris", "us-east-2"),
        vpcs=(
            Vpc(OPS_VPC, "172.22.0.0/16", name="operations-vpc"),
            Vpc(GW_VPC, "172.20.0.0/16", name="goodword-vpc"),
        ),
        subnets=(
            Subnet("subnet-0a11c4e2f3b5d6a71", OPS_VPC, "172.22.1.0/24", "operations-public-2a", "us-east-2a", True),
            Subnet("subnet-0a22c4e2f3b5d6a72", OPS_VPC, "172.22.2.0/24", "operations-private-2a", "us-east-2a"),
            Subnet("subnet-0b31d5f3a4c6e7b81", GW_VPC, "172.20.0.0/20", "goodword-private-2a", "us-east-2a"),
            Subnet("subnet-0b32d5f3a4c6e7b82", GW_VPC, "172.20.16.0/20", "goodword-private-2b", "us-east-2b"),
            Subnet("subnet-0b33d5f3a4c6e7b83", GW_VPC, "172.20.32.0/20", "goodword-private-2c", "us-east-2c"),
            Subnet("subnet-0b34d5f3a4c6e7b84", GW_VPC, "172.20.48.0/20", "goodword-public-2a", "us-east-2a", True),
            Subnet("subnet-0b35d5f3a4c6e7b85", GW_VPC, "172.20.64.0/24", "goodword-db-2a", "us-east-2a"),
        ),
        route_tables=(
            _table(
                "goodword-public-rt",
                GW_VPC,
                ("subnet-0b34d5f3a4c6e7b84",),
                gw_local,
                Route("0.0.0.0/0", RouteTargetKind.INTERNET_GATEWAY, GW_IGW),
                to_ops,
            ),
            _table("goodword-private-rt-2a", GW_VPC, ("subnet-0b31d5f3a4c6e7b81",), gw_local, gw_nat, to_ops),
            _table("goodword-private-rt-2b", GW_VPC, ("subnet-0b32d5f3a4c6e7b82",), gw_local, gw_nat, to_ops),
            _table("goodword-private-rt-2c", GW_VPC, ("subnet-0b33d5f3a4c6e7b83",), gw_local, gw_nat, to_ops),
            _table("goodword-db-rt", GW_VPC, ("subnet-0b35d5f3a4c6e7b85",), gw_local, to_ops, main=True),
            _table(
                "operations-public-rt",
                OPS_VPC,
                ("subnet-0a11c4e2f3b5d6a71",),
                ops_local,
                Route("0.0.0.0/0", RouteTargetKind.INTERNET_GATEWAY, OPS_IGW),
                to_gw,
            ),
            _table(
                "operations-private-rt",
                OPS_VPC,
                ("subnet-0a22c4e2f3b5d6a72",),
                ops_local,
                Route("0.0.0.0/0", RouteTargetKind.NAT_GATEWAY, OPS_NAT),
                to_gw,
                main=True,
            ),
        ),
        peerings=(
            Peering(PCX, "active", OPS_VPC, "172.22.0.0/16", GW_VPC, "172.20.0.0/16", name="operations-goodword"),
        ),
        security_groups=(
            SecurityGroup(
                OPS_SG,
                "operations-endpoints",
                OPS_VPC,
                "VPC endpoint and servers",
                (
                    *_cross_vpc_rules("172.20.0.0/16", "Goodword VPC"),
                    SecurityGroupRule("ingress", "tcp", 443, 443, "172.22.0.0/16", description="HTTPS in VPC"),
                    SecurityGroupRule("ingress", "tcp", 22, 22, "100.64.0.0/10", description="SSH from Tailscale"),
                    allow_all_out,
                ),
            ),
            SecurityGroup(
                GW_SG,
                "goodword-cross-vpc",
                GW_VPC,
                "Cross-VPC access from Operations",
                (*_cross_vpc_rules("172.22.0.0/16", "Operations VPC"), allow_all_out),
            ),
        ),
        endpoints=(
            VpcEndpoint(
                VPCE,
                OPS_VPC,
                "com.amazonaws.us-east-2.execute-api",
                "Interface",
                "available",
                subnet_ids=("subnet-0a22c4e2f3b5d6a72",),
                security_group_ids=(OPS_SG,),
                dns_names=("vpce-06cd22830fe1f953c-iry8z6i2.execute-api.us-east-2.vpce.amazonaws.com",),
                private_dns_enabled=True,
            ),
        ),
        instances=(
            Instance(
                "i-07313ed6e2e8bdc1e",
                "goodword-access",
                "running",
                OPS_VPC,
                "subnet-0a11c4e2f3b5d6a71",
                "172.22.1.15",
                ACCESS_PUBLIC_IP,
                (OPS_SG,),
            ),
            Instance(
                "i-03519bd309babd741",
                "sqlmesh-server",
                "running",
                OPS_VPC,
                "subnet-0a22c4e2f3b5d6a72",
                "172.22.2.106",
                security_group_ids=(OPS_SG,),
            ),
            Instance(
                "i-03051e6ddd98f5424",
                "vpn-mesh",
                "running",
                GW_VPC,
                "subnet-0b31d5f3a4c6e7b81",
                "172.20.0.91",
                security_group_ids=(GW_SG,),
            ),
        ),
        nat_gateways=(
            NatGateway(OPS_NAT, OPS_VPC, "subnet-0a11c4e2f3b5d6a71", "available", OPS_NAT_IP, "172.22.1.200"),
            NatGateway(GW_NAT, GW_VPC, "subnet-0b34d5f3a4c6e7b84", "available", GW_NAT_IP, "172.20.48.10"),
        ),
        internet_gateways=(
            InternetGateway(OPS_IGW, (OPS_VPC,), "operations-igw"),
            InternetGateway(GW_IGW, (GW_VPC,), "goodword-igw"),
        ),
    )


def incident_aws() -> AwsState:
    """The route to the Operations VPC is gone from private-rt-2b, and 2c's default route is a blackhole."""
    state = handoff_aws()
    tables = []
    for table in state.route_tables:
        if table.name == "goodword-private-rt-2b":
            kept = tuple(r for r in table.routes if r.destination != "172.22.0.0/16")
            table = dataclasses.replace(table, routes=kept)
        elif table.name == "goodword-private-rt-2c":
            routes = tuple(
                dataclasses.replace(r, target_id="nat-0deadbeef0000dead", state="blackhole")
                if r.destination == "0.0.0.0/0"
                else r
                for r in table.routes
            )
            table = dataclasses.replace(table, routes=routes)
        tables.append(table)
    return dataclasses.replace(state, route_tables=tuple(tables))


# --------------------------------------------------------------------------------------------------------------
# Snowflake


def handoff_snowflake(*, allowed: Sequence[str] = HANDOFF_ALLOWED) -> SnowflakeState:
    """INTEGRATIONS as the hand-off left it: 15 entries, both preserved rules, active on the account."""
    return SnowflakeState(
        account="VSC91540",
        user="CHRIS",
        role="ACCOUNTADMIN",
        current_ip=ACCESS_PUBLIC_IP,
        policy=NetworkPolicy(
            "INTEGRATIONS",
            allowed_ips=tuple(allowed),
            allowed_rules=("GOODWORD_WH.RAW.ANY", "AIRBYTE_DB.RAW.AIRBYTE"),
            comment="Enhanced with IP restrictions",
        ),
        account_policy="INTEGRATIONS",
        rules=(
            NetworkRule("GOODWORD_WH.RAW.ANY", "IPV4", "INGRESS", ("0.0.0.0/0",)),
            NetworkRule("AIRBYTE_DB.RAW.AIRBYTE", "IPV4", "INGRESS", AIRBYTE_IPS, comment="Airbyte Cloud US"),
        ),
    )


def incident_snowflake() -> SnowflakeState:
    """Airbyte's 34.106.229.69 dropped from the allowed list."""
    return handoff_snowflake(allowed=tuple(ip for ip in HANDOFF_ALLOWED if ip != "34.106.229.69"))


# --------------------------------------------------------------------------------------------------------------
# Probes


def handoff_probes() -> tuple[ProbeResult, ...]:
    """Phase 4 (the SQLMesh server) is not done yet, so its UI port does not answer."""
    return (
        ProbeResult(
            "Snowflake host",
            "https",
            "https://vsc91540.us-east-1.snowflakecomputing.com",
            True,
            84.2,
            302,
            "HTTP 302",
        ),
        ProbeResult("SQLMesh server UI", "tcp", "172.22.2.106:8000", False, 3001.5, None, "timed out"),
        ProbeResult("SQLMesh state database", "tcp", "172.22.2.106:5432", True, 1.8, None, "port open"),
    )


# --------------------------------------------------------------------------------------------------------------
# Results and fetchers


def ok(source: str, data: Any, *, at: datetime = FETCHED) -> SourceResult[Any]:
    return SourceResult(source=source, fetched_at=at, data=data, duration_s=0.42)


def failed(
    source: str,
    kind: ErrorKind = ErrorKind.TIMEOUT,
    message: str = "no answer within 15 s",
    hint: str = "check the network path and retry",
    *,
    at: datetime = FETCHED,
) -> SourceResult[Any]:
    return SourceResult(source=source, fetched_at=at, error=SourceError(source, kind, message, hint), duration_s=15.0)


def stale(result: SourceResult[Any], error: SourceResult[Any]) -> SourceResult[Any]:
    """What the source layer hands over after a failed read that followed a good one."""
    return dataclasses.replace(error, data=result.data, stale_since=result.fetched_at)


Fetcher = Callable[[Settings], Awaitable[SourceResult[Any]]]


class Scripted:
    """A fetcher that answers from a script, one result per call, repeating the last; counts its calls.

    `gate`, when set, holds every call until it is released, so a test can look at the screen mid-fetch.
    """

    def __init__(self, *results: SourceResult[Any], live: bool = False) -> None:
        self.results = list(results)
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.live = live  # stamp each answer with the real time (for trying the app by hand)

    async def __call__(self, _settings: Settings) -> SourceResult[Any]:
        if self.gate is not None:
            await self.gate.wait()
        index = min(self.calls, len(self.results) - 1)
        self.calls += 1
        result = self.results[index]
        if self.live:
            result = dataclasses.replace(result, fetched_at=datetime.now(UTC), stale_since=None)
        return result


def handoff_sqlmesh(*, stale_model: str = "") -> SqlMeshStatus:
    """The sample project's prod environment as of the seed data: every model fresh unless one is named stale."""
    as_of = datetime(2025, 10, 6, 6, 0, tzinfo=UTC)
    done = datetime(2025, 10, 6, 0, 0, tzinfo=UTC)
    names = ["staging.stg_app_users", "staging.stg_app_events", "marts.daily_activity", "marts.signup_funnel"]
    models = tuple(
        SqlMeshModelStatus(
            name=name,
            kind="INCREMENTAL_BY_TIME_RANGE" if "events" in name or "daily" in name else "FULL",
            cron="@daily",
            last_interval_end=done - timedelta(days=1) if name == stale_model else done,
            missing_intervals=1 if name == stale_model else 0,
            stale=name == stale_model,
        )
        for name in names
    )
    prod = SqlMeshEnvironment(name="prod", finalized=True)
    return SqlMeshStatus(environment="prod", environments=(prod,), models=models, gateway="local", as_of=as_of)


def handoff_fetchers() -> dict[str, Scripted]:
    return {
        "aws": Scripted(ok("aws", handoff_aws())),
        "snowflake": Scripted(ok("snowflake", handoff_snowflake())),
        "probes": Scripted(ok("probes", handoff_probes())),
        "sqlmesh": Scripted(ok("sqlmesh", handoff_sqlmesh())),
    }


def incident_fetchers() -> dict[str, Scripted]:
    """Route missing and a blackhole, an Airbyte IP dropped, and the probes failing after a good read (stale)."""
    previous_probes = ok("probes", handoff_probes(), at=NOW - timedelta(minutes=3))
    probe_failure = failed(
        "probes", ErrorKind.UNREACHABLE, "probe runner could not start: too many open files", "raise ulimit -n"
    )
    return {
        "aws": Scripted(ok("aws", incident_aws())),
        "snowflake": Scripted(ok("snowflake", incident_snowflake())),
        "probes": Scripted(stale(previous_probes, probe_failure)),
        "sqlmesh": Scripted(ok("sqlmesh", handoff_sqlmesh(stale_model="marts.daily_activity"))),
    }
