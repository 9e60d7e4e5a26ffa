"""The plain values every face shows: a table's rows, and how fresh a source is.

Split from `views` (which builds the rows from a snapshot and needs the whole analysis) so that the dashboard can
import these at start-up without the analysis: the first frame does not wait for it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from goodword_tui.model import SourceResult

Tone = Literal["ok", "bad", "warn", "muted", ""]

OK_MARK = "✓"
BAD_MARK = "✗"
WARN_MARK = "!"


@dataclass(frozen=True)
class Row:
    """One table row: a stable key, the cells in column order, and what the UI needs around it."""

    key: str
    cells: tuple[str, ...]
    tone: Tone = ""
    refs: frozenset[str] = frozenset()  # ids, names and addresses a finding may name as its resource
    subject: Any = None  # the model object behind the row (detail screen, raw JSON)
    copy: str = ""  # the value `c` copies
    title: str = ""  # how the detail screen names the row
    facts: tuple[tuple[str, str], ...] = ()  # derived attributes shown next to the subject's own


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...] = ()
    empty: str = "nothing to show"
    status_column: int = -1  # the cell that says how the row stands (coloured like the mark)
    # What the rows draw (key, cells, tone), made off the UI thread by `with_look`: the dashboard compares it
    # with what it shows and skips, in one comparison, a refresh that changed nothing it draws (most of them).
    # Empty: not made; the rows are then compared one by one.
    look: tuple[tuple[str, tuple[str, ...], str], ...] = field(default=(), compare=False, repr=False)


def with_look(table: Table) -> Table:
    return dataclasses.replace(table, look=tuple((row.key, row.cells, row.tone) for row in table.rows))


def format_age(seconds: float) -> str:
    """Coarse ages that change rarely, so an idle dashboard over SSH writes next to nothing: <1m, 3m, 2h, 5d.

    Sources are re-read every 30 s by default, so a fresh source always reads "<1m"; seconds would repaint
    the header every tick for no decision anyone takes on them.
    """
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


SourceState = Literal["loading", "ok", "failed", "stale"]


@dataclass(frozen=True)
class SourceStatus:
    """How one source stands: loading, fresh, failed with nothing to show, or failed with older data (stale)."""

    source: str
    state: SourceState
    age: str  # of the data shown ("" when none)
    short: str  # for the header: "aws ✓ 4s", "snowflake ✗ stale 3m"
    line: str  # for the pane: what failed, the hint, how old the data is
    tone: Tone


SOURCE_TITLES = {"aws": "AWS", "snowflake": "Snowflake", "probes": "Probes", "sqlmesh": "SQLMesh"}


def source_status(source: str, result: SourceResult[Any] | None, now: datetime) -> SourceStatus:
    title = SOURCE_TITLES.get(source, source)
    if result is None or (result.data is None and result.error is None):
        return SourceStatus(source, "loading", "", f"{source} …", f"{title}: loading…", "muted")
    data_at = result.stale_since or result.fetched_at
    age = format_age((now - data_at).total_seconds())
    if result.error is None:
        when = "less than a minute ago" if age == "<1m" else f"{age} ago"
        return SourceStatus(source, "ok", age, f"{source} {OK_MARK} {age}", f"{title}: read {when}", "ok")
    error = result.error
    failed_ago = format_age((now - result.fetched_at).total_seconds())
    hint = f" — {error.hint}" if error.hint else ""
    what = f"{title} FAILED {failed_ago} ago ({error.kind.value}): {error.message}{hint}".rstrip(".")
    what += "" if what.endswith(("?", "!")) else "."
    if result.data is not None:
        return SourceStatus(
            source,
            "stale",
            age,
            f"{source} {BAD_MARK} stale {age}",
            f"{what} Showing data from {age} ago (STALE).",
            "bad",
        )
    return SourceStatus(source, "failed", "", f"{source} {BAD_MARK} failed", f"{what} No data yet.", "bad")
