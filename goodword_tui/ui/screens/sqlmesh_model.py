"""One SQLMesh model: its status in the environment, then (loaded on the SQLMesh thread) its rendered SQL, the
intervals in state, its parents and children, and its audits with the latest results the dashboard saw."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from goodword_tui.analysis.sqlmesh_views import fmt_time, freshness
from goodword_tui.model import SqlMeshModelStatus, SqlMeshStatus
from goodword_tui.ui.guard import one_line
from goodword_tui.ui.widgets import TONE_STYLE, KeyBar, set_text

MAX_INTERVAL_LINES = 20


def status_text(model: SqlMeshModelStatus, environment: str, status: SqlMeshStatus | None) -> Text:
    word, tone = freshness(model)
    text = Text()
    facts = [
        ("environment", environment),
        ("kind", model.kind),
        ("cron", model.cron or "-"),
        ("last interval end", fmt_time(model.last_interval_end)),
        ("missing intervals", str(model.missing_intervals)),
        ("next due", fmt_time(model.next_due)),
        ("last altered", fmt_time(model.last_altered)),
        ("change category", model.change_category or "-"),
        ("version", model.version or "-"),
    ]
    text.append("freshness: ", style="dim")
    text.append(f"{word} — {model.detail}\n", style=TONE_STYLE.get(tone, ""))
    for name, value in facts:
        text.append(f"{name}: ", style="dim")
        text.append(f"{value}\n")
    if status is not None:
        change = next((c.change for c in status.local_changes if c.name == model.name), "")
        text.append("local change: ", style="dim")
        text.append(f"{change or 'none'}\n", style="yellow" if change else "")
    return text


def audit_results_text(model: str, status: SqlMeshStatus | None) -> Text:
    text = Text()
    results = [a for a in (status.audits if status else ()) if a.model == model]
    if not results:
        text.append("no audit results yet (runs and plans launched from the dashboard record them)\n", style="dim")
    for audit in results:
        verdict = "skipped" if audit.skipped else ("passed" if audit.ok else f"FAILED: {audit.failed_rows} row(s)")
        style = "" if audit.ok else ("bold red" if audit.blocking else "yellow")
        text.append(f"  {audit.audit}: {verdict} ({audit.origin} at {fmt_time(audit.ran_at)})\n", style=style)
    return text


class SqlMeshModelScreen(ModalScreen[None]):
    """Escape closes; the status shows at once, the project's side arrives from the SQLMesh thread."""

    AUTO_FOCUS = "#sqlmesh-model-body"
    BINDINGS = [Binding("escape,q", "close", "Close", id="sqlmesh-model-close")]

    def __init__(self, model: SqlMeshModelStatus, environment: str, actions: Any, status: SqlMeshStatus | None) -> None:
        super().__init__()
        self.model = model
        self.environment = environment
        self.actions = actions
        self.status = status
        self.detail: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="modal-box"):
            yield Static(Text(f"SQLMesh model {self.model.name}", style="bold"), classes="modal-title")
            with VerticalScroll(id="sqlmesh-model-body"):
                yield Static(status_text(self.model, self.environment, self.status), id="sqlmesh-model-status")
                yield Static(Text("Audits", style="bold underline"), classes="detail-heading")
                yield Static(audit_results_text(self.model.name, self.status), id="sqlmesh-model-audit-results")
                yield Static(Text("loading the project's side…", style="dim"), id="sqlmesh-model-detail")
            yield KeyBar()

    def on_mount(self) -> None:
        if self.actions is None:
            body = Text("Rendered SQL, lineage and audits need the SQLMesh source (not connected).", style="dim")
            set_text(self.query_one("#sqlmesh-model-detail", Static), body, layout=True)
            return
        self.run_worker(self._load(), group="sqlmesh-model", exit_on_error=False)

    async def _load(self) -> None:
        widget = self.query_one("#sqlmesh-model-detail", Static)
        try:
            self.detail = await self.actions.detail(self.environment, self.model.name)
        except Exception as error:
            set_text(widget, Text(f"Could not load the model: {one_line(error)}", style="bold red"), layout=True)
            return
        set_text(widget, detail_text(self.detail), layout=True)

    def action_close(self) -> None:
        self.dismiss(None)


def detail_text(detail: Any) -> Text:
    text = Text()
    if detail.description:
        text.append(f"{detail.description}\n", style="italic")
    if detail.error:
        text.append(f"{detail.error}\n", style="yellow")
    text.append("Defined audits\n", style="bold")
    for name, args in detail.audits or (("none", ""),):
        text.append(f"  {name}" + (f"({args})" if args else "") + "\n")
    text.append("\nParents\n", style="bold underline")
    text.append("".join(f"  {p}\n" for p in detail.parents) or "  none\n")
    text.append("Children\n", style="bold underline")
    text.append("".join(f"  {c}\n" for c in detail.children) or "  none\n")
    text.append(f"\nIntervals in state ({len(detail.intervals)})\n", style="bold underline")
    shown = detail.intervals[-MAX_INTERVAL_LINES:]
    if len(detail.intervals) > len(shown):
        text.append(f"  … {len(detail.intervals) - len(shown)} earlier\n", style="dim")
    for start, end in shown:
        text.append(f"  {fmt_time(start)} → {fmt_time(end)}\n")
    if not detail.intervals:
        text.append("  none\n", style="dim")
    if detail.columns:
        text.append("\nColumns\n", style="bold underline")
        for name, kind in detail.columns:
            text.append(f"  {name} {kind}\n")
    text.append("\nRendered SQL\n", style="bold underline")
    text.append(detail.rendered_sql or "(not rendered)")
    return text
