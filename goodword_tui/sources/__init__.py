"""The read side: one module per system, each returning a `SourceResult` and never raising into the caller.

`monitor.Monitor` runs them; where a source fails, `keep_last_good` keeps its last good data marked stale
(`stale_since`) next to the error, so the screen and `check` still show what was last known.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from goodword_tui.model import SourceResult


def keep_last_good(new: SourceResult[Any], previous: SourceResult[Any] | None) -> SourceResult[Any]:
    """A failed read keeps the previous data, marked stale since the first failure."""
    if new.error is None or previous is None or previous.data is None:
        return new
    since = previous.stale_since or previous.fetched_at
    return dataclasses.replace(new, data=previous.data, stale_since=since)
