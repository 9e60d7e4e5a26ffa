"""Start-up with Python's cyclic garbage collector paused.

A start imports Textual, pydantic, boto3 and the Snowflake connector, and builds the first screen and the first
reads' rows: hundreds of thousands of objects, nearly all of which live as long as the process. With the collector
on, those allocations set off collections, full ones included, each walking everything allocated so far. On the
`scale` scenario they cost the dashboard 10-80 ms before its first paint, and the dashboard and its reader ~0.2 s
before the panes were filled (alternating runs of both builds). Nothing made during start-up needs collecting that
early, so `pause` is the process's first step (`goodword-tui`, `python -m goodword_tui`, the reader child), and
`resume` ends start-up once the first reads are in: what is alive then is frozen (`gc.freeze`: no later collection
walks it again), after one full collection where that pause is nobody's wait (the reader), and the collector runs
as usual.

Only a process that paused resumes: tests that drive the CLI or the app in the test runner's process leave its
collector alone.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger("goodword_tui.startup")

STARTUP_LIMIT_S = 20.0  # start-up is over by then even if a source has not answered (a hung read, a dead server)

_lock = threading.Lock()
_paused_at: float | None = None


def pause() -> None:
    global _paused_at
    with _lock:
        if _paused_at is None and gc.isenabled():
            gc.disable()
            _paused_at = time.monotonic()


def resume(*, collect: bool = True) -> None:
    """Start-up is over: collect what it left behind (unless `collect` is False), freeze the rest and turn the
    collector back on. Does nothing if this process never paused or has already resumed."""
    global _paused_at
    with _lock:
        if _paused_at is None:
            return
        since, _paused_at = _paused_at, None
        started = time.monotonic()
        found = gc.collect() if collect else 0
        gc.freeze()
        gc.enable()
        log.info(
            "start-up over after %.2fs: collected %d objects in %.0f ms, froze %d, the collector runs again",
            started - since,
            found,
            (time.monotonic() - started) * 1000,
            gc.get_freeze_count(),
        )
