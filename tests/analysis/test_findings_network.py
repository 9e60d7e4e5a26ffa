"""Network findings: VPCs, peering, route tables (configured and actually used), security groups, endpoint,
instances. Each test breaks one thing in the hand-off state, which itself has no network finding."""

from __future__ import annotations

import dataclasses

import pytest

from goodword_tui.analysis.findings import sg_rule_covers
from goodword_tui.config import ExpectedSgRule
from goodword_tui.model import (
    Area,
    Instance,
    Route,
    RouteTable,
    RouteTargetKind,
    SecurityGroupRule,
    Severity,
    Subnet,
)
from tests.analysis.builders import (
    ENDPOINT,
    GW_CIDR,
    GW_RTS,
    GW_SG,
    GW_VPC,
    OPS_CIDR,
    OPS_PRIVATE_RT,
    OPS_PUBLIC_RT,
    OPS_SG,
    OPS_VPC,
    PCX,
    SQLMESH,
    VPN_MESH,
    codes,
    drop_route,
    handoff_aws,
    one,
    replace_in,
    run,
    set_route,
    with_code,
    with_group_rules,
    with_instance,
    with_peering,
    with_table,
    without,
)

VPN_RT = GW_RTS["private-2a"][0]
DB_RT = GW_RTS["db"][0]


def network_codes(findings) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.code for f in findings if f.code.startswith("NET_")}


def test_handoff_state_has_no_network_findings() -> None:
    assert network_codes(run()) == set()


# --------------------------------------------------------------------------------------------------------------
# VPCs


def test_missing_vpc_is_critical() -> None:
    aws = dataclasses.replace(handoff_aws(), vpcs=without(handoff_aws().vpcs, GW_VPC))
    finding = one(run(aws), "NET_VPC_MISSING")
    assert finding.severity is Severity.CRITICAL and finding.area is Area.NETWORK
    assert finding.resource == "Name=goodword-vpc"


def test_vpc_cidr_mismatch_is_critical() -> None:
    aws = dataclasses.replace(handoff_aws(), vpcs=replace_in(handoff_aws().vpcs, OPS_VPC, cidr="172.23.0.0/16"))
    finding = one(run(aws), "NET_VPC_CIDR_MISMATCH", OPS_VPC)
    assert finding.severity is Severity.CRITICAL and "172.23.0.0/16" in finding.message


def test_a_secondary_cidr_satisfies_the_config() -> None:
    vpcs = replace_in(handoff_aws().vpcs, OPS_VPC, cidr="10.9.0.0/16", extra_cidrs=(OPS_CIDR,))
    assert "NET_VPC_CIDR_MISMATCH" not in codes(run(dataclasses.replace(handoff_aws(), vpcs=vpcs)))


# --------------------------------------------------------------------------------------------------------------
# Peering


def test_missing_peering_is_critical_without_cascading_route_findings() -> None:
    findings = run(dataclasses.replace(handoff_aws(), peerings=()))
    finding = one(findings, "NET_PEERING_MISSING", PCX)
    assert finding.severity is Severity.CRITICAL
    assert network_codes(findings) == {"NET_PEERING_MISSING"}


def test_pending_peering_is_critical_with_accept_fix() -> None:
    finding = one(run(with_peering(handoff_aws(), status="pending-acceptance")), "NET_PEERING_PENDING", PCX)
    assert finding.severity is Severity.CRITICAL
    assert finding.fix is not None
    assert finding.fix.action == "accept_peering" and dict(finding.fix.params) == {"peering_id": PCX}


@pytest.mark.parametrize("status", ["rejected", "deleted", "failed", "expired", "provisioning"])
def test_peering_in_other_states_is_critical(status: str) -> None:
    findings = run(with_peering(handoff_aws(), status=status, status_message="why not"))
    finding = one(findings, "NET_PEERING_NOT_ACTIVE", PCX)
    assert finding.severity is Severity.CRITICAL and status in finding.message
    assert "why not" in finding.evidence
    assert finding.fix is None
    assert "NET_PEERING_PENDING" not in codes(findings)


def test_peering_joining_other_vpcs_is_critical() -> None:
    finding = one(run(with_peering(handoff_aws(), accepter_vpc_id="vpc-0elsewhere")), "NET_PEERING_WRONG_VPCS")
    assert finding.severity is Severity.CRITICAL and "vpc-0elsewhere" in finding.message


def test_peering_sides_swapped_are_fine() -> None:
    aws = with_peering(
        handoff_aws(),
        requester_vpc_id=GW_VPC,
        requester_cidr=GW_CIDR,
        accepter_vpc_id=OPS_VPC,
        accepter_cidr=OPS_CIDR,
    )
    assert network_codes(run(aws)) == set()


def test_peering_cidr_mismatch_is_critical() -> None:
    finding = one(run(with_peering(handoff_aws(), accepter_cidr="172.21.0.0/16")), "NET_PEERING_CIDR_MISMATCH")
    assert finding.severity is Severity.CRITICAL
    assert any("172.21.0.0/16" in line for line in finding.evidence)


# --------------------------------------------------------------------------------------------------------------
# Route tables


def test_missing_route_table_is_critical() -> None:
    aws = with_table(handoff_aws(), DB_RT, name="renamed")
    finding = one(run(aws), "NET_ROUTE_TABLE_MISSING", "Name=goodword-db-rt")
    assert finding.severity is Severity.CRITICAL


def test_missing_route_is_critical_with_create_fix() -> None:
    findings = run(drop_route(handoff_aws(), DB_RT, OPS_CIDR))
    finding = one(findings, "NET_ROUTE_MISSING", DB_RT)
    assert finding.severity is Severity.CRITICAL
    assert "Goodword database" in finding.message
    assert finding.fix is not None and finding.fix.action == "create_route"
    assert dict(finding.fix.params) == {"route_table_id": DB_RT, "destination": OPS_CIDR, "peering_id": PCX}
    assert network_codes(findings) == {"NET_ROUTE_MISSING"}


def test_missing_route_in_a_table_used_by_an_instance_is_reported_once_with_both_reasons() -> None:
    findings = run(drop_route(handoff_aws(), VPN_RT, OPS_CIDR))
    finding = one(findings, "NET_ROUTE_MISSING", VPN_RT)
    assert any(line.startswith("configured for") for line in finding.evidence)
    assert any("vpn-mesh" in line and "172.20.0.91" in line for line in finding.evidence)
    # The default route would take the traffic instead, and the evidence says where.
    assert any("follows 0.0.0.0/0" in line for line in finding.evidence)


def test_return_route_missing_in_operations_table() -> None:
    finding = one(run(drop_route(handoff_aws(), OPS_PRIVATE_RT, GW_CIDR)), "NET_ROUTE_MISSING", OPS_PRIVATE_RT)
    assert finding.fix is not None and finding.fix.params["destination"] == GW_CIDR


def test_route_to_another_peering_is_critical_with_replace_fix() -> None:
    aws = set_route(handoff_aws(), DB_RT, Route(OPS_CIDR, RouteTargetKind.PEERING, "pcx-0stale"))
    finding = one(run(aws), "NET_ROUTE_WRONG_TARGET", DB_RT)
    assert finding.severity is Severity.CRITICAL and "pcx-0stale" in finding.message
    assert finding.fix is not None and finding.fix.action == "replace_route"
    assert finding.fix.params["peering_id"] == PCX


def test_route_to_a_nat_instead_of_the_peering_is_wrong_target() -> None:
    aws = set_route(handoff_aws(), DB_RT, Route(OPS_CIDR, RouteTargetKind.NAT_GATEWAY, "nat-0x"))
    assert one(run(aws), "NET_ROUTE_WRONG_TARGET", DB_RT).severity is Severity.CRITICAL


def test_blackhole_route_is_critical_with_replace_fix() -> None:
    aws = set_route(handoff_aws(), DB_RT, Route(OPS_CIDR, RouteTargetKind.PEERING, PCX, state="blackhole"))
    findings = run(aws)
    finding = one(findings, "NET_ROUTE_BLACKHOLE", DB_RT)
    assert finding.severity is Severity.CRITICAL
    assert finding.fix is not None and finding.fix.action == "replace_route"
    assert "NET_ROUTE_MISSING" not in codes(findings)


def test_a_wider_route_to_the_peering_satisfies_the_expected_one() -> None:
    aws = drop_route(handoff_aws(), DB_RT, OPS_CIDR)
    aws = set_route(aws, DB_RT, Route("172.16.0.0/12", RouteTargetKind.PEERING, PCX))
    assert network_codes(run(aws)) == set()


def test_an_unlisted_table_used_by_an_instance_must_route_to_the_peer() -> None:
    aws = handoff_aws()
    subnet = Subnet("subnet-0ops0batch", OPS_VPC, "172.22.3.0/24")
    rtb = RouteTable(
        "rtb-0ops0batch",
        OPS_VPC,
        name="operations-batch-rt",
        subnet_ids=(subnet.id,),
        routes=(Route(OPS_CIDR, RouteTargetKind.LOCAL, "local"),),
    )
    batch = Instance("i-0batch", "batch", "running", OPS_VPC, subnet.id, "172.22.3.10", security_group_ids=(OPS_SG,))
    aws = dataclasses.replace(
        aws,
        subnets=(*aws.subnets, subnet),
        route_tables=(*aws.route_tables, rtb),
        instances=(*aws.instances, batch),
    )
    finding = one(run(aws), "NET_ROUTE_MISSING", "rtb-0ops0batch")
    assert finding.fix is not None and dict(finding.fix.params) == {
        "route_table_id": "rtb-0ops0batch",
        "destination": GW_CIDR,
        "peering_id": PCX,
    }
    assert any("subnet-0ops0batch" in line for line in finding.evidence)


def test_terminated_instances_do_not_count() -> None:
    aws = handoff_aws()
    subnet = Subnet("subnet-0old", OPS_VPC, "172.22.4.0/24")
    rtb = RouteTable("rtb-0old", OPS_VPC, subnet_ids=(subnet.id,), routes=())
    gone = Instance("i-0old", "old", "terminated", OPS_VPC, subnet.id, "172.22.4.4")
    aws = dataclasses.replace(
        aws, subnets=(*aws.subnets, subnet), route_tables=(*aws.route_tables, rtb), instances=(*aws.instances, gone)
    )
    assert network_codes(run(aws)) == set()


def test_instance_subnet_without_any_route_table() -> None:
    aws = handoff_aws()
    subnet = Subnet("subnet-0orphan", OPS_VPC, "172.22.5.0/24")
    orphan = Instance("i-0orphan", "orphan", "running", OPS_VPC, subnet.id, "172.22.5.5")
    aws = dataclasses.replace(
        aws,
        subnets=(*aws.subnets, subnet),
        instances=(*aws.instances, orphan),
        route_tables=replace_in(aws.route_tables, OPS_PUBLIC_RT, main=False),
    )
    assert one(run(aws), "NET_SUBNET_NO_ROUTE_TABLE", "subnet-0orphan").severity is Severity.CRITICAL


# --------------------------------------------------------------------------------------------------------------
# Security groups


def test_missing_security_group_is_critical() -> None:
    aws = dataclasses.replace(handoff_aws(), security_groups=replace_in(handoff_aws().security_groups, GW_SG, name="x"))
    assert one(run(aws), "NET_SG_MISSING", "name=goodword-cross-vpc").severity is Severity.CRITICAL


def test_missing_cross_vpc_rule_is_critical_with_add_fix() -> None:
    rules = [r for r in table_rules(GW_SG) if r.protocol != "udp"]
    finding = one(run(with_group_rules(handoff_aws(), GW_SG, rules)), "NET_SG_RULE_MISSING", GW_SG)
    assert finding.severity is Severity.CRITICAL and "udp" in finding.message
    assert finding.fix is not None and finding.fix.action == "add_sg_rule"
    assert dict(finding.fix.params) == {
        "group_id": GW_SG,
        "direction": "ingress",
        "protocol": "udp",
        "from_port": 0,
        "to_port": 65535,
        "cidr": OPS_CIDR,
    }


def test_missing_icmp_rule_fix_uses_all_types() -> None:
    rules = [r for r in table_rules(OPS_SG) if r.protocol != "icmp"]
    finding = one(run(with_group_rules(handoff_aws(), OPS_SG, rules)), "NET_SG_RULE_MISSING", OPS_SG)
    assert finding.fix is not None
    assert (finding.fix.params["protocol"], finding.fix.params["from_port"], finding.fix.params["to_port"]) == (
        "icmp",
        -1,
        -1,
    )


def test_one_all_traffic_rule_covers_every_expected_rule() -> None:
    rules = [SecurityGroupRule("ingress", "-1", None, None, "172.16.0.0/12")]
    assert "NET_SG_RULE_MISSING" not in codes(run(with_group_rules(handoff_aws(), GW_SG, rules)))


def table_rules(group_id: str) -> tuple[SecurityGroupRule, ...]:
    return next(g for g in handoff_aws().security_groups if g.id == group_id).rules


def expected(protocol: str, low: int | None = None, high: int | None = None, cidr: str = OPS_CIDR) -> ExpectedSgRule:
    return ExpectedSgRule(protocol=protocol, from_port=low, to_port=high, cidr=cidr)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actual", "wanted", "covered"),
    [
        (SecurityGroupRule("ingress", "-1", None, None, "0.0.0.0/0"), expected("tcp", 0, 65535), True),
        (SecurityGroupRule("ingress", "6", 0, 65535, OPS_CIDR), expected("tcp", 0, 65535), True),
        (SecurityGroupRule("ingress", "tcp", 0, 65535, "172.22.0.0/24"), expected("tcp", 0, 65535), False),
        (SecurityGroupRule("ingress", "tcp", 22, 22, OPS_CIDR), expected("tcp", 0, 65535), False),
        (SecurityGroupRule("ingress", "tcp", 0, 65535, OPS_CIDR), expected("tcp", 443, 443), True),
        (SecurityGroupRule("ingress", "tcp", 0, 65535, OPS_CIDR), expected("udp", 0, 65535), False),
        (SecurityGroupRule("egress", "-1", None, None, OPS_CIDR), expected("tcp", 0, 65535), False),
        (SecurityGroupRule("ingress", "icmp", -1, -1, OPS_CIDR), expected("icmp"), True),
        (SecurityGroupRule("ingress", "icmp", 8, -1, OPS_CIDR), expected("icmp"), False),
        (SecurityGroupRule("ingress", "icmp", -1, -1, OPS_CIDR), expected("icmp", 8, 0), True),
        (SecurityGroupRule("ingress", "icmp", 8, -1, OPS_CIDR), expected("icmp", 8, 0), True),
        (SecurityGroupRule("ingress", "icmp", 0, -1, OPS_CIDR), expected("icmp", 8, 0), False),
        (SecurityGroupRule("ingress", "tcp", 0, 65535, peer_group_id="sg-1"), expected("tcp", 0, 65535), False),
        (SecurityGroupRule("ingress", "tcp", 0, 65535, OPS_CIDR), expected("-1"), False),
    ],
)
def test_sg_rule_coverage(actual: SecurityGroupRule, wanted: ExpectedSgRule, covered: bool) -> None:
    assert sg_rule_covers(actual, wanted) is covered


def test_rule_open_to_the_world_on_all_ports_is_a_warning() -> None:
    rules = (*table_rules(GW_SG), SecurityGroupRule("ingress", "-1", None, None, "0.0.0.0/0", description="temp"))
    finding = one(run(with_group_rules(handoff_aws(), GW_SG, rules)), "NET_SG_OPEN_TO_WORLD", GW_SG)
    assert finding.severity is Severity.WARNING and "temp" in finding.evidence


@pytest.mark.parametrize(
    ("rule", "flagged"),
    [
        (SecurityGroupRule("ingress", "tcp", 0, 65535, "0.0.0.0/0"), True),
        (SecurityGroupRule("ingress", "udp", None, None, "::/0"), True),
        (SecurityGroupRule("ingress", "tcp", 443, 443, "0.0.0.0/0"), False),
        (SecurityGroupRule("ingress", "-1", None, None, "10.0.0.0/8"), False),
        (SecurityGroupRule("egress", "-1", None, None, "0.0.0.0/0"), False),  # the AWS default: fine
    ],
)
def test_open_to_world_only_for_all_ports_ingress(rule: SecurityGroupRule, flagged: bool) -> None:
    findings = run(with_group_rules(handoff_aws(), OPS_SG, (*table_rules(OPS_SG), rule)))
    assert ("NET_SG_OPEN_TO_WORLD" in codes(findings)) is flagged


# --------------------------------------------------------------------------------------------------------------
# Endpoint and instances


def test_missing_endpoint_is_critical() -> None:
    aws = dataclasses.replace(handoff_aws(), endpoints=())
    assert one(run(aws), "NET_ENDPOINT_MISSING", ENDPOINT).severity is Severity.CRITICAL


@pytest.mark.parametrize("state", ["pending", "failed", "deleting", "rejected"])
def test_endpoint_not_available_is_critical(state: str) -> None:
    aws = dataclasses.replace(handoff_aws(), endpoints=replace_in(handoff_aws().endpoints, ENDPOINT, state=state))
    finding = one(run(aws), "NET_ENDPOINT_NOT_AVAILABLE", ENDPOINT)
    assert finding.severity is Severity.CRITICAL and state in finding.message


def test_endpoint_state_is_case_insensitive() -> None:
    aws = dataclasses.replace(handoff_aws(), endpoints=replace_in(handoff_aws().endpoints, ENDPOINT, state="Available"))
    assert network_codes(run(aws)) == set()


def test_endpoint_for_another_service_is_a_warning() -> None:
    aws = dataclasses.replace(
        handoff_aws(), endpoints=replace_in(handoff_aws().endpoints, ENDPOINT, service_name="com.amazonaws.x.s3")
    )
    assert one(run(aws), "NET_ENDPOINT_SERVICE_MISMATCH", ENDPOINT).severity is Severity.WARNING


def test_missing_instance_is_critical() -> None:
    aws = dataclasses.replace(handoff_aws(), instances=without(handoff_aws().instances, VPN_MESH))
    finding = one(run(aws), "NET_INSTANCE_MISSING", VPN_MESH)
    assert finding.severity is Severity.CRITICAL and "VPN mesh server" in finding.message


@pytest.mark.parametrize("state", ["stopped", "stopping", "pending"])
def test_instance_not_running_is_critical(state: str) -> None:
    finding = one(run(with_instance(handoff_aws(), SQLMESH, state=state)), "NET_INSTANCE_NOT_RUNNING", SQLMESH)
    assert finding.severity is Severity.CRITICAL and state in finding.message


def test_instance_ip_mismatch_is_a_warning() -> None:
    findings = run(with_instance(handoff_aws(), VPN_MESH, private_ip="172.20.0.92"))
    finding = one(findings, "NET_INSTANCE_IP_MISMATCH", VPN_MESH)
    assert finding.severity is Severity.WARNING and "172.20.0.92" in finding.message
    assert len(with_code(findings, "NET_INSTANCE_IP_MISMATCH")) == 1


def test_instance_found_by_name_tag_when_the_config_has_no_id() -> None:
    from tests.analysis.builders import handoff_settings

    def by_name(data: dict) -> None:  # type: ignore[type-arg]
        spec = data["aws"]["instances"][2]
        del spec["id"]
        spec["name_tag"] = "vpn-mesh"

    assert "NET_INSTANCE_MISSING" not in codes(run(settings=handoff_settings(by_name)))
    aws = with_instance(handoff_aws(), VPN_MESH, name="renamed")
    assert one(run(aws, settings=handoff_settings(by_name)), "NET_INSTANCE_MISSING", "Name=vpn-mesh")
