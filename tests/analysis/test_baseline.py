"""Resolving the config's resources to live ones: id first, else Name tag (or group name, or service)."""

from __future__ import annotations

import dataclasses

from goodword_tui.analysis.baseline import (
    find_endpoint,
    find_instance,
    find_peering,
    find_security_group,
    find_vpc,
    label_for_ip,
    resolve,
    resolve_vpcs,
    vpc_has_cidr,
)
from goodword_tui.config import EndpointSpec, InstanceSpec, PeeringSpec, SecurityGroupSpec, VpcSpec
from goodword_tui.model import Instance, Peering, SecurityGroup, Vpc
from tests.analysis.builders import (
    ENDPOINT,
    GW_SG,
    GW_VPC,
    OPS_VPC,
    PCX,
    SQLMESH,
    SQLMESH_IP,
    handoff_aws,
    handoff_settings,
    replace_in,
)


def test_handoff_resolves_completely() -> None:
    resolved = resolve(handoff_settings(), handoff_aws())
    assert {k: v.id if v else None for k, v in resolved.vpcs.items()} == {"operations": OPS_VPC, "goodword": GW_VPC}
    assert resolved.peering is not None and resolved.peering.id == PCX
    assert all(t is not None for _, t in resolved.route_tables)
    assert [g.id for _, g in resolved.security_groups if g] == ["sg-033aa1aa2a52b3401", GW_SG]
    assert [e.id for _, e in resolved.endpoints if e] == [ENDPOINT]
    assert all(i is not None for _, i in resolved.instances)


def test_vpc_by_id_else_by_name() -> None:
    aws = handoff_aws()
    assert find_vpc(VpcSpec(key="k", label="l", id=OPS_VPC, cidr="172.22.0.0/16"), aws).id == OPS_VPC  # type: ignore[union-attr]
    by_name = VpcSpec(key="k", label="l", name_tag="goodword-vpc", cidr="172.20.0.0/16")
    assert find_vpc(by_name, aws).id == GW_VPC  # type: ignore[union-attr]
    # A recreated VPC (new id) is still found by its Name tag when the config gives both.
    both = VpcSpec(key="k", label="l", id="vpc-0old", name_tag="goodword-vpc", cidr="172.20.0.0/16")
    assert find_vpc(both, aws).id == GW_VPC  # type: ignore[union-attr]
    assert find_vpc(VpcSpec(key="k", label="l", id="vpc-0old", cidr="172.20.0.0/16"), aws) is None


def test_peering_without_id_is_the_live_one_joining_the_vpcs() -> None:
    aws = handoff_aws()
    old = Peering("pcx-0old", "deleted", "vpc-x", "10.0.0.0/16", GW_VPC, "172.20.0.0/16")
    older = Peering("pcx-0aaa", "rejected", OPS_VPC, "172.22.0.0/16", GW_VPC, "172.20.0.0/16")
    aws = dataclasses.replace(aws, peerings=(older, old, *aws.peerings))
    vpcs = resolve_vpcs(handoff_settings(), aws)
    found = find_peering(PeeringSpec(requester="operations", accepter="goodword"), aws, vpcs)
    assert found is not None and found.id == PCX
    assert find_peering(PeeringSpec(id="pcx-0nope", requester="operations", accepter="goodword"), aws, vpcs) is None


def test_security_group_by_name_prefers_the_configured_vpc() -> None:
    aws = handoff_aws()
    twin = SecurityGroup("sg-0twin", "goodword-cross-vpc", OPS_VPC)
    aws = dataclasses.replace(aws, security_groups=(twin, *aws.security_groups))
    gw = Vpc(GW_VPC, "172.20.0.0/16")
    spec = SecurityGroupSpec(vpc="goodword", name="goodword-cross-vpc")
    assert find_security_group(spec, aws, gw).id == GW_SG  # type: ignore[union-attr]


def test_endpoint_by_service_when_no_id() -> None:
    aws = handoff_aws()
    spec = EndpointSpec(vpc="operations", service="com.amazonaws.us-east-2.execute-api")
    assert find_endpoint(spec, aws, Vpc(OPS_VPC, "172.22.0.0/16")).id == ENDPOINT  # type: ignore[union-attr]
    assert find_endpoint(spec, aws, Vpc(GW_VPC, "172.20.0.0/16")) is None


def test_instance_by_name_tag_prefers_a_live_one() -> None:
    aws = handoff_aws()
    dead = Instance("i-0000dead", "sqlmesh-server", "terminated", OPS_VPC, "subnet", "172.22.2.5")
    aws = dataclasses.replace(aws, instances=(dead, *aws.instances))
    spec = InstanceSpec(key="s", label="S", name_tag="sqlmesh-server", private_ip=SQLMESH_IP, vpc="operations")
    assert find_instance(spec, aws).id == SQLMESH  # type: ignore[union-attr]
    aws = dataclasses.replace(aws, instances=replace_in(aws.instances, SQLMESH, name="other"))
    assert find_instance(spec, aws).id == "i-0000dead"  # type: ignore[union-attr]


def test_vpc_cidr_comparison_is_by_network() -> None:
    vpc = Vpc("vpc-1", "172.22.0.0/16", extra_cidrs=("100.64.0.0/16",))
    assert vpc_has_cidr(vpc, "172.22.0.0/16") and vpc_has_cidr(vpc, "100.64.0.0/16")
    assert not vpc_has_cidr(vpc, "172.22.0.0/17")


def test_label_for_ip() -> None:
    assert label_for_ip(handoff_settings(), SQLMESH_IP) == "SQLMesh server"
    assert label_for_ip(handoff_settings(), "8.8.8.8") == ""
