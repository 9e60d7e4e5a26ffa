"""Findings first: what is wrong, worst on top; Enter jumps to the resource it is about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.widgets import Section, set_text

if TYPE_CHECKING:
    from goodword_tui.analysis.views import DashboardView


class FindingsPane(Pane):
    SOURCE = None

    def compose(self) -> ComposeResult:
        yield Static("Waiting for the first answers…", id="findings-summary", classes="source-line")
        yield Section("findings", "Findings")

    def show_view(self, view: DashboardView) -> None:
        self.set_tables([view.findings])

    def show_summary(self, counts: dict[str, int], loading: list[str], analysis_error: str = "") -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if analysis_error:
            text.append(f"Findings could not be computed: {analysis_error}", style="bold red")
        else:
            parts = [
                (f"{counts.get('CRIT', 0)} critical", "bold red" if counts.get("CRIT") else ""),
                (f"{counts.get('WARN', 0)} warnings", "yellow" if counts.get("WARN") else ""),
                (f"{counts.get('INFO', 0)} info", ""),
            ]
            for index, (part, style) in enumerate(parts):
                if index:
                    text.append(" · ")
                text.append(part, style=style)
            if loading:
                text.append(f"  (still loading: {', '.join(loading)})", style="dim")
            else:
                text.append("  Enter: go to the resource · d: details", style="dim")
        set_text(self.query_one("#findings-summary", Static), text)
