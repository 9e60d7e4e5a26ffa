"""The live state the faces share: latest result per source, the snapshot built from them, and its findings.

The dashboard refreshes one source at a time (each in its own worker, so a slow source never holds up the others)
and `check` refreshes all at once; both go through `Monitor`, so they agree by construction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from goodword_tui.config import Settings
from goodword_tui.model import Finding, Snapshot, SourceResult
from goodword_tui.sources import keep_last_good

Fetcher = Callable[[Settings], Awaitable[SourceResult[Any]]]
FetcherFactory = Callable[[Settings], tuple[dict[str, Fetcher], Callable[[], None]]]

SOURCE_NAMES = ("aws", "snowflake", "probes", "sqlmesh")


def default_fetchers(settings: Settings) -> tuple[dict[str, Fetcher], Callable[[], None]]:
    """The real sources, and how to release what they hold; imported here so importing this module stays cheap.

    Snowflake reads go through one long-lived gateway (a refresh reuses the session instead of logging in) and
    AWS reads through one set of clients; both start afresh after a failure. SQLMesh reads run on the reader's
    own thread (sqlmesh is imported there, on the first read).
    """
    from goodword_tui.sources.aws import AwsReader
    from goodword_tui.sources.probes import fetch_probes
    from goodword_tui.sources.snowflake import SnowflakeGateway, fetch_snowflake
    from goodword_tui.sources.sqlmesh import SqlMeshReader

    gateway = SnowflakeGateway(settings, read_only=True)
    aws = AwsReader()
    sqlmesh = SqlMeshReader()

    async def snowflake(s: Settings) -> SourceResult[Any]:
        return await fetch_snowflake(s, gateway)

    def release() -> None:
        gateway.close()
        aws.close()
        sqlmesh.close()

    return {"aws": aws, "snowflake": snowflake, "probes": fetch_probes, "sqlmesh": sqlmesh}, release


def _pending(source: str) -> SourceResult[Any]:
    return SourceResult(source=source, fetched_at=datetime.min.replace(tzinfo=UTC))


class Monitor:
    """Holds the newest result of every source; refreshing a source never loses its last good data."""

    def __init__(
        self,
        settings: Settings,
        fetchers: Mapping[str, Fetcher] | None = None,
        *,
        factory: FetcherFactory | None = None,
    ) -> None:
        """`fetchers` fixed (tests), or made by `factory` on first use and again after `close` (default: the
        real sources in this process; the dashboard passes `reader.ReaderProcess.fetchers`)."""
        self.settings = settings
        self._factory: FetcherFactory = factory or default_fetchers
        self._fetchers = dict(fetchers) if fetchers is not None else None
        self._release: Callable[[], None] | None = None
        self._results: dict[str, SourceResult[Any]] = {}
        self._locks = {name: asyncio.Lock() for name in SOURCE_NAMES}

    @property
    def fetchers(self) -> dict[str, Fetcher]:
        if self._fetchers is None:
            self._fetchers, self._release = self._factory(self.settings)
        return self._fetchers

    def close(self) -> None:
        """Release long-lived connections (the Snowflake session)."""
        if self._release is not None:
            self._release()
            self._release = None
            self._fetchers = None  # a later read opens new ones

    def result(self, source: str) -> SourceResult[Any] | None:
        return self._results.get(source)

    def loaded(self, source: str) -> bool:
        return source in self._results

    async def refresh(self, source: str) -> SourceResult[Any]:
        """Read one source; concurrent calls for the same source share one read instead of overlapping."""
        lock = self._locks[source]
        if lock.locked():
            async with lock:
                return self._results[source]
        async with lock:
            fresh = await self.fetchers[source](self.settings)
            merged = await asyncio.to_thread(keep_last_good, fresh, self._results.get(source))
            self._results[source] = merged
            return merged

    async def refresh_all(self) -> Snapshot:
        await asyncio.gather(*(self.refresh(name) for name in SOURCE_NAMES))
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        get = self._results.get
        return Snapshot(
            taken_at=datetime.now(UTC),
            aws=get("aws") or _pending("aws"),
            snowflake=get("snowflake") or _pending("snowflake"),
            probes=get("probes") or _pending("probes"),
            sqlmesh=get("sqlmesh"),
        )

    def findings(self) -> list[Finding]:
        from goodword_tui.analysis.findings import analyze

        return analyze(self.snapshot(), self.settings)
