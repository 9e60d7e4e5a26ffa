"""Writes under faults (issue 6): a write whose answer is lost is `unknown`, settled by re-reading, never re-sent;
a change already made is found before sending and journaled `already_done`; no change applied twice, none lost.

The faults sit between the client and the real emulators (tests/changes/faulty.py): the request never arrives
(`drop`), AWS refuses it for its rate (`throttle`: known not applied, so sent again after a backoff), or the
server applies it and the client sees a reset (`reset-after`) or no answer in time (`late-answer`). Timeouts
are small (one second for AWS reads, two for Snowflake statements).
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from goodword_tui.changes.apply import (
    ApplyResult,
    ApplyStatus,
    ChangeContext,
    apply_change,
    plan_undo,
    reconcile_pending,
)
from goodword_tui.changes.base import Change, change_from_fix
from goodword_tui.changes.inputs import InputError
from goodword_tui.config import Settings
from goodword_tui.journal import Journal, Operator
from goodword_tui.sandbox.aws import AwsSandbox
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP, MISSING_ROUTE_TABLE, OPERATIONS_CIDR
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from tests.changes.conftest import Scene, with_platform
from tests.changes.faulty import WriteProxies

Contexts = Callable[..., ChangeContext]
CREATE_ROUTE = b"Action=CreateRoute"
ALTER_POLICY = b"ALTER NETWORK POLICY"
VERIFY_S = 2.0  # how long a write with an open outcome is re-read before it is called failed


def journal_results(ctx: ChangeContext, entry_id: str) -> list[str]:
    """The result records of one entry, in the order they were appended."""
    records = [json.loads(line) for line in ctx.journal.path.read_text().splitlines()]
    return [r["result"] for r in records if r["id"] == entry_id and r["type"] == "result"]


def route_target(sandbox: AwsSandbox, table_id: str, destination: str) -> str | None:
    (table,) = sandbox.client("ec2").describe_route_tables(RouteTableIds=[table_id])["RouteTables"]
    found = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == destination]
    return found[0].get("VpcPeeringConnectionId") if found else None


def sent(sandbox: AwsSandbox, action: str) -> int:
    return sum(1 for r in sandbox.recorded_requests() if r.action == action)


def apply_counting_creates(change: Change, ctx: ChangeContext, sandbox: AwsSandbox) -> tuple[ApplyResult, int]:
    """Apply with moto's recorder on: the result, and how many CreateRoute requests reached the server."""
    sandbox.start_recording()
    try:
        return apply_change(change, ctx, reason="INC-7"), sent(sandbox, "CreateRoute")
    finally:
        sandbox.stop_recording()


def alters(sandbox: SnowflakeSandbox) -> int:
    return sum(1 for s in sandbox.statements() if s.sql.lstrip().upper().startswith("ALTER NETWORK POLICY"))


def missing_route(scene: Callable[..., Scene]) -> tuple[Scene, Change, str]:
    s = scene("route-missing")
    change = change_from_fix(s.finding("NET_ROUTE_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    return s, change, s.platform.topology.route_tables[MISSING_ROUTE_TABLE]


def missing_airbyte_entry(scene: Callable[..., Scene]) -> tuple[Scene, Change]:
    s = scene("airbyte-ip-missing", aws=False)
    return s, change_from_fix(s.finding("SF_ENTRY_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------
# AWS


def test_an_aws_write_that_never_arrives_is_unknown_then_failed_and_not_re_sent(
    scene: Callable[..., Scene], contexts: Contexts, proxies: WriteProxies, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    s, change, table_id = missing_route(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    proxies.aws.fail_next("drop", CREATE_ROUTE)
    result, creates = apply_counting_creates(change, ctx, aws_sandbox)

    assert result.status is ApplyStatus.FAILED, result.message
    assert "timeout" in result.error.lower() and "it did not take" in result.message
    assert "Nothing was re-sent" in result.message
    assert creates == 0 and proxies.aws.forwarded == 0  # botocore did not retry it behind our back
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) is None
    assert journal_results(ctx, result.entry_id) == ["unknown", "failed"]
    assert ctx.journal.pending() == [] and ctx.journal.unresolved() == []

    # Nothing was lost: applying it again (the platform healthy) makes it, once.
    again = apply_change(change, ctx, reason="INC-7")
    assert again.status is ApplyStatus.APPLIED, again.message
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) == s.platform.topology.peering_id


def test_an_aws_write_applied_but_answered_too_late_is_unknown_then_applied(
    scene: Callable[..., Scene], contexts: Contexts, proxies: WriteProxies, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    s, change, table_id = missing_route(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    proxies.aws.fail_next("late-answer", CREATE_ROUTE, hold_s=5)
    result, creates = apply_counting_creates(change, ctx, aws_sandbox)

    assert result.status is ApplyStatus.APPLIED, result.message
    assert "the re-read shows it took" in result.message and "timeout" in result.error.lower()
    assert creates == 1  # sent once: a retry would have hit RouteAlreadyExists and looked like a failure
    assert journal_results(ctx, result.entry_id) == ["unknown", "applied"]
    (entry,) = ctx.journal.entries()
    assert entry.applied and entry.verification is not None and entry.verification["ok"]
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) == s.platform.topology.peering_id
    assert plan_undo(entry, ctx).request.to_json()["operation"] == "DeleteRoute"  # an applied change undoes


def test_an_aws_write_reset_after_the_server_applied_it_is_unknown_then_applied(
    scene: Callable[..., Scene], contexts: Contexts, proxies: WriteProxies, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    s, change, table_id = missing_route(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    proxies.aws.fail_next("reset-after", CREATE_ROUTE)
    result, creates = apply_counting_creates(change, ctx, aws_sandbox)

    assert result.status is ApplyStatus.APPLIED, result.message
    assert "Connection" in result.error  # botocore's ConnectionClosedError: the client never saw the answer
    assert creates == 1 and proxies.aws.forwarded == 1
    assert journal_results(ctx, result.entry_id) == ["unknown", "applied"]
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) == s.platform.topology.peering_id


def test_a_throttled_aws_write_is_sent_again_after_a_backoff_and_applied_once(
    scene: Callable[..., Scene], contexts: Contexts, proxies: WriteProxies, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    """AWS refuses a request over its rate without processing it (EC2: 503 RequestLimitExceeded): unlike a lost
    answer, that outcome is known, so the write is sent again after a backoff, as botocore does for reads."""
    s, change, table_id = missing_route(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    proxies.aws.fail_next("throttle", CREATE_ROUTE, count=1)
    started = time.monotonic()
    result, creates = apply_counting_creates(change, ctx, aws_sandbox)

    assert result.status is ApplyStatus.APPLIED, result.message
    assert "AWS throttled it 1 time(s)" in result.message
    assert proxies.aws.refused == 1 and creates == 1  # refused once, then the one request that reached the server
    assert journal_results(ctx, result.entry_id) == ["applied"]  # never `unknown`: the refusal was an answer
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) == s.platform.topology.peering_id
    assert time.monotonic() - started >= 0.8  # it waited before sending again


def test_an_aws_write_throttled_on_every_attempt_fails_at_once_and_nothing_took(
    scene: Callable[..., Scene], contexts: Contexts, proxies: WriteProxies, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    s, change, table_id = missing_route(scene)
    settings = proxies.route(s.settings, tmp_path)
    ctx = contexts(settings, verify_timeout_s=VERIFY_S)
    proxies.aws.fail_next("throttle", CREATE_ROUTE, count=10)
    result, creates = apply_counting_creates(change, ctx, aws_sandbox)

    attempts = settings.aws.max_attempts
    assert result.status is ApplyStatus.FAILED, result.message
    assert "RequestLimitExceeded" in result.message and f"throttled on all {attempts} attempts" in result.message
    assert proxies.aws.refused == attempts and creates == 0
    assert journal_results(ctx, result.entry_id) == ["failed"]  # known not applied: no `unknown`, no re-read wait
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) is None

    proxies.aws.clear()
    again = apply_change(change, ctx, reason="INC-7")  # nothing was lost: the platform healthy, it applies once
    assert again.status is ApplyStatus.APPLIED, again.message


def test_an_unknown_outcome_the_platform_cannot_tell_yet_is_settled_at_the_next_start(
    scene: Callable[..., Scene], contexts: Contexts, proxies: WriteProxies, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    s, change, table_id = missing_route(scene)
    settings = proxies.route(s.settings, tmp_path)
    ctx = contexts(settings, verify_timeout_s=1.0)
    # The server applies it, the answer is lost, and from then on every request is refused (AWS is down).
    proxies.aws.fail_next("reset-after", CREATE_ROUTE, then="http-503")
    result = apply_change(change, ctx, reason="INC-7")

    assert result.status is ApplyStatus.UNKNOWN, result.message
    assert "outcome unknown" in result.message and "Nothing is re-sent" in result.message
    assert result.verification is None
    (entry,) = ctx.journal.entries()
    assert entry.result == "unknown" and entry.unresolved and not entry.pending
    try:
        plan_undo(entry, ctx)
    except InputError as exc:
        assert "not known yet" in exc.message
    else:
        raise AssertionError("an unknown change was offered for undo")
    assert reconcile_pending(ctx)[0].result == "pending"  # still unreadable: left for the next start
    assert ctx.journal.entries()[0].result == "unknown"

    proxies.clear()  # AWS is back; the next start re-reads and records what happened
    restarted = contexts(settings)
    (outcome,) = reconcile_pending(restarted)
    assert outcome.result == "applied" and outcome.entry.result == "unknown"
    (settled,) = restarted.journal.entries()
    assert settled.applied and settled.reconciled
    assert route_target(aws_sandbox, table_id, OPERATIONS_CIDR) == s.platform.topology.peering_id
    assert reconcile_pending(restarted) == []


def test_a_peering_someone_else_accepted_is_already_done_and_nothing_is_sent(
    scene: Callable[..., Scene], contexts: Contexts, aws_sandbox: AwsSandbox
) -> None:
    s = scene("peering-pending")
    change = change_from_fix(s.finding("NET_PEERING_PENDING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    peering_id = s.platform.topology.peering_id
    aws_sandbox.client("ec2").accept_vpc_peering_connection(VpcPeeringConnectionId=peering_id)  # the other engineer
    ctx = contexts(s.settings)
    aws_sandbox.start_recording()
    try:
        result = apply_change(change, ctx, reason="INC-9")
        accepts = sent(aws_sandbox, "AcceptVpcPeeringConnection")
    finally:
        aws_sandbox.stop_recording()

    assert result.status is ApplyStatus.ALREADY_DONE and result.ok, result.message
    assert f"peering {peering_id} is active" in result.message and accepts == 0
    (entry,) = ctx.journal.entries()
    assert entry.result == "already_done" and entry.verification is not None and entry.verification["ok"]
    assert entry.reason == "INC-9" and entry.operator["aws_arn"]
    try:
        plan_undo(entry, ctx)
    except InputError as exc:
        assert "nothing was sent" in exc.message
    else:
        raise AssertionError("a change that sent nothing was offered for undo")


# --------------------------------------------------------------------------------------------------------------
# Snowflake


def test_a_snowflake_write_reset_after_the_server_applied_it_is_unknown_then_applied(
    scene: Callable[..., Scene],
    contexts: Contexts,
    proxies: WriteProxies,
    snowflake_sandbox: SnowflakeSandbox,
    tmp_path: Path,
) -> None:
    s, change = missing_airbyte_entry(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    before = alters(snowflake_sandbox)
    proxies.snowflake.fail_next("reset-after", ALTER_POLICY)
    result = apply_change(change, ctx, reason="INC-4711")

    assert result.status is ApplyStatus.APPLIED, result.message
    assert "Snowflake 250003" in result.error  # the connector's "failed to request", not retried
    assert alters(snowflake_sandbox) == before + 1 and proxies.snowflake.forwarded == 1
    assert journal_results(ctx, result.entry_id) == ["unknown", "applied"]
    assert MISSING_AIRBYTE_IP in s.refresh().snapshot.snowflake.data.policy.allowed_ips  # type: ignore[union-attr]


def test_a_snowflake_write_answered_too_late_is_unknown_then_applied(
    scene: Callable[..., Scene],
    contexts: Contexts,
    proxies: WriteProxies,
    snowflake_sandbox: SnowflakeSandbox,
    tmp_path: Path,
) -> None:
    s, change = missing_airbyte_entry(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    before = alters(snowflake_sandbox)
    proxies.snowflake.fail_next("late-answer", ALTER_POLICY, hold_s=6)
    result = apply_change(change, ctx, reason="INC-4711")

    assert result.status is ApplyStatus.APPLIED, result.message
    assert alters(snowflake_sandbox) == before + 1  # the connector was told not to retry it
    assert journal_results(ctx, result.entry_id) == ["unknown", "applied"]


def test_a_snowflake_write_that_never_arrives_is_unknown_then_failed(
    scene: Callable[..., Scene],
    contexts: Contexts,
    proxies: WriteProxies,
    snowflake_sandbox: SnowflakeSandbox,
    tmp_path: Path,
) -> None:
    s, change = missing_airbyte_entry(scene)
    ctx = contexts(proxies.route(s.settings, tmp_path), verify_timeout_s=VERIFY_S)
    before = alters(snowflake_sandbox)
    proxies.snowflake.fail_next("drop", ALTER_POLICY)
    result = apply_change(change, ctx, reason="INC-4711")

    assert result.status is ApplyStatus.FAILED, result.message
    assert alters(snowflake_sandbox) == before and proxies.snowflake.forwarded == 0
    assert journal_results(ctx, result.entry_id) == ["unknown", "failed"]
    assert MISSING_AIRBYTE_IP not in s.refresh().snapshot.snowflake.data.policy.allowed_ips  # type: ignore[union-attr]


def test_activating_a_policy_someone_else_activated_is_already_done(
    scene: Callable[..., Scene], contexts: Contexts, snowflake_sandbox: SnowflakeSandbox
) -> None:
    s = scene("policy-inactive", aws=False)
    change = change_from_fix(s.finding("SF_POLICY_NOT_ACTIVE").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    s.platform.sql("ALTER ACCOUNT SET NETWORK_POLICY = INTEGRATIONS")  # the other engineer, first
    before = sum(1 for x in snowflake_sandbox.statements() if x.sql.upper().startswith("ALTER ACCOUNT"))
    ctx = contexts(s.settings)
    result = apply_change(change, ctx, reason="INC-12", confirmation=change.confirm_phrase)

    assert result.status is ApplyStatus.ALREADY_DONE, result.message
    assert "NETWORK_POLICY is INTEGRATIONS" in result.message
    assert sum(1 for x in snowflake_sandbox.statements() if x.sql.upper().startswith("ALTER ACCOUNT")) == before
    assert [e.result for e in ctx.journal.entries()] == ["already_done"]


def test_an_unknown_entry_whose_change_did_not_take_is_reconciled_as_failed(
    scene: Callable[..., Scene], contexts: Contexts
) -> None:
    s, change = missing_airbyte_entry(scene)
    ctx = contexts(s.settings)
    entry_id = ctx.journal.write_intent(
        change=change.to_json(),
        before=change.before.to_json(),
        after=change.after.to_json(),
        operator=Operator("oncall"),
        mode="write",
        reason="INC-4711",
    )
    ctx.journal.write_result(entry_id, "unknown", error="the outcome is unknown: ReadTimeoutError")
    # ... and the process stopped before the re-read settled it.
    (outcome,) = reconcile_pending(contexts(s.settings))
    assert outcome.result == "not_applied" and outcome.entry.result == "unknown"
    (entry,) = Journal(ctx.journal.path).entries()
    assert entry.result == "failed" and entry.reconciled
    assert entry.error == "the outcome is unknown: ReadTimeoutError; the re-read shows it did not take"


# --------------------------------------------------------------------------------------------------------------
# Files we write


def test_a_journal_every_user_could_replace_refuses_the_change_before_sending(
    scene: Callable[..., Scene], contexts: Contexts, snowflake_sandbox: SnowflakeSandbox, tmp_path: Path
) -> None:
    s, change = missing_airbyte_entry(scene)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could swap the journal for their own file
    settings = with_platform(s.settings, journal_path=str(shared / "journal.jsonl"))
    before = alters(snowflake_sandbox)
    result = apply_change(change, contexts(settings), reason="INC-4711")
    assert result.status is ApplyStatus.FAILED
    assert "is writable by every user" in result.message and "nothing was sent" in result.message
    assert "chmod o-w" in result.message
    assert alters(snowflake_sandbox) == before
    assert not (shared / "journal.jsonl").exists()


def test_the_sandbox_writes_its_state_for_its_owner_only(
    sandbox_platform: SandboxPlatform,
    load_scenario: Callable[[str], Settings],
    aws_sandbox: AwsSandbox,
    snowflake_sandbox: SnowflakeSandbox,
    tmp_path: Path,
) -> None:
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    # A --state-dir that does not exist yet: it and the folders made on the way are 0700 (not mkdir -p's 0755).
    fresh = SandboxPlatform(tmp_path / "new" / "state", aws=aws_sandbox, snowflake=snowflake_sandbox)
    assert [mode(tmp_path / "new"), mode(fresh.state_dir)] == [0o700, 0o700]

    load_scenario("handoff")  # writes the config, the connections file, the credentials, the account state
    assert mode(sandbox_platform.state_dir) == 0o700
    written = [sandbox_platform.config_path, sandbox_platform.connections_path, sandbox_platform.credentials_path]
    written.append(sandbox_platform.snowflake.state_file)
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
    assert all(p.stat().st_uid == os.geteuid() for p in written)
