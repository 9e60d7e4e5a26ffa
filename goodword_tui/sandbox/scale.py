"""The `scale` scenario: the hand-off grown to the size where slow code shows.

Hundreds of route tables, thousands of security-group rules and a 1,000-entry policy, made through the real
APIs like every other scenario. The dashboard benchmark runs on it to show that refreshes stay off the screen's
thread and that tables stay responsive.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goodword_tui.sandbox.platform import SandboxPlatform

EXTRA_ROUTE_TABLES = 300
SECURITY_GROUPS = 40
RULES_PER_GROUP = 60  # 2,400 ingress rules in all
POLICY_ENTRIES = 1000
POLICY = "INTEGRATIONS"


def _public_hosts(count: int) -> list[str]:
    """Distinct public /32s (52.0.0.0/8 is AWS's public space), in a stable order."""
    base = int(ipaddress.IPv4Address("52.10.0.1"))
    return [str(ipaddress.IPv4Address(base + i * 7)) for i in range(count)]


def apply_scale(platform: SandboxPlatform) -> None:
    topo = platform.topology
    ec2 = platform.aws.client("ec2")
    vpc = topo.vpcs["goodword"]
    for i in range(EXTRA_ROUTE_TABLES):
        table = ec2.create_route_table(
            VpcId=vpc,
            TagSpecifications=[
                {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": f"scale-rt-{i:03d}"}]}
            ],
        )["RouteTable"]["RouteTableId"]
        ec2.create_route(
            RouteTableId=table, DestinationCidrBlock="172.22.0.0/16", VpcPeeringConnectionId=topo.peering_id
        )
    for g in range(SECURITY_GROUPS):
        group = ec2.create_security_group(GroupName=f"scale-sg-{g:02d}", Description="scale scenario", VpcId=vpc)[
            "GroupId"
        ]
        ranges = [{"CidrIp": f"10.{g}.{r}.0/24", "Description": f"scale {g}/{r}"} for r in range(RULES_PER_GROUP)]
        ec2.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": ranges}]
        )
    existing: list[str] = []
    for name, value in platform.sql(f"DESC NETWORK POLICY {POLICY}"):
        if name == "ALLOWED_IP_LIST":
            existing = [v for v in str(value).split(",") if v]
    extra = _public_hosts(POLICY_ENTRIES - len(existing))
    entries = ", ".join(f"'{ip}'" for ip in existing + extra)
    platform.sql(f"ALTER NETWORK POLICY {POLICY} SET ALLOWED_IP_LIST = ({entries})")
