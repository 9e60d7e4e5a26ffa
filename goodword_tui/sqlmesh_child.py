"""`sqlmesh run` for the dashboard, in a child process: SQLMesh's own CLI, plus the audit results it keeps to itself.

SQLMesh stores no audit results and its CLI prints only failures, so the run is launched through this module
(`python -m goodword_tui.sqlmesh_child <sqlmesh CLI arguments>`): it records every result of
`SnapshotEvaluator.audit` (the call the scheduler makes after each interval) as one JSON line in the file named by
`GOODWORD_AUDIT_LOG`, then hands the arguments to the CLI unchanged. The parent reads the file when the run ends
(`read_audit_log`), cancelled or not. The recording happens only in this child process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from goodword_tui.model import SqlMeshAuditResult
from goodword_tui.sqlmesh_runtime import IMPORT_SWITCHES

AUDIT_LOG_ENV = "GOODWORD_AUDIT_LOG"
RUN_ORIGIN = "run"


def record_audits_to(path: Path) -> None:
    """Make every audit SQLMesh runs in this process append its results to `path` (JSON lines)."""
    from sqlmesh.core.snapshot.evaluator import SnapshotEvaluator

    from goodword_tui.sources.sqlmesh import audit_results_from

    audit = SnapshotEvaluator.audit
    lock = threading.Lock()  # the scheduler evaluates models on several threads

    def recording_audit(self: Any, *args: Any, **kwargs: Any) -> Any:
        results = audit(self, *args, **kwargs)
        with contextlib.suppress(Exception):  # recording is a courtesy; the run must not fail for it
            recorded = audit_results_from(results, RUN_ORIGIN)
            lines = [json.dumps(dataclasses.asdict(r), default=str) + "\n" for r in recorded]
            with lock, path.open("a", encoding="utf-8") as out:
                out.writelines(lines)
        return results

    SnapshotEvaluator.audit = recording_audit  # type: ignore[method-assign]


def read_audit_log(path: Path) -> tuple[SqlMeshAuditResult, ...]:
    """What `record_audits_to` wrote; unreadable lines (a run killed mid-write) are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    found: list[SqlMeshAuditResult] = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            data = json.loads(line)
            data["ran_at"] = datetime.fromisoformat(data["ran_at"])
            found.append(SqlMeshAuditResult(**data))
    return tuple(found)


def main(argv: Sequence[str] | None = None) -> None:
    for name, value in IMPORT_SWITCHES.items():
        os.environ[name] = value
    log = os.environ.get(AUDIT_LOG_ENV)
    if log:
        record_audits_to(Path(log))
    from sqlmesh.cli.main import cli

    cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="sqlmesh")


if __name__ == "__main__":
    main()
