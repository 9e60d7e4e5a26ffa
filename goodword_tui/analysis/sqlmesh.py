"""SQLMesh findings: models behind their cron, environments left mid-plan, local changes, failed tests and audits.

`sqlmesh_findings(status, settings)` is pure and deterministic, like the rest of analysis; `analyze` calls it
when the snapshot has SQLMesh data (to be merged into analysis/findings.py, whose `CODES` these join).
"""

from __future__ import annotations

from collections.abc import Iterable

from goodword_tui.analysis.registry import new_finding
from goodword_tui.config import Settings
from goodword_tui.model import Area, Finding, Severity, SqlMeshStatus, SuggestedFix

WARNING, INFO = Severity.WARNING, Severity.INFO

CODES: dict[str, str] = {
    "SQLMESH_MODEL_STALE": "A model is behind its cron: an interval has been due for longer than the grace period.",
    "SQLMESH_NO_STATE": "The SQLMesh state database has no state yet: nothing was ever applied with this gateway.",
    "SQLMESH_ENV_MISSING": "The configured SQLMesh environment does not exist in the state.",
    "SQLMESH_ENV_NOT_FINALIZED": "An environment's last plan did not finish: being applied, or failed mid-way.",
    "SQLMESH_UNAPPLIED_CHANGES": "The project on disk differs from the environment: a plan would change these models.",
    "SQLMESH_TESTS_FAILING": "The last unit test run the dashboard launched had failures or errors.",
    "SQLMESH_AUDIT_FAILED": "An audit failed in a plan, run or audit the dashboard launched.",
}


def _finding(
    severity: Severity,
    code: str,
    resource: str,
    message: str,
    evidence: Iterable[str] = (),
    fix: SuggestedFix | None = None,
) -> Finding:
    return new_finding(CODES, severity, code, Area.SQLMESH, resource, message, evidence, fix)


def sqlmesh_findings(status: SqlMeshStatus, settings: Settings) -> list[Finding]:
    """Every SQLMesh finding for one status read; nothing while the state is being prepared."""
    env = status.environment
    if not status.has_state:
        if status.note.startswith("no SQLMesh state yet"):
            return [
                _finding(
                    INFO,
                    "SQLMESH_NO_STATE",
                    status.gateway or settings.sqlmesh.gateway,
                    f"no SQLMesh state for gateway '{status.gateway or settings.sqlmesh.gateway}' yet",
                    (status.note, f"project {status.project_path}"),
                    SuggestedFix("sqlmesh_plan", f"Plan and apply '{env}'", {"environment": env}),
                )
            ]
        return []
    out: list[Finding] = []
    names = {e.name for e in status.environments}
    if env not in names:
        out.append(
            _finding(
                WARNING,
                "SQLMESH_ENV_MISSING",
                env,
                f"environment '{env}' is not in the SQLMesh state",
                (f"environments in state: {', '.join(sorted(names)) or 'none'}",),
            )
        )
    for environment in status.environments:
        if not environment.finalized and not environment.expired:
            out.append(
                _finding(
                    WARNING,
                    "SQLMESH_ENV_NOT_FINALIZED",
                    environment.name,
                    f"environment '{environment.name}': plan {environment.plan_id[:8]} has not finished",
                    ("a plan is being applied, or one failed mid-way; `sqlmesh run` waits for it",),
                )
            )
    stale = status.stale_models
    for model in stale:
        out.append(
            _finding(
                WARNING,
                "SQLMESH_MODEL_STALE",
                model.name,
                f"{model.name} is behind its cron ({model.cron}) in '{env}'",
                (
                    model.detail,
                    f"last interval end {model.last_interval_end.isoformat() if model.last_interval_end else 'none'}",
                    f"as of {status.as_of.isoformat()}" if status.as_of else "",
                ),
                SuggestedFix(
                    "sqlmesh_run",
                    f"Run the missing intervals of {model.name} in '{env}'",
                    {"environment": env, "select_models": [model.name]},
                ),
            )
        )
    if status.unapplied_changes:
        kinds = {c.name: c.change for c in status.local_changes}
        out.append(
            _finding(
                INFO,
                "SQLMESH_UNAPPLIED_CHANGES",
                env,
                f"{len(status.unapplied_changes)} model(s) changed on disk and not applied to '{env}'",
                tuple(f"{name} ({kinds.get(name, 'changed')})" for name in status.unapplied_changes),
                SuggestedFix("sqlmesh_plan", f"Preview a plan for '{env}'", {"environment": env}),
            )
        )
    if status.tests is not None and not status.tests.ok:
        problems = status.tests.failures + status.tests.errors
        out.append(
            _finding(
                WARNING,
                "SQLMESH_TESTS_FAILING",
                "unit tests",
                f"{len(problems)} of {status.tests.tests_run} SQLMesh unit test(s) failed",
                tuple(f"{name}: {line}" for name, line in problems),
            )
        )
    for audit in status.audits:
        if not audit.ok:
            out.append(
                _finding(
                    WARNING,
                    "SQLMESH_AUDIT_FAILED",
                    f"{audit.model}:{audit.audit}",
                    f"audit {audit.audit} on {audit.model} failed: {audit.failed_rows} row(s)",
                    (
                        "blocking" if audit.blocking else "non-blocking",
                        f"during {audit.origin} at {audit.ran_at.isoformat()}" if audit.origin else "",
                    ),
                )
            )
    return out
