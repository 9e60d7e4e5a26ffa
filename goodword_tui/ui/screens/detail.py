"""The detail screen: every attribute of a row's resource, the findings about it, and the raw JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from goodword_tui.analysis.rows import Row
from goodword_tui.model import Finding, to_jsonable
from goodword_tui.ui.guard import guarded
from goodword_tui.ui.widgets import SEVERITY_STYLE, KeyBar


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested JSON data as `path: value` lines, so every attribute is visible without reading JSON."""
    if isinstance(value, dict):
        if not value:
            return [(prefix, "{}")] if prefix else []
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        if not value:
            return [(prefix, "(none)")]
        if all(not isinstance(v, dict | list) for v in value):
            return [(prefix, ", ".join("" if v is None else str(v) for v in value))]
        out = []
        for index, item in enumerate(value):
            out += flatten(item, f"{prefix}[{index}]")
        return out
    if value is None or value == "":
        return [(prefix, "-")]
    return [(prefix, str(value))]


class DetailScreen(ModalScreen[None]):
    """Everything about one row; Escape closes, `c` copies the row's value, `J` the raw JSON."""

    AUTO_FOCUS = "#detail-body"
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="detail-close"),
        Binding("c", "copy_value", "Copy value", id="detail-copy"),
        Binding("J", "copy_json", "Copy JSON", id="detail-copy-json"),
    ]

    def __init__(self, row: Row, related: Sequence[Finding], source_line: str = "") -> None:
        super().__init__()
        self.row = row
        self.related = list(related)
        self.source_line = source_line
        self.raw = json.dumps(to_jsonable(row.subject), indent=2, sort_keys=False, default=str)

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="modal-box"):
            yield Static(Text(self.row.title or self.row.key, style="bold"), classes="modal-title")
            if self.source_line:
                yield Static(Text(self.source_line, style="dim"), classes="modal-subtitle")
            with VerticalScroll(id="detail-body"):
                yield Static(self._attributes(), id="detail-attributes")
                yield Static(self._findings(), id="detail-findings")
                yield Static(Text("Raw JSON", style="bold underline"), classes="detail-heading")
                yield Static(Text(self.raw), id="detail-json")
            yield KeyBar()

    def _attributes(self) -> RichTable:
        table = RichTable(show_header=False, box=None, padding=(0, 1), expand=False)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in flatten(to_jsonable(self.row.subject)):
            table.add_row(name, value)
        for name, value in self.row.facts:
            table.add_row(name, value)
        return table

    def _findings(self) -> Text:
        text = Text()
        text.append("\nFindings about this\n", style="bold underline")
        if not self.related:
            text.append("none\n", style="dim")
        for finding in self.related:
            text.append(f"{finding.severity.label.upper()} {finding.code}", style=SEVERITY_STYLE[finding.severity])
            text.append(f" ({finding.resource}): {finding.message}\n")
            for line in finding.evidence:
                text.append(f"  · {line}\n")
            if finding.fix is not None:
                text.append(f"  fix: {finding.fix.summary}\n", style="italic")
        return text

    def action_close(self) -> None:
        self.dismiss(None)

    @guarded
    def action_copy_value(self) -> None:
        value = self.row.copy or self.row.key
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {value}", timeout=3)

    @guarded
    def action_copy_json(self) -> None:
        self.app.copy_to_clipboard(self.raw)
        self.notify(f"Copied the raw JSON ({len(self.raw)} characters)", timeout=3)
