"""The preview-and-confirm screen every change goes through: `f` on a finding, a batch of marked findings, an
entry added or removed on the Snowflake pane, an undo from the journal.

It shows exactly what will be sent (the SQL statement, or the AWS operation and its parameters), the target
before and after as a diff, why the change is dangerous and whether it would lock someone out. It asks for a
reason (journaled), a typed confirmation for dangerous changes (and for every batch), and the lockout override
when the guard refuses. Cancel has the focus; Apply runs the core's `apply_change` / `apply_batch` in a thread
and shows what happened. The guards themselves live below the UI: this screen only collects what they ask for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from goodword_tui.changes.base import Batch, Change, DiffLine, Intent
from goodword_tui.changes.guards import LOCKOUT_OVERRIDE_PHRASE
from goodword_tui.changes.inputs import InputError
from goodword_tui.ui.guard import guarded, log, one_line
from goodword_tui.ui.widgets import KeyBar

if TYPE_CHECKING:
    from goodword_tui.changes.apply import ApplyResult, BatchResult

Subject = Change | Batch
Outcome = Any  # ApplyResult | BatchResult | Exception (an unexpected error, shown in one line)

DIFF_STYLE = {"+": "green", "-": "red", " ": "dim"}
STATUS_WORDS = {
    "applied": ("APPLIED ✓", "bold green"),
    "already_done": ("ALREADY DONE ✓", "bold green"),
    "unknown": ("OUTCOME UNKNOWN ?", "bold yellow"),
    "verify_failed": ("SENT, NOT VERIFIED ✗", "bold red"),
    "failed": ("FAILED ✗", "bold red"),
    "refused": ("REFUSED ✗", "bold red"),
    "conflict": ("CONFLICT ✗", "bold red"),
}


class ChangeRunner(Protocol):
    """What the screen needs from the app: the mode, a blocking apply, and a hook to refresh what changed."""

    read_only: bool

    def apply_blocking(
        self, subject: Subject, *, reason: str, confirmation: str | None, lockout_override: str | None
    ) -> ApplyResult | BatchResult: ...

    def changes_applied(self, subject: Subject, outcome: ApplyResult | BatchResult) -> None: ...


def changes_of(subject: Subject) -> tuple[Change, ...]:
    return subject.changes if isinstance(subject, Batch) else (subject,)


def confirm_phrase(subject: Subject) -> str:
    """What must be typed: a dangerous change's phrase; every batch is confirmed, dangerous or not."""
    if isinstance(subject, Batch):
        return subject.confirm_phrase
    return subject.confirm_phrase if subject.dangerous else ""


# --------------------------------------------------------------------------------------------------------------
# Rendering (pure: Text out, no Textual state)


def request_text(change: Change) -> Text:
    """The exact request: the SQL statement whole, or the AWS operation with its parameters as JSON."""
    text = Text()
    payload = change.request.to_json()
    if payload.get("type") == "sql":
        text.append("  SQL  ", style="bold")
        text.append(str(payload["sql"]) + "\n")
    elif payload.get("type") == "api":
        text.append(f"  AWS {payload['service']} {payload['operation']}\n", style="bold")
        params = json.dumps(payload["params"], indent=2, sort_keys=True)
        text.append("".join(f"    {line}\n" for line in params.splitlines()))
    else:  # another system's request (a SQLMesh plan ...): its own words
        text.append("".join(f"  {line}\n" for line in change.request.text().splitlines()))
    return text


def diff_text(lines: Sequence[DiffLine], indent: str = "  ") -> Text:
    text = Text()
    for line in lines:
        text.append(f"{indent}{line}\n", style=DIFF_STYLE.get(line.op, ""))
    return text


def change_text(change: Change, *, number: int | None = None) -> Text:
    """One change: description, the warnings (first, so a small terminal shows them), the request, the
    before → after diff, notes."""
    text = Text()
    prefix = f"[{number}] " if number is not None else ""
    text.append(f"{prefix}{change.description}\n", style="bold")
    if change.danger_reasons:
        text.append(f"DANGEROUS — type {change.confirm_phrase!r} to confirm:\n", style="bold red")
        text.append("".join(f"  • {reason}\n" for reason in change.danger_reasons))
    if change.locks_out and change.lockout is not None:
        text.append(f"LOCKOUT — refused unless you type {LOCKOUT_OVERRIDE_PHRASE!r}:\n", style="bold red")
        text.append("".join(f"  {line}\n" for line in change.lockout.explain().splitlines()))
    text.append("\nSends exactly:\n", style="underline")
    text.append_text(request_text(change))
    text.append(f"\n{change.before.kind.replace('_', ' ')} {change.target}, before → after:\n", style="underline")
    text.append_text(diff_text(change.diff))
    for note in change.notes:
        text.append(f"\nNote: {note}\n", style="italic")
    return text


def preview_text(subject: Subject, refused: Sequence[tuple[Intent, InputError]] = ()) -> Text:
    """The whole preview: one change, or every change of a batch in the order they will be applied."""
    text = Text()
    if isinstance(subject, Batch):
        count = len(subject.changes)
        text.append(
            f"{count} change{'s' if count != 1 else ''}, applied in this order; the batch stops at the first "
            "that is not applied.\n",
            style="bold",
        )
        for number, change in enumerate(subject.changes, 1):
            text.append("\n")
            text.append_text(change_text(change, number=number))
    else:
        text.append_text(change_text(subject))
    if refused:
        text.append("\nLeft out (could not be planned):\n", style="bold yellow")
        for intent, error in refused:
            hint = f" — {error.hint}" if error.hint else ""
            text.append(f"  • {intent.action}: {error.message}{hint}\n")
    return text


def result_text(result: ApplyResult) -> Text:
    """What happened to one change: the status in words, the message, and the evidence."""
    text = Text()
    word, style = STATUS_WORDS.get(result.status.value, (result.status.value.upper(), "bold"))
    text.append(word, style=style)
    if result.refused_by:
        text.append(f" (by the {result.refused_by.replace('_', '-')} guard)", style=style)
    text.append(f"  {result.message}\n")
    verification = result.verification
    if verification is not None and verification.observed is not None and result.status.value != "applied":
        text.append("The target as re-read:\n", style="underline")
        text.append("".join(f"  {line}\n" for line in verification.observed.lines))
    if result.conflict:
        text.append("The target changed since the preview (preview → now):\n", style="underline")
        text.append_text(diff_text(result.conflict))
        if result.rebuilt is not None:
            text.append("The same change planned on the target as it is now is ready: ", style="bold")
            text.append("press “Preview again” to review it.\n")
    if result.entry_id:
        text.append(f"Journal entry {result.entry_id}.", style="dim")
        if result.upload is not None:
            text.append(f" {result.upload.uri or result.upload.message}", style="dim")
        text.append("\n")
    return text


def batch_result_text(result: BatchResult) -> Text:
    text = Text()
    ok = result.ok
    text.append("APPLIED ✓" if ok else "NOT ALL APPLIED ✗", style="bold green" if ok else "bold red")
    text.append(f"  {result.message}\n")
    if result.applied:
        text.append("Applied:\n", style="underline")
        text.append("".join(f"  ✓ {c.description}\n" for c in result.applied))
    if result.not_applied:
        text.append("Not applied:\n", style="underline")
        text.append("".join(f"  ✗ {c.description}\n" for c in result.not_applied))
    for number, item in enumerate(result.results, 1):
        text.append(f"\n[{number}] ", style="bold")
        text.append_text(result_text(item))
    return text


# --------------------------------------------------------------------------------------------------------------
# The screen


class ChangeScreen(ModalScreen[None]):
    """Review, give a reason, confirm, apply; Escape (or Cancel, focused at first) leaves without sending."""

    AUTO_FOCUS = "#change-cancel"
    BINDINGS = [
        Binding("escape", "close", "Cancel", id="change-close"),
        # The preview scrolls whatever has the focus (the fields and buttons do not use these keys).
        Binding("pagedown", "scroll_preview(1)", "Scroll", key_display="PgDn/PgUp", id="change-scroll"),
        Binding("pageup", "scroll_preview(-1)", "Scroll up", show=False, id="change-scroll-up"),
        Binding("down", "scroll_preview(0.2)", show=False, id="change-scroll-line"),
        Binding("up", "scroll_preview(-0.2)", show=False, id="change-scroll-line-up"),
    ]

    SCOPED_CSS = False  # the app's -wide class (an ancestor) sizes the box
    DEFAULT_CSS = """
    ChangeScreen {
        align: center middle;
    }
    #change-box {
        width: 100%;
        height: 100%;
    }
    .-wide #change-box {
        width: 80%;
        height: 90%;
    }
    #change-body {
        height: 1fr;
    }
    #change-error {
        height: auto;
        max-height: 4;
    }
    .change-field {
        height: 1;
        margin-top: 1;
    }
    .change-label {
        width: 20;
        text-style: bold;
    }
    .change-field Input {
        width: 1fr;
    }
    #change-buttons {
        height: 1;
        margin-top: 1;
    }
    #change-buttons Button {
        margin-right: 2;
    }
    """

    def __init__(
        self,
        subject: Subject,
        *,
        title: str = "",
        refused: Sequence[tuple[Intent, InputError]] = (),
        reason: str = "",
    ) -> None:
        super().__init__()
        self.subject = subject
        self.heading = title
        self.refused = list(refused)
        self.reason = reason
        self.busy = False  # an apply is running in its thread
        self.finished = False  # something was sent (or the target moved): this preview cannot be applied again
        self.outcome: Outcome = None
        self.rebuilt: Change | None = None

    @property
    def runner(self) -> ChangeRunner:
        return cast(ChangeRunner, self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.app.check_action(action, parameters)

    def compose(self) -> ComposeResult:
        subject = self.subject
        phrase = confirm_phrase(subject)
        locks_out = any(c.locks_out for c in changes_of(subject))
        title = self.heading or ("Review the batch" if isinstance(subject, Batch) else "Review the change")
        mode = "READ-ONLY: nothing can be applied" if self.runner.read_only else "nothing is sent before Apply"
        with Vertical(id="change-box", classes="modal-box"):
            yield Static(Text(f"{title}  ({mode})", style="bold"), classes="modal-title")
            with VerticalScroll(id="change-body", can_focus=False):
                yield Static(preview_text(subject, self.refused), id="change-preview")
                yield Static("", id="change-result")
            error = Static("", id="change-error")
            error.display = False  # shown with a refusal's message
            yield error
            with Horizontal(classes="change-field"):
                yield Static("Reason", classes="change-label")
                yield Input(
                    value=self.reason,
                    placeholder="required, recorded in the journal, e.g. INC-4711 Airbyte syncs refused",
                    id="change-reason",
                    compact=True,
                )
            with Horizontal(classes="change-field", id="change-confirm-field") as field:
                field.display = bool(phrase)
                yield Static("Confirm", classes="change-label")
                yield Input(placeholder=f"type {phrase} to confirm", id="change-confirm", compact=True)
            with Horizontal(classes="change-field", id="change-override-field") as field:
                field.display = locks_out
                yield Static("Lockout override", classes="change-label")
                yield Input(
                    placeholder=f"type {LOCKOUT_OVERRIDE_PHRASE!r} to apply although it locks out",
                    id="change-override",
                    compact=True,
                )
            with Horizontal(id="change-buttons"):
                yield Button("Cancel", id="change-cancel", compact=True)
                yield Button("Apply", id="change-apply", variant="error" if phrase else "primary", compact=True)
                rebuilt = Button("Preview again", id="change-rebuilt", compact=True)
                rebuilt.display = False
                yield rebuilt
            yield KeyBar()

    # -- input ----------------------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        """Enter in a field moves on (to the next visible field, then to Apply); it never applies by itself."""
        event.stop()
        self.focus_next()

    @on(Button.Pressed, "#change-cancel")
    def _cancel_pressed(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#change-apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#change-rebuilt")
    async def _rebuilt_pressed(self) -> None:
        await self.preview_rebuilt()

    def action_scroll_preview(self, pages: float) -> None:
        body = self.query_one("#change-body", VerticalScroll)
        step = max(1, int(body.size.height * abs(pages)) - (1 if abs(pages) >= 1 else 0))
        body.scroll_relative(y=step if pages > 0 else -step, animate=False)

    def action_close(self) -> None:
        if self.busy:
            self.notify("Applying: wait for the result (it is journaled either way).", timeout=4)
            return
        self.dismiss(None)

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def _show_error(self, message: str, focus: str | None = None) -> None:
        error = self.query_one("#change-error", Static)
        error.update(Text(message, style="bold red"))
        error.display = True
        if focus is not None:
            self.query_one(focus, Input).focus()

    @guarded
    def action_apply(self) -> None:
        if self.busy or self.finished:
            return
        reason = self._value("#change-reason")
        phrase = confirm_phrase(self.subject)
        confirmation = self._value("#change-confirm") if phrase else None
        override_field = self.query_one("#change-override-field")
        override = self._value("#change-override") if override_field.display else None
        if isinstance(self.subject, Batch):
            # A batch is checked here as a whole; a single change's reason and phrase are checked by the core.
            from goodword_tui.changes.inputs import validate_reason

            try:
                validate_reason(reason)
            except InputError as exc:
                self._show_error(str(exc), "#change-reason")
                return
            if confirmation != phrase:
                self._show_error(f"Type {phrase!r} to confirm the batch.", "#change-confirm")
                return
        self.busy = True
        self.query_one("#change-apply", Button).disabled = True
        self.query_one("#change-error", Static).display = False
        self.query_one("#change-result", Static).update(
            Text("Applying: re-reading the target, sending, verifying…", style="bold")
        )
        self._apply(reason, confirmation, override)

    @work(thread=True, exclusive=True, group="apply-change", exit_on_error=False)
    def _apply(self, reason: str, confirmation: str | None, override: str | None) -> None:
        """In a thread: the core's guards, send, verify, journal. Whatever happens comes back as one outcome."""
        outcome: Outcome
        try:
            outcome = self.runner.apply_blocking(
                self.subject, reason=reason, confirmation=confirmation, lockout_override=override
            )
        except Exception as exc:  # the core returns its failures; this is a bug, reported not raised
            log.error("applying a change failed unexpectedly", exc_info=exc)
            outcome = exc
        try:
            self.app.call_from_thread(self.show_outcome, outcome)
        except RuntimeError:  # the app is closing; the journal has the result
            log.info("the app closed before the outcome could be shown")

    # -- the outcome ------------------------------------------------------------------------------------------

    @guarded
    def show_outcome(self, outcome: Outcome) -> None:
        from goodword_tui.changes.apply import ApplyResult, ApplyStatus, BatchResult

        self.busy = False
        self.outcome = outcome
        result = self.query_one("#change-result", Static)
        apply_button = self.query_one("#change-apply", Button)
        if isinstance(outcome, Exception):
            result.update(Text(f"Unexpected error: {one_line(outcome)} (details in the log)", style="bold red"))
            apply_button.disabled = False
            return
        if isinstance(outcome, BatchResult):
            result.update(batch_result_text(outcome))
            self.finished = bool(outcome.results)  # nothing tried: the confirmation can be typed again
            if outcome.results:
                self.runner.changes_applied(self.subject, outcome)
            else:
                self._show_error(outcome.message, "#change-confirm")
        elif isinstance(outcome, ApplyResult):
            result.update(result_text(outcome))
            status = outcome.status
            sent = bool(outcome.entry_id)
            self.finished = (
                sent or status in (ApplyStatus.CONFLICT, ApplyStatus.APPLIED) or (outcome.refused_by == "read_only")
            )
            if sent or status is ApplyStatus.CONFLICT:
                self.runner.changes_applied(self.subject, outcome)
            if status is ApplyStatus.REFUSED:
                self._refused(outcome)
            if status is ApplyStatus.CONFLICT and outcome.rebuilt is not None:
                self.rebuilt = outcome.rebuilt
                button = self.query_one("#change-rebuilt", Button)
                button.display = True
                button.focus()
        apply_button.disabled = self.finished
        if self.finished:
            apply_button.display = False
            self.query_one("#change-cancel", Button).label = "Close"
            if self.rebuilt is None:
                self.query_one("#change-cancel", Button).focus()
        self.query_one("#change-body", VerticalScroll).scroll_end(animate=False)

    def _refused(self, outcome: ApplyResult) -> None:
        """Point at the field the guard wants filled in."""
        by = outcome.refused_by
        if by == "reason":
            self._show_error(outcome.message, "#change-reason")
        elif by == "confirmation":
            self._show_error(outcome.message, "#change-confirm")
        elif by == "lockout":
            self.query_one("#change-override-field").display = True
            self._show_error(outcome.message, "#change-override")
        else:
            self._show_error(outcome.message)

    async def preview_rebuilt(self) -> None:
        """After a conflict: the same intent planned on the target as it is now, reviewed from the start."""
        if self.rebuilt is None:
            return
        self.reason = self._value("#change-reason")
        self.subject, self.rebuilt = self.rebuilt, None
        self.finished = False
        self.outcome = None
        await self.recompose()
        self.query_one("#change-cancel", Button).focus()
