"""The AWS half of the sandbox: moto's HTTP server in this process, seeded with the hand-off's topology.

Everything is built through boto3 against the server's endpoint, the way a person would build it, so the read
source and the changes see real API answers. moto cannot take our ids (vpc-0f0a0744e35746a67 and so on), so
`seed_handoff` returns an `AwsTopology` with the ids moto gave; the ids repeat run to run because the server's
random generator is seeded after every reset (`AwsSandbox.reset_and_seed`).

A few moto gaps are filled here, and only here (the sandbox is the one place that knows it is not AWS): routes
whose target is gone show `blackhole` as AWS does (moto always says `active`); the server's request log is quiet
so it cannot scribble over a terminal UI; moto's ~1300 default AMIs are not built on every reset (slow); Elastic
IPs are fixed TEST-NET-3 addresses instead of moto's 127.x.x.x. For network-like delays and hangs, put
`sandbox.faults.FaultProxy` in front of `AwsSandbox.address` (moto answers from this process in milliseconds).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import tempfile
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient

REGION = "us-east-2"
DEFAULT_SEED = 4242
# Dummy credentials for the sandbox only; handed to clients explicitly, never read from the user's environment.
SANDBOX_ACCESS_KEY_ID = "testing"
SANDBOX_SECRET_ACCESS_KEY = "testing"  # not a secret: moto accepts any key
# The servers' image is registered by the seed (moto's ~1300 built-in AMIs are not loaded, see AwsSandbox).
SANDBOX_IMAGE_NAME = "goodword-base-amzn2"
EXECUTE_API_SERVICE = f"com.amazonaws.{REGION}.execute-api"
ARTIFACTS_BUCKET = "goodword-ops-artifacts"
SNOWFLAKE_SECRET_NAME = "goodword/snowflake"

# Services the seed touches; each is called once at start so moto's one-off lazy loading (which draws from the
# random generator) happens before the first seeded reset, not inside it.
_WARM_UP_CALLS: tuple[tuple[str, str], ...] = (
    ("ec2", "describe_vpcs"),
    ("s3", "list_buckets"),
    ("secretsmanager", "list_secrets"),
    ("sts", "get_caller_identity"),
)


class SandboxError(RuntimeError):
    """The sandbox could not do what was asked (server not started, moto refused a call)."""


# --------------------------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True)
class RecordedRequest:
    """One request moto's recorder saw: enough to tell a read from a write, nothing more."""

    method: str
    url: str
    service: str  # from the SigV4 credential scope: ec2, sts, s3, secretsmanager ...
    action: str  # the API operation (DescribeVpcs, GetSecretValue) or "METHOD /path" for REST services

    @property
    def mutating(self) -> bool:
        """True unless the operation is a read by AWS's naming (Describe/Get/List/Head...) or a GET/HEAD."""
        if self.action.startswith(("GET ", "HEAD ")):
            return False
        read_prefixes = ("Describe", "Get", "List", "Head", "Lookup", "Search", "BatchGet", "Query", "Scan")
        return not self.action.startswith(read_prefixes)


def _parse_recorded(line: str) -> RecordedRequest | None:
    """One line of moto's recording; None for moto's own control API (reset, seed...), which moto records too."""
    entry = json.loads(line)
    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    body_raw = entry.get("body") or ""
    body = base64.b64decode(body_raw).decode("utf-8", "replace") if entry.get("body_encoded") else body_raw
    url = str(entry.get("url", ""))
    method = str(entry.get("method", ""))
    if urlsplit(url).path.startswith("/moto-api/"):
        return None
    service = ""
    authorization = headers.get("authorization", "")
    if "Credential=" in authorization:
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        service = scope[3] if len(scope) > 3 else ""
    action = ""
    target = headers.get("x-amz-target", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    else:
        query = parse_qs(urlsplit(url).query)
        form = parse_qs(body) if "x-www-form-urlencoded" in headers.get("content-type", "") else {}
        found = form.get("Action") or query.get("Action")
        action = found[0] if found else f"{method} {urlsplit(url).path}"
    return RecordedRequest(method=method, url=url, service=service, action=action)


def _quiet_werkzeug() -> None:
    """The dev server logs every request to stderr; that would draw over the terminal UI."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


_blackhole_lock = threading.Lock()
_blackholes_taught = False


def _teach_moto_blackholes() -> None:
    """Make moto report a route as `blackhole` when its target is gone, as AWS does (moto always says active).

    AWS marks a route blackhole when its NAT gateway is deleted, its peering is deleted/rejected/expired/failed,
    or its instance is terminated. moto keeps those objects (with that state) and the route's reference to them,
    so the state can be computed from them. Installed once per process; a no-op if moto's internals moved.
    """
    global _blackholes_taught
    with _blackhole_lock:
        if _blackholes_taught:
            return
        from moto.ec2.models.route_tables import Route

        if not isinstance(getattr(Route, "state", None), property):
            return

        def state(route: Any) -> str:
            nat = getattr(route, "nat_gateway", None)
            if nat is not None and getattr(nat, "state", "") in ("deleted", "deleting", "failed"):
                return "blackhole"
            pcx = getattr(route, "vpc_pcx", None)
            if pcx is not None and pcx.status.get("Code") in ("deleted", "rejected", "expired", "failed"):
                return "blackhole"
            instance = getattr(route, "instance", None)
            if instance is not None and getattr(instance, "state", "") in ("terminated", "shutting-down"):
                return "blackhole"
            return "active"

        Route.state = property(state)  # type: ignore[method-assign,assignment]
        _blackholes_taught = True


class AwsSandbox:
    """moto's HTTP server on a free loopback port, in this process, with helpers to reset, seed and record."""

    def __init__(self, region: str = REGION, host: str = "127.0.0.1", *, load_default_amis: bool = False) -> None:
        """`load_default_amis`: moto builds ~1300 AMIs (each with a snapshot) every time a region is rebuilt
        after a reset, ≈0.5 s per reset; the sandbox needs none of them, so by default it turns them off
        (MOTO_EC2_LOAD_DEFAULT_AMIS=false in this process's environment while the sandbox runs)."""
        self.region = region
        self._host = host
        self._load_default_amis = load_default_amis
        self._restore_env: dict[str, str | None] = {}
        self._server: Any = None
        self._endpoint_url = ""
        self._recording_path = ""
        self._session: boto3.Session | None = None
        self._clients: dict[str, BaseClient] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle

    def start(self) -> AwsSandbox:
        """Start the server, warm it up and leave it reset and seeded (`seed(DEFAULT_SEED)`)."""
        if self._server is not None:
            return self
        from moto.server import ThreadedMotoServer

        _quiet_werkzeug()
        _teach_moto_blackholes()
        if not self._load_default_amis and "MOTO_EC2_LOAD_DEFAULT_AMIS" not in os.environ:
            self._restore_env["MOTO_EC2_LOAD_DEFAULT_AMIS"] = None
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # read by moto each time it builds a region
        server = ThreadedMotoServer(ip_address=self._host, port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        self._use_private_recording_file()
        for service, operation in _WARM_UP_CALLS:
            getattr(self.client(service), operation)()
        self.reset_and_seed()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.stop_recording()
        self._server.stop()
        self._server = None
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        if self._recording_path:
            Path(self._recording_path).unlink(missing_ok=True)
        for name, value in self._restore_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._restore_env.clear()

    def __enter__(self) -> AwsSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if not self._endpoint_url:
            raise SandboxError("the AWS sandbox is not started")
        return self._endpoint_url

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the server, for a `FaultProxy` in front of it."""
        parts = urlsplit(self.endpoint_url)
        return (parts.hostname or "127.0.0.1", int(parts.port or 80))

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- moto's control API

    def _moto_api(self, path: str, *, method: str = "POST", body: bytes = b"") -> bytes:
        data = body if method == "POST" else None
        # text/plain: with urllib's default form type Flask would swallow the body (reset-auth reads it raw).
        headers = {"Content-Type": "text/plain"} if data else {}
        request = urllib.request.Request(self.endpoint_url + path, method=method, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read())

    def reset(self) -> None:
        """Forget every resource in every service (moto's reset is process-wide)."""
        self._moto_api("/moto-api/reset")

    def seed(self, seed: int = DEFAULT_SEED) -> None:
        """Seed moto's random generator so the ids it hands out next repeat run to run."""
        self._moto_api(f"/moto-api/seed?a={int(seed)}")

    def reset_and_seed(self, seed: int = DEFAULT_SEED) -> None:
        """Reset, then seed: moto rebuilds a region lazily on its next request, so that happens seeded too."""
        self.reset()
        self.seed(seed)

    # -- IAM enforcement (off by default: moto accepts any credentials)

    def enforce_auth(self) -> None:
        """From now on moto checks every request against IAM: unknown keys are refused, policies apply.

        The sandbox's own dummy keys are unknown to IAM too, so the seed and incident helpers fail until
        `relax_auth`. Process-wide, like everything moto keeps: pair it with `relax_auth` in a finally.
        """
        self._moto_api("/moto-api/reset-auth", body=b"0")

    def relax_auth(self) -> None:
        """Back to moto's default: any credentials, any action."""
        self._moto_api("/moto-api/reset-auth", body=b"inf")

    # -- the recorder (moto keeps one per process; it writes one JSON line per request to a file)

    def _use_private_recording_file(self) -> None:
        from moto.moto_api import recorder

        handle, path = tempfile.mkstemp(prefix="goodword-moto-recording-", suffix=".jsonl")
        os.close(handle)
        # moto reads MOTO_RECORDER_FILEPATH once, at import; point the recorder at our own file instead of
        # ./moto_recording in whatever the current directory is.
        recorder._location = path
        self._recording_path = path

    def start_recording(self) -> None:
        """Empty the recording and record every request from now on (process-wide, like moto's recorder)."""
        self._moto_api("/moto-api/recorder/reset-recording")
        self._moto_api("/moto-api/recorder/start-recording")

    def stop_recording(self) -> None:
        self._moto_api("/moto-api/recorder/stop-recording")

    def recorded_requests(self) -> tuple[RecordedRequest, ...]:
        """AWS requests recorded since `start_recording` (moto's control API left out).

        A line that cannot be read is an error, never skipped: this is the evidence that nothing was written.
        """
        text = self._moto_api("/moto-api/recorder/download-recording", method="GET").decode("utf-8")
        parsed = (_parse_recorded(line) for line in text.splitlines() if line.strip())
        return tuple(r for r in parsed if r is not None)

    # -- clients

    def environ(self) -> dict[str, str]:
        """Environment for a child process (the demo, a PTY test) so the standard chain finds the sandbox."""
        return {
            "AWS_ACCESS_KEY_ID": SANDBOX_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def boto3_session(self) -> boto3.Session:
        """A session with the dummy credentials, blind to the user's profiles, config and credential files."""
        import boto3
        import botocore.session

        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", os.devnull)
        return boto3.Session(
            aws_access_key_id=SANDBOX_ACCESS_KEY_ID,
            aws_secret_access_key=SANDBOX_SECRET_ACCESS_KEY,
            region_name=self.region,
            botocore_session=core,
        )

    def client(self, service: str) -> BaseClient:
        """A client for the sandbox, made once per service (botocore clients are thread-safe once made)."""
        with self._clients_lock:
            found = self._clients.get(service)
            if found is None:
                from botocore.config import Config

                if self._session is None:
                    self._session = self.boto3_session()
                found = self._session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=16),
                )
                self._clients[service] = found
            return found


# --------------------------------------------------------------------------------------------------------------
# The hand-off topology


@dataclass(frozen=True)
class SubnetPlan:
    name: str
    vpc: str
    cidr: str
    zone: str
    public: bool = False


@dataclass(frozen=True)
class RouteTablePlan:
    name: str
    vpc: str
    subnets: tuple[str, ...]  # subnet names
    default_via: str  # "igw" | "nat"
    peer_cidr: str  # the other VPC, routed to the peering


@dataclass(frozen=True)
class InstancePlan:
    key: str
    name: str
    subnet: str
    private_ip: str
    security_group: str
    public_ip: str = ""  # an Elastic IP to associate, when set


# The layout. Operations: public 172.22.1.0/24, private 172.22.2.0/24 (config.toml and the hand-off). Goodword:
# the hand-off puts the VPN mesh server (172.20.0.91) in a *private* subnet, so 172.20.0.0/24 is private 2a and
# the public subnet is 172.20.10.0/24.
VPC_CIDRS: Mapping[str, str] = MappingProxyType({"operations": "172.22.0.0/16", "goodword": "172.20.0.0/16"})
VPC_NAMES: Mapping[str, str] = MappingProxyType({"operations": "operations-vpc", "goodword": "goodword-vpc"})

SUBNETS: tuple[SubnetPlan, ...] = (
    SubnetPlan("operations-public", "operations", "172.22.1.0/24", "us-east-2a", public=True),
    SubnetPlan("operations-private", "operations", "172.22.2.0/24", "us-east-2a"),
    SubnetPlan("goodword-public", "goodword", "172.20.10.0/24", "us-east-2a", public=True),
    SubnetPlan("goodword-private-2a", "goodword", "172.20.0.0/24", "us-east-2a"),
    SubnetPlan("goodword-private-2b", "goodword", "172.20.1.0/24", "us-east-2b"),
    SubnetPlan("goodword-private-2c", "goodword", "172.20.2.0/24", "us-east-2c"),
    SubnetPlan("goodword-db", "goodword", "172.20.3.0/24", "us-east-2a"),
)

PUBLIC_SUBNET: Mapping[str, str] = MappingProxyType({"operations": "operations-public", "goodword": "goodword-public"})

ROUTE_TABLES: tuple[RouteTablePlan, ...] = (
    RouteTablePlan("goodword-public-rt", "goodword", ("goodword-public",), "igw", "172.22.0.0/16"),
    RouteTablePlan("goodword-private-rt-2a", "goodword", ("goodword-private-2a",), "nat", "172.22.0.0/16"),
    RouteTablePlan("goodword-private-rt-2b", "goodword", ("goodword-private-2b",), "nat", "172.22.0.0/16"),
    RouteTablePlan("goodword-private-rt-2c", "goodword", ("goodword-private-2c",), "nat", "172.22.0.0/16"),
    RouteTablePlan("goodword-db-rt", "goodword", ("goodword-db",), "nat", "172.22.0.0/16"),
    RouteTablePlan("operations-public-rt", "operations", ("operations-public",), "igw", "172.20.0.0/16"),
    RouteTablePlan("operations-private-rt", "operations", ("operations-private",), "nat", "172.20.0.0/16"),
)

# Security groups by group name: (VPC key, description, the other VPC's CIDR the cross-VPC rules allow).
SECURITY_GROUPS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        # Stands for the hand-off's sg-033aa1aa2a52b3401.
        "operations-endpoints": ("operations", "Operations endpoints and servers", "172.20.0.0/16"),
        "goodword-cross-vpc": ("goodword", "Goodword cross-VPC", "172.22.0.0/16"),
    }
)

INSTANCES: tuple[InstancePlan, ...] = (
    InstancePlan("access", "access-server", "operations-public", "172.22.1.15", "operations-endpoints", "203.0.113.15"),
    InstancePlan("sqlmesh", "sqlmesh-server", "operations-private", "172.22.2.106", "operations-endpoints"),
    InstancePlan("vpn-mesh", "vpn-mesh-server", "goodword-private-2a", "172.20.0.91", "goodword-cross-vpc"),
)

# Elastic IPs: moto would hand out 127.x.x.x addresses; these are TEST-NET-3 (RFC 5737), plainly not real.
NAT_PUBLIC_IPS: Mapping[str, str] = MappingProxyType({"operations": "203.0.113.22", "goodword": "203.0.113.20"})

ENDPOINT_SUBNET = "operations-private"
ENDPOINT_SECURITY_GROUP = "operations-endpoints"
PEERING_NAME = "operations-goodword"

# The hand-off's ids, for `AwsTopology.handoff_id_map`.
HANDOFF_IDS: Mapping[str, str] = MappingProxyType(
    {
        "vpc:operations": "vpc-0f0a0744e35746a67",
        "peering": "pcx-093256f9adcfae896",
        "sg:operations-endpoints": "sg-033aa1aa2a52b3401",
        "endpoint": "vpce-06cd22830fe1f953c",
        "instance:access": "i-07313ed6e2e8bdc1e",
        "instance:sqlmesh": "i-03519bd309babd741",
        "instance:vpn-mesh": "i-03051e6ddd98f5424",
    }
)


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class AwsTopology:
    """The ids moto gave the seeded hand-off topology, keyed the way config.toml refers to things."""

    region: str
    account_id: str
    vpcs: Mapping[str, str]  # VPC key ("operations", "goodword") → vpc id
    subnets: Mapping[str, str]  # subnet Name tag → subnet id
    internet_gateways: Mapping[str, str]  # VPC key → igw id
    nat_gateways: Mapping[str, tuple[str, str]]  # VPC key → (nat id, its Elastic IP)
    peering_id: str
    route_tables: Mapping[str, str]  # route table Name tag → rtb id
    main_route_tables: Mapping[str, str]  # VPC key → the VPC's main (unnamed, local-only) table
    security_groups: Mapping[str, str]  # group name → sg id ("operations-endpoints" stands for sg-033aa1aa2a52b3401)
    endpoint_id: str
    instances: Mapping[str, str]  # instance key ("access", "sqlmesh", "vpn-mesh") → instance id
    access_public_ip: str
    bucket: str
    secret_arn: str
    image_id: str
    endpoint_service: str = EXECUTE_API_SERVICE

    def handoff_id_map(self) -> dict[str, str]:
        """Hand-off id → sandbox id, to rewrite config.toml's ids for the sandbox."""
        ours = {
            "vpc:operations": self.vpcs["operations"],
            "peering": self.peering_id,
            "sg:operations-endpoints": self.security_groups["operations-endpoints"],
            "endpoint": self.endpoint_id,
            "instance:access": self.instances["access"],
            "instance:sqlmesh": self.instances["sqlmesh"],
            "instance:vpn-mesh": self.instances["vpn-mesh"],
        }
        return {HANDOFF_IDS[key]: value for key, value in ours.items()}


def _name_tags(name: str, resource_type: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def _cross_vpc_permissions(cidr: str, description: str) -> list[dict[str, Any]]:
    """The hand-off's cross-VPC rules: ICMP (all types), TCP and UDP (all ports) from the other VPC."""
    ranges = [{"CidrIp": cidr, "Description": description}]
    return [
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": ranges},
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": ranges},
        {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "IpRanges": ranges},
    ]


def seed_handoff(sandbox: AwsSandbox) -> AwsTopology:
    """Build the hand-off's platform through boto3 and return the ids moto gave it.

    Expects a freshly reset and seeded server (`sandbox.reset_and_seed()`) when the ids must repeat. The calls
    are made one after another, in a fixed order: the ids depend on the order moto is asked.
    """
    ec2 = sandbox.client("ec2")

    vpcs: dict[str, str] = {}
    for key, cidr in VPC_CIDRS.items():
        vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_name_tags(VPC_NAMES[key], "vpc"))["Vpc"]
        vpcs[key] = vpc["VpcId"]

    subnets: dict[str, str] = {}
    for plan in SUBNETS:
        subnet = ec2.create_subnet(
            VpcId=vpcs[plan.vpc],
            CidrBlock=plan.cidr,
            AvailabilityZone=plan.zone,
            TagSpecifications=_name_tags(plan.name, "subnet"),
        )["Subnet"]
        subnets[plan.name] = subnet["SubnetId"]
        if plan.public:
            ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})

    igws: dict[str, str] = {}
    nats: dict[str, tuple[str, str]] = {}
    for key, vpc_id in vpcs.items():
        igw = ec2.create_internet_gateway(TagSpecifications=_name_tags(f"{key}-igw", "internet-gateway"))
        igw_id = igw["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        igws[key] = igw_id
        eip = ec2.allocate_address(
            Domain="vpc", Address=NAT_PUBLIC_IPS[key], TagSpecifications=_name_tags(f"{key}-nat-eip", "elastic-ip")
        )
        nat = ec2.create_nat_gateway(
            SubnetId=subnets[PUBLIC_SUBNET[key]],
            AllocationId=eip["AllocationId"],
            TagSpecifications=_name_tags(f"{key}-nat", "natgateway"),
        )["NatGateway"]
        nats[key] = (nat["NatGatewayId"], eip["PublicIp"])

    peering = ec2.create_vpc_peering_connection(
        VpcId=vpcs["operations"],
        PeerVpcId=vpcs["goodword"],
        TagSpecifications=_name_tags(PEERING_NAME, "vpc-peering-connection"),
    )["VpcPeeringConnection"]
    peering_id = peering["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering_id)

    route_tables: dict[str, str] = {}
    for table in ROUTE_TABLES:
        rtb_id = ec2.create_route_table(VpcId=vpcs[table.vpc], TagSpecifications=_name_tags(table.name, "route-table"))[
            "RouteTable"
        ]["RouteTableId"]
        route_tables[table.name] = rtb_id
        for subnet_name in table.subnets:
            ec2.associate_route_table(RouteTableId=rtb_id, SubnetId=subnets[subnet_name])
        if table.default_via == "igw":
            ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igws[table.vpc])
        else:
            ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nats[table.vpc][0])
        ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock=table.peer_cidr, VpcPeeringConnectionId=peering_id)

    main_found = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": list(vpcs.values())},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    main_by_vpc = {table["VpcId"]: table["RouteTableId"] for table in main_found}
    main_tables = {key: main_by_vpc[vpc_id] for key, vpc_id in vpcs.items()}

    groups: dict[str, str] = {}
    for name, (vpc_key, description, peer_cidr) in SECURITY_GROUPS.items():
        group_id = ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpcs[vpc_key],
            TagSpecifications=_name_tags(name, "security-group"),
        )["GroupId"]
        peer_label = "Goodword VPC" if vpc_key == "operations" else "Operations VPC"
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=_cross_vpc_permissions(peer_cidr, peer_label)
        )
        groups[name] = group_id

    endpoint_id = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpcs["operations"],
        ServiceName=EXECUTE_API_SERVICE,
        SubnetIds=[subnets[ENDPOINT_SUBNET]],
        SecurityGroupIds=[groups[ENDPOINT_SECURITY_GROUP]],
        PrivateDnsEnabled=True,
        TagSpecifications=_name_tags("execute-api", "vpc-endpoint"),
    )["VpcEndpoint"]["VpcEndpointId"]

    image_id = ec2.register_image(Name=SANDBOX_IMAGE_NAME, Description="Amazon Linux 2 base for Goodword servers")[
        "ImageId"
    ]
    instances: dict[str, str] = {}
    access_public_ip = ""
    for plan in INSTANCES:
        instance = ec2.run_instances(
            ImageId=image_id,
            InstanceType="t3.small",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[plan.subnet],
            PrivateIpAddress=plan.private_ip,
            SecurityGroupIds=[groups[plan.security_group]],
            TagSpecifications=_name_tags(plan.name, "instance"),
        )["Instances"][0]
        instances[plan.key] = instance["InstanceId"]
        if plan.public_ip:
            eip = ec2.allocate_address(
                Domain="vpc", Address=plan.public_ip, TagSpecifications=_name_tags(plan.name, "elastic-ip")
            )
            ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=instance["InstanceId"])
            access_public_ip = eip["PublicIp"]

    secrets = sandbox.client("secretsmanager")
    secret_arn = secrets.create_secret(
        Name=SNOWFLAKE_SECRET_NAME,
        Description="Snowflake credentials for SQLMesh (sandbox: a fake value)",
        SecretString=json.dumps(
            {
                "account": "vsc91540.us-east-1",
                "user": "CHRIS",
                "password": "sandbox-fake-password",
                "database": "GOODWORD_WH",
                "schema": "RAW",
                "warehouse": "COMPUTE_WH",
                "role": "ACCOUNTADMIN",
            }
        ),
    )["ARN"]

    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": sandbox.region})

    account_id = sandbox.client("sts").get_caller_identity()["Account"]
    return AwsTopology(
        region=sandbox.region,
        account_id=account_id,
        vpcs=_frozen(vpcs),
        subnets=_frozen(subnets),
        internet_gateways=_frozen(igws),
        nat_gateways=_frozen(nats),
        peering_id=peering_id,
        route_tables=_frozen(route_tables),
        main_route_tables=_frozen(main_tables),
        security_groups=_frozen(groups),
        endpoint_id=endpoint_id,
        instances=_frozen(instances),
        access_public_ip=access_public_ip,
        bucket=ARTIFACTS_BUCKET,
        secret_arn=secret_arn,
        image_id=image_id,
    )


# --------------------------------------------------------------------------------------------------------------
# Incidents: small, named ways to break the seeded platform, each through the API


def remove_route(sandbox: AwsSandbox, topology: AwsTopology, table_name_tag: str, destination: str) -> None:
    """Delete one route (say the Operations VPC route from goodword-private-rt-2b): the classic missed table."""
    sandbox.client("ec2").delete_route(
        RouteTableId=topology.route_tables[table_name_tag], DestinationCidrBlock=destination
    )


def _peering_routes(ec2: BaseClient, peering_id: str) -> list[tuple[str, str]]:
    """(route table id, destination) of every route whose target is the peering."""
    tables = ec2.describe_route_tables(Filters=[{"Name": "route.vpc-peering-connection-id", "Values": [peering_id]}])[
        "RouteTables"
    ]
    return [
        (table["RouteTableId"], route["DestinationCidrBlock"])
        for table in tables
        for route in table["Routes"]
        if route.get("VpcPeeringConnectionId") == peering_id and "DestinationCidrBlock" in route
    ]


def make_peering_pending(sandbox: AwsSandbox, topology: AwsTopology) -> AwsTopology:
    """Replace the peering by a new one nobody accepted (pending-acceptance) and point every route at it.

    The old peering is deleted (moto keeps listing it as `deleted`, as AWS does for a while). Returns the
    topology with the new peering id.
    """
    ec2 = sandbox.client("ec2")
    routes = _peering_routes(ec2, topology.peering_id)
    new_id = ec2.create_vpc_peering_connection(
        VpcId=topology.vpcs["operations"],
        PeerVpcId=topology.vpcs["goodword"],
        TagSpecifications=_name_tags(PEERING_NAME, "vpc-peering-connection"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    for table_id, destination in routes:
        ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock=destination, VpcPeeringConnectionId=new_id)
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=topology.peering_id)
    return dataclasses.replace(topology, peering_id=new_id)


def delete_peering(sandbox: AwsSandbox, topology: AwsTopology) -> None:
    """Delete the peering and leave its routes: every cross-VPC route becomes a blackhole (as in AWS)."""
    sandbox.client("ec2").delete_vpc_peering_connection(VpcPeeringConnectionId=topology.peering_id)


def make_endpoint_unavailable(sandbox: AwsSandbox, topology: AwsTopology) -> str:
    """Take the execute-api endpoint out of service and return the state it now reports.

    Through the API moto can only delete an endpoint (it stays listed with state `deleted`); it has no
    pending/failed transition for endpoints.
    """
    ec2 = sandbox.client("ec2")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[topology.endpoint_id])
    found = ec2.describe_vpc_endpoints(VpcEndpointIds=[topology.endpoint_id])["VpcEndpoints"]
    return str(found[0]["State"])


def blackhole_route(sandbox: AwsSandbox, topology: AwsTopology, table_name_tag: str, destination: str) -> str:
    """Make one route a blackhole: point it at a throwaway peering, then delete that peering (AWS's way).

    Returns the throwaway peering's id. Relies on the sandbox's blackhole rule (moto alone says `active`).
    """
    ec2 = sandbox.client("ec2")
    throwaway = ec2.create_vpc_peering_connection(
        VpcId=topology.vpcs["operations"],
        PeerVpcId=topology.vpcs["goodword"],
        TagSpecifications=_name_tags("throwaway", "vpc-peering-connection"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.replace_route(
        RouteTableId=topology.route_tables[table_name_tag],
        DestinationCidrBlock=destination,
        VpcPeeringConnectionId=throwaway,
    )
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=throwaway)
    return throwaway
