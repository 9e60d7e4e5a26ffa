"""Secrets never reach the journal, its S3 copy or an export: a search for the sandbox's password and AWS keys."""

from __future__ import annotations

from collections.abc import Callable

from goodword_tui.analysis.findings import analyze
from goodword_tui.changes.apply import ApplyStatus, ChangeContext, apply_change
from goodword_tui.changes.base import change_from_fix, plan
from goodword_tui.export import export_report
from goodword_tui.sandbox.aws import ARTIFACTS_BUCKET, SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY, AwsSandbox
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from tests.changes.conftest import Scene

Contexts = Callable[..., ChangeContext]


def test_no_secret_is_written_anywhere(
    scene: Callable[..., Scene],
    contexts: Contexts,
    aws_sandbox: AwsSandbox,
    snowflake_sandbox: SnowflakeSandbox,
    tmp_path: object,
) -> None:
    s = scene("route-missing")
    secrets = {snowflake_sandbox.password, SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY}
    ctx = contexts(s.settings)
    assert secrets <= set(ctx.secrets())  # it knows what to hide: the connection's password, the session's keys

    route = change_from_fix(s.finding("NET_ROUTE_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    # An operator pastes a password into the reason; it is redacted, the change still goes through.
    pasted = f"INC-9 (my login: CHRIS / {snowflake_sandbox.password})"
    assert apply_change(route, ctx, reason=pasted).ok
    # A failing statement puts the server's error text in the journal.
    missing_rule = plan("add_policy_rule", {"rule": "GOODWORD_WH.RAW.NOPE"}, s.snapshot.snowflake.data, s.settings)
    failed = apply_change(missing_rule, ctx, reason="INC-9 attach the rule")
    assert failed.status is ApplyStatus.FAILED
    assert "does not exist" in failed.message

    upload = failed.upload
    assert upload is not None and upload.uploaded
    key = upload.uri.removeprefix(f"s3://{ARTIFACTS_BUCKET}/")
    uploaded = aws_sandbox.client("s3").get_object(Bucket=ARTIFACTS_BUCKET, Key=key)["Body"].read().decode()
    snap = s.refresh().snapshot
    report = export_report(s.settings, snap, analyze(snap, s.settings), None, "json", out_dir=ctx.journal.path.parent)

    journal = ctx.journal.path.read_text()
    assert "[redacted]" in journal and "CHRIS" in journal
    for text in (journal, uploaded, report.path.read_text(), failed.message, failed.error):
        for secret in secrets:
            assert secret not in text
