"""`a` on the Snowflake pane: type an IP or CIDR and a label; a valid entry opens the change preview.

Nothing is sent from here. The values are checked by planning the change (the core's strict parsing: host
bits, IPv6, duplicates, entries already covered, quotes and control characters); a refusal is shown under the
fields with the core's hint on how to fix it (an address's as soon as Enter leaves its field), and the form stays
open. Editing the field a refusal is about clears it, so what is shown is never about a value no longer there.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from goodword_tui.changes.base import Change
from goodword_tui.changes.inputs import InputError
from goodword_tui.ui.guard import guarded
from goodword_tui.ui.screens.typeahead import TypeAheadScreen
from goodword_tui.ui.widgets import KeyBar

Planner = Callable[[str, str], Change]  # (entry, label) → the planned change, or InputError


class EntryScreen(TypeAheadScreen[Change | None]):
    """Returns the planned Change (the caller previews it) or None when cancelled. Keys typed right after `a`
    land in the entry field (TypeAheadScreen)."""

    AUTO_FOCUS = "#entry-cidr"
    BINDINGS = [Binding("escape", "close", "Cancel", id="entry-close")]
    SCOPED_CSS = False  # the app's -wide class (an ancestor) sizes the box
    DEFAULT_CSS = """
    EntryScreen {
        align: center middle;
    }
    #entry-box {
        width: 100%;
        height: auto;
        max-height: 100%;
    }
    .-wide #entry-box {
        width: 90;
    }
    #entry-error {
        height: auto;
        margin-bottom: 1;
    }
    #entry-box .change-field {
        height: 1;
        margin-bottom: 1;
    }
    #entry-box .change-label {
        width: 14;
        text-style: bold;
    }
    #entry-box .change-field Input {
        width: 1fr;
    }
    #entry-buttons {
        height: 1;
    }
    #entry-buttons Button {
        margin-right: 2;
    }
    """

    def __init__(self, policy: str, planner: Planner) -> None:
        super().__init__()
        self.policy = policy
        self.planner = planner
        self.error: InputError | None = None
        self._error_about: tuple[str, str] | None = None  # (field id, value) the shown refusal is about

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.app.check_action(action, parameters)

    def compose(self) -> ComposeResult:
        with Vertical(id="entry-box", classes="modal-box"):
            yield Static(Text(f"Add an entry to {self.policy}'s ALLOWED_IP_LIST", style="bold"), classes="modal-title")
            yield Static(
                Text("Enter: next field, then the preview (nothing is sent before the preview's Apply).", "dim"),
                classes="modal-subtitle",
            )
            with Horizontal(classes="change-field"):
                yield Static("IP or CIDR", classes="change-label")
                yield Input(placeholder="e.g. 203.0.113.7 or 203.0.113.0/24", id="entry-cidr", compact=True)
            with Horizontal(classes="change-field"):
                yield Static("Label", classes="change-label")
                yield Input(placeholder="who or what it is, e.g. Vendor VPN", id="entry-label", compact=True)
            yield Static("", id="entry-error")
            with Horizontal(id="entry-buttons"):
                yield Button("Cancel", id="entry-cancel", compact=True)
                yield Button("Preview", id="entry-preview", variant="primary", compact=True)
            yield KeyBar()

    @on(Input.Submitted, "#entry-cidr")
    @guarded  # it plans, as the preview does: an unexpected error is a line, not the end of the dashboard
    def _cidr_submitted(self, event: Input.Submitted) -> None:
        """On to the label; a refused address is said at once (the preview's Enter comes back to it). Focus
        moves on either way, so a label typed ahead lands in its own field."""
        event.stop()
        label = self.query_one("#entry-label", Input)
        try:
            self.planner(event.value, label.value)
        except InputError as exc:
            if exc.field != "label":
                self._refuse(exc, focus=False)
        label.focus()

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        """A refusal stays only while the value it is about does: once that field is edited it would be stale."""
        about = self._error_about
        if about is not None and event.input.id == about[0] and event.value != about[1]:
            self._refuse(None)

    @on(Input.Submitted, "#entry-label")
    def _label_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_preview()

    @on(Button.Pressed, "#entry-preview")
    def _preview_pressed(self) -> None:
        self.action_preview()

    @on(Button.Pressed, "#entry-cancel")
    def _cancel_pressed(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        self.dismiss(None)

    @guarded
    def action_preview(self) -> None:
        cidr = self.query_one("#entry-cidr", Input).value
        label = self.query_one("#entry-label", Input).value
        try:
            change = self.planner(cidr, label)
        except InputError as exc:
            self._refuse(exc)
            return
        self.dismiss(change)

    def _refuse(self, error: InputError | None, *, focus: bool = True) -> None:
        """Show `error` under the fields and focus the field it is about (None clears it)."""
        self.error = error
        if error is None:
            self._error_about = None
            self.query_one("#entry-error", Static).update("")
            return
        field = self.query_one("#entry-label" if error.field == "label" else "#entry-cidr", Input)
        self._error_about = (field.id or "", field.value)
        text = Text(f"{error.field}: {error.message}", style="bold red")
        if error.hint:
            text.append(f"\n{error.hint}", style="")
        self.query_one("#entry-error", Static).update(text)
        if focus:
            field.focus()
