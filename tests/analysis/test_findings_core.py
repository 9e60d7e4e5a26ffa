"""analyze() as a whole: the hand-off state's finding set, sources that fail or go stale, egress, probes,
ordering and determinism, and the code registry."""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from goodword_tui.analysis.findings import CODES, analyze, cause_rank, sort_key
from goodword_tui.analysis.sqlmesh import CODES as SQLMESH_CODES
from goodword_tui.config import parse_settings
from goodword_tui.model import (
    Area,
    ErrorKind,
    NatGateway,
    NetworkRule,
    ProbeResult,
    Route,
    RouteTargetKind,
    SecurityGroupRule,
    Severity,
    Snapshot,
    Subnet,
)
from tests.analysis.builders import (
    ACCESS,
    ACCESS_PUBLIC_IP,
    AIRBYTE_RULE,
    ANY_RULE,
    ENDPOINT,
    GW_RTS,
    GW_SG,
    GW_VPC,
    HANDOFF_ALLOWED,
    NOW,
    OPS_NAT,
    OPS_NAT_IP,
    OPS_PRIVATE_RT,
    OPS_PUBLIC_RT,
    OPS_VPC,
    PCX,
    PRIVATE_ENTRIES,
    SQLMESH,
    VPN_MESH,
    codes,
    drop_route,
    failed,
    handoff_aws,
    handoff_policy,
    handoff_probes,
    handoff_settings,
    handoff_snowflake,
    one,
    replace_in,
    result,
    run,
    set_route,
    snapshot,
    stale,
    with_group_rules,
    with_instance,
    with_peering,
    with_table,
    without,
    without_catch_all,
)

CRIT, WARN, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO

# The hand-off's INTEGRATIONS with GOODWORD_WH.RAW.ANY = 0.0.0.0/0, the policy active, everything else healthy.
HANDOFF_EXPECTED = {
    ("SF_ADMITS_ALL", ANY_RULE, CRIT),
    ("EGRESS_CATCH_ALL", SQLMESH, WARN),
    ("EGRESS_CATCH_ALL", ACCESS, WARN),
    ("SF_CURRENT_IP_CATCH_ALL", ACCESS_PUBLIC_IP, WARN),
    *{("SF_ENTRY_NEVER_MATCHES", cidr, WARN) for cidr in PRIVATE_ENTRIES},
    ("SF_ENTRY_REDUNDANT", "172.22.0.0/16", INFO),
    ("SF_ENTRY_REDUNDANT", "172.20.0.0/16", INFO),
    ("PROBE_REACHABILITY_ONLY", "Snowflake host", INFO),
}


def triples(findings: list[Any]) -> list[tuple[str, str, Severity]]:
    return [(f.code, f.resource, f.severity) for f in findings]


def test_handoff_state_gives_the_expected_finding_set() -> None:
    findings = run()
    assert len(findings) == len(HANDOFF_EXPECTED)
    assert set(triples(findings)) == HANDOFF_EXPECTED


def test_shipped_config_toml_agrees_with_the_handoff() -> None:
    path = Path(__file__).resolve().parents[2] / "config.toml"
    settings = parse_settings(tomllib.loads(path.read_text(encoding="utf-8")), source=path)
    assert set(triples(analyze(snapshot(), settings))) == HANDOFF_EXPECTED


def test_findings_are_sorted_critical_first_then_area_and_code() -> None:
    findings = run(snowflake=without_catch_all(handoff_snowflake()))
    assert findings == sorted(findings, key=sort_key)
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, reverse=True)
    assert findings[0].severity is Severity.CRITICAL and findings[-1].severity is Severity.INFO
    for a, b in itertools.pairwise(findings):
        if a.severity == b.severity:
            assert (cause_rank(a.code), a.area.value, a.code, a.resource) <= (
                cause_rank(b.code),
                b.area.value,
                b.code,
                b.resource,
            )


def test_analysis_is_deterministic_whatever_the_input_order() -> None:
    aws = handoff_aws()
    shuffled = dataclasses.replace(
        aws,
        instances=tuple(reversed(aws.instances)),
        route_tables=tuple(reversed(aws.route_tables)),
        security_groups=tuple(reversed(aws.security_groups)),
    )
    broken = drop_route(with_peering(shuffled, status="pending-acceptance"), GW_RTS["db"][0], "172.22.0.0/16")
    broken_original = drop_route(with_peering(aws, status="pending-acceptance"), GW_RTS["db"][0], "172.22.0.0/16")
    state = without_catch_all(handoff_snowflake())
    first = run(broken_original, state)
    assert run(broken_original, state) == first
    assert run(broken, state) == first


def test_every_finding_has_a_one_line_message() -> None:
    for finding in run(snowflake=without_catch_all(handoff_snowflake(account_policy=""))):
        assert finding.message and "\n" not in finding.message
        assert all(line and "\n" not in line for line in finding.evidence)


# --------------------------------------------------------------------------------------------------------------
# Sources


def test_unavailable_source_gives_one_critical_finding_and_none_of_its_own() -> None:
    aws = failed("aws", "Could not connect to the endpoint URL", ErrorKind.UNREACHABLE, hint="check the VPN")
    findings = run(aws=aws, snowflake=without_catch_all(handoff_snowflake()))
    finding = one(findings, "SOURCE_UNAVAILABLE", "aws")
    assert finding.severity is Severity.CRITICAL and finding.area is Area.SOURCES
    assert finding.evidence[0] == "Could not connect to the endpoint URL"
    assert "hint: check the VPN" in finding.evidence
    assert not [f for f in findings if f.code.startswith(("NET_", "EGRESS_"))]
    assert "SF_CURRENT_IP_REFUSED" in codes(findings)  # Snowflake's own findings are still drawn


def test_unavailable_snowflake_leaves_network_and_egress_routes_checked() -> None:
    aws = drop_route(handoff_aws(), OPS_PRIVATE_RT, "0.0.0.0/0")
    findings = run(aws=aws, snowflake=failed("snowflake", "390422: not allowed", ErrorKind.DENIED))
    assert one(findings, "SOURCE_UNAVAILABLE", "snowflake").evidence[0] == "390422: not allowed"
    assert not [f for f in findings if f.code.startswith("SF_")]
    assert one(findings, "EGRESS_NO_ROUTE", SQLMESH)
    assert "EGRESS_CATCH_ALL" not in codes(findings)


def test_every_failed_source_is_reported() -> None:
    snap = Snapshot(
        taken_at=NOW,
        aws=failed("aws", "a"),
        snowflake=failed("snowflake", "b"),
        probes=failed("probes", "c"),
        sqlmesh=failed("sqlmesh", "d"),
    )
    findings = analyze(snap, handoff_settings())
    assert triples(findings) == [
        ("SOURCE_UNAVAILABLE", "aws", CRIT),
        ("SOURCE_UNAVAILABLE", "probes", CRIT),
        ("SOURCE_UNAVAILABLE", "snowflake", CRIT),
        ("SOURCE_UNAVAILABLE", "sqlmesh", CRIT),
    ]


def test_source_not_read_yet_is_not_a_finding() -> None:
    """Still loading (no data, no error) is not an outage: no SOURCE_UNAVAILABLE, no false critical."""
    findings = run(probes=result("probes", None))
    assert not [f for f in findings if f.area.value == "sources"]


def test_stale_source_warns_and_its_findings_are_still_computed() -> None:
    aws = stale("aws", with_peering(handoff_aws(), status="pending-acceptance"), "read timed out")
    findings = run(aws=aws)
    finding = one(findings, "SOURCE_STALE", "aws")
    assert finding.severity is Severity.WARNING
    assert "5m" in finding.message and "read timed out" in finding.evidence
    assert one(findings, "NET_PEERING_PENDING", PCX)
    assert "SOURCE_UNAVAILABLE" not in codes(findings)


# --------------------------------------------------------------------------------------------------------------
# Egress


def test_egress_via_nat_refused_is_critical_with_a_fix() -> None:
    findings = run(snowflake=without_catch_all(handoff_snowflake()))
    finding = one(findings, "EGRESS_REFUSED", SQLMESH)
    assert finding.severity is Severity.CRITICAL and finding.area is Area.SNOWFLAKE
    assert finding.message == (f"SQLMesh server egresses as {OPS_NAT_IP} via {OPS_NAT}; INTEGRATIONS refuses it")
    assert finding.fix is not None and finding.fix.action == "add_allowed_ip"
    assert dict(finding.fix.params) == {
        "policy": "INTEGRATIONS",
        "cidr": f"{OPS_NAT_IP}/32",
        "label": f"SQLMesh server egress ({OPS_NAT})",
    }
    assert any("Snowflake sees 3.14.15.92, not 172.22.2.106" in line for line in finding.evidence)
    # The access server egresses through the internet gateway with its own address, refused as well.
    assert ACCESS_PUBLIC_IP in one(findings, "EGRESS_REFUSED", ACCESS).message


def test_egress_via_nat_allowed_gives_no_egress_finding() -> None:
    policy = handoff_policy(allowed_ips=(*HANDOFF_ALLOWED, OPS_NAT_IP))
    findings = run(snowflake=without_catch_all(handoff_snowflake(policy=policy)))
    assert not [f for f in findings if f.code.startswith("EGRESS_") and f.resource == SQLMESH]


def test_egress_blocked_has_no_add_fix() -> None:
    policy = handoff_policy(blocked_ips=("3.14.15.0/24",))
    finding = one(run(snowflake=handoff_snowflake(policy=policy)), "EGRESS_REFUSED", SQLMESH)
    assert finding.fix is None
    assert any("BLOCKED_IP_LIST entry 3.14.15.0/24" in line for line in finding.evidence)


def test_egress_only_for_servers_that_must_reach_snowflake() -> None:
    findings = run(snowflake=without_catch_all(handoff_snowflake()))
    assert not [f for f in findings if f.code.startswith("EGRESS_") and f.resource == VPN_MESH]


@pytest.mark.parametrize(
    ("breakage", "code", "severity"),
    [
        (lambda aws: drop_route(aws, OPS_PRIVATE_RT, "0.0.0.0/0"), "EGRESS_NO_ROUTE", CRIT),
        (
            lambda aws: set_route(
                aws, OPS_PRIVATE_RT, Route("0.0.0.0/0", RouteTargetKind.NAT_GATEWAY, OPS_NAT, state="blackhole")
            ),
            "EGRESS_ROUTE_BROKEN",
            CRIT,
        ),
        (
            lambda aws: dataclasses.replace(aws, nat_gateways=replace_in(aws.nat_gateways, OPS_NAT, state="failed")),
            "EGRESS_ROUTE_BROKEN",
            CRIT,
        ),
        (
            lambda aws: set_route(aws, OPS_PRIVATE_RT, Route("0.0.0.0/0", RouteTargetKind.TRANSIT_GATEWAY, "tgw-1")),
            "EGRESS_UNKNOWN",
            WARN,
        ),
    ],
)
def test_egress_route_problems(breakage: Callable[[Any], Any], code: str, severity: Severity) -> None:
    finding = one(run(aws=breakage(handoff_aws())), code, SQLMESH)
    assert finding.severity is severity and finding.area is Area.NETWORK
    assert finding.message.startswith("SQLMesh server cannot reach Snowflake")


def test_egress_via_igw_without_public_ip_is_critical() -> None:
    finding = one(run(aws=with_instance(handoff_aws(), ACCESS, public_ip="")), "EGRESS_NO_PUBLIC_IP", ACCESS)
    assert finding.severity is Severity.CRITICAL


# --------------------------------------------------------------------------------------------------------------
# Probes


def test_failed_snowflake_probe_is_critical_and_explains_it_is_not_the_policy() -> None:
    probes = (
        ProbeResult(
            "Snowflake host",
            "https",
            "https://vsc91540.us-east-1.snowflakecomputing.com",
            False,
            detail="connect timeout",
        ),
        *handoff_probes()[1:],
    )
    findings = run(probes=probes)
    finding = one(findings, "PROBE_FAILED", "Snowflake host")
    assert finding.severity is Severity.CRITICAL and finding.area is Area.PROBES
    assert "connect timeout" in finding.message
    assert any("below the network policy" in line for line in finding.evidence)
    assert "PROBE_REACHABILITY_ONLY" not in codes(findings)


def test_failed_tcp_probe_is_a_warning() -> None:
    probes = (
        *handoff_probes()[:2],
        ProbeResult("SQLMesh state database", "tcp", "172.22.2.106:5432", False, detail="connection refused"),
    )
    finding = one(run(probes=probes), "PROBE_FAILED", "SQLMesh state database")
    assert finding.severity is Severity.WARNING


def test_snowflake_probe_with_unexpected_status_names_it() -> None:
    probes = (
        ProbeResult("Snowflake host", "https", "https://vsc91540.us-east-1.snowflakecomputing.com", False, status=503),
    )
    assert "503" in one(run(probes=probes), "PROBE_FAILED").message


def test_passing_snowflake_probe_says_reachability_is_not_admission() -> None:
    finding = one(run(), "PROBE_REACHABILITY_ONLY", "Snowflake host")
    assert finding.severity is Severity.INFO
    assert any("proves reachability, not admission by the network policy" in line for line in finding.evidence)


# --------------------------------------------------------------------------------------------------------------
# The registry


def test_codes_are_upper_snake_with_one_line_descriptions() -> None:
    for code, description in CODES.items():
        assert re.fullmatch(r"[A-Z]+(_[A-Z0-9]+)+", code), code
        assert description.endswith(".") and "\n" not in description and len(description) < 140


def _scenarios() -> list[Any]:
    """One snapshot per family of problems; together they must raise every registered code."""
    aws, sf = handoff_aws(), handoff_snowflake()
    no_catch = without_catch_all(sf)
    subnet = Subnet("subnet-0orphan", OPS_VPC, "172.22.5.0/24")
    orphan_aws = dataclasses.replace(
        aws,
        subnets=(*aws.subnets, subnet),
        instances=(*aws.instances, dataclasses.replace(aws.instances[0], id="i-0orphan", subnet_id=subnet.id)),
        route_tables=replace_in(aws.route_tables, OPS_PUBLIC_RT, main=False),
    )
    broken_aws = dataclasses.replace(
        with_group_rules(aws, GW_SG, (SecurityGroupRule("ingress", "-1", None, None, "0.0.0.0/0"),)),
        endpoints=replace_in(aws.endpoints, ENDPOINT, state="pending", service_name="x"),
        vpcs=replace_in(aws.vpcs, OPS_VPC, cidr="10.9.0.0/16"),
    )
    broken_aws = with_instance(
        with_instance(broken_aws, SQLMESH, state="stopped", private_ip="172.22.2.107"), ACCESS, public_ip=""
    )
    broken_aws = set_route(
        broken_aws, GW_RTS["db"][0], Route("172.22.0.0/16", RouteTargetKind.PEERING, PCX, state="blackhole")
    )
    broken_aws = set_route(
        broken_aws, GW_RTS["private-2b"][0], Route("172.22.0.0/16", RouteTargetKind.PEERING, "pcx-0x")
    )
    broken_aws = drop_route(broken_aws, GW_RTS["private-2c"][0], "172.22.0.0/16")
    broken_aws = set_route(broken_aws, OPS_PRIVATE_RT, Route("0.0.0.0/0", RouteTargetKind.TRANSIT_GATEWAY, "tgw-1"))
    nat_down = dataclasses.replace(aws, nat_gateways=(NatGateway(OPS_NAT, OPS_VPC, "s", "failed"),))
    nat_down = with_group_rules(nat_down, GW_SG, (SecurityGroupRule("ingress", "icmp", -1, -1, "172.22.0.0/16"),))
    no_default = drop_route(aws, OPS_PRIVATE_RT, "0.0.0.0/0")
    missing_aws = dataclasses.replace(
        with_table(aws, OPS_PUBLIC_RT, name="gone"),
        vpcs=without(aws.vpcs, GW_VPC),
        security_groups=without(aws.security_groups, GW_SG),
        endpoints=(),
        instances=without(aws.instances, VPN_MESH),
        peerings=(),
    )
    wrong_peer = with_peering(aws, accepter_vpc_id="vpc-0x")
    odd_peer = with_peering(aws, status="failed", accepter_cidr="172.21.0.0/16")
    extra_rule = NetworkRule("OPS.NET.EXTRA", "IPV4", "INTERNAL_STAGE", ("10.1.2.0/24",))
    messy_policy = handoff_policy(
        allowed_ips=(*HANDOFF_ALLOWED[1:], "0.0.0.0/0", "203.0.113.9", "203.0.113.9/32", "junk"),
        blocked_ips=("34.106.109.0/24",),
        allowed_rules=(ANY_RULE, "OPS.NET.EXTRA", "OPS.NET.HIDDEN"),
        blocked_rules=(AIRBYTE_RULE,),
    )
    messy = handoff_snowflake(
        policy=messy_policy, rules=(*sf.rules, extra_rule), account_policy="", user_policy="X", current_ip=""
    )

    def config(data: dict[str, Any]) -> None:
        data["snowflake"]["blocked"] = ["198.51.100.0/24"]
        data["snowflake"]["rules"] = [
            {"name": ANY_RULE, "values": ["198.51.100.0/24"], "mode": "INTERNAL_STAGE"},
            {"name": AIRBYTE_RULE},
        ]

    failing_probes = (
        ProbeResult("Snowflake host", "https", "https://vsc91540.us-east-1.snowflakecomputing.com", False),
    )
    return [
        (snapshot(), handoff_settings()),
        (snapshot(aws, no_catch), handoff_settings()),
        (snapshot(broken_aws, no_catch, failing_probes), handoff_settings()),
        (snapshot(missing_aws, handoff_snowflake(policy=None)), handoff_settings()),
        (snapshot(orphan_aws), handoff_settings()),
        (snapshot(nat_down), handoff_settings()),
        (snapshot(no_default), handoff_settings()),
        (snapshot(wrong_peer), handoff_settings()),
        (snapshot(odd_peer), handoff_settings()),
        (snapshot(with_peering(aws, status="pending-acceptance"), messy), handoff_settings(config)),
        (
            snapshot(handoff_aws(), handoff_snowflake(policy=handoff_policy(allowed_ips=(), allowed_rules=()))),
            handoff_settings(),
        ),
        (snapshot(stale("aws", aws, "timeout"), failed("snowflake", "down")), handoff_settings()),
        (snapshot(aws, handoff_snowflake(policy=handoff_policy(allowed_rules=(ANY_RULE,)))), handoff_settings()),
    ]


def test_every_registered_code_is_raised_by_some_scenario() -> None:
    raised: set[str] = set()
    for snap, settings in _scenarios():
        raised |= codes(analyze(snap, settings))
    assert raised <= set(CODES), raised - set(CODES)
    # SQLMesh codes are raised from SQLMesh status, covered by tests/sandbox/test_scenarios.py and the source's tests.
    assert set(CODES) - set(SQLMESH_CODES) - raised == set()


def test_egress_refusal_by_an_inactive_policy_is_worded_as_a_future() -> None:
    state = without_catch_all(handoff_snowflake(account_policy=""))
    assert one(run(snowflake=state), "EGRESS_REFUSED", SQLMESH).message.endswith(
        "INTEGRATIONS would refuse it once active"
    )


# --------------------------------------------------------------------------------------------------------------
# Whatever the servers return, the analysis answers (no traceback into the caller)

junk = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "0.0.0.0/0", "::/0", "10.0.0.0/8", "1.2.3.4", "pl-123", "-1", "fe80::1", "300.1.1.1/8"]),
)
port = st.one_of(st.none(), st.integers(-5, 70000))


@hyp_settings(max_examples=80, deadline=None)
@given(
    destination=junk,
    target_kind=st.sampled_from(list(RouteTargetKind)),
    route_state=st.sampled_from(["active", "blackhole", ""]),
    sg_cidr=junk,
    protocol=st.one_of(junk, st.sampled_from(["tcp", "udp", "icmp", "-1", "6", "58"])),
    low=port,
    high=port,
    private_ip=junk,
    public_ip=junk,
    entries=st.lists(junk, max_size=4),
    rule_values=st.lists(junk, max_size=3),
    rule_type=st.sampled_from(["IPV4", "IPV6", "AWSVPCEID", "HOST_PORT", ""]),
    current_ip=junk,
    status=st.one_of(junk, st.sampled_from(["active", "pending-acceptance"])),
    vpc_cidr=junk,
)
def test_analysis_never_raises_on_odd_server_data(
    destination: str,
    target_kind: RouteTargetKind,
    route_state: str,
    sg_cidr: str,
    protocol: str,
    low: int | None,
    high: int | None,
    private_ip: str,
    public_ip: str,
    entries: list[str],
    rule_values: list[str],
    rule_type: str,
    current_ip: str,
    status: str,
    vpc_cidr: str,
) -> None:
    aws = set_route(handoff_aws(), OPS_PRIVATE_RT, Route(destination, target_kind, "x-1", route_state))
    aws = with_group_rules(aws, GW_SG, (SecurityGroupRule("ingress", protocol, low, high, sg_cidr),))
    aws = with_instance(aws, SQLMESH, private_ip=private_ip, public_ip=public_ip)
    aws = with_peering(aws, status=status, accepter_cidr=vpc_cidr)
    aws = dataclasses.replace(aws, vpcs=replace_in(aws.vpcs, GW_VPC, cidr=vpc_cidr))
    rules = (NetworkRule(ANY_RULE, rule_type, "INGRESS", tuple(rule_values)), handoff_snowflake().rules[1])
    state = handoff_snowflake(
        policy=handoff_policy(allowed_ips=tuple(entries), blocked_ips=tuple(entries[:1])),
        rules=rules,
        current_ip=current_ip,
    )
    findings = run(aws, state)
    assert findings == sorted(findings, key=sort_key)
    assert codes(findings) <= set(CODES)
