"""Each scenario, read back through the real sources, yields the findings an on-call engineer should see."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from goodword_tui.analysis.sqlmesh import sqlmesh_findings
from goodword_tui.cli import check_exit_code
from goodword_tui.config import Settings
from goodword_tui.model import Finding, Severity, SqlMeshStatus
from goodword_tui.monitor import Monitor
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sandbox.scenarios import (
    MISSING_AIRBYTE_IP,
    MISSING_ROUTE_TABLE,
    SCENARIOS,
    SQLMESH_STALE_MODEL,
)
from goodword_tui.sandbox.sqlmesh import AS_OF


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


def sqlmesh_status(settings: Settings) -> SqlMeshStatus:
    monitor = Monitor(settings)
    try:
        result = asyncio.run(monitor.refresh("sqlmesh"))
    finally:
        monitor.close()
    assert result.error is None and result.data is not None, result.error
    return result.data


def test_sqlmesh_stale_shows_the_model_behind_its_cron(
    load_scenario: Callable[[str], Settings],
    sandbox_platform: SandboxPlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the reader's parse cache, out of the home directory
    settings = load_scenario("sqlmesh-stale")
    assert settings.sqlmesh.as_of == AS_OF and settings.sqlmesh.gateway == "local"
    assert sandbox_platform.sqlmesh.wait_ready(timeout=300), sandbox_platform.sqlmesh.error
    status = sqlmesh_status(settings)
    assert status.has_state and status.as_of == AS_OF
    assert [m.name for m in status.stale_models] == [SQLMESH_STALE_MODEL]
    findings = sqlmesh_findings(status, settings)
    assert [(f.code, f.resource, f.severity) for f in findings] == [
        ("SQLMESH_MODEL_STALE", SQLMESH_STALE_MODEL, Severity.WARNING)
    ]
    # Every other scenario has the night's run complete: nothing behind.
    settings = load_scenario("handoff")
    assert sandbox_platform.sqlmesh.wait_ready(timeout=60)
    fresh = sqlmesh_status(settings)
    assert fresh.has_state and fresh.stale_models == ()
    assert sqlmesh_findings(fresh, settings) == []
