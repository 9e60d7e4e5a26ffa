"""UI test fixtures: no cursor blink (snapshots must not depend on timing) and a way to wait for the reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from goodword_tui.monitor import SOURCE_NAMES


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.01)


async def settled(pilot: Pilot) -> None:
    """Every source read once (or more), its view applied, nothing running."""
    app = pilot.app
    await until(
        pilot,
        lambda: all(app.monitor.loaded(s) for s in SOURCE_NAMES) and not app._busy and app.view is not None,  # type: ignore[attr-defined]
        what="all sources loaded",
    )
    await app.workers.wait_for_complete()
    for _ in range(3):  # let tables measure their new rows (done on idle) before anyone looks
        await pilot.pause()
    await asyncio.sleep(0)
