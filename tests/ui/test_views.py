"""The rows the dashboard shows (goodword_tui.analysis.views): pure functions over hand-built states."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from goodword_tui.analysis import views
from goodword_tui.config import ExpectedRoute
from goodword_tui.model import ErrorKind, NetworkPolicy, NetworkRule, Route, RouteTargetKind
from tests.ui import data

SETTINGS = data.settings()


def rows_by_key(table: views.Table) -> dict[str, views.Row]:
    return {row.key: row for row in table.rows}


def test_route_tables_tick_each_expected_route_and_show_blackholes() -> None:
    table = views.route_table_table(data.incident_aws(), SETTINGS)
    rows = rows_by_key(table)
    assert len(rows) == 7
    ok = rows[f"rtb:{data.RT_IDS['goodword-public-rt']}"]
    assert ok.cells[0] == "✓" and ok.cells[3] == "✓ 172.22.0.0/16 → peering" and ok.tone == "ok"
    missing = rows[f"rtb:{data.RT_IDS['goodword-private-rt-2b']}"]
    assert missing.cells[0] == "✗" and missing.cells[3] == "✗ 172.22.0.0/16 missing" and missing.tone == "bad"
    holed = rows[f"rtb:{data.RT_IDS['goodword-private-rt-2c']}"]
    assert holed.cells[3].startswith("✓") and holed.cells[4] == "0.0.0.0/0 → nat-0deadbeef0000dead"
    assert holed.tone == "bad"


def test_route_check_names_wrong_targets_and_other_peerings() -> None:
    table = data.handoff_aws().route_tables[0]
    expected = ExpectedRoute(destination="172.22.0.0/16", target="peering")
    assert views.route_check(expected, table, data.PCX) == (True, "172.22.0.0/16 → peering")
    assert views.route_check(expected, table, "pcx-0ther") == (
        False,
        f"172.22.0.0/16 → {data.PCX} (expected pcx-0ther)",
    )
    to_nat = dataclasses.replace(table, routes=(Route("172.22.0.0/16", RouteTargetKind.NAT_GATEWAY, "nat-1"),))
    assert views.route_check(expected, to_nat, data.PCX) == (False, "172.22.0.0/16 → nat-1 (expected peering)")
    hole = dataclasses.replace(table, routes=(Route("172.22.0.0/16", RouteTargetKind.PEERING, data.PCX, "blackhole"),))
    assert views.route_check(expected, hole, data.PCX) == (False, f"172.22.0.0/16 → {data.PCX} blackhole")


def test_unconfigured_route_tables_are_listed_muted() -> None:
    extra = dataclasses.replace(data.handoff_aws().route_tables[0], id="rtb-extra", name="scratch")
    aws = dataclasses.replace(data.handoff_aws(), route_tables=(*data.handoff_aws().route_tables, extra))
    row = rows_by_key(views.route_table_table(aws, SETTINGS))["rtb:rtb-extra"]
    assert row.tone == "muted" and row.cells[3] == "(not in config)"


def test_missing_configured_resources_are_rows_not_gaps() -> None:
    aws = dataclasses.replace(data.handoff_aws(), peerings=(), endpoints=(), instances=())
    tables = {t.id: t for t in views.network_tables(aws, SETTINGS)}
    assert [r.cells[2] for r in tables["peering"].rows] == ["not found"]
    assert [r.cells[4] for r in tables["endpoints"].rows] == ["not found"]
    assert [r.cells[3] for r in tables["instances"].rows] == ["not found"] * 3


def test_cross_vpc_rules_are_ticked_or_missing() -> None:
    aws = data.handoff_aws()
    ops = aws.security_groups[0]
    without_udp = dataclasses.replace(ops, rules=tuple(r for r in ops.rules if r.protocol != "udp"))
    aws = dataclasses.replace(aws, security_groups=(without_udp, aws.security_groups[1]))
    rows = views.sg_rule_table(aws, SETTINGS).rows
    marks = [(r.cells[4], r.cells[0]) for r in rows if r.cells[2] == data.OPS_SG]
    assert marks == [("icmp", "✓"), ("tcp", "✓"), ("udp", "✗")]
    assert next(r for r in rows if r.cells[4] == "udp" and r.cells[2] == data.OPS_SG).cells[6].endswith("missing")


def test_egress_follows_each_instance_to_its_public_address_and_snowflakes_answer() -> None:
    rows = rows_by_key(views.egress_table(data.handoff_aws(), SETTINGS, data.handoff_snowflake()))
    sqlmesh = rows["egress:i-03519bd309babd741"]
    assert sqlmesh.cells[:3] == ("SQLMesh server", f"nat {data.OPS_NAT}", data.OPS_NAT_IP)
    assert sqlmesh.cells[3] == "admitted only by catch-all rule GOODWORD_WH.RAW.ANY" and sqlmesh.tone == "warn"

    no_catch_all = dataclasses.replace(
        data.handoff_snowflake(),
        policy=dataclasses.replace(data.handoff_snowflake().policy, allowed_rules=("AIRBYTE_DB.RAW.AIRBYTE",)),
    )
    rows = rows_by_key(views.egress_table(data.handoff_aws(), SETTINGS, no_catch_all))
    assert rows["egress:i-03519bd309babd741"].cells[3].startswith("REFUSED")
    assert rows["egress:i-03519bd309babd741"].tone == "bad"


def test_policy_entries_carry_label_and_every_status() -> None:
    state = data.incident_snowflake()
    policy = dataclasses.replace(
        state.policy,
        allowed_ips=(*state.policy.allowed_ips, "203.0.113.7", "198.51.100.0/24"),
        blocked_ips=("198.51.100.0/25",),
    )
    entries = {(e.list, e.entry): e for e in views.entry_states(dataclasses.replace(state, policy=policy), SETTINGS)}
    assert entries[("allowed", "34.106.109.131")].statuses == ("expected",)
    assert entries[("allowed", "34.106.109.131")].label == "Airbyte Cloud US"
    assert entries[("allowed", "34.106.229.69")].statuses == ("missing",)
    assert not entries[("allowed", "34.106.229.69")].present
    assert entries[("allowed", "203.0.113.7")].statuses == ("unexpected",)
    assert entries[("allowed", "172.22.0.0/16")].statuses == ("never matches (private)", "inside 172.16.0.0/12")
    assert entries[("allowed", "100.64.0.0/10")].statuses == ("never matches (CGNAT)",)
    shadowed = entries[("allowed", "198.51.100.0/24")]
    assert shadowed.statuses == ("unexpected", "partly shadowed by blocked 198.51.100.0/25") and shadowed.tone == "bad"
    assert entries[("blocked", "198.51.100.0/25")].statuses == ("unexpected",)


def test_rules_show_values_and_flag_the_catch_all() -> None:
    rows = rows_by_key(views.rule_table(data.handoff_snowflake(), SETTINGS))
    any_rule = rows["rule:GOODWORD_WH.RAW.ANY"]
    assert any_rule.cells[4] == "0.0.0.0/0" and "admits every address" in any_rule.cells[5] and any_rule.tone == "bad"
    airbyte = rows["rule:AIRBYTE_DB.RAW.AIRBYTE"]
    assert airbyte.cells[5] == "expected" and "34.33.7.0/29" in airbyte.cells[4]

    state = dataclasses.replace(
        data.handoff_snowflake(),
        policy=NetworkPolicy("INTEGRATIONS", allowed_rules=("OTHER.DB.RULE",)),
        rules=(NetworkRule("OTHER.DB.RULE", "IPV4", "INGRESS", ("1.2.3.4",)),),
    )
    rows = rows_by_key(views.rule_table(state, SETTINGS))
    assert rows["rule:OTHER.DB.RULE"].cells[5] == "unexpected (not in baseline)"
    assert rows["rule:GOODWORD_WH.RAW.ANY"].cells[5].startswith("missing from INTEGRATIONS")


def test_policy_summary_says_where_it_is_active_and_whether_you_get_in() -> None:
    summary = views.policy_summary(data.handoff_snowflake(), SETTINGS)
    assert summary.active_on == ("account VSC91540",)
    assert summary.lines[0] == ("✓ Policy INTEGRATIONS: ACTIVE on account VSC91540", "ok")
    assert summary.lines[1][0].startswith("! You (CHRIS) from 3.142.18.77: admitted only by catch-all")

    inactive = dataclasses.replace(data.handoff_snowflake(), account_policy="", user_policy="")
    lines = views.policy_summary(inactive, SETTINGS).lines
    assert lines[0][1] == "bad" and "NOT ACTIVE" in lines[0][0]

    on_user = dataclasses.replace(data.handoff_snowflake(), account_policy="", user_policy="INTEGRATIONS")
    assert views.policy_summary(on_user, SETTINGS).active_on == ("user CHRIS",)

    refused = dataclasses.replace(
        data.handoff_snowflake(),
        current_ip="198.51.100.9",
        policy=dataclasses.replace(data.handoff_snowflake().policy, allowed_rules=()),
    )
    lines = views.policy_summary(refused, SETTINGS).lines
    assert lines[1] == ("✗ You (CHRIS) from 198.51.100.9: REFUSED (not allowed)", "bad")


def test_source_status_words_for_loading_ok_failed_and_stale() -> None:
    assert views.source_status("aws", None, data.NOW).state == "loading"
    fresh = views.source_status("aws", data.ok("aws", data.handoff_aws()), data.NOW)
    assert (fresh.state, fresh.short, fresh.line) == ("ok", "aws ✓ <1m", "AWS: read less than a minute ago")
    failed = views.source_status("aws", data.failed("aws", ErrorKind.AUTH, "expired token", "aws sso login"), data.NOW)
    assert failed.state == "failed" and failed.line == (
        "AWS FAILED <1m ago (auth): expired token — aws sso login. No data yet."
    )
    older = data.ok("aws", data.handoff_aws(), at=data.NOW - timedelta(minutes=7))
    stale = views.source_status("aws", data.stale(older, data.failed("aws")), data.NOW)
    assert stale.state == "stale" and stale.short == "aws ✗ stale 7m"
    assert stale.line.endswith("Showing data from 7m ago (STALE).")


def test_ages_are_coarse_so_an_idle_screen_does_not_repaint() -> None:
    assert [views.format_age(s) for s in (0, 59, 60, 3599, 3600, 86400 * 3)] == ["<1m", "<1m", "1m", "59m", "1h", "3d"]


def test_related_findings_match_a_rows_resources() -> None:
    from goodword_tui.analysis.findings import analyze
    from goodword_tui.model import Snapshot

    snapshot = Snapshot(
        data.NOW,
        data.ok("aws", data.incident_aws()),
        data.ok("snowflake", data.incident_snowflake()),
        data.ok("probes", data.handoff_probes()),
    )
    findings = analyze(snapshot, SETTINGS)
    view = views.dashboard_view(snapshot, SETTINGS, findings)
    assert [r.cells[0] for r in view.findings.rows][:1] == ["CRIT"]
    routes = next(t for t in view.network if t.id == "route_tables")
    row = rows_by_key(routes)[f"rtb:{data.RT_IDS['goodword-private-rt-2b']}"]
    assert [f.code for f in views.related_findings(row, findings)] == ["NET_ROUTE_MISSING"]
    assert view.counts["CRIT"] == sum(1 for f in findings if f.severity.label == "critical")
