"""`w`: type an address (or two) and see why Snowflake admits or refuses it, or whether one can reach the other.

One address → `reach.why` against the Snowflake state, plus where that address sits on the network.
Two addresses (`SOURCE DEST`, optionally `tcp/443`) → `reach.reach` over the AWS state, hop by hop.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from goodword_tui.config import Settings
from goodword_tui.model import Snapshot
from goodword_tui.ui.guard import guarded, one_line

PROTOCOL_PORT = re.compile(r"^(tcp|udp|icmp|all)(?:/(\d{1,5}))?$", re.IGNORECASE)


def explain(query: str, snapshot: Snapshot, settings: Settings) -> Text:
    """The answer for what was typed, as styled text (pure: no I/O, no Textual state)."""
    from goodword_tui.analysis.baseline import label_for_ip
    from goodword_tui.analysis.policy import parse_address
    from goodword_tui.analysis.reach import reach, why

    words = query.replace(",", " ").replace("->", " ").replace("→", " ").split()
    protocol, port = "tcp", None
    if words and (match := PROTOCOL_PORT.match(words[-1])):
        protocol = "-1" if match.group(1).lower() == "all" else match.group(1).lower()
        port = int(match.group(2)) if match.group(2) else None
        words = words[:-1]
    text = Text()
    if not words or len(words) > 2:
        text.append("Type one address (why does Snowflake admit or refuse it?) or two: SOURCE DEST [tcp/443]", "dim")
        return text
    bad = [w for w in words if parse_address(w) is None]
    if bad:
        text.append(f"Not an IP address: {', '.join(bad)}", style="bold red")
        return text

    if len(words) == 1:
        ip = words[0]
        state = snapshot.snowflake.data
        if state is None:
            text.append("Snowflake data is not loaded yet; try again when the Snowflake tab has data.", "yellow")
            return text
        verdict = why(ip, state)
        label = label_for_ip(settings, ip)
        text.append("ADMITTED" if verdict.allowed else "REFUSED", style="bold green" if verdict.allowed else "bold red")
        text.append(f"  {ip}" + (f" ({label})" if label else "") + "\n\n")
        text.append(verdict.explain())
        if snapshot.snowflake.stale_since is not None:
            text.append("\n\nNote: the Snowflake data is stale (its last read failed).", style="yellow")
        return text

    aws = snapshot.aws.data
    if aws is None:
        text.append("AWS data is not loaded yet; try again when the Network tab has data.", "yellow")
        return text
    path = reach(words[0], words[1], aws, settings, protocol=protocol, port=port)
    text.append("REACHABLE" if path.ok else "NOT REACHABLE", style="bold green" if path.ok else "bold red")
    text.append("\n\n")
    for index, line in enumerate(path.lines()):
        broken = "[ broken]" in line
        text.append(line + "\n", style="bold red" if broken else ("bold" if index == 0 else ""))
    text.append("\nNetwork ACLs are not part of the snapshot and were not checked.", style="dim")
    if snapshot.aws.stale_since is not None:
        text.append("\nNote: the AWS data is stale (its last read failed).", style="yellow")
    return text


class WhyScreen(ModalScreen[None]):
    """Ask, read the answer, ask again; Escape closes."""

    AUTO_FOCUS = "Input"
    BINDINGS = [Binding("escape", "close", "Close", id="why-close")]

    def __init__(self, snapshot: Callable[[], Snapshot], settings: Settings, initial: str = "") -> None:
        super().__init__()
        self.snapshot = snapshot
        self.settings = settings
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="why-box", classes="modal-box"):
            yield Static(
                Text("Why / reach — one address: Snowflake's verdict; two: SOURCE DEST [tcp/443]", style="bold"),
                classes="modal-title",
            )
            yield Input(value=self.initial, placeholder="e.g. 3.14.201.56   or   172.22.2.106 172.20.0.91 tcp/22")
            with VerticalScroll(id="why-body", can_focus=False):
                yield Static("", id="why-result")

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

    def action_close(self) -> None:
        self.dismiss(None)
