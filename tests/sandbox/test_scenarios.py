"""Each scenario, read back through the real sources, yields the findings an on-call engineer should see."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from goodword_tui.cli import check_exit_code
from goodword_tui.config import Settings
from goodword_tui.model import Finding, Severity
from goodword_tui.monitor import Monitor
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP, MISSING_ROUTE_TABLE, SCENARIOS


def run(settings: Settings) -> tuple[int, list[Finding]]:
    monitor = Monitor(settings)
    snapshot = asyncio.run(monitor.refresh_all())
    assert snapshot.errors == (), snapshot.errors
    findings = monitor.findings()
    return check_exit_code(snapshot, findings), findings


def criticals(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.resource) for f in findings if f.severity == Severity.CRITICAL}


def test_handoff_has_the_catch_all_rule_as_its_only_critical(load_scenario: Callable[[str], Settings]) -> None:
    code, findings = run(load_scenario("handoff"))
    assert code == 2
    assert criticals(findings) == {("SF_ADMITS_ALL", "GOODWORD_WH.RAW.ANY")}
    codes = [f.code for f in findings]
    assert codes.count("SF_ENTRY_NEVER_MATCHES") == 6  # 3 RFC 1918 ranges, both VPCs, Tailscale
    assert codes.count("EGRESS_CATCH_ALL") == 2  # SQLMesh server via NAT, access server via IGW


def test_healthy_never_exits_critical(load_scenario: Callable[[str], Settings]) -> None:
    code, findings = run(load_scenario("healthy"))
    assert code in (0, 1)
    assert not criticals(findings)
    assert "EGRESS_CATCH_ALL" not in {f.code for f in findings}


@pytest.mark.parametrize(
    ("scenario", "expected_code", "resource_hint"),
    [
        ("route-missing", "NET_ROUTE_MISSING", None),
        ("peering-pending", "NET_PEERING_PENDING", None),
        ("airbyte-ip-missing", "SF_ENTRY_MISSING", MISSING_AIRBYTE_IP),
        ("policy-inactive", "SF_POLICY_NOT_ACTIVE", "INTEGRATIONS"),
        ("endpoint-unavailable", "NET_ENDPOINT_NOT_AVAILABLE", None),
    ],
)
def test_incident_scenarios_raise_their_critical(
    load_scenario: Callable[[str], Settings], scenario: str, expected_code: str, resource_hint: str | None
) -> None:
    code, findings = run(load_scenario(scenario))
    assert code == 2
    hits = [f for f in findings if f.code == expected_code and f.severity == Severity.CRITICAL]
    assert hits, [(f.code, f.resource) for f in findings if f.severity == Severity.CRITICAL]
    if resource_hint:
        assert any(resource_hint in f.resource for f in hits)
    assert all(f.fix is not None for f in hits if f.code != "NET_ENDPOINT_NOT_AVAILABLE")


def test_route_missing_names_the_table_and_offers_the_route(
    load_scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform
) -> None:
    settings = load_scenario("route-missing")
    _, findings = run(settings)
    (missing,) = [f for f in findings if f.code == "NET_ROUTE_MISSING"]
    assert missing.resource == sandbox_platform.topology.route_tables[MISSING_ROUTE_TABLE]
    assert "Goodword private 2b" in missing.message
    assert missing.fix is not None and missing.fix.action == "create_route"
    assert missing.fix.params["destination"] == "172.22.0.0/16"


def test_every_scenario_is_listed() -> None:
    assert set(SCENARIOS) >= {
        "handoff",
        "healthy",
        "route-missing",
        "peering-pending",
        "airbyte-ip-missing",
        "policy-inactive",
        "endpoint-unavailable",
    }
