"""One pane per tab. Each renders a `DashboardView` (plain data) and never talks to a source."""

from goodword_tui.ui.panes.findings import FindingsPane
from goodword_tui.ui.panes.network import NetworkPane
from goodword_tui.ui.panes.probes import ProbesPane
from goodword_tui.ui.panes.snowflake import SnowflakePane
from goodword_tui.ui.panes.sqlmesh import SqlMeshPane

__all__ = ["FindingsPane", "NetworkPane", "ProbesPane", "SnowflakePane", "SqlMeshPane"]
