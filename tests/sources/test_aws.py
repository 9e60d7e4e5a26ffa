"""The AWS source reads the sandbox's hand-off platform back exactly, concurrently, and fails as data."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from goodword_tui.config import Settings
from goodword_tui.model import AwsState, ErrorKind, RouteTargetKind, SecurityGroupRule
from goodword_tui.sandbox.aws import (
    EXECUTE_API_SERVICE,
    AwsSandbox,
    AwsTopology,
    blackhole_route,
    delete_peering,
    make_endpoint_unavailable,
    make_peering_pending,
    remove_route,
)
from goodword_tui.sandbox.faults import FaultProxy
from goodword_tui.sources.aws import CALLS, describe_error, fetch_aws, make_clients, make_session, run_call
from tests.fixtures.aws import aws_settings

OPERATIONS, GOODWORD = "172.22.0.0/16", "172.20.0.0/16"


async def _read(settings: Settings, **kwargs: Any) -> AwsState:
    result = await fetch_aws(settings, **kwargs)
    assert result.error is None, result.error
    assert result.data is not None
    return result.data


def _table(state: AwsState, topo: AwsTopology, name: str) -> Any:
    return next(t for t in state.route_tables if t.id == topo.route_tables[name])


def _route(state: AwsState, topo: AwsTopology, table: str, destination: str) -> Any:
    return next((r for r in _table(state, topo, table).routes if r.destination == destination), None)


# --------------------------------------------------------------------------------------------------------------
# Reading the seeded platform


async def test_reads_the_handoff_platform(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings
) -> None:
    _, topo = aws_handoff
    before = datetime.now(UTC)
    result = await fetch_aws(sandbox_settings)
    assert result.ok and result.source == "aws"
    assert before <= result.fetched_at <= datetime.now(UTC)
    assert result.duration_s > 0
    state = result.data
    assert state is not None

    assert state.identity is not None
    assert (state.identity.account, state.identity.region) == (topo.account_id, "us-east-2")

    vpcs = {v.id: v for v in state.vpcs}
    assert (vpcs[topo.vpcs["operations"]].cidr, vpcs[topo.vpcs["operations"]].name) == (OPERATIONS, "operations-vpc")
    assert (vpcs[topo.vpcs["goodword"]].cidr, vpcs[topo.vpcs["goodword"]].name) == (GOODWORD, "goodword-vpc")
    assert len(state.vpcs) == 3  # and the region's default VPC

    subnets = {s.id: s for s in state.subnets}
    for name, subnet_id in topo.subnets.items():
        assert subnets[subnet_id].name == name
        assert subnets[subnet_id].map_public_ip == name.endswith("-public")
    assert subnets[topo.subnets["goodword-private-2b"]].availability_zone == "us-east-2b"

    for name in topo.route_tables:
        table = _table(state, topo, name)
        vpc_key = "goodword" if name.startswith("goodword") else "operations"
        own, other = (GOODWORD, OPERATIONS) if vpc_key == "goodword" else (OPERATIONS, GOODWORD)
        assert table.name == name and table.vpc_id == topo.vpcs[vpc_key] and not table.main
        assert len(table.subnet_ids) == 1 and table.subnet_ids[0] in topo.subnets.values()
        by_destination = {r.destination: r for r in table.routes}
        assert set(by_destination) == {own, "0.0.0.0/0", other}
        local = by_destination[own]
        assert (local.target_kind, local.target_id, local.state) == (RouteTargetKind.LOCAL, "local", "active")
        peer = by_destination[other]
        assert (peer.target_kind, peer.target_id, peer.is_blackhole) == (
            RouteTargetKind.PEERING,
            topo.peering_id,
            False,
        )
        default = by_destination["0.0.0.0/0"]
        if name.endswith("public-rt"):
            assert (default.target_kind, default.target_id) == (
                RouteTargetKind.INTERNET_GATEWAY,
                topo.internet_gateways[vpc_key],
            )
        else:
            assert (default.target_kind, default.target_id) == (
                RouteTargetKind.NAT_GATEWAY,
                topo.nat_gateways[vpc_key][0],
            )
    mains = {t.vpc_id: t.id for t in state.route_tables if t.main}
    assert {topo.vpcs[k]: v for k, v in topo.main_route_tables.items()}.items() <= mains.items()
    # A subnet of the platform finds its table through its explicit association.
    assert state.route_table_for_subnet(topo.subnets["goodword-db"]).id == topo.route_tables["goodword-db-rt"]

    (peering,) = state.peerings
    assert (peering.id, peering.status, peering.name) == (topo.peering_id, "active", "operations-goodword")
    assert (peering.requester_vpc_id, peering.requester_cidr) == (topo.vpcs["operations"], OPERATIONS)
    assert (peering.accepter_vpc_id, peering.accepter_cidr) == (topo.vpcs["goodword"], GOODWORD)

    groups = {g.id: g for g in state.security_groups}
    for group_name, other in (("operations-endpoints", GOODWORD), ("goodword-cross-vpc", OPERATIONS)):
        group = groups[topo.security_groups[group_name]]
        assert group.name == group_name
        ingress = [(r.protocol, r.from_port, r.to_port, r.cidr) for r in group.rules if r.direction == "ingress"]
        assert ingress == [("icmp", -1, -1, other), ("tcp", 0, 65535, other), ("udp", 0, 65535, other)]
        (egress,) = [r for r in group.rules if r.direction == "egress"]
        assert (egress.protocol, egress.from_port, egress.to_port, egress.peer) == ("-1", None, None, "0.0.0.0/0")
        assert len({(r.direction, r.protocol, r.from_port, r.to_port, r.peer) for r in group.rules}) == len(group.rules)

    (endpoint,) = state.endpoints
    assert (endpoint.id, endpoint.service_name, endpoint.endpoint_type, endpoint.state) == (
        topo.endpoint_id,
        EXECUTE_API_SERVICE,
        "Interface",
        "available",
    )
    assert endpoint.subnet_ids == (topo.subnets["operations-private"],)
    assert endpoint.security_group_ids == (topo.security_groups["operations-endpoints"],)
    assert endpoint.private_dns_enabled and endpoint.dns_names

    instances = {i.id: i for i in state.instances}
    expected = {
        "access": ("access-server", "172.22.1.15", topo.access_public_ip, "operations-public", "operations-endpoints"),
        "sqlmesh": ("sqlmesh-server", "172.22.2.106", "", "operations-private", "operations-endpoints"),
        "vpn-mesh": ("vpn-mesh-server", "172.20.0.91", "", "goodword-private-2a", "goodword-cross-vpc"),
    }
    for key, (name, private_ip, public_ip, subnet, group_name) in expected.items():
        instance = instances[topo.instances[key]]
        assert (instance.name, instance.state, instance.private_ip, instance.public_ip) == (
            name,
            "running",
            private_ip,
            public_ip,
        )
        assert instance.subnet_id == topo.subnets[subnet]
        assert instance.security_group_ids == (topo.security_groups[group_name],)

    nats = {n.id: n for n in state.nat_gateways}
    for key, (nat_id, public_ip) in topo.nat_gateways.items():
        assert (nats[nat_id].vpc_id, nats[nat_id].state, nats[nat_id].public_ip) == (
            topo.vpcs[key],
            "available",
            public_ip,
        )
        assert nats[nat_id].subnet_id == topo.subnets[f"{key}-public"]
        assert nats[nat_id].connectivity == "public"

    igws = {g.id: g for g in state.internet_gateways}
    for key, igw_id in topo.internet_gateways.items():
        assert (igws[igw_id].vpc_ids, igws[igw_id].name) == ((topo.vpcs[key],), f"{key}-igw")


async def test_rules_are_flattened_one_per_peer(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings
) -> None:
    sandbox, topo = aws_handoff
    ec2 = sandbox.client("ec2")
    group_id = topo.security_groups["goodword-cross-vpc"]
    other_group = topo.security_groups["operations-endpoints"]
    prefix_list = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=5, AddressFamily="IPv4")
    prefix_list_id = prefix_list["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "one"}, {"CidrIp": "10.2.0.0/16"}],
                "Ipv6Ranges": [{"CidrIpv6": "2600:1f16::/56"}],
                "UserIdGroupPairs": [{"GroupId": other_group, "Description": "peer group"}],
                "PrefixListIds": [{"PrefixListId": prefix_list_id}],
            },
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "100.64.0.0/10", "Description": "Tailscale"}]},
        ],
    )
    state = await _read(sandbox_settings)
    group = next(g for g in state.security_groups if g.id == group_id)
    added = [r for r in group.rules if r.direction == "ingress" and r.peer not in (OPERATIONS,)]
    assert [
        (r.protocol, r.from_port, r.to_port, r.cidr, r.peer_group_id, r.prefix_list_id, r.description) for r in added
    ] == [
        ("tcp", 5432, 5432, "10.1.0.0/16", "", "", "one"),
        ("tcp", 5432, 5432, "10.2.0.0/16", "", "", ""),
        ("tcp", 5432, 5432, "2600:1f16::/56", "", "", ""),
        ("tcp", 5432, 5432, "", other_group, "", "peer group"),
        ("tcp", 5432, 5432, "", "", prefix_list_id, ""),
        ("-1", None, None, "100.64.0.0/10", "", "", "Tailscale"),
    ]
    assert all(isinstance(r, SecurityGroupRule) for r in added)


# --------------------------------------------------------------------------------------------------------------
# Incidents show up in what the source reads


async def test_a_removed_route_is_missing(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings
) -> None:
    sandbox, topo = aws_handoff
    remove_route(sandbox, topo, "goodword-private-rt-2b", OPERATIONS)
    state = await _read(sandbox_settings)
    assert _route(state, topo, "goodword-private-rt-2b", OPERATIONS) is None
    assert _route(state, topo, "goodword-private-rt-2a", OPERATIONS) is not None


async def test_a_pending_peering_and_its_routes(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings
) -> None:
    sandbox, topo = aws_handoff
    pending = make_peering_pending(sandbox, topo)
    assert pending.peering_id != topo.peering_id
    state = await _read(sandbox_settings)
    statuses = {p.id: p.status for p in state.peerings}
    assert statuses == {topo.peering_id: "deleted", pending.peering_id: "pending-acceptance"}
    for name in topo.route_tables:
        other = OPERATIONS if name.startswith("goodword") else GOODWORD
        assert _route(state, topo, name, other).target_id == pending.peering_id


async def test_an_unavailable_endpoint(aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings) -> None:
    sandbox, topo = aws_handoff
    assert make_endpoint_unavailable(sandbox, topo) == "deleted"
    state = await _read(sandbox_settings)
    assert [(e.id, e.state) for e in state.endpoints] == [(topo.endpoint_id, "deleted")]


async def test_blackhole_routes(aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings) -> None:
    sandbox, topo = aws_handoff
    throwaway = blackhole_route(sandbox, topo, "goodword-db-rt", OPERATIONS)
    state = await _read(sandbox_settings)
    route = _route(state, topo, "goodword-db-rt", OPERATIONS)
    assert (route.target_kind, route.target_id, route.state) == (RouteTargetKind.PEERING, throwaway, "blackhole")
    assert route.is_blackhole
    assert not _route(state, topo, "goodword-private-rt-2a", OPERATIONS).is_blackhole

    delete_peering(sandbox, topo)
    sandbox.client("ec2").delete_nat_gateway(NatGatewayId=topo.nat_gateways["operations"][0])
    state = await _read(sandbox_settings)
    for name in topo.route_tables:
        other = OPERATIONS if name.startswith("goodword") else GOODWORD
        assert _route(state, topo, name, other).is_blackhole, name
    assert _route(state, topo, "operations-private-rt", "0.0.0.0/0").is_blackhole
    assert not _route(state, topo, "goodword-private-rt-2a", "0.0.0.0/0").is_blackhole
    assert not _route(state, topo, "operations-public-rt", "0.0.0.0/0").is_blackhole


# --------------------------------------------------------------------------------------------------------------
# Concurrency, against a network-like delay


LATENCY_S = 0.4  # well above moto's CPU time per answer on a slow machine, so the delays decide the comparison


@pytest.fixture
def slow_aws(aws_sandbox: AwsSandbox) -> Iterator[str]:
    """The sandbox behind a network-like delay on every request; yields the endpoint URL to use."""
    proxy = FaultProxy(*aws_sandbox.address).start()
    proxy.fault.latency_s = LATENCY_S
    try:
        yield f"http://127.0.0.1:{proxy.port}"
    finally:
        proxy.stop()


async def test_calls_run_concurrently(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_credentials: None, slow_aws: str
) -> None:
    settings = aws_settings(slow_aws, max_attempts=1)
    clients = make_clients(settings, None)
    one_by_one: dict[str, float] = {}
    for call in CALLS:
        started = time.perf_counter()
        run_call(call, clients[call.client])
        one_by_one[call.operation] = time.perf_counter() - started
    total = sum(one_by_one.values())
    assert total >= len(CALLS) * LATENCY_S

    result = await fetch_aws(settings)
    assert result.ok
    # Made one after another the calls wait out 11 delays; at once, about one. The CPU work (moto answers
    # from this very process) cannot overlap, so ask that at least half of the other 10 delays were saved.
    hidden = total - result.duration_s
    assert hidden > (len(CALLS) - 1) * LATENCY_S / 2, (
        f"concurrent {result.duration_s:.3f} s vs one by one {total:.3f} s"
    )


# --------------------------------------------------------------------------------------------------------------
# Failures are data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_endpoint_down_is_unreachable_and_quick(sandbox_credentials: None) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    settings = aws_settings(endpoint, connect_timeout_s=2, read_timeout_s=5, max_attempts=3)
    started = time.perf_counter()
    result = await fetch_aws(settings)
    elapsed = time.perf_counter() - started
    assert result.data is None and result.error is not None
    assert result.error.kind is ErrorKind.UNREACHABLE
    assert result.error.message == f"cannot reach {endpoint} (connection refused)"
    assert "endpoint_url" in result.error.hint
    assert elapsed < settings.aws.connect_timeout_s, f"{elapsed:.2f} s"


async def test_a_server_that_never_answers_is_a_timeout(aws_sandbox: AwsSandbox, sandbox_credentials: None) -> None:
    hung = FaultProxy(*aws_sandbox.address).start()
    hung.fault.hang = True
    try:
        endpoint = f"http://127.0.0.1:{hung.port}"
        settings = aws_settings(endpoint, connect_timeout_s=1, read_timeout_s=0.3, max_attempts=1)
        started = time.perf_counter()
        result = await fetch_aws(settings)
        elapsed = time.perf_counter() - started
    finally:
        hung.stop()
    assert result.error is not None and result.error.kind is ErrorKind.TIMEOUT
    assert "0.3 s per attempt" in result.error.message
    assert elapsed < 2, f"{elapsed:.2f} s"


async def test_no_credentials_is_auth(aws_sandbox: AwsSandbox, isolated_aws_env: Path) -> None:
    result = await fetch_aws(aws_settings(aws_sandbox.endpoint_url, max_attempts=1))
    assert result.error is not None and result.error.kind is ErrorKind.AUTH
    assert result.error.message == "no usable AWS credentials were found"
    assert "configure AWS credentials" in result.error.hint


async def test_a_profile_without_credentials_hints_sso_login(aws_sandbox: AwsSandbox, isolated_aws_env: Path) -> None:
    isolated_aws_env.write_text("[profile goodword-ops]\nregion = us-east-2\n", encoding="utf-8")
    result = await fetch_aws(aws_settings(aws_sandbox.endpoint_url, profile="goodword-ops", max_attempts=1))
    assert result.error is not None and result.error.kind is ErrorKind.AUTH
    assert result.error.hint == "aws sso login --profile goodword-ops"


async def test_an_unknown_profile_is_a_config_error(aws_sandbox: AwsSandbox, isolated_aws_env: Path) -> None:
    result = await fetch_aws(aws_settings(aws_sandbox.endpoint_url, profile="nobody", max_attempts=1))
    assert result.error is not None and result.error.kind is ErrorKind.CONFIG
    assert "'nobody'" in result.error.message


@pytest.fixture
def enforced_auth(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> Iterator[tuple[AwsSandbox, AwsTopology]]:
    sandbox, topo = aws_handoff
    sandbox.enforce_auth()
    try:
        yield sandbox, topo
    finally:
        sandbox.relax_auth()


async def test_unknown_keys_are_auth_and_stay_secret(
    enforced_auth: tuple[AwsSandbox, AwsTopology], isolated_aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, _ = enforced_auth
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY123456")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz")
    result = await fetch_aws(aws_settings(sandbox.endpoint_url, max_attempts=1))
    assert result.error is not None and result.error.kind is ErrorKind.AUTH
    text = result.error.message + result.error.hint
    assert "AKIAUNKNOWNKEY123456" not in text and "wJalrXUtnFEMI" not in text
    assert "\n" not in result.error.message


async def test_missing_permissions_are_denied(
    enforced_auth: tuple[AwsSandbox, AwsTopology], isolated_aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, _ = enforced_auth
    sandbox.relax_auth()  # create the reader while moto still lets anyone do anything
    iam = sandbox.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="almost-read-only",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",'
            ' "Action": ["sts:GetCallerIdentity", "ec2:Describe*"]},'
            ' {"Effect": "Deny", "Resource": "*", "Action": "ec2:DescribeVpcEndpoints"}]}'
        ),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    sandbox.enforce_auth()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    result = await fetch_aws(aws_settings(sandbox.endpoint_url, max_attempts=1))
    assert result.error is not None and result.error.kind is ErrorKind.DENIED
    assert result.error.message.startswith("DescribeVpcEndpoints: access denied")
    assert key["AccessKeyId"] not in result.error.message and key["SecretAccessKey"] not in result.error.message


class _GarbageHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html>this is a captive portal, not AWS"
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


async def test_an_answer_that_is_not_aws_is_a_bad_response(sandbox_credentials: None) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GarbageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = await fetch_aws(aws_settings(f"http://127.0.0.1:{server.server_address[1]}", max_attempts=1))
    finally:
        server.shutdown()
        server.server_close()
    assert result.error is not None and result.error.kind is ErrorKind.BAD_RESPONSE


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        ("ExpiredToken", ErrorKind.AUTH, "credentials have expired"),
        ("UnrecognizedClientException", ErrorKind.AUTH, "credentials were not accepted"),
        ("UnauthorizedOperation", ErrorKind.DENIED, "access denied"),
        ("RequestLimitExceeded", ErrorKind.ERROR, "throttled the request after 4 attempt(s)"),
        ("InternalError", ErrorKind.ERROR, "AWS answered 500 InternalError"),
    ],
)
def test_client_errors_map_to_kinds(code: str, kind: ErrorKind, words: str) -> None:
    from goodword_tui.sources.aws import _CallFailed

    error = ClientError(
        {
            "Error": {"Code": code, "Message": "Key AKIAIOSFODNN7EXAMPLE said\nsomething\tlong"},
            "ResponseMetadata": {"HTTPStatusCode": 500 if code == "InternalError" else 400, "RetryAttempts": 3},
        },
        "DescribeVpcs",
    )
    settings = aws_settings("http://127.0.0.1:9", profile="goodword-ops")
    mapped = describe_error(_CallFailed("DescribeVpcs", error), settings)
    assert mapped.kind is kind
    assert mapped.message.startswith("DescribeVpcs: ") and words in mapped.message
    assert "AKIAIOSFODNN7EXAMPLE" not in mapped.message and "\n" not in mapped.message
    if kind is ErrorKind.AUTH:
        assert mapped.hint == "aws sso login --profile goodword-ops"


# --------------------------------------------------------------------------------------------------------------
# The session seam read-only mode will use


async def test_a_given_session_carries_every_request(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings
) -> None:
    session = make_session(sandbox_settings)
    seen: list[str] = []
    lock = threading.Lock()

    def before_call(model: Any, **_: Any) -> None:
        with lock:
            seen.append(model.name)

    session.events.register("before-call.*.*", before_call)
    await _read(sandbox_settings, session=session)
    assert sorted(seen) == sorted(c.operation for c in CALLS)


async def test_reads_send_no_write(aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings) -> None:
    sandbox, _ = aws_handoff
    sandbox.start_recording()
    try:
        await asyncio.gather(_read(sandbox_settings), _read(sandbox_settings))
    finally:
        sandbox.stop_recording()
    recorded = sandbox.recorded_requests()
    assert sorted(r.action for r in recorded) == sorted(2 * [c.operation for c in CALLS])
    assert not [r for r in recorded if r.mutating]
