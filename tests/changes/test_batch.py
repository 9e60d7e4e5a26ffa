"""Several fixes as one reviewed batch: applied in order, stopping at the first failure and saying what was done."""

from __future__ import annotations

from collections.abc import Callable

from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_batch
from goodword_tui.changes.base import Intent, plan_batch
from goodword_tui.sandbox.aws import AwsSandbox
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP, MISSING_ROUTE_TABLE, OPERATIONS_CIDR
from tests.changes.conftest import Scene, read_only

Contexts = Callable[..., ChangeContext]


def test_a_batch_applies_in_order_and_stops_at_the_first_failure(
    scene: Callable[..., Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("route-missing")
    kept = dict(s.platform.sql("DESC NETWORK POLICY INTEGRATIONS"))["ALLOWED_IP_LIST"].split(",")
    entries = ", ".join(f"'{e}'" for e in kept if e not in (MISSING_AIRBYTE_IP, "34.106.218.58"))
    s.platform.sql(f"ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ({entries})")
    s = s.refresh()
    fixes = [f.fix for f in s.findings if f.code in ("SF_ENTRY_MISSING", "NET_ROUTE_MISSING") and f.fix is not None]
    assert len(fixes) == 3
    intents = [
        *fixes,
        Intent("add_policy_rule", {"rule": "GOODWORD_WH.RAW.NOPE"}),  # does not exist: Snowflake refuses it
        Intent("remove_allowed_ip", {"cidr": "192.168.0.0/16"}),
    ]
    batch, refused = plan_batch(intents, s.snapshot, s.settings)
    assert refused == [] and len(batch.changes) == 5
    assert not batch.dangerous
    ctx = contexts(s.settings)

    result = apply_batch(batch, ctx, reason="INC-20 restore the platform")
    assert not result.ok
    assert [r.status for r in result.results] == [ApplyStatus.APPLIED] * 3 + [ApplyStatus.FAILED]
    assert [c.kind for c in result.applied] == [c.kind for c in batch.changes[:3]]
    assert [c.id for c in result.not_applied] == [c.id for c in batch.changes[3:]]
    assert "stopped at change 4 of 5" in result.message and "Applied: 3; not applied: 2." in result.message
    # What the platform shows agrees: the first three took, the last was never sent.
    allowed = dict(s.platform.sql("DESC NETWORK POLICY INTEGRATIONS"))["ALLOWED_IP_LIST"].split(",")
    assert {MISSING_AIRBYTE_IP, "34.106.218.58", "192.168.0.0/16"} <= set(allowed)
    (table,) = aws_sandbox.client("ec2").describe_route_tables(
        RouteTableIds=[s.platform.topology.route_tables[MISSING_ROUTE_TABLE]]
    )["RouteTables"]
    assert any(r.get("DestinationCidrBlock") == OPERATIONS_CIDR for r in table["Routes"])
    entries_ = ctx.journal.entries()
    assert [e.result for e in entries_] == ["applied", "applied", "applied", "failed"]
    assert {e.batch_id for e in entries_} == {batch.id}


def test_a_dangerous_batch_needs_its_typed_confirmation_and_read_only_applies_nothing(
    scene: Callable[..., Scene], contexts: Contexts
) -> None:
    s = scene("handoff", aws=False)
    intents = [
        Intent("remove_allowed_ip", {"cidr": "100.64.0.0/10"}),
        Intent("remove_allowed_ip", {"cidr": "10.0.0.0/8"}),
    ]
    batch, _ = plan_batch(intents, s.snapshot, s.settings)
    assert batch.dangerous  # Tailscale is protected
    ctx = contexts(s.settings)
    unconfirmed = apply_batch(batch, ctx, reason="tidy", confirmation="INTEGRATIONS")
    assert unconfirmed.results == () and "type 'apply 2 changes'" in unconfirmed.message
    assert ctx.journal.entries() == []

    audit = apply_batch(batch, contexts(read_only(s.settings)), reason="tidy", confirmation=batch.confirm_phrase)
    assert audit.applied == () and audit.stopped_at is not None
    assert audit.stopped_at.refused_by == "read_only"
    assert "Applied: 0; not applied: 2." in audit.message

    confirmed = apply_batch(batch, ctx, reason="tidy", confirmation=batch.confirm_phrase)
    assert confirmed.ok, confirmed.message
