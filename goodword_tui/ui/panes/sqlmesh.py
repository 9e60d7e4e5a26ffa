"""SQLMesh: the SQLMesh issue fills this pane; until then it says what it will show."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from goodword_tui.analysis.views import DashboardView
from goodword_tui.ui.panes.base import Pane

PLACEHOLDER = """\
SQLMesh — not connected yet.

This pane will show the project in sqlmesh_project/ (gateway and state database from config.toml):
  • environments: prod and the development ones, finalized or not, when they expire
  • models: kind, cron, the last interval loaded, missing intervals, freshness against the grace period
  • audits that failed, and local changes not yet applied (a plan away)
  • whether the SQLMesh server (172.22.2.106:8000) answers — see the Probes tab meanwhile
"""


class SqlMeshPane(Pane):
    SOURCE = "sqlmesh"

    def compose(self) -> ComposeResult:
        yield Static(PLACEHOLDER, id="sqlmesh-placeholder")

    def show_view(self, view: DashboardView) -> None:
        """Nothing yet: the SQLMesh source arrives with its own issue."""
