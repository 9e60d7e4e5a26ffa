"""Planning is pure: findings' fixes become Changes with the exact request, a diff, dangers and an inverse."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from goodword_tui.analysis.findings import analyze
from goodword_tui.changes.base import Intent, actions, change_from_fix, plan, plan_batch
from goodword_tui.changes.inputs import InputError
from goodword_tui.model import Route, RouteTargetKind, SecurityGroupRule, SnowflakeState, SuggestedFix
from tests.analysis.builders import (
    ACCESS_PUBLIC_IP,
    AIRBYTE_RULE,
    ANY_RULE,
    GW_RTS,
    GW_SG,
    OPS_CIDR,
    PCX,
    drop_route,
    handoff_aws,
    handoff_policy,
    handoff_settings,
    handoff_snowflake,
    one,
    set_route,
    snapshot,
    with_group_rules,
    with_peering,
    without_catch_all,
)

SETTINGS = handoff_settings()
RTB_2B = GW_RTS["private-2b"][0]


def fix_for(snap_kwargs: dict[str, object], code: str, resource: str | None = None) -> tuple[SuggestedFix, object]:
    snap = snapshot(**snap_kwargs)  # type: ignore[arg-type]
    finding = one(analyze(snap, SETTINGS), code, resource)
    assert finding.fix is not None
    return finding.fix, snap


def test_every_fix_action_the_findings_suggest_is_plannable() -> None:
    suggested = {
        "accept_peering",
        "create_route",
        "replace_route",
        "add_sg_rule",
        "set_account_policy",
        "add_allowed_ip",
        "remove_allowed_ip",
        "add_policy_rule",
    }
    assert suggested <= set(actions())


def test_missing_airbyte_entry_is_added_by_resending_the_whole_list() -> None:
    policy = handoff_policy(allowed_ips=tuple(e for e in handoff_policy().allowed_ips if e != "34.106.229.69"))
    fix, snap = fix_for({"snowflake": handoff_snowflake(policy=policy)}, "SF_ENTRY_MISSING", "34.106.229.69")
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    quoted = ", ".join(f"'{e}'" for e in (*policy.allowed_ips, "34.106.229.69"))
    assert change.request.text() == f"ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ({quoted})"
    assert [str(d) for d in change.diff if d.op != " "] == ["+ ALLOWED_IP_LIST: 34.106.229.69  (Airbyte Cloud US)"]
    assert not change.dangerous and not change.locks_out
    assert change.effect.params["present"] == {"allowed_ips": ["34.106.229.69"]}
    # Its inverse, planned on what it leaves, removes exactly that entry and is dangerous (protected entry).
    inverse = change.inverse()
    assert inverse is not None
    assert inverse.after.key == change.before.key
    assert inverse.dangerous and "protected entry 34.106.229.69" in inverse.danger_reasons[0]
    assert "Add 34.106.229.69 (Airbyte Cloud US)" in change.preview()


def test_rule_list_changes_use_add_and_remove() -> None:
    policy = handoff_policy(allowed_rules=(ANY_RULE,))
    fix, snap = fix_for({"snowflake": handoff_snowflake(policy=policy)}, "SF_RULE_MISSING")
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    assert (
        change.request.text() == f"ALTER NETWORK POLICY INTEGRATIONS ADD ALLOWED_NETWORK_RULE_LIST = ({AIRBYTE_RULE})"
    )
    inverse = change.inverse()
    assert inverse is not None
    text = inverse.request.text()
    assert text == f"ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = ({AIRBYTE_RULE})"


def test_removing_the_catch_all_rule_is_dangerous_and_locks_the_operator_out() -> None:
    state = handoff_snowflake()
    change = plan("remove_policy_rule", {"rule": ANY_RULE}, state, SETTINGS)
    assert change.dangerous
    assert any(r.startswith("reduces who can reach Snowflake") for r in change.danger_reasons)
    assert change.locks_out
    assert change.lockout is not None
    assert [i.subject for i in change.lockout.locked_out] == [f"your address {ACCESS_PUBLIC_IP}"]
    assert "LOCKOUT" in change.preview()


def test_activating_the_policy_is_dangerous_when_it_refuses_anyone() -> None:
    fix, snap = fix_for({"snowflake": handoff_snowflake(account_policy="")}, "SF_POLICY_NOT_ACTIVE")
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    assert change.request.text() == "ALTER ACCOUNT SET NETWORK_POLICY = INTEGRATIONS"
    assert not change.dangerous  # the catch-all rule admits every address: nobody loses access
    inverse = change.inverse()
    assert inverse is not None and inverse.request.text() == "ALTER ACCOUNT UNSET NETWORK_POLICY"
    assert inverse.danger_reasons == ("opens the account to every address: no network policy will restrict logins",)
    # Without the catch-all, activation refuses most of the internet, the operator included.
    strict = without_catch_all(handoff_snowflake(account_policy=""))
    change = plan("set_account_policy", {}, strict, SETTINGS)
    assert change.dangerous and change.danger_reasons[0].startswith("reduces who can reach Snowflake")
    assert change.locks_out
    with pytest.raises(InputError, match="already has INTEGRATIONS active"):
        plan("set_account_policy", {}, handoff_snowflake(), SETTINGS)


def test_entry_edits_keep_their_place_and_refuse_what_changes_nothing() -> None:
    state = handoff_snowflake()
    change = plan(
        "edit_allowed_ip", {"old": "34.106.60.246", "new": "34.106.60.0/24", "label": "Airbyte"}, state, SETTINGS
    )
    after = change.state_after.policy.allowed_ips
    assert after.index("34.106.60.0/24") == state.policy.allowed_ips.index("34.106.60.246")  # type: ignore[union-attr]
    with pytest.raises(InputError, match="same network"):
        plan("edit_allowed_ip", {"old": "34.106.60.246", "new": "34.106.60.246/32"}, state, SETTINGS)
    with pytest.raises(InputError, match="is not in ALLOWED_IP_LIST"):
        plan("remove_allowed_ip", {"cidr": "198.51.100.1"}, state, SETTINGS)
    with pytest.raises(InputError, match="already in ALLOWED_IP_LIST"):
        plan("add_allowed_ip", {"cidr": "34.106.60.246/32", "label": "again"}, state, SETTINGS)
    with pytest.raises(InputError, match="admits every address"):
        plan("add_allowed_ip", {"cidr": "0.0.0.0/0", "label": "all"}, state, SETTINGS)
    with pytest.raises(InputError, match=r"already covered by 172\.16\.0\.0/12"):
        plan("add_allowed_ip", {"cidr": "172.23.0.0/16", "label": "x"}, state, SETTINGS)
    with pytest.raises(InputError, match="label: is empty"):
        plan("add_allowed_ip", {"cidr": "198.51.100.1"}, state, SETTINGS)
    with pytest.raises(InputError, match="not the configured policy"):
        plan("add_allowed_ip", {"policy": "OTHER", "cidr": "198.51.100.1", "label": "x"}, state, SETTINGS)


def test_restore_baseline_adds_every_missing_entry_even_the_covered_ones() -> None:
    policy = handoff_policy(allowed_ips=("172.16.0.0/12", "34.106.109.131"))
    change = plan("restore_baseline", {}, handoff_snowflake(policy=policy), SETTINGS)
    added = [d.text.split()[1] for d in change.diff if d.op == "+"]
    assert "172.22.0.0/16" in added and len(added) == 13
    assert change.description.startswith("Restore 13 baseline entries to INTEGRATIONS")
    with pytest.raises(InputError, match="every baseline entry is already"):
        plan("restore_baseline", {}, handoff_snowflake(), SETTINGS)


def test_a_server_entry_that_cannot_be_resent_stops_the_edit() -> None:
    policy = handoff_policy(allowed_ips=(*handoff_policy().allowed_ips, "10.1.2.3/24", "not-an-ip"))
    with pytest.raises(InputError, match="holds 'not-an-ip'"):
        plan("add_allowed_ip", {"cidr": "198.51.100.1", "label": "x"}, handoff_snowflake(policy=policy), SETTINGS)
    # Removing the bad entry itself is how to fix it; the host-bits entry is re-sent as the server holds it.
    change = plan("remove_allowed_ip", {"cidr": "not-an-ip"}, handoff_snowflake(policy=policy), SETTINGS)
    assert "'10.1.2.3/24'" in change.request.text() and "not-an-ip" not in change.request.text()


def test_route_fixes() -> None:
    aws = drop_route(handoff_aws(), RTB_2B, OPS_CIDR)
    fix, snap = fix_for({"aws": aws}, "NET_ROUTE_MISSING", RTB_2B)
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    assert change.request.to_json() == {
        "type": "api",
        "service": "ec2",
        "operation": "CreateRoute",
        "params": {"RouteTableId": RTB_2B, "DestinationCidrBlock": OPS_CIDR, "VpcPeeringConnectionId": PCX},
    }
    assert [str(d) for d in change.diff if d.op != " "] == [f"+ {OPS_CIDR} -> {PCX}"]
    inverse = change.inverse()
    assert inverse is not None and inverse.request.to_json()["operation"] == "DeleteRoute" and inverse.dangerous

    dead = set_route(
        handoff_aws(), RTB_2B, Route(OPS_CIDR, RouteTargetKind.PEERING, "pcx-0dead0000000001", "blackhole")
    )
    fix, snap = fix_for({"aws": dead}, "NET_ROUTE_BLACKHOLE", RTB_2B)
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    assert change.request.to_json()["operation"] == "ReplaceRoute"
    assert not change.dangerous
    assert change.inverse() is None and "is gone" in change.irreversible_reason
    with pytest.raises(InputError, match="already routes"):
        plan("create_route", fix.params, dead, SETTINGS)


def test_peering_and_security_group_fixes() -> None:
    fix, snap = fix_for({"aws": with_peering(handoff_aws(), status="pending-acceptance")}, "NET_PEERING_PENDING")
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    assert change.request.to_json()["params"] == {"VpcPeeringConnectionId": PCX}
    assert [str(d) for d in change.diff if d.op != " "] == ["- status: pending-acceptance", "+ status: active"]
    assert change.inverse() is None and change.irreversible_reason
    with pytest.raises(InputError, match="only a pending-acceptance one"):
        plan("accept_peering", {"peering_id": PCX}, handoff_aws(), SETTINGS)

    rules = [r for r in next(g for g in handoff_aws().security_groups if g.id == GW_SG).rules if r.protocol != "udp"]
    fix, snap = fix_for({"aws": with_group_rules(handoff_aws(), GW_SG, rules)}, "NET_SG_RULE_MISSING")
    change = change_from_fix(fix, snap, SETTINGS)  # type: ignore[arg-type]
    permission = change.request.to_json()["params"]["IpPermissions"][0]
    assert permission == {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": OPS_CIDR}]}
    inverse = change.inverse()
    assert inverse is not None and inverse.request.to_json()["operation"] == "RevokeSecurityGroupIngress"
    assert inverse.dangerous
    # A rule the group lacks cannot be revoked; one it has cannot be added again.
    tcp = SecurityGroupRule("ingress", "tcp", 0, 65535, OPS_CIDR)
    params = {"group_id": GW_SG, "protocol": "tcp", "from_port": 0, "to_port": 65535, "cidr": tcp.cidr}
    with pytest.raises(InputError, match="already has"):
        plan("add_sg_rule", params, handoff_aws(), SETTINGS)
    with pytest.raises(InputError, match="has no rule"):
        plan("revoke_sg_rule", {**params, "protocol": "udp"}, with_group_rules(handoff_aws(), GW_SG, rules), SETTINGS)


def test_wrong_inputs_never_reach_a_request() -> None:
    with pytest.raises(InputError, match="unknown change"):
        plan("drop_database", {}, handoff_snowflake(), SETTINGS)
    with pytest.raises(InputError, match="needs AwsState"):
        plan("create_route", {}, handoff_snowflake(), SETTINGS)
    with pytest.raises(InputError, match="not a rtb- id"):
        plan(
            "create_route",
            {"route_table_id": "rtb-x; rm", "destination": OPS_CIDR, "peering_id": PCX},
            handoff_aws(),
            SETTINGS,
        )
    with pytest.raises(InputError, match="host bits"):
        plan(
            "create_route",
            {"route_table_id": RTB_2B, "destination": "172.22.1.0/16", "peering_id": PCX},
            handoff_aws(),
            SETTINGS,
        )
    with pytest.raises(InputError, match="no snowflake data"):
        plan("add_allowed_ip", {"cidr": "198.51.100.1", "label": "x"}, None, SETTINGS)


def test_a_batch_plans_each_change_on_what_the_previous_leaves() -> None:
    policy = handoff_policy(allowed_ips=tuple(e for e in handoff_policy().allowed_ips if not e.startswith("34.106.2")))
    snap = snapshot(snowflake=handoff_snowflake(policy=policy), aws=drop_route(handoff_aws(), RTB_2B, OPS_CIDR))
    fixes = [
        f.fix
        for f in analyze(snap, SETTINGS)
        if f.fix is not None and f.code in ("SF_ENTRY_MISSING", "NET_ROUTE_MISSING")
    ]
    batch, refused = plan_batch(
        [*fixes, Intent("add_allowed_ip", {"cidr": "34.106.218.58", "label": "dup"})], snap, SETTINGS
    )
    assert len(batch.changes) == 4  # three missing Airbyte entries and the route
    assert [i.action for i, _ in refused] == ["add_allowed_ip"]  # already added earlier in the batch
    snowflake_changes = [c for c in batch.changes if c.system.value == "snowflake"]
    for earlier, later in itertools.pairwise(snowflake_changes):
        assert later.before.key == earlier.after.key
    last = snowflake_changes[-1].request.text()
    assert all(ip in last for ip in ("34.106.229.69", "34.106.218.58", "34.106.225.141"))
    assert "Batch of 4 changes" in batch.preview()
    assert batch.confirm_phrase == "apply 4 changes"


def test_the_change_records_what_it_was_planned_on() -> None:
    state = handoff_snowflake()
    change = plan("add_allowed_ip", {"cidr": "198.51.100.7", "label": "Vendor"}, state, SETTINGS)
    assert change.state_before is state
    assert isinstance(change.state_after, SnowflakeState)
    assert change.replan(dataclasses.replace(state, current_ip="192.0.2.1")).request == change.request
    as_json = change.to_json()
    assert as_json["inverse"]["action"] == "policy_delta"
    assert as_json["effect"]["check"] == "policy_lists"
    assert as_json["diff"][-5].startswith("+ ALLOWED_IP_LIST: 198.51.100.7")
