"""The AWS read side: one region of one account, every describe call at once, mapped to `AwsState`.

boto3 is imported inside the functions (≈0.3 s to import), never at module import, so first paint does not wait.
Each read makes one session from the standard credential chain (profile/SSO/env/instance role) and its clients
before fanning out; the calls then run concurrently, one thread each (botocore clients are thread-safe once
made). Every failure becomes a `SourceError` with a one-line message that carries no credentials.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from goodword_tui.config import Settings
from goodword_tui.model import (
    AwsIdentity,
    AwsState,
    ErrorKind,
    Instance,
    InternetGateway,
    NatGateway,
    Peering,
    Route,
    RouteTable,
    RouteTargetKind,
    SecurityGroup,
    SecurityGroupRule,
    SourceError,
    SourceResult,
    Subnet,
    Vpc,
    VpcEndpoint,
)

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient
    from botocore.config import Config

SOURCE = "aws"

Raw = Mapping[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Session and clients


_loader_lock = threading.Lock()
_shared_loader: Any = None


def _data_loader() -> Any:
    """One botocore model loader for the process: a fresh session would re-parse ec2's large model (≈0.2 s of
    GIL-holding JSON work) on every refresh; the loader only caches read-only service models."""
    global _shared_loader
    with _loader_lock:
        if _shared_loader is None:
            import botocore.loaders

            _shared_loader = botocore.loaders.create_loader()
        return _shared_loader


def make_session(settings: Settings, *, reads_only: bool = False) -> boto3.Session:
    """A boto3 session from the standard chain for the configured profile and region.

    The one place sessions are made, so read-only mode can hook every request that leaves the process
    (a botocore `before-call` handler registered on `session.events`). `reads_only`: its clients are made from
    service models holding only the source's own reads (`aws_models`), smaller and quicker to load.
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    if reads_only:
        from goodword_tui.sources.aws_models import read_loader

        core.register_component("data_loader", read_loader(read_operations()))
    else:
        core.register_component("data_loader", _data_loader())
    if settings.aws.shared_credentials_file:
        core.set_config_variable("credentials_file", str(settings.resolve(settings.aws.shared_credentials_file)))
    session = boto3.Session(
        profile_name=settings.aws.profile or None,
        region_name=settings.aws.region,
        botocore_session=core,
    )
    if settings.read_only:
        install_read_only_guard(session)
    return session


# Operation-name prefixes that only read (AWS's naming). Anything else is refused in read-only mode.
READ_ONLY_PREFIXES = ("Describe", "Get", "List")


class ReadOnlyRefused(Exception):
    """An AWS operation refused by the read-only guard before it left the process; names the operation only."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(
            f"read-only mode: refusing AWS {service} {operation} (only Describe*, Get* and List* calls are sent)"
        )
        self.service = service
        self.operation = operation


def _refuse_non_reads(model: Any, **_: Any) -> None:
    """botocore `before-call` handler: runs after the request is built and before anything is sent."""
    name = str(getattr(model, "name", ""))
    if not name.startswith(READ_ONLY_PREFIXES):
        service = str(getattr(getattr(model, "service_model", None), "service_name", "") or "?")
        raise ReadOnlyRefused(service, name or "?")


def install_read_only_guard(session: boto3.Session) -> None:
    """Refuse, on every client made from `session` from now on, each operation that is not a read.

    Clients copy the session's event handlers when they are made, so install this before making any client
    (`make_session` does, in read-only mode). Installing twice is harmless (one handler, by its unique id).
    """
    session.events.register("before-call", _refuse_non_reads, unique_id="goodword-tui-read-only")
    session._goodword_read_only = True  # type: ignore[attr-defined]  # lets callers assert the guard is on


def has_read_only_guard(session: boto3.Session) -> bool:
    return bool(getattr(session, "_goodword_read_only", False))


def client_config(settings: Settings, *, pool_size: int = 16) -> Config:
    """Timeouts and retries from the settings; a pool large enough for every concurrent call.

    `standard` retries throttling (RequestLimitExceeded, Throttling), 5xx and dropped connections with jittered
    exponential backoff. `total_max_attempts` counts the first attempt too: botocore's `max_attempts` key in
    `retries` would mean that many *retries*, one attempt more than configured.
    """
    from botocore.config import Config

    return Config(
        connect_timeout=settings.aws.connect_timeout_s,
        read_timeout=settings.aws.read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": settings.aws.max_attempts},
        max_pool_connections=pool_size,
        user_agent_appid="goodword-tui",
    )


# botocore's standard retry mode waits up to min(2 ** retry, 20) s (jittered) before each retry.
_MAX_BACKOFF_S = 20.0


def read_deadline_s(settings: Settings) -> float:
    """The longest one read may take: every attempt of a call timing out, with the longest backoffs between
    them (the calls run at once, one page each in practice), and a second of slack. The net under botocore."""
    aws = settings.aws
    attempt = aws.connect_timeout_s + aws.read_timeout_s
    backoff = sum(min(2.0**retry, _MAX_BACKOFF_S) for retry in range(aws.max_attempts - 1))
    return aws.max_attempts * attempt + backoff + 1


def make_client(
    session: boto3.Session, service: str, settings: Settings, *, single_attempt: bool = False
) -> BaseClient:
    """`single_attempt`: botocore sends each request once (changes: a write that timed out may have been applied,
    so it is resolved by re-reading, never re-sent blindly)."""
    config = client_config(settings)
    if single_attempt:
        from botocore.config import Config

        config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
    return session.client(
        service,
        region_name=settings.aws.region,
        endpoint_url=settings.aws.endpoint_url or None,
        config=config,
    )


# --------------------------------------------------------------------------------------------------------------
# Calls


class _CallFailed(Exception):
    """Carries the API operation that failed next to the error it raised."""

    def __init__(self, operation: str, error: BaseException) -> None:
        super().__init__(operation)
        self.operation = operation
        self.error = error


@dataclass(frozen=True)
class ApiCall:
    """One read the source makes: which client, which method, which list in its pages."""

    operation: str  # the API name, for messages: DescribeVpcs
    client: str  # "ec2" | "sts"
    method: str  # the boto3 method: describe_vpcs
    key: str  # the list in each page: Vpcs
    paginated: bool = True


CALLS: tuple[ApiCall, ...] = (
    ApiCall("GetCallerIdentity", "sts", "get_caller_identity", "", paginated=False),
    ApiCall("DescribeVpcs", "ec2", "describe_vpcs", "Vpcs"),
    ApiCall("DescribeSubnets", "ec2", "describe_subnets", "Subnets"),
    ApiCall("DescribeRouteTables", "ec2", "describe_route_tables", "RouteTables"),
    ApiCall("DescribeVpcPeeringConnections", "ec2", "describe_vpc_peering_connections", "VpcPeeringConnections"),
    ApiCall("DescribeSecurityGroups", "ec2", "describe_security_groups", "SecurityGroups"),
    ApiCall("DescribeVpcEndpoints", "ec2", "describe_vpc_endpoints", "VpcEndpoints"),
    ApiCall("DescribeInstances", "ec2", "describe_instances", "Reservations"),
    ApiCall("DescribeNatGateways", "ec2", "describe_nat_gateways", "NatGateways"),
    ApiCall("DescribeInternetGateways", "ec2", "describe_internet_gateways", "InternetGateways"),
)


def read_operations() -> dict[str, set[str]]:
    """The operations the source calls, per service (what the reading clients' models hold)."""
    found: dict[str, set[str]] = {}
    for call in CALLS:
        found.setdefault(call.client, set()).add(call.operation)
    return found


def run_call(call: ApiCall, client: BaseClient) -> Any:
    """One API read, every page of it; runs in its own thread."""
    try:
        method = getattr(client, call.method)
        if not call.paginated:
            return method()
        items: list[Any] = []
        for page in client.get_paginator(call.method).paginate():
            items.extend(page.get(call.key, []))
        return items
    except Exception as exc:
        raise _CallFailed(call.operation, exc) from exc


def make_clients(settings: Settings, session: boto3.Session | None) -> dict[str, BaseClient]:
    """Session and clients, made before the fan-out (creating clients is slow and not worth racing)."""
    session = session or make_session(settings, reads_only=True)
    return {name: make_client(session, name, settings) for name in sorted({c.client for c in CALLS})}


async def _read_all(
    settings: Settings, session: boto3.Session | None, clients: dict[str, BaseClient] | None = None
) -> dict[str, Any]:
    owned = clients is None
    if clients is None:
        clients = await asyncio.to_thread(make_clients, settings, session)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=len(CALLS), thread_name_prefix="goodword-aws-read")
    try:
        futures = {
            loop.run_in_executor(executor, run_call, call, clients[call.client]): call.operation for call in CALLS
        }
        # The first failure decides the answer; the others would fail the same way (or be moot).
        done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
            # A cancelled read may still finish with an error; retrieve it so it is never reported as lost.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        errors = [e for f in done if (e := f.exception()) is not None]
        if errors:
            raise errors[0]
        return {futures[f]: f.result() for f in done}
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        if owned:
            close_clients(clients)


def close_clients(clients: Mapping[str, BaseClient]) -> None:
    for client in clients.values():
        client.close()  # its connection pool; a thread still in a call just loses its idle connections


async def fetch_aws(
    settings: Settings, session: boto3.Session | None = None, *, clients: dict[str, BaseClient] | None = None
) -> SourceResult[AwsState]:
    """Read the region's network in one concurrent pass. Never raises: failures come back as `SourceError`.

    `clients` (from `make_clients`) are reused as given and left open; without them a session and clients
    are made for this read and closed after it.
    """
    fetched_at = datetime.now(UTC)
    started = time.monotonic()
    try:
        raw = await asyncio.wait_for(_read_all(settings, session, clients), read_deadline_s(settings))
        # Mapping thousands of rules is CPU work: keep it off the event loop the screen runs on.
        state = await asyncio.to_thread(build_state, raw, settings.aws.region)
    except Exception as exc:
        return SourceResult(
            source=SOURCE,
            fetched_at=fetched_at,
            error=describe_error(exc, settings),
            duration_s=time.monotonic() - started,
        )
    return SourceResult(source=SOURCE, fetched_at=fetched_at, data=state, duration_s=time.monotonic() - started)


class AwsReader:
    """Keeps one session and its clients across refreshes (building them costs ~70 ms of CPU each time).

    After any failed read they are dropped, so the next refresh starts from the credential chain again and
    picks up what the operator fixed (`aws sso login`, a new profile) without a restart.
    """

    def __init__(self, session: boto3.Session | None = None) -> None:
        self._session = session
        self._clients: dict[str, BaseClient] | None = None

    async def __call__(self, settings: Settings) -> SourceResult[AwsState]:
        if self._clients is None:
            try:
                self._clients = await asyncio.to_thread(make_clients, settings, self._session)
            except Exception as exc:
                return SourceResult(SOURCE, datetime.now(UTC), error=describe_error(exc, settings))
        result = await fetch_aws(settings, self._session, clients=self._clients)
        if result.error is not None:
            self.close()
        return result

    def close(self) -> None:
        clients, self._clients = self._clients, None
        if clients:
            close_clients(clients)


# --------------------------------------------------------------------------------------------------------------
# Mapping API answers to the model


def _name(raw: Raw) -> str:
    return next((str(t.get("Value", "")) for t in raw.get("Tags") or () if t.get("Key") == "Name"), "")


def to_vpc(raw: Raw) -> Vpc:
    primary = str(raw["CidrBlock"])
    extra = tuple(
        str(a["CidrBlock"])
        for a in raw.get("CidrBlockAssociationSet") or ()
        if a.get("CidrBlock") != primary and (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"
    )
    return Vpc(id=str(raw["VpcId"]), cidr=primary, name=_name(raw), state=str(raw.get("State", "")), extra_cidrs=extra)


def to_subnet(raw: Raw) -> Subnet:
    return Subnet(
        id=str(raw["SubnetId"]),
        vpc_id=str(raw["VpcId"]),
        cidr=str(raw.get("CidrBlock", "")),
        name=_name(raw),
        availability_zone=str(raw.get("AvailabilityZone", "")),
        map_public_ip=bool(raw.get("MapPublicIpOnLaunch", False)),
    )


# Where a route sends traffic: the first of these fields present names the target (InstanceId before
# NetworkInterfaceId: AWS gives both for a route to an instance).
_TARGET_FIELDS: tuple[tuple[str, RouteTargetKind], ...] = (
    ("VpcPeeringConnectionId", RouteTargetKind.PEERING),
    ("NatGatewayId", RouteTargetKind.NAT_GATEWAY),
    ("TransitGatewayId", RouteTargetKind.TRANSIT_GATEWAY),
    ("InstanceId", RouteTargetKind.INSTANCE),
    ("NetworkInterfaceId", RouteTargetKind.OTHER),
    ("EgressOnlyInternetGatewayId", RouteTargetKind.OTHER),
    ("CarrierGatewayId", RouteTargetKind.OTHER),
    ("LocalGatewayId", RouteTargetKind.OTHER),
    ("CoreNetworkArn", RouteTargetKind.OTHER),
)


def _route_target(raw: Raw) -> tuple[RouteTargetKind, str]:
    gateway = str(raw.get("GatewayId") or "")
    if gateway == "local":
        return RouteTargetKind.LOCAL, "local"
    for field_name, kind in _TARGET_FIELDS:
        value = raw.get(field_name)
        if value:
            return kind, str(value)
    if gateway.startswith("igw-"):
        return RouteTargetKind.INTERNET_GATEWAY, gateway
    if gateway.startswith("vpce-"):
        return RouteTargetKind.VPC_ENDPOINT, gateway
    return RouteTargetKind.OTHER, gateway  # vgw-..., or nothing at all


def to_route(raw: Raw) -> Route:
    destination = (
        raw.get("DestinationCidrBlock") or raw.get("DestinationIpv6CidrBlock") or raw.get("DestinationPrefixListId")
    )
    kind, target = _route_target(raw)
    return Route(
        destination=str(destination or ""), target_kind=kind, target_id=target, state=str(raw.get("State", "active"))
    )


def to_route_table(raw: Raw) -> RouteTable:
    associations = raw.get("Associations") or ()
    return RouteTable(
        id=str(raw["RouteTableId"]),
        vpc_id=str(raw["VpcId"]),
        name=_name(raw),
        main=any(a.get("Main") for a in associations),
        subnet_ids=tuple(str(a["SubnetId"]) for a in associations if a.get("SubnetId")),
        routes=tuple(to_route(r) for r in raw.get("Routes") or ()),
    )


def to_peering(raw: Raw) -> Peering:
    requester = raw.get("RequesterVpcInfo") or {}
    accepter = raw.get("AccepterVpcInfo") or {}
    status = raw.get("Status") or {}
    return Peering(
        id=str(raw["VpcPeeringConnectionId"]),
        status=str(status.get("Code", "")),
        requester_vpc_id=str(requester.get("VpcId", "")),
        requester_cidr=str(requester.get("CidrBlock", "")),
        accepter_vpc_id=str(accepter.get("VpcId", "")),
        accepter_cidr=str(accepter.get("CidrBlock", "")),  # AWS leaves it out until the peering is accepted
        name=_name(raw),
        status_message=str(status.get("Message", "")),
    )


def _port(value: Any) -> int | None:
    return None if value is None else int(value)


def _flatten_permissions(direction: str, permissions: Iterable[Raw]) -> list[SecurityGroupRule]:
    """One rule per CIDR / peer group / prefix list, as the console lists them; protocol "-1" stays "-1".

    Rule ids (sgr-...) are not read: they need DescribeSecurityGroupRules, one more call per refresh (and ten
    seconds in moto at a few thousand rules), and every change we make names rules by their permissions.
    """
    rules: list[SecurityGroupRule] = []
    for perm in permissions:
        protocol = str(perm.get("IpProtocol", "-1"))
        from_port, to_port = _port(perm.get("FromPort")), _port(perm.get("ToPort"))
        peers: list[tuple[dict[str, str], str]] = []
        peers += [({"cidr": str(r["CidrIp"])}, str(r.get("Description", ""))) for r in perm.get("IpRanges") or ()]
        peers += [({"cidr": str(r["CidrIpv6"])}, str(r.get("Description", ""))) for r in perm.get("Ipv6Ranges") or ()]
        peers += [
            ({"peer_group_id": str(r.get("GroupId", ""))}, str(r.get("Description", "")))
            for r in perm.get("UserIdGroupPairs") or ()
        ]
        peers += [
            ({"prefix_list_id": str(r["PrefixListId"])}, str(r.get("Description", "")))
            for r in perm.get("PrefixListIds") or ()
        ]
        for peer, description in peers:
            rules.append(
                SecurityGroupRule(
                    direction=direction,
                    protocol=protocol,
                    from_port=from_port,
                    to_port=to_port,
                    description=description,
                    **peer,
                )
            )
    return rules


def to_security_group(raw: Raw) -> SecurityGroup:
    group_id = str(raw["GroupId"])
    rules = _flatten_permissions("ingress", raw.get("IpPermissions") or ())
    rules += _flatten_permissions("egress", raw.get("IpPermissionsEgress") or ())
    return SecurityGroup(
        id=group_id,
        name=str(raw.get("GroupName", "")),
        vpc_id=str(raw.get("VpcId", "")),
        description=str(raw.get("Description", "")),
        rules=tuple(rules),
    )


def to_endpoint(raw: Raw) -> VpcEndpoint:
    return VpcEndpoint(
        id=str(raw["VpcEndpointId"]),
        vpc_id=str(raw.get("VpcId", "")),
        service_name=str(raw.get("ServiceName", "")),
        endpoint_type=str(raw.get("VpcEndpointType", "")),
        state=str(raw.get("State", "")),
        subnet_ids=tuple(str(s) for s in raw.get("SubnetIds") or ()),
        security_group_ids=tuple(str(g["GroupId"]) for g in raw.get("Groups") or ()),
        dns_names=tuple(str(d["DnsName"]) for d in raw.get("DnsEntries") or () if d.get("DnsName")),
        private_dns_enabled=bool(raw.get("PrivateDnsEnabled", False)),
    )


def to_instance(raw: Raw) -> Instance:
    return Instance(
        id=str(raw["InstanceId"]),
        name=_name(raw),
        state=str((raw.get("State") or {}).get("Name", "")),
        vpc_id=str(raw.get("VpcId", "")),  # a terminated instance has none
        subnet_id=str(raw.get("SubnetId", "")),
        private_ip=str(raw.get("PrivateIpAddress", "")),
        public_ip=str(raw.get("PublicIpAddress", "")),
        security_group_ids=tuple(str(g["GroupId"]) for g in raw.get("SecurityGroups") or ()),
    )


def to_nat_gateway(raw: Raw) -> NatGateway:
    addresses = raw.get("NatGatewayAddresses") or ()
    first = addresses[0] if addresses else {}
    return NatGateway(
        id=str(raw["NatGatewayId"]),
        vpc_id=str(raw.get("VpcId", "")),
        subnet_id=str(raw.get("SubnetId", "")),
        state=str(raw.get("State", "")),
        public_ip=str(first.get("PublicIp", "")),
        private_ip=str(first.get("PrivateIp", "")),
        connectivity=str(raw.get("ConnectivityType") or "public"),
    )


def to_internet_gateway(raw: Raw) -> InternetGateway:
    attached = tuple(
        str(a["VpcId"])
        for a in raw.get("Attachments") or ()
        if a.get("VpcId") and a.get("State", "available") in ("available", "attached")
    )
    return InternetGateway(id=str(raw["InternetGatewayId"]), vpc_ids=attached, name=_name(raw))


def build_state(raw: Mapping[str, Any], region: str) -> AwsState:
    """The API answers (by operation name) → `AwsState`. A shape we cannot read raises `_BadAnswer`."""

    def each(operation: str, convert: Callable[[Raw], Any]) -> tuple[Any, ...]:
        try:
            return tuple(convert(item) for item in raw[operation])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _BadAnswer(operation, exc) from exc

    try:
        caller = raw["GetCallerIdentity"]
        identity = AwsIdentity(account=str(caller["Account"]), arn=str(caller["Arn"]), region=region)
    except (KeyError, TypeError) as exc:
        raise _BadAnswer("GetCallerIdentity", exc) from exc
    instances = each(
        "DescribeInstances", lambda reservation: tuple(to_instance(i) for i in reservation.get("Instances") or ())
    )
    return AwsState(
        identity=identity,
        vpcs=each("DescribeVpcs", to_vpc),
        subnets=each("DescribeSubnets", to_subnet),
        route_tables=each("DescribeRouteTables", to_route_table),
        peerings=each("DescribeVpcPeeringConnections", to_peering),
        security_groups=each("DescribeSecurityGroups", to_security_group),
        endpoints=each("DescribeVpcEndpoints", to_endpoint),
        instances=tuple(i for group in instances for i in group),
        nat_gateways=each("DescribeNatGateways", to_nat_gateway),
        internet_gateways=each("DescribeInternetGateways", to_internet_gateway),
    )


class _BadAnswer(Exception):
    def __init__(self, operation: str, error: BaseException) -> None:
        super().__init__(operation)
        self.operation = operation
        self.error = error


# --------------------------------------------------------------------------------------------------------------
# Errors → SourceError


_AUTH_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidAccessKeyId",
    }
)
_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "OptInRequired", "Blocked"}
)
_THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "EC2ThrottledException",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})


def is_throttling(exc: BaseException) -> bool:
    """AWS refused the request for its rate, in any service's words (EC2's `RequestLimitExceeded` comes as a 503)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return False
    return str((response.get("Error") or {}).get("Code", "")) in _THROTTLE_CODES


_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _one_line(text: str, limit: int = 220) -> str:
    """Collapse to one line, drop anything shaped like an access key id or URL credentials, and cap the length."""
    flat = " ".join(str(text).split())
    flat = _ACCESS_KEY_ID.sub("[key id]", flat)
    flat = _URL_USERINFO.sub("", flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _connection_reason(error: BaseException) -> str:
    """A few words on why a connection failed, from the socket error botocore wraps."""
    text = str(getattr(error, "kwargs", {}).get("error", "")) or str(error)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
        return "DNS lookup failed"
    if "unreachable" in lowered:
        return "network unreachable"
    if "reset" in lowered or "closed" in lowered:
        return "connection closed"
    return type(error).__name__


def _credentials_hint(settings: Settings) -> str:
    if settings.aws.profile:
        return f"aws sso login --profile {settings.aws.profile}"
    return "configure AWS credentials (aws configure, AWS_PROFILE, or aws sso login --profile <profile>)"


def describe_error(exc: BaseException, settings: Settings) -> SourceError:
    """Any failure of a read → a `SourceError`: a kind, a safe one-line message and what to do about it."""
    from botocore import exceptions as bce
    from botocore.parsers import ResponseParserError

    operation = ""
    if isinstance(exc, _CallFailed | _BadAnswer):
        operation, error = exc.operation, exc.error
    else:
        error = exc
    where = f"{operation}: " if operation else ""
    endpoint = settings.aws.endpoint_url or f"AWS {settings.aws.region}"

    def err(kind: ErrorKind, message: str, hint: str = "", *, per_call: bool = True) -> SourceError:
        """`per_call`: name the operation (a denied or odd answer is about it; a dead network is not)."""
        prefix = where if per_call else ""
        return SourceError(source=SOURCE, kind=kind, message=_one_line(prefix + message), hint=hint)

    if isinstance(exc, _BadAnswer):
        return err(ErrorKind.BAD_RESPONSE, f"unexpected answer ({type(error).__name__}: {error})")
    if isinstance(error, bce.ClientError):
        info = error.response.get("Error") or {}
        code = str(info.get("Code", "")) or "Unknown"
        attempts = int((error.response.get("ResponseMetadata") or {}).get("RetryAttempts", 0)) + 1
        status = (error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if code in _AUTH_CODES:
            reason = "credentials have expired" if code in _EXPIRED_CODES else "credentials were not accepted"
            return err(ErrorKind.AUTH, f"AWS {reason} ({code})", _credentials_hint(settings))
        if code in _DENIED_CODES:
            return err(
                ErrorKind.DENIED,
                f"access denied ({code})",
                "the identity needs ec2:Describe* and sts:GetCallerIdentity (e.g. the ReadOnlyAccess policy)",
            )
        if code in _THROTTLE_CODES:
            return err(
                ErrorKind.ERROR,
                f"AWS throttled the request after {attempts} attempt(s) ({code})",
                "wait a minute and refresh; raise [aws] max_attempts if it keeps happening",
            )
        message = str(info.get("Message", "")).strip()
        text = f"AWS answered {status} {code}" + (f": {message}" if message else "")
        if isinstance(status, int) and status >= 500:
            text += f" (after {attempts} attempt(s))"
            return err(ErrorKind.ERROR, text, "an AWS service problem; the next refresh retries")
        kind = ErrorKind.BAD_RESPONSE if code == "Unknown" else ErrorKind.ERROR
        return err(kind, text)
    if isinstance(error, bce.ConnectTimeoutError | bce.ReadTimeoutError):
        connecting = isinstance(error, bce.ConnectTimeoutError)
        phase = "connecting to" if connecting else "waiting for an answer from"
        limit = settings.aws.connect_timeout_s if connecting else settings.aws.read_timeout_s
        return err(
            ErrorKind.TIMEOUT,
            f"timed out {phase} {endpoint} ({limit:g} s per attempt, {settings.aws.max_attempts} attempt(s))",
            "check the network path to AWS; raise [aws] connect_timeout_s / read_timeout_s if it is just slow",
            per_call=False,
        )
    if isinstance(error, TimeoutError):  # our deadline over every call (botocore's own ones are above)
        return err(
            ErrorKind.TIMEOUT,
            f"no answer from {endpoint} within {read_deadline_s(settings):g} s",
            "check the network path to AWS; raise [aws] connect_timeout_s / read_timeout_s if it is just slow",
            per_call=False,
        )
    if isinstance(error, bce.EndpointConnectionError | bce.ConnectionClosedError | bce.ConnectionError):
        return err(
            ErrorKind.UNREACHABLE,
            f"cannot reach {endpoint} ({_connection_reason(error)})",
            "check the network, proxy settings and [aws] endpoint_url",
            per_call=False,
        )
    if isinstance(error, bce.NoCredentialsError | bce.PartialCredentialsError):
        return err(ErrorKind.AUTH, "no usable AWS credentials were found", _credentials_hint(settings), per_call=False)
    if isinstance(error, bce.SSOError | bce.TokenRetrievalError | bce.CredentialRetrievalError | bce.LoginError):
        return err(
            ErrorKind.AUTH,
            f"could not get AWS credentials ({type(error).__name__})",
            _credentials_hint(settings),
            per_call=False,
        )
    if isinstance(error, bce.ProfileNotFound):
        return err(
            ErrorKind.CONFIG,
            f"AWS profile {settings.aws.profile!r} is not in the AWS config",
            f"add it (aws configure sso --profile {settings.aws.profile}), or fix [aws] profile in config.toml",
        )
    if isinstance(error, bce.NoRegionError | bce.InvalidRegionError | bce.ConfigParseError):
        return err(
            ErrorKind.CONFIG, f"AWS configuration problem ({type(error).__name__})", "check [aws] and ~/.aws/config"
        )
    if isinstance(error, ResponseParserError | bce.IncompleteReadError):
        return err(ErrorKind.BAD_RESPONSE, f"unreadable answer from {endpoint} ({type(error).__name__})")
    if isinstance(error, bce.BotoCoreError):
        return err(ErrorKind.ERROR, f"{type(error).__name__}: {error}")
    return err(ErrorKind.ERROR, f"unexpected {type(error).__name__}: {error}")
