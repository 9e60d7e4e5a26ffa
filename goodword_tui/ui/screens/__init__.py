"""Modal screens: a row's detail, the live help, the why/reach explanation."""

from goodword_tui.ui.screens.detail import DetailScreen
from goodword_tui.ui.screens.help import HelpScreen
from goodword_tui.ui.screens.why import WhyScreen

__all__ = ["DetailScreen", "HelpScreen", "WhyScreen"]
