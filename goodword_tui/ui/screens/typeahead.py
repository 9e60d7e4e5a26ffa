"""Modal screens with a text field that must receive every key typed after the one that opened them.

Textual routes a key to the widget focused when the key is read, not when it is handled. Keys typed (or pasted)
right after `w` are read before the new screen has composed its field and given it the focus, so they reach the
screen itself, where an unhandled `q` would quit the app. This screen hands such characters to its field.
"""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.screen import ModalScreen
from textual.widgets import Input

ResultT = TypeVar("ResultT")


class TypeAheadScreen(ModalScreen[ResultT]):
    """A modal whose text field takes the printable keys that reach the screen.

    `TYPE_AHEAD_ALWAYS`: also when another widget of the screen has the focus (a screen whose only other widget
    is a read-only answer); otherwise only while nothing, or a field, has the focus.
    """

    TYPE_AHEAD_ALWAYS = False

    def type_ahead_target(self) -> Input | None:
        """The field that takes stray characters: the focused one, else the first enabled one."""
        if isinstance(self.focused, Input):
            return self.focused
        if self.focused is not None and not self.TYPE_AHEAD_ALWAYS:
            return None
        return next((field for field in self.query(Input) if not field.disabled), None)

    def on_key(self, event: events.Key) -> None:
        if not event.is_printable or event.character is None:
            return
        target = self.type_ahead_target()
        if target is None:
            return
        event.stop()
        event.prevent_default()
        target.insert_text_at_cursor(event.character)
        if self.focused is not target:
            self.set_focus(target)
