"""goodword-tui: the on-call console for the Goodword data platform."""

__version__ = "0.1.0"
