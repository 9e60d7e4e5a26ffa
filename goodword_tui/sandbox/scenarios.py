"""Named states of the emulated platform: the hand-off as it is, healthy, and incidents on-call will meet.

Every scenario starts from the hand-off and changes it only through the real APIs (boto3 against moto, SQL
through the Snowflake connector), exactly as an operator could to rehearse an incident of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goodword_tui.sandbox.platform import SandboxPlatform

POLICY = "INTEGRATIONS"
CATCH_ALL_RULE = "GOODWORD_WH.RAW.ANY"
AIRBYTE_RULE = "AIRBYTE_DB.RAW.AIRBYTE"
MISSING_AIRBYTE_IP = "34.106.229.69"
MISSING_ROUTE_TABLE = "goodword-private-rt-2b"
OPERATIONS_CIDR = "172.22.0.0/16"
SQLMESH_STALE_MODEL = "marts.daily_activity"  # the same as sandbox.sqlmesh.STALE_MODEL (kept import-free here)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    apply: Callable[[SandboxPlatform], None]
    # Edits the generated config's baseline (a tomlkit document) when the scenario changes what is intended.
    baseline: Callable[[Any, SandboxPlatform], None] | None = None
    # Which state the sandbox's SQLMesh project gets (see sandbox/sqlmesh.py): "fresh" or "stale".
    sqlmesh_state: str = "fresh"


def _quote_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "") + "'" for v in values)


def _allowed_ips(platform: SandboxPlatform) -> list[str]:
    for name, value in platform.sql(f"DESC NETWORK POLICY {POLICY}"):
        if name == "ALLOWED_IP_LIST":
            return [v for v in str(value).split(",") if v]
    return []


def _handoff(platform: SandboxPlatform) -> None:
    """Exactly the hand-off: nothing to change after the base seed."""


def _healthy(platform: SandboxPlatform) -> None:
    """The hand-off with its critical findings fixed.

    The catch-all rule leaves the policy (so the IP list means something again), and the public addresses the
    platform really egresses from (the Operations NAT for the SQLMesh server, the access server's own) are
    allowed instead.
    """
    topo = platform.topology
    platform.sql(f"ALTER NETWORK POLICY {POLICY} REMOVE ALLOWED_NETWORK_RULE_LIST = ('{CATCH_ALL_RULE}')")
    extra = [topo.nat_gateways["operations"][1], topo.nat_gateways["goodword"][1], topo.access_public_ip]
    entries = _allowed_ips(platform) + [ip for ip in extra if ip]
    platform.sql(f"ALTER NETWORK POLICY {POLICY} SET ALLOWED_IP_LIST = ({_quote_list(entries)})")


def _healthy_baseline(doc: Any, platform: SandboxPlatform) -> None:
    """The fix is recorded in the description too: the catch-all is no longer expected, the egresses are."""
    topo = platform.topology
    sf = doc["snowflake"]
    sf["rules"] = [r for r in sf["rules"] if str(r["name"]).upper() != CATCH_ALL_RULE]
    labels = {
        topo.nat_gateways["operations"][1]: "Operations NAT egress (SQLMesh server)",
        topo.nat_gateways["goodword"][1]: "Goodword NAT egress",
        topo.access_public_ip: "Access server",
    }
    for ip, label in labels.items():
        if ip:
            sf["allowed"].append({"cidr": ip, "label": label, "protected": True})


def _route_missing(platform: SandboxPlatform) -> None:
    from goodword_tui.sandbox.aws import remove_route

    remove_route(platform.aws, platform.topology, MISSING_ROUTE_TABLE, OPERATIONS_CIDR)


def _peering_pending(platform: SandboxPlatform) -> None:
    from goodword_tui.sandbox.aws import make_peering_pending

    platform.topology = make_peering_pending(platform.aws, platform.topology)


def _airbyte_ip_missing(platform: SandboxPlatform) -> None:
    """Dropped from the list and from the AIRBYTE rule: Airbyte's syncs from that address are refused."""
    entries = [ip for ip in _allowed_ips(platform) if ip != MISSING_AIRBYTE_IP]
    platform.sql(f"ALTER NETWORK POLICY {POLICY} SET ALLOWED_IP_LIST = ({_quote_list(entries)})")
    rule = next(r for r in platform.sql(f"DESC NETWORK RULE {AIRBYTE_RULE}"))
    values = [v for v in str(rule[-1]).split(",") if v and v != MISSING_AIRBYTE_IP]
    platform.sql(f"ALTER NETWORK RULE {AIRBYTE_RULE} SET VALUE_LIST = ({_quote_list(values)})")


def _policy_inactive(platform: SandboxPlatform) -> None:
    platform.sql("ALTER ACCOUNT UNSET NETWORK_POLICY")


def _endpoint_unavailable(platform: SandboxPlatform) -> None:
    from goodword_tui.sandbox.aws import make_endpoint_unavailable

    make_endpoint_unavailable(platform.aws, platform.topology)


def _sqlmesh_stale(platform: SandboxPlatform) -> None:
    """AWS and Snowflake as in the hand-off; the SQLMesh state is the "stale" one (`sqlmesh_state`)."""


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("handoff", "Exactly the hand-off's state.", _handoff),
        Scenario(
            "healthy",
            "The hand-off with its critical findings fixed: the catch-all rule detached, the real egress "
            "addresses allowed (and the config's baseline says so).",
            _healthy,
            _healthy_baseline,
        ),
        Scenario(
            "route-missing",
            f"The route to the Operations VPC ({OPERATIONS_CIDR}) is gone from {MISSING_ROUTE_TABLE}.",
            _route_missing,
        ),
        Scenario("peering-pending", "The peering was recreated and waits for acceptance.", _peering_pending),
        Scenario(
            "airbyte-ip-missing",
            f"Airbyte Cloud's {MISSING_AIRBYTE_IP} was dropped from INTEGRATIONS' allowed list and from the "
            "AIRBYTE rule.",
            _airbyte_ip_missing,
        ),
        Scenario("policy-inactive", "INTEGRATIONS exists but is not active on the account.", _policy_inactive),
        Scenario("endpoint-unavailable", "The execute-api VPC endpoint is no longer available.", _endpoint_unavailable),
        Scenario(
            "sqlmesh-stale",
            f"{SQLMESH_STALE_MODEL} is behind its cron: last night's run failed for it (sandbox clock "
            "2025-10-06 06:00 UTC).",
            _sqlmesh_stale,
            sqlmesh_state="stale",
        ),
    )
}


def _scale(platform: SandboxPlatform) -> None:
    from goodword_tui.sandbox.scale import apply_scale

    apply_scale(platform)


SCENARIOS["scale"] = Scenario(
    "scale",
    "The hand-off grown large: 300 more route tables, 2,400 security-group rules, a 1,000-entry policy "
    "(for benchmarks).",
    _scale,
)


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ValueError(f"unknown scenario {name!r}; known: {known}") from None


def describe() -> list[dict[str, Any]]:
    return [{"name": s.name, "summary": s.summary} for s in SCENARIOS.values()]
