"""Snowflake changes end to end against the sandbox: apply, verify by re-reading, undo; lockout; concurrency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_change, plan_undo
from goodword_tui.changes.base import change_from_fix, plan
from goodword_tui.changes.guards import LOCKOUT_OVERRIDE_PHRASE
from goodword_tui.changes.inputs import InputError
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from tests.changes.conftest import Scene, with_platform
from tests.fixtures.snowflake import connect_to

Contexts = Callable[..., ChangeContext]


def allowed_ips(scene: Scene) -> list[str]:
    rows = dict(scene.platform.sql("DESC NETWORK POLICY INTEGRATIONS"))
    return [v for v in str(rows.get("ALLOWED_IP_LIST", "")).split(",") if v]


def writes(sandbox: SnowflakeSandbox) -> list[str]:
    return [s.sql for s in sandbox.statements() if s.sql.lstrip().upper().startswith(("ALTER", "CREATE", "DROP"))]


def test_the_missing_airbyte_entry_is_added_verified_journaled_and_undone(
    scene: Callable[..., Scene], contexts: Contexts
) -> None:
    s = scene("airbyte-ip-missing", aws=False)
    change = change_from_fix(s.finding("SF_ENTRY_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    ctx = contexts(s.settings)

    result = apply_change(change, ctx, reason="INC-4711 Airbyte syncs refused")
    assert result.status is ApplyStatus.APPLIED, result.message
    assert result.verification is not None and result.verification.ok
    assert allowed_ips(s)[-1] == MISSING_AIRBYTE_IP
    assert "SF_ENTRY_MISSING" not in {f.code for f in s.refresh().findings}

    (entry,) = ctx.journal.entries()
    assert entry.result == "applied" and entry.reason == "INC-4711 Airbyte syncs refused" and entry.mode == "write"
    assert entry.operator["snowflake_user"] == "CHRIS" and entry.operator["snowflake_role"] == "ACCOUNTADMIN"
    assert entry.operator["os_user"]
    assert entry.change["request"]["sql"] == change.request.text()
    assert MISSING_AIRBYTE_IP not in " ".join(entry.before["lines"])
    assert any(MISSING_AIRBYTE_IP in line for line in entry.observed["lines"])  # type: ignore[index]

    undo = plan_undo(entry, ctx)
    assert undo.description.startswith("Undo (Add 34.106.229.69")
    refused = apply_change(undo, ctx, reason="INC-4711 rollback")
    assert refused.status is ApplyStatus.REFUSED and refused.refused_by == "confirmation"  # a protected entry
    undone = apply_change(undo, ctx, reason="INC-4711 rollback", confirmation=undo.confirm_phrase)
    assert undone.status is ApplyStatus.APPLIED, undone.message
    assert MISSING_AIRBYTE_IP not in allowed_ips(s)
    assert [e.result for e in ctx.journal.entries()] == ["applied", "applied"]


def test_remove_edit_and_restore_entries(scene: Callable[..., Scene], contexts: Contexts) -> None:
    s = scene("handoff", aws=False)
    ctx = contexts(s.settings)
    remove = plan("remove_allowed_ip", {"cidr": "192.168.0.0/16"}, s.snapshot.snowflake.data, s.settings)
    assert not remove.dangerous  # not protected, and the catch-all rule still admits everyone
    assert apply_change(remove, ctx, reason="CHG-1 tidy").ok
    assert "192.168.0.0/16" not in allowed_ips(s)

    s = s.refresh()
    position = allowed_ips(s).index("34.106.60.246")
    edit = plan(
        "edit_allowed_ip",
        {"old": "34.106.60.246", "new": "34.106.60.0/24", "label": "Airbyte range"},
        s.snapshot.snowflake.data,
        s.settings,
    )
    assert edit.danger_reasons == ("removes the protected entry 34.106.60.246 (Airbyte Cloud US)",)
    edited = apply_change(edit, ctx, reason="CHG-2", confirmation="INTEGRATIONS")
    assert edited.ok, edited.message
    assert allowed_ips(s)[position] == "34.106.60.0/24"  # in place of the edited one

    s = s.refresh()
    restore = plan("restore_baseline", {}, s.snapshot.snowflake.data, s.settings)
    assert "2 baseline entries" in restore.description
    assert apply_change(restore, ctx, reason="CHG-3 back to the baseline").ok
    assert {"192.168.0.0/16", "34.106.60.246", "34.106.60.0/24"} <= set(allowed_ips(s))
    assert not {"SF_ENTRY_MISSING"} & {f.code for f in s.refresh().findings}


def test_blocked_entries_and_rules(scene: Callable[..., Scene], contexts: Contexts) -> None:
    s = scene("handoff", aws=False)
    s.platform.sql("ALTER NETWORK POLICY INTEGRATIONS SET BLOCKED_IP_LIST = ('198.51.100.9')")
    s = s.refresh()
    ctx = contexts(s.settings)
    unblock = plan("remove_blocked_ip", {"cidr": "198.51.100.9"}, s.snapshot.snowflake.data, s.settings)
    assert unblock.request.text() == "ALTER NETWORK POLICY INTEGRATIONS SET BLOCKED_IP_LIST = ()"
    assert apply_change(unblock, ctx, reason="CHG-4").ok
    (entry,) = ctx.journal.entries()
    reblock = plan_undo(entry, ctx)
    assert reblock.dangerous  # blocking an address that is admitted now reduces who can log in
    assert apply_change(reblock, ctx, reason="CHG-4 undo", confirmation="INTEGRATIONS").ok
    assert dict(s.platform.sql("DESC NETWORK POLICY INTEGRATIONS"))["BLOCKED_IP_LIST"] == "198.51.100.9"

    s = s.refresh()
    drop_rule = plan("remove_policy_rule", {"rule": "AIRBYTE_DB.RAW.AIRBYTE"}, s.snapshot.snowflake.data, s.settings)
    assert drop_rule.request.text() == (
        "ALTER NETWORK POLICY INTEGRATIONS REMOVE ALLOWED_NETWORK_RULE_LIST = (AIRBYTE_DB.RAW.AIRBYTE)"
    )
    assert apply_change(drop_rule, ctx, reason="CHG-5").ok
    s = s.refresh()
    (finding,) = [f for f in s.findings if f.code == "SF_RULE_MISSING"]
    add_rule = change_from_fix(finding.fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    assert apply_change(add_rule, ctx, reason="CHG-5 put it back").ok
    assert "SF_RULE_MISSING" not in {f.code for f in s.refresh().findings}


def test_the_policy_is_activated_and_deactivated(scene: Callable[..., Scene], contexts: Contexts) -> None:
    s = scene("policy-inactive", aws=False)
    change = change_from_fix(s.finding("SF_POLICY_NOT_ACTIVE").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    ctx = contexts(s.settings)
    result = apply_change(change, ctx, reason="INC-12 policy detached")
    assert result.ok, result.message
    assert s.platform.sql("SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")[0][1] == "INTEGRATIONS"
    undo = plan_undo(ctx.journal.entries()[-1], ctx)
    assert undo.request.text() == "ALTER ACCOUNT UNSET NETWORK_POLICY" and undo.dangerous
    assert apply_change(undo, ctx, reason="INC-12 rollback", confirmation=undo.confirm_phrase).ok
    assert s.platform.sql("SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT")[0][1] == ""


def test_removing_the_operators_own_address_is_refused(
    scene: Callable[..., Scene], contexts: Contexts, snowflake_sandbox: SnowflakeSandbox
) -> None:
    s = scene("healthy", aws=False)
    me = s.snapshot.snowflake.data.current_ip  # type: ignore[union-attr]
    assert me == s.platform.topology.access_public_ip
    change = plan("remove_allowed_ip", {"cidr": me}, s.snapshot.snowflake.data, s.settings)
    assert change.locks_out and change.dangerous
    ctx = contexts(s.settings)
    snowflake_sandbox.clear_statements()
    result = apply_change(change, ctx, reason="tidy", confirmation=change.confirm_phrase)
    assert result.status is ApplyStatus.REFUSED and result.refused_by == "lockout"
    assert f"your address {me} would be locked out" in result.message
    assert LOCKOUT_OVERRIDE_PHRASE in result.message
    assert writes(snowflake_sandbox) == []
    assert ctx.journal.entries() == []  # refused before anything was sent: nothing to journal
    assert me in allowed_ips(s)

    tailscale = plan("remove_allowed_ip", {"cidr": "100.64.0.0/10"}, s.snapshot.snowflake.data, s.settings)
    refused = apply_change(tailscale, ctx, reason="tidy", confirmation="INTEGRATIONS")
    assert refused.refused_by == "lockout"
    assert "protected entry 100.64.0.0/10 (Tailscale) would be locked out" in refused.message


def test_a_forced_lockout_really_locks_the_next_login_out(
    scene: Callable[..., Scene], contexts: Contexts, snowflake_sandbox: SnowflakeSandbox
) -> None:
    """What the guard prevents: with the override typed, the change goes through and the next login gets 390422."""
    s = scene("handoff", aws=False)
    change = plan("remove_policy_rule", {"rule": "GOODWORD_WH.RAW.ANY"}, s.snapshot.snowflake.data, s.settings)
    assert change.locks_out
    ctx = contexts(s.settings)
    assert apply_change(change, ctx, reason="drill", confirmation="INTEGRATIONS").refused_by == "lockout"

    forced = apply_change(
        change, ctx, reason="lockout drill", confirmation="INTEGRATIONS", lockout_override=LOCKOUT_OVERRIDE_PHRASE
    )
    assert forced.status is ApplyStatus.APPLIED, forced.message
    (entry,) = ctx.journal.entries()
    assert entry.overrides == {"confirmed": True, "lockout_overridden": True}

    with pytest.raises(Exception) as refused:  # the connector's DatabaseError
        connect_to(snowflake_sandbox)
    assert getattr(refused.value, "errno", None) == 390422
    assert "is not allowed to access Snowflake" in str(refused.value)

    # The session opened before the change still works (Snowflake checks at login): undo through it.
    undo = plan_undo(entry, ctx)
    assert apply_change(undo, ctx, reason="end of drill").ok
    connect_to(snowflake_sandbox).close()  # logging in works again


def test_a_concurrent_edit_aborts_with_the_new_diff_and_nothing_is_lost(
    scene: Callable[..., Scene], contexts: Contexts, snowflake_sandbox: SnowflakeSandbox
) -> None:
    s = scene("airbyte-ip-missing", aws=False)
    change = change_from_fix(s.finding("SF_ENTRY_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    # Between the preview and the apply, another engineer adds an entry from their own session.
    other = connect_to(snowflake_sandbox)
    try:
        entries = ", ".join(f"'{e}'" for e in [*allowed_ips(s), "198.51.100.23"])
        other.cursor().execute(f"ALTER NETWORK POLICY INTEGRATIONS SET ALLOWED_IP_LIST = ({entries})")
    finally:
        other.close()
    ctx = contexts(s.settings)
    before_writes = len(writes(snowflake_sandbox))

    result = apply_change(change, ctx, reason="INC-4711")
    assert result.status is ApplyStatus.CONFLICT
    assert [str(d) for d in result.conflict if d.op != " "] == ["+ ALLOWED_IP_LIST: 198.51.100.23"]
    assert len(writes(snowflake_sandbox)) == before_writes  # nothing was sent
    assert result.rebuilt is not None
    assert "'198.51.100.23', '34.106.229.69'" in result.rebuilt.request.text()

    again = apply_change(result.rebuilt, ctx, reason="INC-4711")
    assert again.ok, again.message
    assert {"198.51.100.23", MISSING_AIRBYTE_IP} <= set(allowed_ips(s))  # both edits kept

    # When the very change is already made, applying the stale preview finds its effect there and sends nothing.
    stale = change_from_fix(s.finding("SF_ENTRY_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    before_writes = len(writes(snowflake_sandbox))
    late = apply_change(stale, ctx, reason="INC-4711")
    assert late.status is ApplyStatus.ALREADY_DONE and late.ok, late.message
    assert "already done, nothing was sent" in late.message
    assert len(writes(snowflake_sandbox)) == before_writes
    assert ctx.journal.entry(late.entry_id).result == "already_done"  # type: ignore[union-attr]
    with pytest.raises(InputError):
        stale.replan(s.refresh().snapshot.snowflake.data)


def test_no_journal_no_change(
    scene: Callable[..., Scene], contexts: Contexts, snowflake_sandbox: SnowflakeSandbox, tmp_path: Path
) -> None:
    s = scene("handoff", aws=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings = with_platform(s.settings, journal_path=str(blocker / "journal.jsonl"))
    change = plan("remove_allowed_ip", {"cidr": "192.168.0.0/16"}, s.snapshot.snowflake.data, settings)
    snowflake_sandbox.clear_statements()
    result = apply_change(change, contexts(settings), reason="CHG-9")
    assert result.status is ApplyStatus.FAILED
    assert "could not write the journal" in result.message and "nothing was sent" in result.message
    assert writes(snowflake_sandbox) == []
    assert "192.168.0.0/16" in allowed_ips(s)
