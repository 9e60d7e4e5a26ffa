"""`w`: type an address (or two) and see why Snowflake admits or refuses it, or whether one can reach the other.

One address → `reach.why` against the Snowflake state, plus where that address sits on the network.
Two addresses (`SOURCE DEST`, optionally `tcp/443`) → `reach.reach` over the AWS state, hop by hop.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from goodword_tui.config import Settings
from goodword_tui.model import Snapshot
from goodword_tui.ui.guard import guarded, one_line
from goodword_tui.ui.screens.typeahead import TypeAheadScreen
from goodword_tui.ui.widgets import KeyBar


def explain(query: str, snapshot: Snapshot, settings: Settings) -> Text:
    """The answer for what was typed, as styled text (pure: no I/O, no Textual state)."""
    from goodword_tui.analysis.baseline import label_for_ip
    from goodword_tui.analysis.reach import QueryError, explain_why_labelled, label_entries, parse_query, reach

    text = Text()
    try:
        asked = parse_query(query)
    except QueryError as error:
        text.append(error.message, style="bold red")
        return text

    if len(asked.addresses) == 1:
        ip = asked.addresses[0]
        state = snapshot.snowflake.data
        if state is None:
            text.append("Snowflake data is not loaded yet; try again when the Snowflake tab has data.", "yellow")
            return text
        verdict, explanation = explain_why_labelled(ip, state, settings)
        label = label_for_ip(settings, ip)
        text.append("ADMITTED" if verdict.allowed else "REFUSED", style="bold green" if verdict.allowed else "bold red")
        text.append(f"  {ip}" + (f" ({label})" if label else "") + "\n\n")
        text.append(explanation.removeprefix("ADMITTED: ").removeprefix("REFUSED: "))  # said once, above
        if snapshot.snowflake.stale_since is not None:
            text.append("\n\nNote: the Snowflake data is stale (its last read failed).", style="yellow")
        return text

    aws = snapshot.aws.data
    if aws is None:
        text.append("AWS data is not loaded yet; try again when the Network tab has data.", "yellow")
        return text
    source, dest = asked.addresses
    path = reach(source, dest, aws, settings, protocol=asked.protocol, port=asked.port)
    text.append("REACHABLE" if path.ok else "NOT REACHABLE", style="bold green" if path.ok else "bold red")
    text.append("\n\n")
    for index, line in enumerate(path.lines()):
        broken = "[ broken]" in line
        style = "bold red" if broken else ("bold" if index == 0 else "")
        text.append(label_entries(line, settings) + "\n", style=style)
    text.append("\nNetwork ACLs are not part of the snapshot and were not checked.", style="dim")
    if snapshot.aws.stale_since is not None:
        text.append("\nNote: the AWS data is stale (its last read failed).", style="yellow")
    return text


class WhyScreen(TypeAheadScreen[None]):
    """Ask, read the answer, ask again; Escape closes. The answer scrolls (arrows, PgUp/PgDn) while the field
    keeps the focus, so a long explanation is readable at 80x24 without leaving the field."""

    AUTO_FOCUS = "Input"
    TYPE_AHEAD_ALWAYS = True  # the answer is read-only: whatever is typed is a new question
    BINDINGS = [
        Binding("escape", "close", "Close", id="why-close"),
        Binding("down", "scroll_answer(1)", "Scroll down", show=False, id="why-scroll-down"),
        Binding("up", "scroll_answer(-1)", "Scroll up", show=False, id="why-scroll-up"),
        Binding("pagedown", "page_answer(1)", "Page", show=False, id="why-page-down"),
        Binding("pageup", "page_answer(-1)", "Page up", show=False, id="why-page-up"),
    ]

    def __init__(self, snapshot: Callable[[], Snapshot], settings: Settings, initial: str = "") -> None:
        super().__init__()
        self.snapshot = snapshot
        self.settings = settings
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="why-box", classes="modal-box"):
            yield Static(
                Text.assemble(
                    ("Why / reach — one address: Snowflake's verdict; two: SOURCE DEST [tcp/443]", "bold"),
                    ("\nEnter asks · ↑ ↓ PgUp PgDn scroll the answer · Esc closes", "dim"),
                ),
                classes="modal-title",
            )
            yield Input(value=self.initial, placeholder="e.g. 3.14.201.56   or   172.22.2.106 172.20.0.91 tcp/22")
            with VerticalScroll(id="why-body"):
                yield Static("", id="why-result")
            yield KeyBar()

    def on_mount(self) -> None:
        if self.initial:
            self._answer(self.initial)

    @guarded
    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._answer(event.value)

    def _answer(self, query: str) -> None:
        try:
            result = explain(query, self.snapshot(), self.settings)
        except Exception as error:  # an analysis bug must not close the screen
            from goodword_tui.ui.guard import log

            log.error("why/reach failed for %r", query, exc_info=error)
            result = Text(f"Could not explain this: {one_line(error)}", style="bold red")
        self.query_one("#why-result", Static).update(result)
        self.query_one("#why-body", VerticalScroll).scroll_home(animate=False)

    def action_scroll_answer(self, lines: int) -> None:
        body = self.query_one("#why-body", VerticalScroll)
        body.scroll_relative(y=lines, animate=False)

    def action_page_answer(self, pages: int) -> None:
        body = self.query_one("#why-body", VerticalScroll)
        body.scroll_relative(y=pages * max(1, body.scrollable_content_region.height - 1), animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
