"""The SQLMesh pane's rows, as plain data: environments, models with their status, the last tests and audits,
and a plan preview as lines. Pure (no Textual, no sqlmesh), like analysis/views.py, so the pane, `check` and the
tests agree on what a row says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from goodword_tui.analysis.views import BAD_MARK, OK_MARK, WARN_MARK, Row, Table, Tone
from goodword_tui.model import SqlMeshModelStatus, SqlMeshStatus

if TYPE_CHECKING:
    from goodword_tui.sqlmesh_actions import PlanPreview

UNBUILT_KINDS = ("EXTERNAL", "SEED")  # not run by the cron: their freshness is not judged


def fmt_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def freshness(model: SqlMeshModelStatus) -> tuple[str, Tone]:
    """A word for how the model stands against its cron, and its tone (the word alone carries the meaning)."""
    if model.kind in UNBUILT_KINDS:
        return model.kind.lower(), "muted"
    if model.stale:
        return "STALE", "bad"
    if model.missing_intervals:
        return "due (grace)", "warn"
    if model.last_interval_end is None:
        return "no intervals", "warn"
    return "fresh", "ok"


_MARKS = {"ok": OK_MARK, "bad": BAD_MARK, "warn": WARN_MARK}


def model_table(status: SqlMeshStatus) -> Table:
    """Every model in the environment, then the local-only ones (added on disk), stale first kept in name order."""
    local = {c.name: c.change for c in status.local_changes}
    rows: list[Row] = []
    for model in status.models:
        word, tone = freshness(model)
        change = local.get(model.name, "")
        rows.append(
            Row(
                f"model:{model.name}",
                (
                    _MARKS.get(tone, ""),
                    model.name,
                    model.kind,
                    model.cron or "-",
                    fmt_time(model.last_interval_end),
                    str(model.missing_intervals) if model.missing_intervals else "-",
                    word,
                    change or "-",
                ),
                tone,
                frozenset(v for v in (model.name, model.fqn) if v),
                model,
                model.name,
                f"SQLMesh model {model.name}",
                (
                    ("freshness", model.detail or word),
                    ("local change", change or "none"),
                    ("next due", fmt_time(model.next_due)),
                ),
            )
        )
    known = {m.name for m in status.models}
    for change in status.local_changes:
        if change.name not in known:
            rows.append(
                Row(
                    f"model:{change.name}",
                    ("", change.name, "-", "-", "-", "-", "not in environment", change.change),
                    "warn" if change.change == "added" else "muted",
                    frozenset({change.name}),
                    change,
                    change.name,
                    f"SQLMesh model {change.name} (only on disk)",
                )
            )
    empty = status.note or f"no models in environment '{status.environment}'"
    return Table(
        "sqlmesh_models",
        f"Models in '{status.environment}'",
        ("", "Model", "Kind", "Cron", "Last interval end", "Missing", "Freshness", "Local change"),
        tuple(rows),
        empty,
        status_column=6,
    )


def environment_table(status: SqlMeshStatus, selected: str) -> Table:
    rows: list[Row] = []
    for env in status.environments:
        if env.expired:
            state, tone = "expired", "muted"
        elif not env.finalized:
            state, tone = "NOT FINALIZED (plan running or failed)", "bad"
        else:
            state, tone = "finalized", "ok"
        rows.append(
            Row(
                f"env:{env.name}",
                (
                    "▸" if env.name == selected else "",
                    env.name,
                    state,
                    fmt_time(env.finalized_at),
                    fmt_time(env.expiration_ts) if env.expiration_ts else "never",
                    env.plan_id[:8],
                ),
                tone,
                frozenset({env.name}),
                env,
                env.name,
                f"SQLMesh environment {env.name}",
            )
        )
    return Table(
        "sqlmesh_environments",
        "Environments (Enter selects, e cycles)",
        ("", "Environment", "State", "Finalized", "Expires", "Plan"),
        tuple(rows),
        status.note or "no environments in state",
        status_column=2,
    )


def checks_table(status: SqlMeshStatus) -> Table:
    """The last unit test run and the latest audit results the dashboard launched (SQLMesh stores neither)."""
    rows: list[Row] = []
    tests = status.tests
    if tests is not None:
        tone: Tone = "ok" if tests.ok else "bad"
        problems = len(tests.failures) + len(tests.errors)
        summary = f"{tests.tests_run} run, {problems} failed" + (f", {tests.skipped} skipped" if tests.skipped else "")
        rows.append(
            Row(
                "tests:summary",
                (_MARKS[tone], "unit tests", summary, fmt_time(tests.ran_at), f"{tests.duration_s:.1f}s"),
                tone,
                frozenset({"unit tests"}),
                tests,
                summary,
                "SQLMesh unit tests",
            )
        )
        for index, (name, line) in enumerate((*tests.failures, *tests.errors)):
            rows.append(
                Row(
                    f"tests:problem:{index}:{name}",
                    (BAD_MARK, f"test {name}", line, fmt_time(tests.ran_at), ""),
                    "bad",
                    frozenset({name, "unit tests"}),
                    tests,
                    line,
                    f"Unit test {name}",
                )
            )
    for audit in status.audits:
        tone = "ok" if audit.ok else ("bad" if audit.blocking else "warn")
        result = "skipped" if audit.skipped else ("passed" if audit.ok else f"{audit.failed_rows} row(s) failed")
        rows.append(
            Row(
                f"audit:{audit.model}:{audit.audit}",
                (_MARKS[tone], f"{audit.model}: {audit.audit}", result, fmt_time(audit.ran_at), audit.origin),
                tone,
                frozenset({f"{audit.model}:{audit.audit}", audit.model}),
                audit,
                f"{audit.model}:{audit.audit}",
                f"Audit {audit.audit} on {audit.model}",
            )
        )
    return Table(
        "sqlmesh_checks",
        "Unit tests and audits (t runs the tests, a the audits)",
        ("", "What", "Result", "Ran at", ""),
        tuple(rows),
        "not run from the dashboard yet: t runs the unit tests, a the audits",
        status_column=2,
    )


@dataclass(frozen=True)
class SqlMeshView:
    """What the SQLMesh pane shows for one status read."""

    summary: tuple[tuple[str, Tone], ...]
    environments: Table
    models: Table
    checks: Table


def summary_lines(status: SqlMeshStatus, selected: str) -> tuple[tuple[str, Tone], ...]:
    lines: list[tuple[str, Tone]] = []
    head = f"Environment {selected} · gateway {status.gateway or '?'}"
    if status.as_of is not None:
        head += f" · as of {fmt_time(status.as_of)} UTC"
    lines.append((head, ""))
    if not status.has_state:
        lines.append((status.note or "no SQLMesh state yet", "warn"))
        return tuple(lines)
    stale = status.stale_models
    if stale:
        lines.append((f"{len(stale)} model(s) behind their cron: {', '.join(m.name for m in stale)}", "bad"))
    else:
        built = [m for m in status.models if m.kind not in UNBUILT_KINDS]
        lines.append((f"{len(built)} model(s) fresh", "ok"))
    if status.local_changes_error:
        lines.append((f"project does not load: {status.local_changes_error}", "bad"))
    elif status.local_changes_checked_at is None:
        lines.append(("local changes: comparing the project with the environment…", "muted"))
    elif status.unapplied_changes:
        lines.append((f"{len(status.unapplied_changes)} local change(s) not applied: p previews the plan", "warn"))
    else:
        lines.append(("no local changes: the project matches the environment", "muted"))
    return tuple(lines)


def sqlmesh_view(status: SqlMeshStatus, selected: str | None = None) -> SqlMeshView:
    env = selected or status.environment
    return SqlMeshView(
        summary_lines(status, env), environment_table(status, env), model_table(status), checks_table(status)
    )


def next_environment(names: Sequence[str], current: str) -> str:
    """The environment after `current` (wrapping), for the `e` key."""
    if not names:
        return current
    if current not in names:
        return names[0]
    return names[(list(names).index(current) + 1) % len(names)]


# --------------------------------------------------------------------------------------------------------------
# A plan preview as lines


def preview_lines(preview: PlanPreview) -> list[tuple[str, Tone]]:
    """The preview in reading order: what changes and how, the backfill, then each direct change's diff."""
    out: list[tuple[str, Tone]] = []
    head = f"Plan for '{preview.environment}' (gateway {preview.gateway})"
    if preview.is_new_environment:
        head += " — a new environment"
    out.append((head, ""))
    out.append((f"built in {preview.build_s:.1f}s, execution time {preview.execution_time}", "muted"))
    if preview.note:
        out.append((preview.note, "warn"))
    if not preview.has_changes and not preview.backfill:
        out.append(("No changes and nothing to backfill: applying would do nothing.", "ok"))
        return out
    groups = (
        ("added", "Added"),
        ("removed", "Removed"),
        ("directly modified", "Directly modified"),
        ("indirectly modified", "Indirectly modified"),
        ("metadata", "Metadata only"),
    )
    for change, title in groups:
        items = [c for c in preview.changes if c.change == change]
        if not items:
            continue
        out.append(("", ""))
        out.append((f"{title} ({len(items)})", ""))
        for item in items:
            via = f"  ← {', '.join(item.because_of)}" if item.because_of else ""
            tone: Tone = "bad" if "BREAKING" in item.category and "NON" not in item.category else ""
            out.append((f"  {item.name}  [{item.category or 'uncategorized'}]{via}", tone))
    if preview.uncategorized:
        out.append((f"Uncategorized (cannot apply): {', '.join(preview.uncategorized)}", "bad"))
    out.append(("", ""))
    if preview.backfill:
        total = sum(b.intervals for b in preview.backfill)
        out.append((f"Backfill: {total} interval(s) over {len(preview.backfill)} model(s)", ""))
        for item in preview.backfill:
            out.append((f"  {item.name}: {item.intervals} interval(s) {item.span}", ""))
    else:
        out.append(("Backfill: none", "muted"))
    for item in preview.changes:
        if item.diff:
            out.append(("", ""))
            out.append((f"Diff of {item.name}", ""))
            for line in item.diff.splitlines():
                if line.startswith(("---", "+++")) or not line.strip():
                    continue
                tone = "ok" if line.startswith("+") else ("bad" if line.startswith("-") else "muted")
                out.append((f"  {line}", tone))
    return out
