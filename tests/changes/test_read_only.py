"""Read-only mode, proven from the servers' side: moto's request recorder and the Snowflake statement log.

Every kind of change is planned (planning is pure), then applied in read-only mode: each is refused before
anything is sent. Then the layer below is tried directly (the request sent by hand through the context's
clients): the botocore hook and the gateway's gate refuse it. The servers saw no write, and no request at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_change, upload_journal
from goodword_tui.changes.base import Change, System, actions, ops_for, plan
from goodword_tui.model import AwsState, Route, RouteTargetKind, SnowflakeState
from goodword_tui.sandbox.aws import ARTIFACTS_BUCKET, AwsSandbox
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from goodword_tui.sources.aws import ReadOnlyRefused, has_read_only_guard, make_session
from goodword_tui.sources.snowflake import WriteRefused
from tests.changes.conftest import Scene, read_only

Contexts = Callable[..., ChangeContext]


def one_of_each(s: Scene) -> list[Change]:
    """A Change of every registered kind, planned on the sandbox's state (edited in memory where needed)."""
    sf: SnowflakeState = s.snapshot.snowflake.data  # type: ignore[assignment]
    aws: AwsState = s.snapshot.aws.data  # type: ignore[assignment]
    topo = s.platform.topology
    policy = sf.policy
    assert policy is not None
    settings = s.settings
    rtb = topo.route_tables["goodword-private-rt-2b"]
    group = topo.security_groups["goodword-cross-vpc"]

    def table_without_peering_route(state: AwsState) -> AwsState:
        tables = tuple(
            dataclasses.replace(t, routes=tuple(r for r in t.routes if r.destination != "172.22.0.0/16"))
            if t.id == rtb
            else t
            for t in state.route_tables
        )
        return dataclasses.replace(state, route_tables=tables)

    def with_blackhole(state: AwsState) -> AwsState:
        dead = Route("172.22.0.0/16", RouteTargetKind.PEERING, "pcx-0dead00000000000", "blackhole")
        tables = tuple(
            dataclasses.replace(t, routes=(*(r for r in t.routes if r.destination != dead.destination), dead))
            if t.id == rtb
            else t
            for t in state.route_tables
        )
        return dataclasses.replace(state, route_tables=tables)

    pending = dataclasses.replace(
        aws, peerings=tuple(dataclasses.replace(p, status="pending-acceptance") for p in aws.peerings)
    )
    no_udp = dataclasses.replace(
        aws,
        security_groups=tuple(
            dataclasses.replace(g, rules=tuple(r for r in g.rules if r.protocol != "udp")) if g.id == group else g
            for g in aws.security_groups
        ),
    )
    short = dataclasses.replace(sf, policy=dataclasses.replace(policy, allowed_ips=policy.allowed_ips[1:]))
    blocked = dataclasses.replace(sf, policy=dataclasses.replace(policy, blocked_ips=("198.51.100.9",)))
    one_rule = dataclasses.replace(sf, policy=dataclasses.replace(policy, allowed_rules=policy.allowed_rules[:1]))
    udp = {"group_id": group, "protocol": "udp", "from_port": 0, "to_port": 65535, "cidr": "172.22.0.0/16"}
    route = {"route_table_id": rtb, "destination": "172.22.0.0/16", "peering_id": topo.peering_id}
    planned: list[tuple[str, dict[str, Any], Any]] = [
        ("add_allowed_ip", {"cidr": "198.51.100.7", "label": "Vendor"}, sf),
        ("remove_allowed_ip", {"cidr": "192.168.0.0/16"}, sf),
        ("edit_allowed_ip", {"old": "34.106.60.246", "new": "34.106.60.0/24"}, sf),
        ("restore_baseline", {}, short),
        ("remove_blocked_ip", {"cidr": "198.51.100.9"}, blocked),
        ("add_policy_rule", {"rule": "AIRBYTE_DB.RAW.AIRBYTE"}, one_rule),
        ("remove_policy_rule", {"rule": "GOODWORD_WH.RAW.ANY"}, sf),
        ("policy_delta", {"add": {"blocked_ips": ["198.51.100.10"]}}, sf),
        ("set_account_policy", {}, dataclasses.replace(sf, account_policy="")),
        ("unset_account_policy", {}, sf),
        ("create_route", route, table_without_peering_route(aws)),
        ("replace_route", route, with_blackhole(aws)),
        ("delete_route", {"route_table_id": rtb, "destination": "172.22.0.0/16"}, aws),
        ("accept_peering", {"peering_id": topo.peering_id}, pending),
        ("add_sg_rule", udp, no_udp),
        ("revoke_sg_rule", udp, aws),
    ]
    return [plan(action, params, state, settings) for action, params, state in planned]


def test_read_only_mode_sends_no_write_to_either_platform(
    scene: Callable[[str], Scene],
    contexts: Contexts,
    aws_sandbox: AwsSandbox,
    snowflake_sandbox: SnowflakeSandbox,
) -> None:
    s = scene("handoff")
    changes = one_of_each(s)
    ours = {a for a, (system, _) in actions().items() if system in (System.SNOWFLAKE, System.AWS)}
    assert {c.kind for c in changes} == ours  # a new Snowflake or AWS change must be added here
    ctx = contexts(read_only(s.settings))
    assert ctx.read_only and ctx.gateway.read_only and has_read_only_guard(ctx.session)
    assert has_read_only_guard(make_session(read_only(s.settings)))  # the one place sessions are made installs it
    assert not has_read_only_guard(make_session(s.settings))

    snowflake_sandbox.clear_statements()
    aws_sandbox.start_recording()
    try:
        # 1. Every change refuses before anything is sent: not even the re-read before sending goes out.
        for change in changes:
            result = apply_change(
                change,
                ctx,
                reason="audit",
                confirmation=change.confirm_phrase,
                lockout_override="override lockout",
            )
            assert result.status is ApplyStatus.REFUSED and result.refused_by == "read_only", change.kind
            assert "read-only mode" in result.message
        assert aws_sandbox.recorded_requests() == ()
        assert snowflake_sandbox.statements() == []

        # 2. Below the Change: each request sent by hand through the context's clients is refused in-process.
        for change in changes:
            ops = ops_for(change.system)
            expected = WriteRefused if change.system is System.SNOWFLAKE else ReadOnlyRefused
            with pytest.raises(expected, match="read-only mode"):
                ops.send(ctx, change.request)
        with pytest.raises(ReadOnlyRefused, match="PutObject"):
            ctx.client("s3").put_object(Bucket=ARTIFACTS_BUCKET, Key="x", Body=b"x")
        upload = upload_journal(ctx)
        assert upload is not None and not upload.uploaded and "read-only mode" in upload.message
        assert aws_sandbox.recorded_requests() == ()
        assert snowflake_sandbox.statements() == []

        # 3. Reads still work, and are all the servers see.
        assert ctx.client("ec2").describe_vpcs()["Vpcs"]
        assert ctx.gateway.execute("SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT").rows
        recorded = aws_sandbox.recorded_requests()
    finally:
        aws_sandbox.stop_recording()
    assert [r.action for r in recorded] == ["DescribeVpcs"]
    assert not any(r.mutating for r in recorded)
    statements = [r.sql.split()[0].upper() for r in snowflake_sandbox.statements()]
    assert statements and set(statements) <= {"SHOW", "SELECT", "DESC", "DESCRIBE"}
    assert ctx.journal.entries() == []


def test_a_read_only_context_refuses_a_writable_gateway(scene: Callable[[str], Scene]) -> None:
    from goodword_tui.sources.snowflake import SnowflakeGateway

    s = scene("handoff", aws=False)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="read-only Snowflake gateway"):
        ChangeContext(read_only(s.settings), gateway=SnowflakeGateway(s.settings, read_only=False))
