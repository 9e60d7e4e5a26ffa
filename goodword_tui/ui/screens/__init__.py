"""Modal screens: a row's detail, the live help, the why/reach explanation, a change's preview and confirmation,
the add-entry form, the journal."""

from goodword_tui.ui.screens.change import ChangeScreen
from goodword_tui.ui.screens.detail import DetailScreen
from goodword_tui.ui.screens.entry import EntryScreen
from goodword_tui.ui.screens.help import HelpScreen
from goodword_tui.ui.screens.journal import JournalScreen
from goodword_tui.ui.screens.why import WhyScreen

__all__ = ["ChangeScreen", "DetailScreen", "EntryScreen", "HelpScreen", "JournalScreen", "WhyScreen"]
