"""Changes from the dashboard, end to end against the sandbox: `f` on a finding, `a`/`x` on the Snowflake pane,
a batch of marked findings, the journal and its undo, the export. Driven by keys through Pilot; the servers'
own records (moto's recorder, the Snowflake statement log) say what was really sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from textual.widgets import Button, Input, Static

from goodword_tui.changes.base import Change
from goodword_tui.config import Settings
from goodword_tui.journal import Journal
from goodword_tui.sandbox.aws import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY, AwsSandbox
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP, MISSING_ROUTE_TABLE, OPERATIONS_CIDR
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from goodword_tui.ui.app import Dashboard
from goodword_tui.ui.screens import ChangeScreen, EntryScreen, JournalScreen
from goodword_tui.ui.widgets import KeyedTable
from tests.ui.conftest import until
from tests.ui.sandbox import (
    APPLY_TIMEOUT_S,
    REFRESH_TIMEOUT_S,
    allowed_ips,
    apply,
    codes,
    dashboard,
    error,
    fill,
    press_button,
    preview,
    result,
    screen_of,
    select_finding,
    snowflake_writes,
    type_into,
)
from tests.ui.test_dashboard import plain, table, text_of


@pytest.fixture
def recording(aws_sandbox: AwsSandbox) -> Iterator[AwsSandbox]:
    aws_sandbox.start_recording()
    try:
        yield aws_sandbox
    finally:
        aws_sandbox.stop_recording()


# ----------------------------------------------------------------------------------------------------------------
# f on a finding


async def test_f_on_the_missing_route_previews_create_route_applies_it_and_the_finding_goes(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, recording: AwsSandbox
) -> None:
    settings = scenario("route-missing")
    topo = sandbox_platform.topology
    table_id, peering_id = topo.route_tables[MISSING_ROUTE_TABLE], topo.peering_id
    async with dashboard(settings) as (app, pilot):
        assert "NET_ROUTE_MISSING" in codes(app)
        select_finding(app, "NET_ROUTE_MISSING")
        recording.start_recording()  # from here on: what the fix sends
        await pilot.press("f")
        screen = await screen_of(pilot, ChangeScreen)

        shown = preview(screen)
        assert "AWS ec2 CreateRoute" in shown
        for param in (
            f'"DestinationCidrBlock": "{OPERATIONS_CIDR}"',
            f'"RouteTableId": "{table_id}"',
            f'"VpcPeeringConnectionId": "{peering_id}"',
        ):
            assert param in shown
        assert f"+ {OPERATIONS_CIDR} -> {peering_id}" in shown  # the route table's diff
        assert app.focused is screen.query_one("#change-cancel")  # Cancel has the focus
        assert not screen.query_one("#change-confirm-field").display  # not dangerous: no phrase to type

        # No reason: the core refuses before anything is sent, and the reason field gets the focus.
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "refused" and outcome.refused_by == "reason"
        assert app.focused is screen.query_one("#change-reason")
        assert "reason" in error(screen)
        assert recording.recorded_requests() == ()

        await type_into(pilot, "#change-reason", "INC-7 2b")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "applied", outcome.message
        shown = result(screen)
        assert shown.startswith("APPLIED ✓") and f"{table_id}: {OPERATIONS_CIDR} -> {peering_id} (active)" in shown
        assert "Journal entry" in shown and "s3://" in shown  # journaled and uploaded
        assert not screen.query_one("#change-apply").display  # applied: this preview cannot be sent twice
        mutating = [r.action for r in recording.recorded_requests() if r.mutating]
        assert mutating[0] == "CreateRoute" and len(mutating) == 2  # the route, then the journal's upload
        assert mutating[1].startswith("PUT /") and mutating[1].endswith("/journal.jsonl")

        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)
        await until(
            pilot,
            lambda: "NET_ROUTE_MISSING" not in codes(app),
            REFRESH_TIMEOUT_S,
            "the finding to go after the refresh",
        )
    (entry,) = Journal.for_settings(settings).entries()
    assert entry.result == "applied" and entry.reason == "INC-7 2b"


async def test_airbyte_fix_shows_the_whole_allowed_list_statement_and_verifies(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, snowflake_sandbox: SnowflakeSandbox
) -> None:
    settings = scenario("airbyte-ip-missing")
    async with dashboard(settings) as (app, pilot):
        select_finding(app, "SF_ENTRY_MISSING")
        await pilot.press("f")
        screen = await screen_of(pilot, ChangeScreen)
        change = screen.subject
        assert isinstance(change, Change)
        sql = change.request.text()
        expected = [*allowed_ips(sandbox_platform), MISSING_AIRBYTE_IP]
        assert sql == (
            "ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = (" + ", ".join(f"'{e}'" for e in expected) + ")"
        )
        assert f"\n  SQL  {sql}\n" in preview(screen)  # the whole statement, exactly as it is sent
        assert f"+ ALLOWED_IP_LIST: {MISSING_AIRBYTE_IP}" in preview(screen)

        snowflake_sandbox.clear_statements()
        await type_into(pilot, "#change-reason", "INC-4711")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "applied", outcome.message
        assert outcome.verification is not None and outcome.verification.ok
        assert result(screen).startswith("APPLIED ✓")
        assert snowflake_writes(snowflake_sandbox) == [sql]  # exactly what the preview showed, once
        assert allowed_ips(sandbox_platform)[-1] == MISSING_AIRBYTE_IP
        await pilot.press("escape")
        await until(
            pilot,
            lambda: "SF_ENTRY_MISSING" not in codes(app),
            REFRESH_TIMEOUT_S,
            "the finding to go after the refresh",
        )


async def test_a_concurrent_edit_shows_the_new_diff_and_offers_the_change_planned_again(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, snowflake_sandbox: SnowflakeSandbox
) -> None:
    settings = scenario("airbyte-ip-missing")
    async with dashboard(settings) as (app, pilot):
        select_finding(app, "SF_ENTRY_MISSING")
        await pilot.press("f")
        screen = await screen_of(pilot, ChangeScreen)
        # Between the preview and Apply, another engineer adds an entry from their own session.
        others = [*allowed_ips(sandbox_platform), "198.51.100.23"]
        sandbox_platform.sql(
            f"ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ({', '.join(repr(e) for e in others)})"
        )
        snowflake_sandbox.clear_statements()
        await type_into(pilot, "#change-reason", "INC-4711")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "conflict"
        assert snowflake_writes(snowflake_sandbox) == []  # nothing was sent
        shown = result(screen)
        assert shown.startswith("CONFLICT ✗") and "+ ALLOWED_IP_LIST: 198.51.100.23" in shown
        again = screen.query_one("#change-rebuilt", Button)
        assert again.display and app.focused is again
        assert not screen.query_one("#change-apply").display  # this preview is stale: it cannot be applied

        await pilot.press("enter")  # "Preview again": the same fix planned on the policy as it is now
        await until(pilot, lambda: "198.51.100.23', '34.106.229.69')" in preview(screen), what="the new preview")
        assert app.focused is screen.query_one("#change-cancel")
        assert screen.query_one("#change-reason", Input).value == "INC-4711"  # the reason is kept
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "applied", outcome.message
        assert {"198.51.100.23", MISSING_AIRBYTE_IP} <= set(allowed_ips(sandbox_platform))  # both edits kept


async def test_a_dangerous_removal_needs_the_typed_phrase(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, snowflake_sandbox: SnowflakeSandbox
) -> None:
    """`x` on a protected entry: refused without the phrase, and with a wrong one; applied with the right one."""
    settings = scenario("handoff")
    protected = "34.106.109.131"
    async with dashboard(settings) as (app, pilot):
        await pilot.press("3")
        entries = table(app, "entries")
        assert entries.select_key(f"ip:allowed:{protected}")
        await pilot.press("x")
        screen = await screen_of(pilot, ChangeScreen)
        assert "DANGEROUS — type 'INTEGRATIONS' to confirm" in preview(screen)
        assert f"removes the protected entry {protected} (Airbyte Cloud US)" in preview(screen)
        assert f"- ALLOWED_IP_LIST: {protected}" in preview(screen)
        assert screen.query_one("#change-confirm-field").display
        assert app.focused is screen.query_one("#change-cancel")

        snowflake_sandbox.clear_statements()
        await type_into(pilot, "#change-reason", "CHG-9")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "refused" and outcome.refused_by == "confirmation"
        assert "type 'INTEGRATIONS' to confirm" in error(screen)
        assert app.focused is screen.query_one("#change-confirm")
        await type_into(pilot, "#change-confirm", "integrations")
        outcome = await apply(pilot, screen)
        assert outcome.refused_by == "confirmation"  # the phrase is exact
        assert snowflake_writes(snowflake_sandbox) == []
        assert protected in allowed_ips(sandbox_platform)

        await type_into(pilot, "#change-confirm", "INTEGRATIONS")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "applied", outcome.message
        assert protected not in allowed_ips(sandbox_platform)
        (entry,) = Journal.for_settings(settings).entries()
        assert entry.overrides["confirmed"] is True


async def test_lockout_is_refused_until_the_override_is_typed_and_the_field_appears(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, snowflake_sandbox: SnowflakeSandbox
) -> None:
    """Removing the operator's own address: the preview explains the lockout and asks for the override."""
    settings = scenario("healthy")
    me = sandbox_platform.topology.access_public_ip
    async with dashboard(settings) as (app, pilot):
        await pilot.press("3")
        assert table(app, "entries").select_key(f"ip:allowed:{me}")
        await pilot.press("x")
        screen = await screen_of(pilot, ChangeScreen)
        assert f"your address {me} would be locked out" in preview(screen)
        assert "LOCKOUT — refused unless you type 'override lockout'" in preview(screen)
        assert screen.query_one("#change-override-field").display

        snowflake_sandbox.clear_statements()
        await type_into(pilot, "#change-reason", "tidy")
        await type_into(pilot, "#change-confirm", "INTEGRATIONS")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "refused" and outcome.refused_by == "lockout"
        assert result(screen).startswith("REFUSED ✗ (by the lockout guard)")
        assert app.focused is screen.query_one("#change-override")
        assert snowflake_writes(snowflake_sandbox) == []
        assert me in allowed_ips(sandbox_platform)
        assert Journal.for_settings(settings).entries() == []  # refused before anything was sent


# ----------------------------------------------------------------------------------------------------------------
# a / x on the Snowflake pane


async def test_a_refuses_bad_entries_inline_then_adds_a_good_one(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, snowflake_sandbox: SnowflakeSandbox
) -> None:
    settings = scenario("handoff")
    async with dashboard(settings) as (app, pilot):
        await pilot.press("3", "a")
        form = await screen_of(pilot, EntryScreen)
        snowflake_sandbox.clear_statements()
        for typed, says in (
            ("203.0.113.7/24", "use 203.0.113.0/24 for the whole network, or 203.0.113.7 for the single address"),
            ("2001:db8::1", "IPv4 only"),
            ("34.106.109.131", "already"),
        ):
            fill(pilot, "#entry-cidr", typed)
            fill(pilot, "#entry-label", "Vendor VPN")
            await pilot.press("enter")
            assert isinstance(app.screen, EntryScreen), typed  # refused: the form stays
            assert says in error(form, "#entry-error"), (typed, error(form, "#entry-error"))
            assert app.focused is form.query_one("#entry-cidr")
        await type_into(pilot, "#entry-cidr", "203.0.113.7")
        fill(pilot, "#entry-label", "Vendor 'VPN'")
        await pilot.press("enter")
        assert "quote" in error(form, "#entry-error") and app.focused is form.query_one("#entry-label")
        assert snowflake_sandbox.statements() == []  # planning is pure: nothing was sent for any of it

        await type_into(pilot, "#entry-label", "Vendor")
        await pilot.press("enter")
        screen = await screen_of(pilot, ChangeScreen)
        assert "+ ALLOWED_IP_LIST: 203.0.113.7" in preview(screen)
        await type_into(pilot, "#change-reason", "CHG-12")
        outcome = await apply(pilot, screen)
        assert outcome.status.value == "applied", outcome.message
        assert "203.0.113.7" in allowed_ips(sandbox_platform)
        await pilot.press("escape")
        await until(
            pilot,
            lambda: any(r.cells[1] == "203.0.113.7" for r in table(app, "entries").all_rows),
            REFRESH_TIMEOUT_S,
            "the new entry on the pane",
        )


# ----------------------------------------------------------------------------------------------------------------
# Marked findings, one batch


async def test_marked_findings_are_fixed_as_one_reviewed_batch(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform
) -> None:
    settings = scenario("route-missing")
    # A second incident on top: Airbyte's address dropped from the policy.
    sandbox_platform.sql(
        "ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ("
        + ", ".join(f"'{e}'" for e in allowed_ips(sandbox_platform) if e != MISSING_AIRBYTE_IP)
        + ")"
    )
    async with dashboard(settings) as (app, pilot):
        assert {"NET_ROUTE_MISSING", "SF_ENTRY_MISSING"} <= codes(app)
        findings = table(app, "findings")
        for code in ("NET_ROUTE_MISSING", "SF_ENTRY_MISSING"):
            select_finding(app, code)
            await pilot.press("m")
        assert len(findings.marks) == 2
        marked = [r for r in findings.all_rows if r.key in findings.marks]
        assert all(plain(findings.get_row(r.key)[0]).startswith("● ") for r in marked)  # visible marker
        assert "marked: 2" in text_of(app.screen.query_one("#section-findings .section-title", Static))
        await pilot.press("F")
        screen = await screen_of(pilot, ChangeScreen)
        shown = preview(screen)
        assert shown.startswith("2 changes, applied in this order")
        assert "[1] " in shown and "[2] " in shown and "CreateRoute" in shown and "ALLOWED_IP_LIST" in shown
        assert screen.query_one("#change-confirm-field").display  # a batch is always confirmed

        await type_into(pilot, "#change-reason", "INC-9")
        await press_button(pilot, "#change-apply")
        assert "Type 'apply 2 changes' to confirm the batch" in error(screen)
        assert screen.outcome is None  # refused in the screen: nothing went to the core
        await type_into(pilot, "#change-confirm", "apply 2 changes")
        outcome = await apply(pilot, screen)
        assert outcome.ok, outcome.message
        shown = result(screen)
        assert shown.startswith("APPLIED ✓") and "Applied:" in shown and "Not applied:" not in shown
        await pilot.press("escape")
        await until(
            pilot, lambda: not {"NET_ROUTE_MISSING", "SF_ENTRY_MISSING"} & codes(app), REFRESH_TIMEOUT_S, "both to go"
        )
        assert findings.marks == set()
    entries = Journal.for_settings(settings).entries()
    assert [e.result for e in entries] == ["applied", "applied"] and entries[0].batch_id == entries[1].batch_id


# ----------------------------------------------------------------------------------------------------------------
# Journal and undo; export


async def test_the_journal_lists_an_applied_change_and_u_previews_its_inverse(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform, snowflake_sandbox: SnowflakeSandbox
) -> None:
    settings = scenario("route-missing")
    topo = sandbox_platform.topology
    table_id = topo.route_tables[MISSING_ROUTE_TABLE]
    secrets = [snowflake_sandbox.password, SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY]
    async with dashboard(settings) as (app, pilot):
        select_finding(app, "NET_ROUTE_MISSING")
        await pilot.press("f")
        screen = await screen_of(pilot, ChangeScreen)
        # An operator pastes a password into the reason: the journal (and so every screen showing it) redacts it.
        fill(pilot, "#change-reason", f"INC-7 {snowflake_sandbox.password}")
        assert (await apply(pilot, screen)).ok
        await pilot.press("escape")
        assert not [s for s in secrets if s in app.export_screenshot()]

        await pilot.press("j")
        journal = await screen_of(pilot, JournalScreen)
        await until(pilot, lambda: journal.loaded, APPLY_TIMEOUT_S, "the journal")
        rows = journal.query_one(KeyedTable).all_rows
        assert len(rows) == 1
        _when, outcome, operator, reason, what = rows[0].cells
        assert what.startswith(f"Create route {OPERATIONS_CIDR} -> {topo.peering_id} in {table_id}")
        assert outcome == "✓ applied" and reason == "INC-7 [redacted]" and operator
        detail = text_of(journal.query_one("#journal-detail", Static))
        assert "CreateRoute" in detail and "verification: ok" in detail
        assert not [s for s in secrets if s in app.export_screenshot() or s in detail]

        await pilot.press("u")
        undo = await screen_of(pilot, ChangeScreen)
        assert undo.subject.request.to_json()["operation"] == "DeleteRoute"  # type: ignore[union-attr]
        assert "AWS ec2 DeleteRoute" in preview(undo) and table_id in preview(undo)
        assert f"- {OPERATIONS_CIDR} -> {topo.peering_id}" in preview(undo)
        assert "DANGEROUS" in preview(undo)  # removing the route cuts the path
        await type_into(pilot, "#change-reason", "INC-7 rollback")
        await type_into(pilot, "#change-confirm", table_id)
        assert (await apply(pilot, undo)).ok
        await pilot.press("escape")
        assert app.screen is journal
        await until(
            pilot, lambda: len(journal.query_one(KeyedTable).all_rows) == 2, APPLY_TIMEOUT_S, "the undo's entry"
        )
        newest = journal.query_one(KeyedTable).all_rows[0]
        assert newest.cells[3] == "INC-7 rollback"  # newest first
        await pilot.press("escape")
        await until(pilot, lambda: "NET_ROUTE_MISSING" in codes(app), REFRESH_TIMEOUT_S, "the route missing again")


async def test_e_exports_a_report_with_its_sha256(scenario: Callable[[str], Settings], recording: AwsSandbox) -> None:
    import hashlib

    settings = scenario("handoff")
    async with dashboard(settings) as (app, pilot):
        recording.start_recording()
        await pilot.press("e")
        await until(pilot, lambda: app.last_export is not None, APPLY_TIMEOUT_S, "the export")
        export = app.last_export
        assert export.path.read_bytes() and hashlib.sha256(export.path.read_bytes()).hexdigest() == export.sha256
        assert export.s3_uri.startswith("s3://")
        messages = " ".join(str(n.message) for n in app._notifications)
        assert str(export.path) in messages and export.sha256 in messages
    uploads = [r.action for r in recording.recorded_requests() if r.mutating]
    assert uploads == [f"PUT /{export.s3_uri.removeprefix('s3://')}"]  # the report, and nothing else


async def test_an_interrupted_change_is_reconciled_at_start_and_said(
    scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform
) -> None:
    """Two intents journaled without results (the last run died mid-change), one of which was sent."""
    from goodword_tui.changes.apply import ChangeContext
    from goodword_tui.changes.base import ops_for, plan
    from goodword_tui.journal import Operator
    from goodword_tui.sources.snowflake import read_state

    settings = scenario("airbyte-ip-missing")
    with ChangeContext(settings) as ctx:
        state = read_state(ctx.gateway)
        sent = plan("add_allowed_ip", {"cidr": MISSING_AIRBYTE_IP, "label": "Airbyte Cloud US"}, state, settings)
        never = plan("add_allowed_ip", {"cidr": "198.51.100.44", "label": "Vendor"}, sent.state_after, settings)
        for change in (sent, never):
            ctx.journal.write_intent(
                change=change.to_json(),
                before=change.before.to_json(),
                after=change.after.to_json(),
                operator=Operator("oncall"),
                mode="write",
                reason="INC-4711",
            )
        ops_for(sent.system).send(ctx, sent.request)  # ... and the process died before recording either result
    async with dashboard(settings) as (app, pilot):
        await until(pilot, lambda: bool(app.reconciled), APPLY_TIMEOUT_S, "the reconciliation")
        assert sorted(o.result for o in app.reconciled) == ["applied", "not_applied"]
        messages = " ".join(str(n.message) for n in app._notifications)
        assert "1 applied, 1 not applied, 0 still unknown" in messages
    assert Journal.for_settings(settings).pending() == []
