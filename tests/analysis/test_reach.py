"""why(): the account-level verdict and its explanation; reach(): the path between two private addresses;
egress_for(): the public address an instance reaches Snowflake from."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from goodword_tui.analysis.policy import Decider
from goodword_tui.analysis.reach import (
    EgressProblem,
    HopVerdict,
    best_route,
    egress_for,
    explain_why,
    reach,
    why,
)
from goodword_tui.model import NatGateway, Route, RouteTargetKind, SecurityGroupRule
from tests.analysis.builders import (
    ACCESS,
    ACCESS_IP,
    ACCESS_PUBLIC_IP,
    GW_CIDR,
    GW_RTS,
    GW_SG,
    OPS_CIDR,
    OPS_NAT,
    OPS_NAT_IP,
    OPS_PRIVATE_RT,
    OPS_SG,
    PCX,
    SQLMESH,
    SQLMESH_IP,
    VPN_MESH,
    VPN_MESH_IP,
    drop_route,
    handoff_aws,
    handoff_policy,
    handoff_settings,
    handoff_snowflake,
    set_route,
    table,
    with_group_rules,
    with_instance,
    with_peering,
)

SETTINGS = handoff_settings()
VPN_RT = GW_RTS["private-2a"][0]


def instance(aws, instance_id):  # type: ignore[no-untyped-def]
    return next(i for i in aws.instances if i.id == instance_id)


# --------------------------------------------------------------------------------------------------------------
# why()


def test_why_blocked_entry_wins_over_allowed_entry() -> None:
    state = handoff_snowflake(policy=handoff_policy(blocked_ips=("34.106.109.0/24",)))
    verdict = why("34.106.109.131", state)  # also in ALLOWED_IP_LIST and in the Airbyte rule
    assert not verdict.allowed
    assert verdict.decided_by is Decider.BLOCKED_IP_LIST
    assert verdict.entry == "34.106.109.0/24"
    text = explain_why("34.106.109.131", state)
    assert text.startswith("REFUSED")
    assert "blocked" in text.splitlines()[1].lower()


def test_why_blocked_rule_wins_over_the_catch_all() -> None:
    rules = (*handoff_snowflake().rules, dataclasses.replace(handoff_snowflake().rules[1], name="DB.S.DENY"))
    state = handoff_snowflake(policy=handoff_policy(blocked_rules=("DB.S.DENY",)), rules=rules)
    verdict = why("34.106.60.246", state)
    assert not verdict.allowed and verdict.decided_by is Decider.BLOCKED_RULE and verdict.rule == "DB.S.DENY"


def test_why_admitted_by_the_catch_all_says_so() -> None:
    verdict = why(OPS_NAT_IP, handoff_snowflake())
    assert verdict.allowed and verdict.catch_all
    assert "only a catch-all" in explain_why(OPS_NAT_IP, handoff_snowflake())


def test_why_without_an_active_policy_admits_and_says_what_activation_would_do() -> None:
    state = handoff_snowflake(account_policy="", rules=handoff_snowflake().rules[1:])
    verdict = why("8.8.8.8", state)
    assert verdict.allowed and verdict.decided_by is Decider.NO_POLICY
    assert any("not active" in n and "refused" in n for n in verdict.notes)


def test_why_with_another_active_policy_does_not_guess() -> None:
    verdict = why("34.106.109.131", handoff_snowflake(account_policy="OTHER"))
    assert not verdict.allowed and verdict.decided_by is Decider.UNKNOWN_POLICY
    assert "OTHER" in verdict.reason


def test_why_mentions_a_user_policy_override() -> None:
    verdict = why("34.106.109.131", handoff_snowflake(user_policy="CHRIS_ONLY"))
    assert verdict.allowed
    assert any("CHRIS_ONLY" in n for n in verdict.notes)


def test_why_invalid_address() -> None:
    assert why("not-an-ip", handoff_snowflake()).decided_by is Decider.INVALID_ADDRESS


# --------------------------------------------------------------------------------------------------------------
# reach()


def steps(path) -> list[tuple[str, HopVerdict]]:  # type: ignore[no-untyped-def]
    return [(h.step, h.verdict) for h in path.hops]


def test_reach_across_the_peering_is_ok() -> None:
    path = reach(SQLMESH_IP, VPN_MESH_IP, handoff_aws(), SETTINGS)
    assert path.ok, path.explain()
    assert [s for s, _ in steps(path)] == [
        "source",
        "destination",
        "route",
        "peering",
        "return route",
        "egress rules",
        "ingress rules",
    ]
    assert path.hops[2].resource == OPS_PRIVATE_RT and PCX in path.hops[2].detail
    assert path.hops[4].resource == VPN_RT
    assert "SQLMesh server" in path.hops[0].detail
    assert path.hops[-1].resource == GW_SG
    assert "can reach" in path.summary


def test_reach_within_a_vpc_uses_the_local_route() -> None:
    path = reach(ACCESS_IP, SQLMESH_IP, handoff_aws(), SETTINGS, protocol="icmp")
    assert path.ok, path.explain()
    assert "peering" not in [s for s, _ in steps(path)]
    assert "same VPC" in path.hops[2].detail


def test_reach_missing_route_breaks_at_the_route() -> None:
    aws = drop_route(handoff_aws(), OPS_PRIVATE_RT, GW_CIDR)
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert not path.ok
    broken = path.broken_at
    assert broken is not None and broken.step == "route" and broken.resource == OPS_PRIVATE_RT
    # The default route catches the traffic and sends it out through the NAT: named as the break.
    assert OPS_NAT in broken.detail
    assert path.hops[-1] is broken  # stops at the first break


def test_reach_without_any_route_names_the_table() -> None:
    routes = [r for r in table(handoff_aws(), OPS_PRIVATE_RT).routes if r.destination == OPS_CIDR]
    aws = dataclasses.replace(
        handoff_aws(),
        route_tables=tuple(
            dataclasses.replace(t, routes=tuple(routes)) if t.id == OPS_PRIVATE_RT else t
            for t in handoff_aws().route_tables
        ),
    )
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert path.broken_at is not None and "no route" in path.broken_at.detail


def test_reach_missing_return_route_breaks_on_the_far_side() -> None:
    aws = drop_route(handoff_aws(), VPN_RT, OPS_CIDR)
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert not path.ok
    assert path.broken_at is not None
    assert path.broken_at.step == "return route" and path.broken_at.resource == VPN_RT
    assert ("route", HopVerdict.OK) in steps(path) and ("peering", HopVerdict.OK) in steps(path)


def test_reach_return_route_over_another_peering_is_broken() -> None:
    aws = set_route(handoff_aws(), VPN_RT, Route(OPS_CIDR, RouteTargetKind.PEERING, "pcx-0other"))
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert path.broken_at is not None and path.broken_at.step == "return route"
    assert "pcx-0other" in path.broken_at.detail


def test_reach_pending_peering_breaks_at_the_peering() -> None:
    aws = with_peering(handoff_aws(), status="pending-acceptance")
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert path.broken_at is not None
    assert path.broken_at.step == "peering" and "pending-acceptance" in path.broken_at.detail


def test_reach_blackhole_route_is_broken() -> None:
    aws = set_route(handoff_aws(), OPS_PRIVATE_RT, Route(GW_CIDR, RouteTargetKind.PEERING, PCX, state="blackhole"))
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert path.broken_at is not None and "blackhole" in path.broken_at.detail


def test_reach_refused_by_the_destination_security_group() -> None:
    only_ssh = (
        SecurityGroupRule("ingress", "tcp", 22, 22, OPS_CIDR),
        SecurityGroupRule("egress", "-1", None, None, "0.0.0.0/0"),
    )
    aws = with_group_rules(handoff_aws(), GW_SG, only_ssh)
    assert reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS, port=22).ok
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS, port=8000)
    assert not path.ok
    assert path.broken_at is not None and path.broken_at.step == "ingress rules"
    assert "8000" in path.broken_at.detail and SQLMESH_IP in path.broken_at.detail
    assert not reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS, protocol="icmp").ok


def test_reach_refused_by_the_source_egress_rules() -> None:
    ingress_only = tuple(r for r in handoff_aws().security_groups[0].rules if r.direction == "ingress")
    aws = with_group_rules(handoff_aws(), OPS_SG, ingress_only)
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert path.broken_at is not None and path.broken_at.step == "egress rules"


def test_reach_ingress_by_group_reference() -> None:
    by_group = (SecurityGroupRule("ingress", "-1", None, None, peer_group_id=OPS_SG),)
    aws = with_group_rules(handoff_aws(), GW_SG, by_group)
    assert reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS).ok


def test_reach_stopped_destination() -> None:
    aws = with_instance(handoff_aws(), VPN_MESH, state="stopped")
    path = reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS)
    assert path.broken_at is not None and "stopped" in path.broken_at.detail


def test_reach_unknown_addresses() -> None:
    path = reach("192.0.2.10", VPN_MESH_IP, handoff_aws(), SETTINGS)
    assert not path.ok and path.hops[0].step == "source"
    path = reach(SQLMESH_IP, "not-an-ip", handoff_aws(), SETTINGS)
    assert not path.ok and path.hops[-1].step == "destination"


def test_reach_to_an_address_without_instance_skips_its_groups() -> None:
    path = reach(SQLMESH_IP, "172.20.1.50", handoff_aws(), SETTINGS)
    assert path.ok, path.explain()
    assert path.hops[-1].verdict is HopVerdict.SKIPPED
    assert path.hops[4].resource == GW_RTS["private-2b"][0]  # the subnet's own table carries the return route


def test_longest_prefix_wins() -> None:
    aws = set_route(handoff_aws(), OPS_PRIVATE_RT, Route("172.20.0.0/24", RouteTargetKind.NAT_GATEWAY, OPS_NAT))
    from ipaddress import ip_address

    chosen = best_route(table(aws, OPS_PRIVATE_RT), ip_address(VPN_MESH_IP))
    assert chosen is not None and chosen.destination == "172.20.0.0/24"
    assert not reach(SQLMESH_IP, VPN_MESH_IP, aws, SETTINGS).ok
    assert reach(SQLMESH_IP, "172.20.1.50", aws, SETTINGS).ok  # outside the /24: still over the peering


def test_path_explain_has_a_line_per_hop() -> None:
    path = reach(SQLMESH_IP, VPN_MESH_IP, handoff_aws(), SETTINGS)
    assert len(path.explain().splitlines()) == len(path.hops) + 1


# --------------------------------------------------------------------------------------------------------------
# egress_for()


def test_egress_via_nat() -> None:
    aws = handoff_aws()
    egress = egress_for(instance(aws, SQLMESH), aws)
    assert egress.ok and egress.public_ip == OPS_NAT_IP and egress.via_id == OPS_NAT
    assert egress.route_table_id == OPS_PRIVATE_RT


def test_egress_via_igw_uses_the_instance_public_ip() -> None:
    aws = handoff_aws()
    egress = egress_for(instance(aws, ACCESS), aws)
    assert egress.ok and egress.public_ip == ACCESS_PUBLIC_IP and egress.via_kind == "igw"


def test_egress_via_igw_without_public_ip() -> None:
    aws = with_instance(handoff_aws(), ACCESS, public_ip="")
    egress = egress_for(instance(aws, ACCESS), aws)
    assert not egress.ok and egress.problem is EgressProblem.NO_PUBLIC_IP


def test_egress_without_default_route() -> None:
    aws = drop_route(handoff_aws(), OPS_PRIVATE_RT, "0.0.0.0/0")
    egress = egress_for(instance(aws, SQLMESH), aws)
    assert egress.problem is EgressProblem.NO_DEFAULT_ROUTE


def test_egress_through_an_unavailable_or_missing_nat() -> None:
    aws = handoff_aws()
    down = dataclasses.replace(
        aws,
        nat_gateways=tuple(dataclasses.replace(n, state="deleted") if n.id == OPS_NAT else n for n in aws.nat_gateways),
    )
    assert egress_for(instance(down, SQLMESH), down).problem is EgressProblem.NAT_NOT_AVAILABLE
    gone = dataclasses.replace(aws, nat_gateways=tuple(n for n in aws.nat_gateways if n.id != OPS_NAT))
    assert egress_for(instance(gone, SQLMESH), gone).problem is EgressProblem.NAT_MISSING
    private = dataclasses.replace(
        aws, nat_gateways=(NatGateway(OPS_NAT, "vpc", "subnet", "available", connectivity="private"),)
    )
    assert egress_for(instance(private, SQLMESH), private).problem is EgressProblem.NO_PUBLIC_IP


def test_egress_blackhole_and_unknown_targets() -> None:
    aws = set_route(
        handoff_aws(), OPS_PRIVATE_RT, Route("0.0.0.0/0", RouteTargetKind.NAT_GATEWAY, OPS_NAT, state="blackhole")
    )
    assert egress_for(instance(aws, SQLMESH), aws).problem is EgressProblem.BLACKHOLE
    aws = set_route(handoff_aws(), OPS_PRIVATE_RT, Route("0.0.0.0/0", RouteTargetKind.TRANSIT_GATEWAY, "tgw-1"))
    assert egress_for(instance(aws, SQLMESH), aws).problem is EgressProblem.UNKNOWN_TARGET


def test_egress_uses_the_main_table_for_an_unassociated_subnet() -> None:
    aws = handoff_aws()
    # Disassociate the private subnet: it falls back to the VPC's main table (public, via the IGW).
    aws = dataclasses.replace(
        aws,
        route_tables=tuple(
            dataclasses.replace(t, subnet_ids=()) if t.id == OPS_PRIVATE_RT else t for t in aws.route_tables
        ),
    )
    aws = with_instance(aws, SQLMESH, public_ip="")
    egress = egress_for(instance(aws, SQLMESH), aws)
    assert egress.problem is EgressProblem.NO_PUBLIC_IP and egress.via_kind == "igw"


@hyp_settings(max_examples=150, deadline=None)
@given(
    source=st.sampled_from([SQLMESH_IP, ACCESS_IP, VPN_MESH_IP, "172.20.1.9", "8.8.8.8", "junk", "::1"]),
    dest=st.sampled_from([SQLMESH_IP, ACCESS_IP, VPN_MESH_IP, "172.20.2.9", "10.0.0.1", "", "fe80::1"]),
    destination=st.sampled_from(["172.20.0.0/16", "172.22.0.0/16", "0.0.0.0/0", "pl-1", "::/0", "bad"]),
    kind=st.sampled_from(list(RouteTargetKind)),
    target=st.sampled_from([PCX, "pcx-0other", "local", "nat-x"]),
    protocol=st.sampled_from(["tcp", "udp", "icmp", "-1", "47"]),
    port=st.one_of(st.none(), st.integers(0, 65535)),
)
def test_reach_always_answers_and_stops_at_the_first_break(
    source: str, dest: str, destination: str, kind: RouteTargetKind, target: str, protocol: str, port: int | None
) -> None:
    aws = set_route(handoff_aws(), OPS_PRIVATE_RT, Route(destination, kind, target))
    path = reach(source, dest, aws, SETTINGS, protocol=protocol, port=port)
    verdicts = [h.verdict for h in path.hops]
    assert path.hops
    if HopVerdict.BROKEN in verdicts:
        assert verdicts.index(HopVerdict.BROKEN) == len(verdicts) - 1 and not path.ok
    else:
        assert path.ok
