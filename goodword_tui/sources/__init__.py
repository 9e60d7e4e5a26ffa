"""The read side: one module per system, each returning a `SourceResult` and never raising into the caller.

`collect_snapshot` runs every source concurrently and, where a source fails, keeps its last good data marked
stale (`stale_since`) next to the error, so the screen and `check` still show what was last known.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

from goodword_tui.config import Settings
from goodword_tui.model import Snapshot, SourceResult


def keep_last_good(new: SourceResult[Any], previous: SourceResult[Any] | None) -> SourceResult[Any]:
    """A failed read keeps the previous data, marked stale since the first failure."""
    if new.error is None or previous is None or previous.data is None:
        return new
    since = previous.stale_since or previous.fetched_at
    return dataclasses.replace(new, data=previous.data, stale_since=since)


async def collect_snapshot(settings: Settings, previous: Snapshot | None = None) -> Snapshot:
    """Read AWS, Snowflake and the probes at once; the slowest source sets the wall time."""
    from goodword_tui.sources.aws import fetch_aws
    from goodword_tui.sources.probes import fetch_probes
    from goodword_tui.sources.snowflake import fetch_snowflake

    aws, snowflake, probes = await asyncio.gather(
        fetch_aws(settings), fetch_snowflake(settings), fetch_probes(settings)
    )
    if previous is not None:
        aws = keep_last_good(aws, previous.aws)
        snowflake = keep_last_good(snowflake, previous.snowflake)
        probes = keep_last_good(probes, previous.probes)
    return Snapshot(taken_at=datetime.now(UTC), aws=aws, snowflake=snowflake, probes=probes)
