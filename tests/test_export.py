"""Audit export: snapshot, findings and journal since a time, with a SHA-256; uploaded unless read-only."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from goodword_tui.analysis.findings import analyze
from goodword_tui.config import Settings
from goodword_tui.export import export_report
from goodword_tui.journal import Journal, Operator
from goodword_tui.sandbox.aws import ARTIFACTS_BUCKET, AwsSandbox
from tests.analysis.builders import handoff_settings, snapshot
from tests.changes.conftest import read_only, take_snapshot, with_platform

T0 = datetime(2025, 10, 5, 12, 0, tzinfo=UTC)


def settings_in(tmp_path: Path) -> Settings:
    return with_platform(handoff_settings(), journal_path=str(tmp_path / "journal.jsonl"))


def journal_with_two_entries(settings: Settings) -> Journal:
    journal = Journal.for_settings(settings)
    for number, when in ((1, T0 - timedelta(days=2)), (2, T0)):
        entry_id = journal.write_intent(
            change={"id": f"c{number}", "description": f"Change number {number}", "request": {"sql": "ALTER ..."}},
            before={},
            after={},
            operator=Operator("oncall", snowflake_user="CHRIS", snowflake_role="ACCOUNTADMIN"),
            mode="write",
            reason=f"INC-{number}",
            time=when,
        )
        journal.write_result(entry_id, "applied", verification={"ok": True, "detail": "seen"})
    return journal


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_the_report_is_written_private_with_its_sha256(tmp_path: Path, fmt: str) -> None:
    settings = settings_in(tmp_path)
    journal_with_two_entries(settings)
    snap = snapshot()
    findings = analyze(snap, settings)
    result = export_report(settings, snap, findings, T0 - timedelta(hours=1), fmt, out_dir=tmp_path / "out", now=T0)  # type: ignore[arg-type]

    data = result.path.read_bytes()
    assert result.path.name == f"goodword-report-20251005T120000Z.{fmt}"
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.checksum_path.read_text() == f"{result.sha256}  {result.path.name}\n"  # sha256sum -c format
    assert result.s3_uri == "" and "no S3 bucket" in result.note
    text = data.decode()
    assert "Change number 2" in text and "Change number 1" not in text  # the journal since the time asked
    assert "SF_ADMITS_ALL" in text
    if fmt == "json":
        report = json.loads(text)
        assert len(report["findings"]["items"]) == len(findings)
        assert report["snapshot"]["snowflake"]["data"]["policy"]["name"] == "INTEGRATIONS"
        assert [e["reason"] for e in report["journal"]["entries"]] == ["INC-2"]
    else:
        assert text.startswith("# Goodword audit report")
        assert "| snowflake |" in text and "```json" in text


def test_reports_are_private_in_folders_it_creates_and_refused_where_anyone_could_swap_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    settings = handoff_settings()  # the default journal folder: the user's state directory, created by the export
    result = export_report(settings, snapshot(), [], None, "md", now=T0)
    folders = [tmp_path / "xdg", tmp_path / "xdg" / "goodword-tui", result.path.parent]
    assert [stat.S_IMODE(f.stat().st_mode) for f in folders] == [0o700, 0o700, 0o700]
    assert {stat.S_IMODE(p.stat().st_mode) for p in (result.path, result.checksum_path)} == {0o600}

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(OSError, match="is writable by every user"):
        export_report(settings, snapshot(), [], None, "md", out_dir=shared, now=T0)
    assert list(shared.iterdir()) == []


def test_a_bad_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="use md or json"):
        export_report(settings_in(tmp_path), snapshot(), [], None, "pdf")  # type: ignore[arg-type]


def test_export_uploads_in_write_mode_and_stays_local_in_read_only_mode(
    load_scenario: Callable[[str], Settings], isolated_aws_env: Path, aws_sandbox: AwsSandbox, tmp_path: Path
) -> None:
    settings = with_platform(load_scenario("handoff"), journal_path=str(tmp_path / "journal.jsonl"))
    snap = take_snapshot(settings)
    findings = analyze(snap, settings)

    written = export_report(settings, snap, findings, None, "json", out_dir=tmp_path / "w")
    assert written.s3_uri == f"s3://{ARTIFACTS_BUCKET}/goodword-tui/reports/{written.path.name}"
    stored = aws_sandbox.client("s3").get_object(Bucket=ARTIFACTS_BUCKET, Key=written.s3_uri.split("/", 3)[3])
    assert stored["Body"].read() == written.path.read_bytes()
    assert stored["Metadata"] == {"sha256": written.sha256}

    aws_sandbox.start_recording()
    try:
        audit = export_report(read_only(settings), snap, findings, None, "md", out_dir=tmp_path / "r")
        recorded = aws_sandbox.recorded_requests()
    finally:
        aws_sandbox.stop_recording()
    assert audit.path.is_file() and audit.s3_uri == ""
    assert "read-only mode: written locally only" in audit.note
    assert not any(r.mutating for r in recorded)
