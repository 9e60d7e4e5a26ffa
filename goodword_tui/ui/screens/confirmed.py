"""The steps the SQLMesh write screens share once the operator has seen what will happen: the confirm phrase
typed when the change is dangerous (`prod`), a reason, then the core's `apply_change` on a worker thread, and
the dashboard told of the outcome. The screens differ in what they show before and while it runs."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.screen import ModalScreen
from textual.widgets import Input

from goodword_tui.changes.inputs import InputError, validate_reason


class ConfirmedApplyScreen(ModalScreen[None]):
    """A modal with two hidden fields, `#{FIELDS}-confirm` and `#{FIELDS}-reason`; `ask_to_confirm` starts the
    steps and `start` (the subclass's) receives the reason and the confirmation once both are in."""

    FIELDS: ClassVar[str]  # the fields' id prefix
    NOT_DONE: ClassVar[str]  # how a refusal starts: "Not applied", "Not run"
    DOING: ClassVar[str]  # what the confirm phrase's placeholder says it does: "apply to it", "run it"

    actions: Any  # the SQLMesh actions (`sqlmesh_actions`), whose reader the change reads with
    change: Any  # the Change to apply, set by the subclass once planned
    confirmation = ""

    def ask_to_confirm(self) -> None:
        """The confirm phrase first when the change is dangerous, else straight to the reason."""
        if self.change.dangerous:
            self.ask("confirm", f"type {self.change.confirm_phrase} and Enter to {self.DOING} (Esc: back)")
        else:
            self.ask("reason")

    def ask(self, field: str, placeholder: str = "") -> None:
        """Show one of the two fields, empty and focused, and hide the other."""
        self.hide_fields()
        box = self.query_one(f"#{self.FIELDS}-{field}", Input)
        if placeholder:
            box.placeholder = placeholder
        box.value = ""
        box.display = True
        box.focus()

    def hide_fields(self) -> None:
        for box in self.query(Input):
            box.display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == f"{self.FIELDS}-confirm":
            expected = self.change.confirm_phrase
            if event.value.strip() != expected:
                self.notify(f"{self.NOT_DONE}: type '{expected}' to confirm", severity="warning", timeout=4)
                return
            self.confirmation = expected
            self.ask("reason")
        elif event.input.id == f"{self.FIELDS}-reason":
            try:
                reason = validate_reason(event.value)
            except InputError as error:
                self.notify(f"{self.NOT_DONE}: {error.message}", severity="warning", timeout=5)
                return
            self.hide_fields()
            self.start(reason, self.confirmation if self.change.dangerous else None)

    def start(self, reason: str, confirmation: str | None) -> None:
        raise NotImplementedError

    def apply_watched(self, watch: Any, reason: str, confirmation: str | None) -> Any:
        """On a worker thread: the core applies the change as it does every change (guards, journal,
        verification), `watch` seeing its progress. Returns the ApplyResult, or the exception that stopped it
        (shown in one line; the journal says what was sent, if anything)."""
        from goodword_tui.changes.sqlmesh import use_reader, watched

        try:
            use_reader(self.app.change_context(), self.actions.reader)  # type: ignore[attr-defined]
            return self.app.apply_blocking(  # type: ignore[attr-defined]
                watched(self.change, watch), reason=reason, confirmation=confirmation, lockout_override=None
            )
        except Exception as error:
            return error

    def tell_the_dashboard(self, outcome: Any) -> None:
        applied = getattr(self.app, "changes_applied", None)
        if applied is not None:
            applied(self.change, outcome)
