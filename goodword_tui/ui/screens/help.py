"""Help generated from the live bindings: what the keys do right now, on this screen, in this mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True)
class KeyHelp:
    key: str  # as displayed
    description: str
    binding_id: str
    where: str  # "everywhere", "dashboard", "table"
    enabled: bool = True


class HelpScreen(ModalScreen[None]):
    AUTO_FOCUS = "#help-body"
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help-close")]

    def __init__(self, keys: Sequence[KeyHelp], notes: Sequence[str] = ()) -> None:
        super().__init__()
        self.keys = list(keys)
        self.notes = list(notes)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="modal-box"):
            yield Static(
                Text.assemble(
                    ("Keys (live: remapped keys and the current mode are reflected)", "bold"),
                    ("\n↑ ↓ PgUp PgDn End scroll · Esc, q or ? closes", "dim"),
                ),
                classes="modal-title",
            )
            with VerticalScroll(id="help-body"):
                yield Static(self._table(), id="help-table")
                if self.notes:
                    yield Static(Text("\n".join(self.notes), style="dim"), id="help-notes")

    def _table(self) -> RichTable:
        table = RichTable(box=None, padding=(0, 1), show_edge=False)
        table.add_column("Key", no_wrap=True, style="bold")
        table.add_column("Does")
        table.add_column(Text("Id (to remap)"), style="dim", no_wrap=True)  # the notes say how
        table.add_column("Where", style="dim", no_wrap=True)
        for item in self.keys:
            description = item.description if item.enabled else f"{item.description} (unavailable now)"
            table.add_row(Text(item.key), Text(description), Text(item.binding_id or "-"), Text(item.where))
        return table

    def action_close(self) -> None:
        self.dismiss(None)
