"""The dashboard's building blocks: a keyed, filterable table updated in place, its titled section, the header,
the per-pane source line and the inspector that shows the highlighted row's evidence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.message import Message
from textual.signal import Signal
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from goodword_tui.analysis.rows import Row, SourceStatus, Table, Tone
from goodword_tui.model import Finding, Severity

# Colours are a second channel only: every state is also a word or a mark (✓ ✗ !), so NO_COLOR loses nothing.
TONE_STYLE: dict[str, str] = {"ok": "green", "bad": "bold red", "warn": "yellow", "muted": "dim", "": ""}
SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: ""}

EMPTY_KEY = "__empty__"
MARK = "● "  # before the first cell of a marked row (findings marked with `m` for a batch fix)


def styled(text: str, tone: Tone | str) -> Text:
    return Text(text, style=TONE_STYLE.get(tone, ""), no_wrap=True, overflow="ellipsis")


def set_text(widget: Static, text: Text, *, layout: bool = False) -> None:
    """Update a fixed-size line only when its text changed, and without a layout pass: an idle dashboard then
    writes nothing, and a key press repaints only what it changed."""
    if getattr(widget, "_last_text", None) == text:
        return
    widget._last_text = text  # type: ignore[attr-defined]
    widget.update(text, layout=layout)


class KeyedTable(DataTable[Text]):
    """A DataTable whose rows carry keys: a refresh updates changed cells in place, adds and removes only what
    changed, and keeps the cursor on the same row, so a refresh never moves what the user is looking at."""

    BINDINGS = [
        Binding("enter", "open_row", "Open", show=False, id="open"),
    ]

    class Opened(Message):
        """Enter on a row: the app jumps (findings) or shows the detail screen."""

        def __init__(self, table: KeyedTable, row: Row) -> None:
            super().__init__()
            self.table = table
            self.row = row

    def __init__(self, *, placeholder: str = "loading…", id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.title = ""
        self.columns_spec: tuple[str, ...] = ()
        self.all_rows: tuple[Row, ...] = ()
        self.shown: dict[str, Row] = {}
        self.filter_text = ""
        self.empty_text = "nothing to show"
        self.placeholder = placeholder
        self.status_column = -1
        self.loaded = False
        self.marks: set[str] = set()  # keys of marked rows; a mark outlives refreshes while its row exists
        self.drawn_look: tuple[object, ...] = ()  # the look (Table.look) of the last table synced in
        # Published as the cursor moves on the focused table, to subscribers called there and then (the inspector,
        # which schedules itself for after the frame showing the move).
        self.cursor_moved: Signal[KeyedTable] = Signal(self, "cursor-moved")

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        """The cursor's move reaches the inspector directly: DataTable's RowHighlighted message climbs to the
        screen one widget at a time, and on a busy machine landed hundreds of milliseconds after the move."""
        super().watch_cursor_coordinate(old, new)
        if old != new and self.has_focus:
            self.cursor_moved.publish(self)

    def on_mount(self) -> None:
        self._show_placeholder(self.placeholder)

    async def _on_idle(self, event: events.Idle) -> None:
        """DataTable measures new rows on idle but keeps cells cached at the old column widths (its caches are
        keyed by an update counter, not by width), so a widened column would stay cut off until the next
        update. Drop the caches when a width changed."""
        before = [c.content_width for c in self.columns.values()]
        await super()._on_idle(event)
        if before != [c.content_width for c in self.columns.values()]:
            super().notify_style_update()  # DataTable's own: drops every cached cell
            self.refresh()

    def _on_resize(self, event: events.Resize) -> None:
        """A pane shown again resizes its tables to the size they already had, and DataTable answers every
        resize by bumping the counter its render caches are keyed by: each tab switch re-rendered every visible
        cell. Only a real change of size gets through to it."""
        if event.size == getattr(self, "_last_size", None):
            event.prevent_default()
        self._last_size = event.size

    def notify_style_update(self) -> None:
        """Textual re-applies CSS to every table under a node whose focus or classes change (a tab switch, a
        focus move), and DataTable answers each time by dropping every rendered cell, so a tab switch
        re-rendered every visible cell of the table losing the focus and of the one gaining it. Its cell, row
        and line caches are keyed by the base style and the pseudo classes (focus) already, so the renders made
        under a look (theme and the table's own rules: focused, blurred) seen since the last drop are still
        right: only a new look drops them. The lookup of component styles (the focused cursor's) is cached
        without the pseudo classes, so that one is always dropped."""
        look = (self.app.theme, self.styles.get_render_rules())
        seen: list[tuple[object, ...]] = getattr(self, "_looks", [])
        if look in seen:
            Widget.notify_style_update(self)  # the widget's own style caches
            self._get_styles_to_render_cell.cache_clear()
            self.refresh()
            return
        same_theme = bool(seen) and seen[-1][0] == look[0]
        self._looks = [*seen[-3:], look] if same_theme else [look]
        super().notify_style_update()

    # -- data -----------------------------------------------------------------------------------------------

    def set_table(self, table: Table) -> None:
        same_look = (
            self.loaded
            and bool(table.look)
            and table.look == self.drawn_look
            and (table.columns, table.title, table.empty, table.status_column)
            == (self.columns_spec, self.title, self.empty_text, self.status_column)
        )
        self.title = table.title
        self.empty_text = table.empty
        self.all_rows = table.rows
        self.marks &= {r.key for r in table.rows}  # a fixed finding's row is gone, and so is its mark
        self.status_column = table.status_column
        self.loaded = True
        if same_look:  # nothing drawn changes: only the rows' subjects (details, fixes) are the newer ones
            fresh = {r.key: r for r in table.rows}
            self.shown = {key: fresh.get(key, row) for key, row in self.shown.items()}
            return
        if table.columns != self.columns_spec:
            self._set_columns(table.columns)
        self._sync()
        self.drawn_look = table.look

    def set_placeholder(self, text: str) -> None:
        """Before the first data: one muted line saying why there is nothing (loading, failed)."""
        self.placeholder = text
        if not self.loaded:
            self._show_placeholder(text)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        if self.loaded:
            self._sync()

    def visible_rows(self) -> list[Row]:
        needle = self.filter_text.lower()
        if not needle:
            return list(self.all_rows)
        return [r for r in self.all_rows if needle in " ".join((*r.cells, *r.refs)).lower()]

    def current_row(self) -> Row | None:
        if not self.shown or self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # an empty table, or the cursor past rows just removed
            return None
        return self.shown.get(key or "")

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row `key`, clearing the filter if it hides that row."""
        if key not in self.shown and any(r.key == key for r in self.all_rows):
            self.set_filter("")
        if key not in self.shown:
            return False
        self.move_cursor(row=self.get_row_index(key), animate=False, scroll=True)
        return True

    def find_rows(self, resource: str) -> list[Row]:
        wanted = resource.upper()
        return [r for r in self.all_rows if resource in r.refs or wanted in {x.upper() for x in r.refs}]

    # -- rendering --------------------------------------------------------------------------------------------

    def _cells(self, row: Row) -> list[Text]:
        """The mark and the status cell carry the tone; a muted row is dim throughout; a marked row says so."""
        last = self.status_column if self.status_column >= 0 else len(row.cells) + self.status_column
        cells = [
            styled(cell, row.tone if index in (0, last) or row.tone == "muted" else "")
            for index, cell in enumerate(row.cells)
        ]
        if cells and row.key in self.marks:
            cells[0] = Text.assemble((MARK, "bold reverse"), cells[0], no_wrap=True, overflow="ellipsis")
        return cells

    # -- marks ------------------------------------------------------------------------------------------------

    def toggle_mark(self, key: str) -> bool:
        """Mark or unmark the row `key`; returns whether it is marked now."""
        if key in self.marks:
            self.marks.discard(key)
        else:
            self.marks.add(key)
        self._redraw_first_cell(key)
        return key in self.marks

    def clear_marks(self) -> None:
        marked, self.marks = self.marks, set()
        for key in marked:
            self._redraw_first_cell(key)

    def marked_rows(self) -> list[Row]:
        """The marked rows, in table order (filtered-out rows included: a filter does not unmark)."""
        return [r for r in self.all_rows if r.key in self.marks]

    def _redraw_first_cell(self, key: str) -> None:
        row = self.shown.get(key)
        if row is not None and self.columns_spec:
            before = self._update_count
            self.update_cell(key, "c0", self._cells(row)[0], update_width=True)
            self._drop_dead_renders(before)

    def _drop_dead_renders(self, count_before: int) -> None:
        """DataTable keys each rendered cell, row and line by a counter that every cell update, added or removed
        row bumps, and keeps the renders under older counts until its caches are full (10,000 cells and 1,000
        rows and lines, per table): a table refreshed every few seconds and looked at grew toward that bound,
        megabytes per table. Renders under an older count are never read again: drop them."""
        if self._update_count != count_before:
            self._clear_caches()

    def _set_columns(self, columns: Sequence[str]) -> None:
        self.clear(columns=True)
        self.shown = {}
        self.columns_spec = tuple(columns)
        for index, label in enumerate(columns):
            self.add_column(label, key=f"c{index}")

    def _show_placeholder(self, text: str) -> None:
        self.clear(columns=True)
        self.shown = {}
        self.columns_spec = ()
        self.add_column("", key="c0")
        self.add_row(styled(text, "muted"), key=EMPTY_KEY)

    def _sync(self) -> None:
        rows = self.visible_rows()
        if not rows:
            note = f"no row matches “{self.filter_text}”" if self.filter_text else self.empty_text
            cells = [""] * max(1, len(self.columns_spec))
            cells[min(1, len(cells) - 1)] = note
            rows = [Row(EMPTY_KEY, tuple(cells), "muted")]
        desired = [r.key for r in rows]
        wanted = set(desired)  # sets made once: a refresh of a 1,000-row table stays linear
        current = [str(k.value) for k in self._row_keys_in_order()]
        gone = [k for k in current if k not in wanted]
        leaving = set(gone)
        kept = [k for k in current if k not in leaving]
        new = [k for k in desired if k not in self.shown]
        if kept + new != desired or len(self.columns_spec) == 0 or EMPTY_KEY in gone:
            # (The "nothing to show" line leaving: rebuild, so its width does not stay on the column.)
            self._rebuild(rows)
            return
        cursor_key = self._cursor_key()
        before = self._update_count
        for key in gone:
            self.remove_row(key)
            self.shown.pop(key, None)
        by_key = {r.key: r for r in rows}
        for key in kept:
            old, fresh = self.shown[key], by_key[key]
            if old.cells != fresh.cells or old.tone != fresh.tone:
                for index, cell in enumerate(self._cells(fresh)):
                    if index >= len(old.cells) or old.cells[index] != fresh.cells[index] or old.tone != fresh.tone:
                        self.update_cell(key, f"c{index}", cell, update_width=True)
            self.shown[key] = fresh
        for key in new:
            self.add_row(*self._cells(by_key[key]), key=key)
            self.shown[key] = by_key[key]
        if cursor_key and cursor_key in self.shown and self._cursor_key() != cursor_key and self.cursor_row != 0:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False, scroll=False)
        self._drop_dead_renders(before)

    def _row_keys_in_order(self) -> list[object]:
        return [row.key for row in self.ordered_rows]

    def _cursor_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            value = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # an empty table, or the cursor past rows just removed
            return None
        return str(value) if value is not None else None

    def _rebuild(self, rows: Iterable[Row]) -> None:
        """Order changed: rebuild, then put the cursor back on the same row and the scroll where it was."""
        cursor_key = self._cursor_key()
        cursor_index = self.cursor_row
        scroll_y = self.scroll_y
        self.clear(columns=False)
        for column in self.columns.values():  # DataTable only ever widens a column: measure afresh
            column.content_width = column.label.cell_len
        self.shown = {}
        for row in rows:
            self.add_row(*self._cells(row), key=row.key)
            self.shown[row.key] = row
        if cursor_index == 0:
            target = 0  # at the top, stay at the top: the worst (or first) row is what one wants there
        elif cursor_key in self.shown:
            target = self.get_row_index(cursor_key)
        else:
            target = min(cursor_index, max(0, self.row_count - 1))
        self.move_cursor(row=target, animate=False, scroll=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)

    # -- actions ----------------------------------------------------------------------------------------------

    def action_open_row(self) -> None:
        row = self.current_row()
        if row is not None and row.key != EMPTY_KEY:
            self.post_message(self.Opened(self, row))


class Section(Vertical):
    """A titled table: the title carries the row count and the active filter."""

    def __init__(self, table_id: str, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id or f"section-{table_id}", classes="section")
        self.table_id = table_id
        self.base_title = title
        # Held, not queried: every refresh reaches each section's table and title.
        self._title = Static(title, classes="section-title")
        self._table = KeyedTable(id=f"table-{table_id}")

    def compose(self) -> ComposeResult:
        yield self._title
        yield self._table

    @property
    def table(self) -> KeyedTable:
        return self._table

    def set_table(self, table: Table) -> None:
        self.table.set_table(table)
        self.refresh_title()

    def refresh_title(self) -> None:
        table = self.table
        title = table.title or self.base_title
        if table.loaded:
            shown = len(table.visible_rows())
            total = len(table.all_rows)
            count = f"{shown}/{total}" if table.filter_text else str(total)
            title = f"{title} ({count})"
            if table.filter_text:
                title += f"  filter: {table.filter_text}"
            if table.marks:
                title += f"  marked: {len(table.marks)} (F: fix them)"
        set_text(self._title, Text(title, no_wrap=True, overflow="ellipsis"))


class SourceLine(Static):
    """One line per pane: how old its data is, or what failed and what to do about it."""

    def show(self, status: SourceStatus, retry: str = "") -> None:
        failed = status.state in ("failed", "stale")
        text = status.line + (f" {retry}" if retry and failed else "")
        style = TONE_STYLE.get(status.tone, "") if failed or status.state == "loading" else "dim"
        self.set_class(failed, "-failed")
        set_text(self, Text(text, style=style, no_wrap=not failed), layout=True)


class Inspector(Static):
    """What the highlighted row is and the findings about it, with their evidence (the full story is one Enter
    away on the detail screen)."""

    def show(self, row: Row | None, findings: Sequence[Finding], pinned: Finding | None = None) -> None:
        if row is None or row.key == EMPTY_KEY:
            set_text(self, Text("Select a row to see its evidence; Enter opens it.", style="dim"))
            return
        text = Text()
        if isinstance(row.subject, Finding):
            self._finding(text, row.subject, first=True, heading=True)
            set_text(self, text)
            return
        text.append(row.title or row.key, style="bold")
        if row.copy and row.copy not in (row.title or ""):
            text.append(f"  {row.copy}", style="dim")
        ordered = list(findings)
        if pinned is not None and pinned in ordered:
            ordered = [pinned, *[f for f in ordered if f != pinned]]  # equal, not identical, after a refresh
        for index, finding in enumerate(ordered):
            self._finding(text, finding, first=index == 0, heading=False)
        if not ordered:
            for name, value in row.facts:
                text.append(f"\n{name}: ", style="dim")
                text.append(value)
            if not row.facts:
                text.append("\nNo findings about this.", style="dim")
        set_text(self, text)

    @staticmethod
    def _finding(text: Text, finding: Finding, *, first: bool, heading: bool) -> None:
        """Severity in words, the message, then (for the first finding) its evidence and the suggested fix."""
        if not heading:
            text.append("\n")
        text.append(f"{finding.severity.label.upper()} {finding.code}", style=SEVERITY_STYLE[finding.severity])
        text.append(f" {finding.resource}" if heading else "", style="bold")
        text.append("\n" if heading else ": ")
        text.append(finding.message)
        if first:
            for line in finding.evidence:
                text.append(f"\n  · {line}")
            if finding.fix is not None:
                text.append(f"\n  fix: {finding.fix.summary}", style="italic")


class TabStrip(Static):
    """The tabs' names on one line, each after the number key that shows it; the shown one is highlighted, and a
    click on a name shows its tab.

    Textual's TabbedContent is ten widgets (tabs, underline, switcher) that restyle, lay out and repaint on every
    switch: dropping them took a switch on `scale` at 160x48 from 59-78 to 47-55 ms of CPU. This is one line,
    repainted only when a name or the shown tab changes."""

    def __init__(self, tabs: Sequence[tuple[str, str]], active: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels = dict(tabs)
        self._active = active
        self._spans: list[tuple[int, int, str]] = []  # the cells each tab's name takes, for clicks
        self._paint()

    @property
    def active(self) -> str:
        return self._active

    def label(self, tab_id: str) -> str:
        return self._labels[tab_id]

    def show(self, tab_id: str) -> None:
        if tab_id != self._active:
            self._active = tab_id
            self._paint()

    def set_labels(self, labels: Mapping[str, str]) -> None:
        """New names (a count, a mark): one repaint for all of them, none if nothing changed."""
        if any(self._labels.get(tab_id) != label for tab_id, label in labels.items()):
            self._labels.update(labels)
            self._paint()

    def _paint(self) -> None:
        parts: list[Content] = []
        self._spans = []
        x = 0
        for number, (tab_id, label) in enumerate(self._labels.items(), start=1):
            style = "bold underline $accent" if tab_id == self._active else ""
            part = Content.assemble(" ", (str(number), "dim"), " ", (label, style), " ")
            self._spans.append((x, x + part.cell_length, tab_id))
            x += part.cell_length + 1
            parts.append(part)
        self.update(Content(" ").join(parts))

    def on_click(self, event: events.Click) -> None:
        tab_id = next((tab for start, end, tab in self._spans if start <= event.x < end), None)
        if tab_id is not None:
            self.post_message(self.Clicked(tab_id))

    class Clicked(Message):
        """A tab's name was clicked: the screen shows that tab (through its guarded key action)."""

        def __init__(self, tab_id: str) -> None:
            super().__init__()
            self.tab_id = tab_id


KEYBAR_ESSENTIAL = frozenset({"help", "quit", "close"})  # actions the key bar shows at any width


class KeyBar(Static):
    """The footer: the shown, enabled bindings of the focused chain ("r Refresh  / Filter ...").

    Textual's Footer recomposes (mounts a widget per key) on every focus change, which costs a frame on a slow
    machine; this renders one line and only when the keys actually change.
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self.refresh_keys)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh_keys()

    def on_resize(self, _event: events.Resize) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        """As many keys as fit, in binding order; `? Help`, `q Quit` and `Close` always, last, so 80 columns
        never cut them off (every key is in the help)."""
        if not self.is_attached:
            return
        app = self.app
        seen: set[str] = set()
        optional: list[tuple[str, str]] = []
        essential: list[tuple[str, str]] = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not active.enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            item = (app.get_key_display(binding), binding.description)
            (essential if binding.action in KEYBAR_ESSENTIAL else optional).append(item)
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING:
            optional.append(("^p", "palette"))
        width = self.content_region.width or max(0, app.size.width - 2)

        def length(items: list[tuple[str, str]]) -> int:
            return sum(cell_len(f"{key} {description}") for key, description in items) + 2 * (len(items) - 1)

        while optional and length(optional + essential) > width:
            optional.pop()
        text = Text(no_wrap=True, overflow="ellipsis")
        for key, description in optional + essential:
            if text:
                text.append("  ")
            text.append(key, style="bold")
            text.append(f" {description}")
        set_text(self, text)
