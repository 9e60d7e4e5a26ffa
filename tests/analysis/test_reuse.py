"""Reusing analysis parts: with a PartCache the answer is always the uncached one, and only parts whose
inputs changed are recomputed."""

from __future__ import annotations

from goodword_tui.analysis.findings import analyze
from goodword_tui.analysis.reuse import PartCache
from goodword_tui.analysis.views import dashboard_view
from goodword_tui.model import Snapshot
from tests.analysis.builders import (
    drop_route,
    handoff_aws,
    handoff_probes,
    handoff_settings,
    handoff_snowflake,
    snapshot,
    without_catch_all,
)


def both(snap: Snapshot, parts: PartCache) -> tuple[object, object]:
    settings = SETTINGS
    findings = analyze(snap, settings, parts)
    return findings, dashboard_view(snap, settings, findings, parts)


def uncached(snap: Snapshot) -> tuple[object, object]:
    findings = analyze(snap, SETTINGS)
    return findings, dashboard_view(snap, SETTINGS, findings)


SETTINGS = handoff_settings()


def test_the_same_objects_reuse_every_part_and_give_the_same_answer() -> None:
    aws, snowflake, probes = handoff_aws(), handoff_snowflake(), handoff_probes()
    parts = PartCache()
    first = both(snapshot(aws, snowflake, probes), parts)
    assert first == uncached(snapshot(aws, snowflake, probes))
    computed = parts.computed.copy()
    again = both(snapshot(aws, snowflake, probes), parts)  # a new snapshot around the very same data
    assert again == first
    assert parts.computed == computed  # nothing recomputed


def test_a_changed_source_recomputes_its_parts_and_the_answer_follows() -> None:
    aws, snowflake, probes = handoff_aws(), handoff_snowflake(), handoff_probes()
    parts = PartCache()
    both(snapshot(aws, snowflake, probes), parts)
    before = parts.computed.copy()
    route = next(t for t in aws.route_tables if t.routes).routes[-1]
    table_id = next(t for t in aws.route_tables if t.routes).id
    broken = drop_route(aws, table_id, route.destination)
    findings, view = both(snapshot(broken, snowflake, probes), parts)
    assert (findings, view) == uncached(snapshot(broken, snowflake, probes))
    assert set(parts.computed - before) == {"network", "egress", "snowflake", "findings table", "network tables"}


def test_only_the_parts_that_read_a_changed_source_are_recomputed() -> None:
    aws, snowflake, probes = handoff_aws(), handoff_snowflake(), handoff_probes()
    parts = PartCache()
    both(snapshot(aws, snowflake, probes), parts)
    before = parts.computed.copy()
    changed = without_catch_all(snowflake)
    findings, view = both(snapshot(aws, changed, handoff_probes()), parts)
    assert (findings, view) == uncached(snapshot(aws, changed, handoff_probes()))
    # new (if equal) probe objects and a changed policy: only the AWS-only parts are reused
    assert set(parts.computed - before) == {
        "egress",
        "snowflake",
        "probes",
        "findings table",
        "network tables",
        "entries table",
        "rules table",
        "policy summary",
        "probes table",
    }
