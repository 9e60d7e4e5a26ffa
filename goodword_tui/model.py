"""Domain types: immutable snapshots of the platform, and the findings drawn from them.

Everything here is a frozen value. Sources build these, analysis reads them, the UI and the CLI render them;
nothing in here talks to a network or imports Textual. `to_jsonable` turns any of them into plain JSON data
(the shape `goodword-tui snapshot --json` prints, documented in the README).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------------------
# Source results: data or an error, always with the time it was fetched.


class ErrorKind(enum.StrEnum):
    """What went wrong with a source, coarse enough to pick a message and a hint."""

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    AUTH = "auth"  # expired / missing credentials, refused login
    DENIED = "denied"  # authenticated but not allowed (privileges, network policy)
    BAD_RESPONSE = "bad_response"  # the server answered something we cannot read
    CONFIG = "config"
    ERROR = "error"


@dataclass(frozen=True)
class SourceError:
    """Why a source has no fresh data. `message` is one line, safe to show (no secrets); `hint` says what to do."""

    source: str
    kind: ErrorKind
    message: str
    hint: str = ""


@dataclass(frozen=True)
class SourceResult(Generic[T]):
    """The outcome of one read of one system: its data (possibly the last good data) and/or the error."""

    source: str
    fetched_at: datetime
    data: T | None = None
    error: SourceError | None = None
    duration_s: float = 0.0
    stale_since: datetime | None = None  # set when `data` is older data kept after a failed read

    @property
    def ok(self) -> bool:
        return self.error is None and self.data is not None


# --------------------------------------------------------------------------------------------------------------
# AWS


@dataclass(frozen=True)
class AwsIdentity:
    account: str
    arn: str
    region: str


@dataclass(frozen=True)
class Vpc:
    id: str
    cidr: str
    name: str = ""
    state: str = "available"
    extra_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    name: str = ""
    availability_zone: str = ""
    map_public_ip: bool = False


class RouteTargetKind(enum.StrEnum):
    LOCAL = "local"
    INTERNET_GATEWAY = "igw"
    NAT_GATEWAY = "nat"
    PEERING = "peering"
    VPC_ENDPOINT = "vpce"
    INSTANCE = "instance"
    TRANSIT_GATEWAY = "tgw"
    OTHER = "other"


@dataclass(frozen=True)
class Route:
    destination: str  # a CIDR (IPv4 or IPv6) or a prefix-list id
    target_kind: RouteTargetKind
    target_id: str  # "local" for the VPC's own route
    state: str = "active"  # "active" | "blackhole"

    @property
    def is_blackhole(self) -> bool:
        return self.state == "blackhole"


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc_id: str
    name: str = ""
    main: bool = False
    subnet_ids: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class Peering:
    id: str
    status: str  # pending-acceptance | active | rejected | deleted | failed | expired | provisioning ...
    requester_vpc_id: str
    requester_cidr: str
    accepter_vpc_id: str
    accepter_cidr: str
    name: str = ""
    status_message: str = ""


@dataclass(frozen=True)
class SecurityGroupRule:
    direction: str  # "ingress" | "egress"
    protocol: str  # "-1" (all), "tcp", "udp", "icmp", or a number
    from_port: int | None
    to_port: int | None
    cidr: str = ""  # IPv4/IPv6 CIDR, or "" when the peer is a group / prefix list
    peer_group_id: str = ""
    prefix_list_id: str = ""
    description: str = ""
    rule_id: str = ""

    @property
    def peer(self) -> str:
        return self.cidr or self.peer_group_id or self.prefix_list_id


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str
    description: str = ""
    rules: tuple[SecurityGroupRule, ...] = ()


@dataclass(frozen=True)
class VpcEndpoint:
    id: str
    vpc_id: str
    service_name: str
    endpoint_type: str  # Interface | Gateway | GatewayLoadBalancer
    state: str  # available | pending | failed | deleting ...
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    private_dns_enabled: bool = False


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    state: str  # running | stopped | ...
    vpc_id: str
    subnet_id: str
    private_ip: str
    public_ip: str = ""
    security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class NatGateway:
    id: str
    vpc_id: str
    subnet_id: str
    state: str
    public_ip: str = ""
    private_ip: str = ""
    connectivity: str = "public"


@dataclass(frozen=True)
class InternetGateway:
    id: str
    vpc_ids: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class AwsState:
    """Everything the network pane and the network findings need, read from one region of one account."""

    identity: AwsIdentity | None = None
    vpcs: tuple[Vpc, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    peerings: tuple[Peering, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    endpoints: tuple[VpcEndpoint, ...] = ()
    instances: tuple[Instance, ...] = ()
    nat_gateways: tuple[NatGateway, ...] = ()
    internet_gateways: tuple[InternetGateway, ...] = ()

    def vpc(self, vpc_id: str) -> Vpc | None:
        return next((v for v in self.vpcs if v.id == vpc_id), None)

    def subnet(self, subnet_id: str) -> Subnet | None:
        return next((s for s in self.subnets if s.id == subnet_id), None)

    def route_table_for_subnet(self, subnet_id: str) -> RouteTable | None:
        """The table a subnet uses: its explicit association, else its VPC's main table (AWS's rule)."""
        explicit = next((t for t in self.route_tables if subnet_id in t.subnet_ids), None)
        if explicit is not None:
            return explicit
        subnet = self.subnet(subnet_id)
        if subnet is None:
            return None
        return next((t for t in self.route_tables if t.vpc_id == subnet.vpc_id and t.main), None)


# --------------------------------------------------------------------------------------------------------------
# Snowflake


@dataclass(frozen=True)
class NetworkRule:
    name: str  # fully qualified: DB.SCHEMA.RULE
    type: str  # IPV4 | AWSVPCEID | HOST_PORT ...
    mode: str  # INGRESS | EGRESS | INTERNAL_STAGE
    values: tuple[str, ...] = ()
    comment: str = ""


@dataclass(frozen=True)
class NetworkPolicy:
    name: str
    allowed_ips: tuple[str, ...] = ()  # in Snowflake's (insertion) order, as DESCRIBE returns them
    blocked_ips: tuple[str, ...] = ()
    allowed_rules: tuple[str, ...] = ()  # fully qualified rule names
    blocked_rules: tuple[str, ...] = ()
    comment: str = ""


@dataclass(frozen=True)
class SnowflakeState:
    account: str
    user: str = ""
    role: str = ""
    current_ip: str = ""  # CURRENT_IP_ADDRESS(): the address Snowflake sees for this session
    policy: NetworkPolicy | None = None  # the configured policy; None when it does not exist
    account_policy: str = ""  # SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT, value ("" = none)
    user_policy: str = ""  # the same IN USER <current user>
    rules: tuple[NetworkRule, ...] = ()  # the rules the policy references (and any other visible ones)

    def rule(self, name: str) -> NetworkRule | None:
        key = name.upper()
        return next((r for r in self.rules if r.name.upper() == key), None)


# --------------------------------------------------------------------------------------------------------------
# Probes


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: str  # "https" | "http" | "tcp"
    target: str  # URL or host:port
    ok: bool
    latency_ms: float | None = None
    status: int | None = None  # HTTP status when there is one
    detail: str = ""  # error text or what was seen


# --------------------------------------------------------------------------------------------------------------
# SQLMesh (filled in by the SQLMesh source)


@dataclass(frozen=True)
class SqlMeshEnvironment:
    name: str
    finalized: bool
    expiration_ts: datetime | None = None
    plan_id: str = ""
    finalized_at: datetime | None = None  # None while a plan is being applied (or after one failed mid-way)
    expired: bool = False  # past its expiration (dev environments expire; prod never does)
    previous_plan_id: str = ""


@dataclass(frozen=True)
class SqlMeshModelStatus:
    name: str
    kind: str
    cron: str = ""
    last_interval_end: datetime | None = None
    missing_intervals: int = 0
    stale: bool = False
    last_altered: datetime | None = None
    detail: str = ""
    fqn: str = ""  # the fully qualified, quoted name SQLMesh keys state by: "CATALOG"."SCHEMA"."TABLE"
    next_due: datetime | None = None  # when the first interval not yet done is (or was) due by the cron
    change_category: str = ""  # BREAKING, NON_BREAKING, ... of the snapshot in the environment
    version: str = ""
    parents: tuple[str, ...] = ()  # fully qualified names of the models this one reads


@dataclass(frozen=True)
class SqlMeshLocalChange:
    """A model whose definition on disk differs from the environment (what a plan would pick up)."""

    name: str
    change: str  # "added" | "removed" | "modified" | "metadata" | "indirect" (only a parent changed)


@dataclass(frozen=True)
class SqlMeshTestResult:
    """One run of the project's unit tests."""

    ran_at: datetime
    tests_run: int
    failures: tuple[tuple[str, str], ...] = ()  # (test name, first line of the failure)
    errors: tuple[tuple[str, str], ...] = ()
    skipped: int = 0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors


@dataclass(frozen=True)
class SqlMeshAuditResult:
    """One audit of one model, as seen by a run, plan or audit the dashboard launched (SQLMesh stores none)."""

    model: str
    audit: str
    ran_at: datetime
    failed_rows: int = 0
    blocking: bool = True
    skipped: bool = False
    origin: str = ""  # "plan" | "run" | "audit": what launched it

    @property
    def ok(self) -> bool:
        return self.skipped or self.failed_rows == 0


@dataclass(frozen=True)
class SqlMeshStatus:
    environment: str
    environments: tuple[SqlMeshEnvironment, ...] = ()
    models: tuple[SqlMeshModelStatus, ...] = ()
    unapplied_changes: tuple[str, ...] = ()  # models changed on disk (added, removed, modified, metadata)
    gateway: str = ""
    project_path: str = ""
    as_of: datetime | None = None  # the time freshness and missing intervals were judged against
    has_state: bool = True  # False: no SQLMesh state yet (nothing was ever applied), nothing was created
    note: str = ""  # one line when there is nothing to show: "no SQLMesh state yet", "preparing", ...
    local_changes: tuple[SqlMeshLocalChange, ...] = ()  # unapplied_changes with their kind, plus indirect ones
    local_changes_checked_at: datetime | None = None  # None: the project has not been compared yet
    local_changes_error: str = ""
    tests: SqlMeshTestResult | None = None  # the last unit test run the dashboard launched
    audits: tuple[SqlMeshAuditResult, ...] = ()  # the latest result per (model, audit) from launched runs

    @property
    def stale_models(self) -> tuple[SqlMeshModelStatus, ...]:
        return tuple(m for m in self.models if m.stale)


# --------------------------------------------------------------------------------------------------------------
# The snapshot


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the platform: one result per source, each with its own age and error."""

    taken_at: datetime
    aws: SourceResult[AwsState]
    snowflake: SourceResult[SnowflakeState]
    probes: SourceResult[tuple[ProbeResult, ...]]
    sqlmesh: SourceResult[SqlMeshStatus] | None = None

    def results(self) -> tuple[SourceResult[Any], ...]:
        found = (self.aws, self.snowflake, self.probes, self.sqlmesh)
        return tuple(r for r in found if r is not None)

    @property
    def errors(self) -> tuple[SourceError, ...]:
        return tuple(r.error for r in self.results() if r.error is not None)


# --------------------------------------------------------------------------------------------------------------
# Findings


class Severity(enum.IntEnum):
    """Ordered so that `max()` gives the worst; the value is also the `check` exit code."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Area(enum.StrEnum):
    NETWORK = "network"
    SNOWFLAKE = "snowflake"
    SQLMESH = "sqlmesh"
    PROBES = "probes"
    SOURCES = "sources"


@dataclass(frozen=True)
class SuggestedFix:
    """The change that would fix a finding, as data: `action` names a change kind, `params` its inputs.

    The changes package (a later issue) turns this into a `Change` with a preview, guards and an inverse.
    """

    action: str  # e.g. "create_route", "accept_peering", "add_allowed_ip", "set_account_policy"
    summary: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str  # stable, e.g. "NET_ROUTE_MISSING"; documented in the README
    area: Area
    resource: str  # the id/name of what it is about (rtb-..., pcx-..., INTEGRATIONS, 34.106.109.131)
    message: str  # one line
    evidence: tuple[str, ...] = ()
    fix: SuggestedFix | None = None


# --------------------------------------------------------------------------------------------------------------
# Plain JSON


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes and tuples to plain JSON data; the stable `--json` shape."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.label if isinstance(value, Severity) else value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value
