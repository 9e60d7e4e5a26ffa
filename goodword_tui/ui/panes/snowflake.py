"""The Snowflake network policy: active or not and where, whether *you* get in, every entry with its label and
status, and the network rules with their values. `a` adds an allowed entry, `x` removes the selected one (both
through the change preview)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.widgets import TONE_STYLE, Section, SourceLine, set_text

if TYPE_CHECKING:
    from goodword_tui.analysis.views import DashboardView


class SnowflakePane(Pane):
    SOURCE = "snowflake"

    BINDINGS = [
        # Priority: the form is pushed before the next key is routed; EntryScreen hands that key to its field.
        Binding("a", "add_entry", "Add an allowed entry", show=False, id="add-entry", priority=True),
        Binding("x", "remove_entry", "Remove the selected entry", show=False, id="remove-entry"),
    ]

    def action_add_entry(self) -> None:
        add = getattr(self.app, "add_entry", None)
        if add is not None:
            add()

    def action_remove_entry(self) -> None:
        remove = getattr(self.app, "remove_entry", None)
        if remove is not None:
            remove()

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
            if self.app.check_action("add_entry", ()):  # write mode: say how to change the list
                text.append(
                    "\na: add an allowed entry · x: remove the selected entry · f: apply a finding's fix", "dim"
                )
            set_text(self.query_one("#policy-summary", Static), text, layout=True)
        if view.entries is not None and view.rules is not None:
            self.set_tables([view.entries, view.rules])
