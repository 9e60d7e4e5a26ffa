"""The read side: one module per system, each returning a `SourceResult` and never raising into the caller.

`monitor.Monitor` runs them; where a source fails, `keep_last_good` keeps its last good data marked stale
(`stale_since`) next to the error, so the screen and `check` still show what was last known.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from goodword_tui.model import SourceResult


def keep_last_good(new: SourceResult[Any], previous: SourceResult[Any] | None) -> SourceResult[Any]:
    """A failed read keeps the previous data, marked stale since the first failure.

    A read that found exactly what the previous one did keeps the previous data *object*: the analysis then
    sees the same object and reuses what it computed from it (`analysis.reuse`), which a quiet platform makes
    the common case. The comparison is by value (a few ms for thousands of rules), so call this off the UI loop.
    """
    if previous is None or previous.data is None:
        return new
    if new.error is None:
        if new.data is not previous.data and new.data == previous.data:
            return dataclasses.replace(new, data=previous.data)
        return new
    since = previous.stale_since or previous.fetched_at
    return dataclasses.replace(new, data=previous.data, stale_since=since)
