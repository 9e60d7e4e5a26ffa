"""The Snowflake network policy: active or not and where, whether *you* get in, every entry with its label and
status, and the network rules with their values."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from goodword_tui.analysis.views import DashboardView
from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.widgets import TONE_STYLE, Section, SourceLine, set_text


class SnowflakePane(Pane):
    SOURCE = "snowflake"

    def compose(self) -> ComposeResult:
        yield SourceLine("Snowflake: loading…", classes="source-line")
        with VerticalScroll(classes="pane-scroll", can_focus=False):
            yield Static("", id="policy-summary")
            yield Section("entries", "Allowed and blocked IP entries")
            yield Section("rules", "Network rules")

    def show_view(self, view: DashboardView) -> None:
        if view.summary is not None:
            text = Text(no_wrap=True, overflow="ellipsis")
            for index, (line, tone) in enumerate(view.summary.lines):
                if index:
                    text.append("\n")
                text.append(line, style=TONE_STYLE.get(tone, ""))
            set_text(self.query_one("#policy-summary", Static), text, layout=True)
        if view.entries is not None and view.rules is not None:
            self.set_tables([view.entries, view.rules])
