"""The AWS sandbox builds the hand-off's platform as config.toml describes it, with ids that repeat."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from goodword_tui.config import load_settings
from goodword_tui.sandbox.aws import (
    ARTIFACTS_BUCKET,
    EXECUTE_API_SERVICE,
    SANDBOX_ACCESS_KEY_ID,
    SNOWFLAKE_SECRET_NAME,
    AwsSandbox,
    AwsTopology,
    seed_handoff,
)
from tests.fixtures.aws import PRODUCTION_CONFIG

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = load_settings(PRODUCTION_CONFIG)
VPC_KEY_BY_CIDR = {v.cidr: v.key for v in PRODUCTION.aws.vpcs}


def _name(resource: dict[str, Any]) -> str:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == "Name"), "")


def _plain(topology: AwsTopology) -> dict[str, Any]:
    return {
        f.name: (dict(v) if hasattr(v, "items") else v)
        for f in dataclasses.fields(topology)
        for v in [getattr(topology, f.name)]
    }


def test_vpcs_subnets_and_gateways(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> None:
    sandbox, topo = aws_handoff
    ec2 = sandbox.client("ec2")
    vpcs = {v["VpcId"]: v for v in ec2.describe_vpcs(VpcIds=list(topo.vpcs.values()))["Vpcs"]}
    for spec in PRODUCTION.aws.vpcs:
        vpc = vpcs[topo.vpcs[spec.key]]
        assert vpc["CidrBlock"] == spec.cidr
        assert _name(vpc) == (spec.name_tag or f"{spec.key}-vpc")

    subnets = {_name(s): s for s in ec2.describe_subnets(SubnetIds=list(topo.subnets.values()))["Subnets"]}
    assert {name: (s["CidrBlock"], s["VpcId"]) for name, s in subnets.items()} == {
        "operations-public": ("172.22.1.0/24", topo.vpcs["operations"]),
        "operations-private": ("172.22.2.0/24", topo.vpcs["operations"]),
        "goodword-public": ("172.20.10.0/24", topo.vpcs["goodword"]),
        "goodword-private-2a": ("172.20.0.0/24", topo.vpcs["goodword"]),
        "goodword-private-2b": ("172.20.1.0/24", topo.vpcs["goodword"]),
        "goodword-private-2c": ("172.20.2.0/24", topo.vpcs["goodword"]),
        "goodword-db": ("172.20.3.0/24", topo.vpcs["goodword"]),
    }
    assert {n for n, s in subnets.items() if s["MapPublicIpOnLaunch"]} == {"operations-public", "goodword-public"}

    igws = ec2.describe_internet_gateways(InternetGatewayIds=list(topo.internet_gateways.values()))
    attached = {g["InternetGatewayId"]: [a["VpcId"] for a in g["Attachments"]] for g in igws["InternetGateways"]}
    assert attached == {topo.internet_gateways[k]: [topo.vpcs[k]] for k in ("operations", "goodword")}

    nats = {n["NatGatewayId"]: n for n in ec2.describe_nat_gateways()["NatGateways"]}
    assert len(nats) == 2
    for key, public_subnet in (("operations", "operations-public"), ("goodword", "goodword-public")):
        nat_id, public_ip = topo.nat_gateways[key]
        nat = nats[nat_id]
        assert (nat["State"], nat["VpcId"], nat["SubnetId"]) == (
            "available",
            topo.vpcs[key],
            topo.subnets[public_subnet],
        )
        assert nat["NatGatewayAddresses"][0]["PublicIp"] == public_ip
    addresses = {a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]}
    assert addresses == {topo.nat_gateways["operations"][1], topo.nat_gateways["goodword"][1], topo.access_public_ip}


def test_peering_and_route_tables_match_config(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> None:
    sandbox, topo = aws_handoff
    ec2 = sandbox.client("ec2")
    (peering,) = ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]
    assert peering["VpcPeeringConnectionId"] == topo.peering_id
    assert peering["Status"]["Code"] == "active"
    assert peering["RequesterVpcInfo"]["VpcId"] == topo.vpcs[PRODUCTION.aws.peering.requester]
    assert peering["AccepterVpcInfo"]["VpcId"] == topo.vpcs[PRODUCTION.aws.peering.accepter]

    tables = {_name(t): t for t in ec2.describe_route_tables()["RouteTables"] if _name(t)}
    assert set(tables) == {t.name_tag for t in PRODUCTION.aws.route_tables}
    assert len(PRODUCTION.aws.route_tables) == 7
    for spec in PRODUCTION.aws.route_tables:
        table = tables[spec.name_tag]
        assert table["RouteTableId"] == topo.route_tables[spec.name_tag]
        assert table["VpcId"] == topo.vpcs[spec.vpc]
        routes = {r["DestinationCidrBlock"]: r for r in table["Routes"]}
        for expected in spec.routes:  # config: the other VPC through the peering
            assert routes[expected.destination]["VpcPeeringConnectionId"] == topo.peering_id
        assert routes[PRODUCTION.aws.vpc_spec(spec.vpc).cidr]["GatewayId"] == "local"
        default = routes["0.0.0.0/0"]
        if "public" in spec.name_tag:
            assert default["GatewayId"] == topo.internet_gateways[spec.vpc]
        else:
            assert default["NatGatewayId"] == topo.nat_gateways[spec.vpc][0]
        assert len(routes) == 3
        subnet_ids = [a["SubnetId"] for a in table["Associations"] if "SubnetId" in a]
        assert len(subnet_ids) == 1
    # Every named subnet is explicitly associated with exactly one named table.
    associated = [a["SubnetId"] for t in tables.values() for a in t["Associations"] if "SubnetId" in a]
    assert sorted(associated) == sorted(topo.subnets.values())
    mains = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert {t["VpcId"]: t["RouteTableId"] for t in mains if t["VpcId"] in topo.vpcs.values()} == {
        topo.vpcs[k]: v for k, v in topo.main_route_tables.items()
    }


def test_security_groups_endpoint_and_instances_match_config(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> None:
    sandbox, topo = aws_handoff
    ec2 = sandbox.client("ec2")
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    by_config = {0: topo.security_groups["operations-endpoints"], 1: topo.security_groups["goodword-cross-vpc"]}
    for index, spec in enumerate(PRODUCTION.aws.security_groups):
        group = groups[by_config[index]]
        assert group["VpcId"] == topo.vpcs[spec.vpc]
        if spec.name:
            assert group["GroupName"] == spec.name
        seen = {
            (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
            for p in group["IpPermissions"]
            for r in p["IpRanges"]
        }
        wanted = {
            (r.protocol, -1 if r.from_port is None else r.from_port, -1 if r.to_port is None else r.to_port, r.cidr)
            for r in spec.rules
        }
        assert seen == wanted
    assert _name(groups[topo.security_groups["operations-endpoints"]]) == "operations-endpoints"

    (endpoint,) = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert endpoint["VpcEndpointId"] == topo.endpoint_id
    assert endpoint["ServiceName"] == EXECUTE_API_SERVICE == PRODUCTION.aws.endpoints[0].service
    assert (endpoint["VpcEndpointType"], endpoint["State"]) == ("Interface", "available")
    assert endpoint["SubnetIds"] == [topo.subnets["operations-private"]]
    assert [g["GroupId"] for g in endpoint["Groups"]] == [topo.security_groups["operations-endpoints"]]

    reservations = ec2.describe_instances()["Reservations"]
    instances = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    assert len(instances) == 3
    subnet_of = {"access": "operations-public", "sqlmesh": "operations-private", "vpn-mesh": "goodword-private-2a"}
    for spec in PRODUCTION.aws.instances:
        instance = instances[topo.instances[spec.key]]
        assert instance["PrivateIpAddress"] == spec.private_ip
        assert instance["VpcId"] == topo.vpcs[spec.vpc]
        assert instance["SubnetId"] == topo.subnets[subnet_of[spec.key]]
        assert instance["State"]["Name"] == "running"
        assert instance["ImageId"] == topo.image_id
        assert _name(instance)
    assert instances[topo.instances["access"]]["PublicIpAddress"] == topo.access_public_ip
    assert "PublicIpAddress" not in instances[topo.instances["sqlmesh"]]


def test_secret_and_bucket(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> None:
    sandbox, topo = aws_handoff
    secret = sandbox.client("secretsmanager").describe_secret(SecretId=SNOWFLAKE_SECRET_NAME)
    assert secret["ARN"] == topo.secret_arn
    value = json.loads(sandbox.client("secretsmanager").get_secret_value(SecretId=topo.secret_arn)["SecretString"])
    assert value["account"] == PRODUCTION.snowflake.account
    buckets = [b["Name"] for b in sandbox.client("s3").list_buckets()["Buckets"]]
    assert buckets == [ARTIFACTS_BUCKET] == [topo.bucket]


def test_handoff_id_map_covers_every_id_in_config(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> None:
    _, topo = aws_handoff
    text = PRODUCTION_CONFIG.read_text(encoding="utf-8")
    mapping = topo.handoff_id_map()
    for handoff_id in mapping:
        assert handoff_id in text
    ids_in_config = {
        *(v.id for v in PRODUCTION.aws.vpcs if v.id),
        PRODUCTION.aws.peering.id,
        *(g.id for g in PRODUCTION.aws.security_groups if g.id),
        *(e.id for e in PRODUCTION.aws.endpoints if e.id),
        *(i.id for i in PRODUCTION.aws.instances if i.id),
    }
    assert set(mapping) == ids_in_config
    assert set(mapping.values()).isdisjoint(ids_in_config)


def test_ids_repeat_after_reset(aws_sandbox: AwsSandbox) -> None:
    aws_sandbox.reset_and_seed()
    first = seed_handoff(aws_sandbox)
    default_vpcs = [v["VpcId"] for v in aws_sandbox.client("ec2").describe_vpcs()["Vpcs"]]
    aws_sandbox.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")  # history in between must not matter
    aws_sandbox.reset_and_seed()
    second = seed_handoff(aws_sandbox)
    assert second == first
    assert [v["VpcId"] for v in aws_sandbox.client("ec2").describe_vpcs()["Vpcs"]] == default_vpcs
    aws_sandbox.reset_and_seed(seed=7)
    assert seed_handoff(aws_sandbox).vpcs != first.vpcs


def test_ids_repeat_in_another_process(aws_sandbox: AwsSandbox) -> None:
    program = (
        "import dataclasses, json\n"
        "from goodword_tui.sandbox.aws import AwsSandbox, seed_handoff\n"
        "with AwsSandbox() as sandbox:\n"
        "    topo = seed_handoff(sandbox)\n"
        "    print(json.dumps({f.name: getattr(topo, f.name) for f in dataclasses.fields(topo)}, default=dict))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    aws_sandbox.reset_and_seed()
    ours = seed_handoff(aws_sandbox)
    theirs = json.loads(other.stdout)
    assert theirs == json.loads(json.dumps(_plain(ours)))
    assert other.stderr == ""  # the server's request log stays quiet


def test_seeding_is_quick(aws_sandbox: AwsSandbox) -> None:
    # CPU time of this process (the moto server runs in it too): what seeding costs, whatever else the
    # machine is doing. On an idle machine the wall time is about the same (≈0.6 s).
    started = time.process_time()
    aws_sandbox.reset_and_seed()
    seed_handoff(aws_sandbox)
    used = time.process_time() - started
    assert used < 1.5, f"reset + seed used {used:.2f} s of CPU"


def test_sandbox_session_ignores_the_users_aws_setup(
    aws_sandbox: AwsSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "should-not-be-used")
    broken = tmp_path / "config"
    broken.write_text("[profile x\nthis is not ini", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(broken))
    session = aws_sandbox.boto3_session()
    assert session.get_credentials().access_key == SANDBOX_ACCESS_KEY_ID
    client = session.client("sts", endpoint_url=aws_sandbox.endpoint_url)
    assert client.get_caller_identity()["Account"] == "123456789012"


def test_recorder_tells_reads_from_writes(aws_handoff: tuple[AwsSandbox, AwsTopology]) -> None:
    sandbox, topo = aws_handoff
    ec2 = sandbox.client("ec2")
    sandbox.start_recording()
    try:
        ec2.describe_vpcs()
        ec2.create_tags(Resources=[topo.vpcs["goodword"]], Tags=[{"Key": "touched", "Value": "yes"}])
        sandbox.client("secretsmanager").get_secret_value(SecretId=topo.secret_arn)
        sandbox.client("s3").list_objects_v2(Bucket=topo.bucket)
        sandbox.client("s3").put_object(Bucket=topo.bucket, Key="journal.jsonl", Body=b"{}\n")
        sandbox.reset_and_seed()  # moto's own control API is never recorded
    finally:
        sandbox.stop_recording()
    recorded = sandbox.recorded_requests()
    assert [(r.service, r.action, r.mutating) for r in recorded] == [
        ("ec2", "DescribeVpcs", False),
        ("ec2", "CreateTags", True),
        ("secretsmanager", "GetSecretValue", False),
        ("s3", f"GET /{topo.bucket}", False),
        ("s3", f"PUT /{topo.bucket}/journal.jsonl", True),
    ]
    ec2.describe_vpcs()  # after stop: not recorded
    assert len(sandbox.recorded_requests()) == len(recorded)
    sandbox.start_recording()
    sandbox.stop_recording()
    assert sandbox.recorded_requests() == ()
