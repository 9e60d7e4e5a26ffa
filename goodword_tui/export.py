"""Audit export: the snapshot, the findings and the journal since a time, as Markdown or JSON, with a SHA-256.

`export_report` writes the report (mode 0600, atomically, in folders it creates 0700) and a `<report>.sha256`
file in `sha256sum` format next to it, so anyone can check the report was not edited (`sha256sum -c`). With
`platform.s3_bucket` set, the report is uploaded too, its SHA-256 in the object's metadata.

Read-only (audit) mode: the report is written locally only and the result says so. Read-only mode refuses
every write to the platform at the botocore hook, S3 PutObject included; making an exception for reports would
be the first hole in that promise, so there is none. The local file and its SHA-256 are the audit record;
copy them wherever the audit needs them.

Secrets are redacted from the report as from the journal (`journal.scrub`).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from goodword_tui.config import Settings
from goodword_tui.journal import Journal, JournalEntry, check_private_path, known_secrets, make_private_dir, scrub
from goodword_tui.model import Finding, Severity, Snapshot, to_jsonable

REPORT_KEY_PREFIX = "goodword-tui/reports"
ReportFormat = Literal["md", "json"]


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the report
    sha256: str  # hex digest of the report file's bytes
    checksum_path: Path  # <report>.sha256, sha256sum format
    s3_uri: str = ""  # set when uploaded
    note: str = ""  # why it was not uploaded, when it was not (read-only mode, no bucket, an S3 error)


def default_report_dir(settings: Settings) -> Path:
    """Next to the journal: the user's state directory (or the configured journal's folder) / reports."""
    return Journal.for_settings(settings).path.parent / "reports"


def build_report(
    settings: Settings,
    snapshot: Snapshot,
    findings: Sequence[Finding],
    entries: Sequence[JournalEntry],
    *,
    journal_since: datetime | None,
    generated_at: datetime,
    damaged_lines: int = 0,
) -> dict[str, Any]:
    """The report as plain JSON data (what the JSON format writes and the Markdown renders)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    counts = {s.label: sum(1 for f in findings if f.severity is s) for s in Severity}
    return {
        "report": "goodword-tui audit export",
        "format_version": 1,
        "platform": settings.platform.name,
        "mode": settings.platform.mode,
        "generated_at": generated_at.isoformat(),
        "generated_by": f"{user}@{socket.gethostname()}",
        "journal_since": journal_since.isoformat() if journal_since else None,
        "snapshot": to_jsonable(snapshot),
        "findings": {"counts": counts, "items": to_jsonable(list(findings))},
        "journal": {
            "path": str(Journal.for_settings(settings).path),
            "entries": [e.to_json() for e in entries],
            "damaged_lines": damaged_lines,
        },
    }


def _cell(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report for people: sources, findings by severity, the journal, then the full snapshot as JSON."""
    lines = [
        f"# {report['platform']} audit report",
        "",
        f"- Generated: {report['generated_at']} by {report['generated_by']} (mode: {report['mode']})",
        f"- Snapshot taken: {report['snapshot'].get('taken_at')}",
        f"- Journal since: {report['journal_since'] or 'the beginning'} "
        f"({len(report['journal']['entries'])} entries, from {report['journal']['path']})",
        "",
        "## Sources",
        "",
        "| source | fetched at | state | error |",
        "|---|---|---|---|",
    ]
    snapshot = report["snapshot"]
    for name in ("aws", "snowflake", "probes", "sqlmesh"):
        result = snapshot.get(name)
        if not result:
            continue
        error = result.get("error") or {}
        state = "stale" if result.get("stale_since") else ("error" if error else "ok")
        lines.append(f"| {name} | {result.get('fetched_at')} | {state} | {_cell(error.get('message', ''))} |")
    findings = report["findings"]
    counts = ", ".join(f"{n} {label}" for label, n in findings["counts"].items())
    lines += ["", f"## Findings ({counts})", ""]
    if not findings["items"]:
        lines.append("No findings.")
    for item in findings["items"]:
        lines.append(f"- **{item['severity']}** `{item['code']}` {_cell(item['resource'])}: {_cell(item['message'])}")
        lines += [f"  - {_cell(e)}" for e in item.get("evidence") or ()]
        fix = item.get("fix")
        if fix:
            lines.append(f"  - suggested fix: {_cell(fix.get('summary'))}")
    lines += ["", "## Journal", ""]
    entries = report["journal"]["entries"]
    if not entries:
        lines.append("No changes in this period.")
    else:
        lines += ["| time | operator | change | result | reason |", "|---|---|---|---|---|"]
        for entry in entries:
            operator = entry.get("operator") or {}
            who = operator.get("os_user", "")
            if operator.get("snowflake_user"):
                who += f" (Snowflake {operator['snowflake_user']}/{operator.get('snowflake_role', '')})"
            if operator.get("aws_arn"):
                who += f" ({operator['aws_arn']})"
            result = entry["result"] + (" (reconciled)" if entry.get("reconciled") else "")
            change = entry.get("change") or {}
            lines.append(
                f"| {entry['time']} | {_cell(who)} | {_cell(change.get('description'))} | {result} | "
                f"{_cell(entry.get('reason'))} |"
            )
        for entry in entries:
            change = entry.get("change") or {}
            request = change.get("request") or {}
            sent = request.get("sql") or f"{request.get('service')} {request.get('operation')} " + json.dumps(
                request.get("params"), sort_keys=True
            )
            sent = request.get("text") or sent  # a SQLMesh plan or run says what it does in its own words
            lines += ["", f"### {entry['time']} {_cell(change.get('description'))}", "", "```", sent, "```"]
            diff = change.get("diff") or []
            if diff:
                lines += ["", "```diff", *[str(d) for d in diff], "```"]
            verification = entry.get("verification") or {}
            if verification:
                lines.append(f"Verification: {_cell(verification.get('detail'))}")
            if entry.get("error"):
                lines.append(f"Error: {_cell(entry['error'])}")
    if report["journal"].get("damaged_lines"):
        lines += ["", f"Note: {report['journal']['damaged_lines']} journal line(s) could not be read."]
    lines += ["", "## Snapshot", "", "```json", json.dumps(snapshot, indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def _write_private(path: Path, data: bytes) -> None:
    """Create or replace `path` atomically, mode 0600 from the first byte, in folders we create 0700.

    A folder every user could write to (without the sticky bit) is refused (UnsafePathError, an OSError).
    """
    make_private_dir(path.parent)
    check_private_path(path, "the report")
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def export_report(
    settings: Settings,
    snapshot: Snapshot,
    findings: Sequence[Finding],
    journal_since: datetime | None = None,
    fmt: ReportFormat = "md",
    *,
    out_dir: Path | str | None = None,
    journal: Journal | None = None,
    session: Any = None,
    secrets: Iterable[str] = (),
    now: datetime | None = None,
) -> ExportResult:
    """Write the report (and its .sha256) locally, upload it when a bucket is configured (not in read-only mode).

    Blocking (file writes, S3); raises OSError only when the local file cannot be written, never for S3.
    """
    if fmt not in ("md", "json"):
        raise ValueError(f"unknown format {fmt!r}: use md or json")
    generated_at = now or datetime.now(UTC)
    journal = journal or Journal.for_settings(settings)
    entries = journal.entries(since=journal_since)
    report = build_report(
        settings,
        snapshot,
        findings,
        entries,
        journal_since=journal_since,
        generated_at=generated_at,
        damaged_lines=journal.damaged_lines,
    )
    report = scrub(report, [*secrets, *known_secrets(settings, session=session)])
    text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n" if fmt == "json" else None
    data = (text if text is not None else render_markdown(report)).encode("utf-8")
    folder = Path(out_dir).expanduser() if out_dir is not None else default_report_dir(settings)
    name = f"goodword-report-{generated_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
    path = folder / name
    _write_private(path, data)
    digest = hashlib.sha256(data).hexdigest()
    checksum_path = folder / f"{name}.sha256"
    _write_private(checksum_path, f"{digest}  {name}\n".encode())
    uri, note = _upload(settings, session, name, data, digest, fmt)
    return ExportResult(path, digest, checksum_path, uri, note)


def _upload(settings: Settings, session: Any, name: str, data: bytes, digest: str, fmt: str) -> tuple[str, str]:
    bucket = settings.platform.s3_bucket
    if not bucket:
        return "", "no S3 bucket is configured (platform.s3_bucket): written locally only"
    if settings.read_only:
        return "", (
            "read-only mode: written locally only; read-only mode refuses every write to the platform, "
            "S3 uploads included — copy the report and its .sha256 where the audit needs them"
        )
    from goodword_tui.sources.aws import make_client, make_session

    key = f"{REPORT_KEY_PREFIX}/{name}"
    try:
        client = make_client(session or make_session(settings), "s3", settings)
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType="text/markdown" if fmt == "md" else "application/json",
                Metadata={"sha256": digest},
            )
        finally:
            client.close()
    except Exception as exc:
        from goodword_tui.changes.apply import describe_failure

        return "", f"not uploaded to s3://{bucket}: {describe_failure(exc)}"
    return f"s3://{bucket}/{key}", ""
