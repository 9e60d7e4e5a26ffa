"""What every pane shares: its sections (titled keyed tables) and the line saying how fresh its source is."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical

from goodword_tui.analysis.rows import SourceStatus, Table
from goodword_tui.ui.widgets import KeyedTable, Section, SourceLine

if TYPE_CHECKING:  # the views module brings the whole analysis: the first frame does not wait for it
    from goodword_tui.analysis.views import DashboardView


class Pane(Vertical):
    """A tab's content. `SOURCE` names the source that feeds it (None: several, like the findings)."""

    SOURCE: ClassVar[str | None] = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A pane's write actions are hidden and refused in read-only mode, like the app's own."""
        return self.app.check_action(action, parameters)

    def on_mount(self) -> None:
        ready = getattr(self.app, "pane_ready", None)
        if ready is not None:
            ready(self)

    def sections(self) -> list[Section]:
        """The pane's sections, found once: they are composed with the pane and never change, and a DOM query
        per table on every refresh costs the event loop milliseconds on the big panes."""
        found: list[Section] | None = getattr(self, "_sections", None)
        if found is None:
            found = list(self.query(Section))
            if found and self.is_mounted:  # composed and mounted: the list is complete
                self._sections = found
        return found

    def tables(self) -> list[KeyedTable]:
        return [s.table for s in self.sections()]

    def section(self, table_id: str) -> Section | None:
        return next((s for s in self.sections() if s.table_id == table_id), None)

    def set_tables(self, tables: tuple[Table, ...] | list[Table]) -> None:
        for table in tables:
            section = self.section(table.id)
            if section is not None:
                section.set_table(table)

    def show_status(self, status: SourceStatus, retry: str = "") -> None:
        """Before the first good read, the tables say why they are empty (loading, or the error)."""
        for line in self.query(SourceLine):
            line.show(status, retry)
        if status.state == "failed":
            for table in self.tables():
                table.set_placeholder(f"no data: {status.line}")

    def show_view(self, view: DashboardView) -> None:
        raise NotImplementedError
