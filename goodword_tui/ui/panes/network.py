"""The AWS side: VPCs, the peering, route tables (✓/✗ per expected route), cross-VPC SG rules, the endpoint,
the instances and the addresses traffic leaves from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll

from goodword_tui.ui.panes.base import Pane
from goodword_tui.ui.widgets import Section, SourceLine

if TYPE_CHECKING:
    from goodword_tui.analysis.views import DashboardView

NETWORK_SECTIONS = (
    ("vpcs", "VPCs"),
    ("peering", "Peering"),
    ("route_tables", "Route tables"),
    ("security_groups", "Security groups: cross-VPC rules"),
    ("endpoints", "Endpoints"),
    ("instances", "Instances"),
    ("egress", "Egress addresses (NAT / Internet)"),
)


class NetworkPane(Pane):
    SOURCE = "aws"

    def compose(self) -> ComposeResult:
        yield SourceLine("AWS: loading…", classes="source-line")
        with VerticalScroll(classes="pane-scroll", can_focus=False):
            for table_id, title in NETWORK_SECTIONS:
                yield Section(table_id, title)

    def show_view(self, view: DashboardView) -> None:
        if view.network:
            self.set_tables(view.network)
