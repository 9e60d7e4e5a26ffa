"""Connectivity probes: can we reach the Snowflake host, the SQLMesh server, the state database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult

from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.widgets import Section, SourceLine

if TYPE_CHECKING:
    from goodword_tui.analysis.views import DashboardView


class ProbesPane(Pane):
    SOURCE = "probes"

    def compose(self) -> ComposeResult:
        yield SourceLine("Probes: loading…", classes="source-line")
        yield Section("probes", "Probes")

    def show_view(self, view: DashboardView) -> None:
        if view.probes is not None:
            self.set_tables([view.probes])
