"""AWS changes end to end against moto's server: apply, verify by re-reading, undo; a concurrent route edit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_change, plan_undo
from goodword_tui.changes.base import change_from_fix, plan
from goodword_tui.changes.inputs import InputError
from goodword_tui.sandbox.aws import ARTIFACTS_BUCKET, AwsSandbox, blackhole_route
from goodword_tui.sandbox.scenarios import MISSING_ROUTE_TABLE, OPERATIONS_CIDR
from tests.changes.conftest import Scene

Contexts = Callable[..., ChangeContext]


def routes(sandbox: AwsSandbox, table_id: str) -> dict[str, tuple[str, str]]:
    """Destination → (target id, state) of a route table, read straight from moto."""
    (table,) = sandbox.client("ec2").describe_route_tables(RouteTableIds=[table_id])["RouteTables"]
    out: dict[str, tuple[str, str]] = {}
    for route in table["Routes"]:
        target = route.get("VpcPeeringConnectionId") or route.get("GatewayId") or route.get("NatGatewayId") or ""
        out[route.get("DestinationCidrBlock", "")] = (target, route.get("State", ""))
    return out


def test_a_missing_route_is_created_verified_and_undone(
    scene: Callable[[str], Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("route-missing")
    table_id = s.platform.topology.route_tables[MISSING_ROUTE_TABLE]
    peering_id = s.platform.topology.peering_id
    change = change_from_fix(s.finding("NET_ROUTE_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    ctx = contexts(s.settings)

    result = apply_change(change, ctx, reason="INC-7 2b cannot reach Operations")
    assert result.status is ApplyStatus.APPLIED, result.message
    assert routes(aws_sandbox, table_id)[OPERATIONS_CIDR] == (peering_id, "active")
    assert "NET_ROUTE_MISSING" not in {f.code for f in s.refresh().findings}
    (entry,) = ctx.journal.entries()
    assert entry.operator["aws_arn"].startswith("arn:aws:")
    assert entry.change["request"] == change.request.to_json()

    # The journal was uploaded to the artifacts bucket, whole.
    assert result.upload is not None and result.upload.uploaded
    key = result.upload.uri.removeprefix(f"s3://{ARTIFACTS_BUCKET}/")
    body = aws_sandbox.client("s3").get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read()
    assert body == ctx.journal.path.read_bytes()

    undo = plan_undo(entry, ctx)
    assert undo.request.to_json()["operation"] == "DeleteRoute" and undo.dangerous
    undone = apply_change(undo, ctx, reason="INC-7 rollback", confirmation=table_id)
    assert undone.ok, undone.message
    assert OPERATIONS_CIDR not in routes(aws_sandbox, table_id)


def test_a_blackhole_route_is_replaced_and_cannot_be_undone_into_a_blackhole(
    scene: Callable[[str], Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("handoff")
    dead = blackhole_route(aws_sandbox, s.platform.topology, "goodword-private-rt-2a", OPERATIONS_CIDR)
    s = s.refresh()
    table_id = s.platform.topology.route_tables["goodword-private-rt-2a"]
    assert routes(aws_sandbox, table_id)[OPERATIONS_CIDR] == (dead, "blackhole")
    change = change_from_fix(s.finding("NET_ROUTE_BLACKHOLE").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    assert not change.dangerous  # nothing flows through a blackhole
    ctx = contexts(s.settings)
    assert apply_change(change, ctx, reason="INC-8").ok
    assert routes(aws_sandbox, table_id)[OPERATIONS_CIDR] == (s.platform.topology.peering_id, "active")
    with pytest.raises(InputError, match="is gone: there is nothing to go back to"):
        plan_undo(ctx.journal.entries()[-1], ctx)


def test_a_pending_peering_is_accepted(
    scene: Callable[[str], Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("peering-pending")
    change = change_from_fix(s.finding("NET_PEERING_PENDING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    ctx = contexts(s.settings)
    result = apply_change(change, ctx, reason="INC-9 peering recreated")
    assert result.ok, result.message
    found = aws_sandbox.client("ec2").describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[s.platform.topology.peering_id]
    )["VpcPeeringConnections"][0]
    assert found["Status"]["Code"] == "active"
    assert "NET_PEERING_PENDING" not in {f.code for f in s.refresh().findings}
    with pytest.raises(InputError, match="cannot go back to pending"):
        plan_undo(ctx.journal.entries()[-1], ctx)


def test_security_group_rules_are_revoked_and_added(
    scene: Callable[[str], Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("handoff")
    group_id = s.platform.topology.security_groups["goodword-cross-vpc"]
    ec2 = aws_sandbox.client("ec2")
    # Someone opened SSH to the world: revoke that unexpected rule.
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[ssh])
    s = s.refresh()
    ctx = contexts(s.settings)
    params = {"group_id": group_id, "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}
    revoke = plan("revoke_sg_rule", params, s.snapshot.aws.data, s.settings)
    assert revoke.request.to_json()["operation"] == "RevokeSecurityGroupIngress" and revoke.dangerous
    assert apply_change(revoke, ctx, reason="SEC-3", confirmation=group_id).ok

    def ingress() -> list[tuple[str, int | None, str]]:
        (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        return [
            (p["IpProtocol"], p.get("FromPort"), r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]
        ]

    assert ("tcp", 22, "0.0.0.0/0") not in ingress()

    # The cross-VPC UDP rule goes missing; the finding's fix adds it back; its undo revokes it again.
    udp = {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": OPERATIONS_CIDR}]}
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[udp])
    s = s.refresh()
    (missing,) = [f for f in s.findings if f.code == "NET_SG_RULE_MISSING" and f.resource == group_id]
    add = change_from_fix(missing.fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    assert apply_change(add, ctx, reason="INC-10").ok
    assert ("udp", 0, OPERATIONS_CIDR) in ingress()
    undo = plan_undo(ctx.journal.entries()[-1], ctx)
    assert apply_change(undo, ctx, reason="INC-10 rollback", confirmation=group_id).ok
    assert ("udp", 0, OPERATIONS_CIDR) not in ingress()


def test_a_concurrent_route_edit_aborts_with_the_new_diff(
    scene: Callable[[str], Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("route-missing")
    table_id = s.platform.topology.route_tables[MISSING_ROUTE_TABLE]
    peering_id = s.platform.topology.peering_id
    change = change_from_fix(s.finding("NET_ROUTE_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    # Another engineer adds a route to the same table from their own client.
    aws_sandbox.client("ec2").create_route(
        RouteTableId=table_id, DestinationCidrBlock="10.99.0.0/16", VpcPeeringConnectionId=peering_id
    )
    ctx = contexts(s.settings)
    aws_sandbox.start_recording()
    try:
        result = apply_change(change, ctx, reason="INC-7")
        mutating = [r.action for r in aws_sandbox.recorded_requests() if r.mutating]
    finally:
        aws_sandbox.stop_recording()
    assert result.status is ApplyStatus.CONFLICT
    assert mutating == []  # nothing was sent
    assert [str(d) for d in result.conflict if d.op != " "] == [f"+ 10.99.0.0/16 -> {peering_id}"]
    assert result.rebuilt is not None
    assert apply_change(result.rebuilt, ctx, reason="INC-7").ok
    assert {"10.99.0.0/16", OPERATIONS_CIDR} <= set(routes(aws_sandbox, table_id))  # both kept

    # It is already fixed now: the stale preview finds its effect there and sends nothing a second time.
    aws_sandbox.start_recording()
    try:
        late = apply_change(change, ctx, reason="INC-7")
        mutating = [r.action for r in aws_sandbox.recorded_requests() if r.mutating]
    finally:
        aws_sandbox.stop_recording()
    assert late.status is ApplyStatus.ALREADY_DONE and late.ok, late.message
    assert [a for a in mutating if "/goodword-tui/journal/" not in a] == []  # only the journal's upload
    assert ctx.journal.entry(late.entry_id).result == "already_done"  # type: ignore[union-attr]
