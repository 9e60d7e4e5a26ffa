"""Monitor: one read per source at a time, and a failed read keeps the last good data marked stale."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from goodword_tui.config import Settings, load_settings
from goodword_tui.model import ErrorKind, SourceError, SourceResult
from goodword_tui.monitor import Monitor

CONFIG = Path(__file__).resolve().parents[1] / "config.toml"


def settings() -> Settings:
    return load_settings(CONFIG)


class Scripted:
    """A source that answers from a script: data, or an error, one entry per read."""

    def __init__(self, name: str, script: list[object]) -> None:
        self.name, self.script, self.calls = name, list(script), 0

    async def __call__(self, _: Settings) -> SourceResult[object]:
        self.calls += 1
        await asyncio.sleep(0.01)
        item = self.script.pop(0)
        now = datetime.now(UTC)
        if isinstance(item, SourceError):
            return SourceResult(self.name, now, error=item)
        return SourceResult(self.name, now, data=item)


def monitor_with(aws: Scripted) -> Monitor:
    fetchers = {"aws": aws, "snowflake": Scripted("snowflake", [None] * 5), "probes": Scripted("probes", [()] * 5)}
    return Monitor(settings(), fetchers)


async def test_a_failed_read_keeps_the_last_good_data_marked_stale() -> None:
    down = SourceError("aws", ErrorKind.TIMEOUT, "timed out", "")
    aws = Scripted("aws", ["first", down, down, "recovered"])
    monitor = monitor_with(aws)
    good = await monitor.refresh("aws")
    assert good.data == "first" and good.stale_since is None
    stale = await monitor.refresh("aws")
    assert stale.data == "first" and stale.error == down and stale.stale_since == good.fetched_at
    still = await monitor.refresh("aws")
    assert still.stale_since == good.fetched_at  # stale since the first failure, not the latest
    back = await monitor.refresh("aws")
    assert back.data == "recovered" and back.error is None and back.stale_since is None


async def test_concurrent_refreshes_of_one_source_share_one_read() -> None:
    aws = Scripted("aws", ["only"])
    monitor = monitor_with(aws)
    results = await asyncio.gather(*(monitor.refresh("aws") for _ in range(5)))
    assert aws.calls == 1
    assert all(r.data == "only" for r in results)


async def test_the_snapshot_has_a_pending_result_for_a_source_not_yet_read() -> None:
    monitor = monitor_with(Scripted("aws", ["x"]))
    snap = monitor.snapshot()
    assert snap.aws.data is None and snap.aws.error is None
    assert not monitor.loaded("aws")


async def test_a_read_that_found_the_same_data_keeps_the_previous_object() -> None:
    first, same, changed = ["sg-1", "sg-2"], ["sg-1", "sg-2"], ["sg-1"]
    aws = Scripted("aws", [first, same, changed])
    monitor = monitor_with(aws)
    one = await monitor.refresh("aws")
    two = await monitor.refresh("aws")
    assert two.data is one.data  # equal by value: the analysis can reuse what it computed from it
    assert two.fetched_at > one.fetched_at  # the read itself is still new
    three = await monitor.refresh("aws")
    assert three.data == ["sg-1"] and three.data is not one.data
