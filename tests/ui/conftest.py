"""UI test fixtures: no cursor blink (snapshots must not depend on timing), a private state directory (the
journal and reports), and a way to wait for the reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from goodword_tui.config import Settings
from goodword_tui.monitor import SOURCE_NAMES


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture(autouse=True)
def private_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The default journal and report folder (the user's state directory) moved under tmp_path: the dashboard
    reads the journal at start, and a test must neither see nor write the user's own."""
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.01)


async def settled(pilot: Pilot, timeout: float = 5.0) -> None:
    """Every source read once (or more), its view applied, nothing running. Against the sandbox, give a longer
    `timeout`: the first read imports boto3 and the Snowflake connector, slow on a busy machine."""
    app = pilot.app
    await until(
        pilot,
        lambda: all(app.monitor.loaded(s) for s in SOURCE_NAMES) and not app._busy and app.view is not None,  # type: ignore[attr-defined]
        timeout,
        what="all sources loaded",
    )
    await app.workers.wait_for_complete()
    for _ in range(3):  # let tables measure their new rows (done on idle) before anyone looks
        await pilot.pause()
    await asyncio.sleep(0)


@pytest.fixture
def scenario(
    load_scenario: Callable[[str], Settings], isolated_aws_env: Path, tmp_path: Path
) -> Callable[[str], Settings]:
    """A scenario on the shared sandbox; its journal under tmp_path (never shared between tests)."""

    def load(name: str) -> Settings:
        settings = load_scenario(name)
        platform = settings.platform.model_copy(update={"journal_path": str(tmp_path / "journal.jsonl")})
        return settings.model_copy(update={"platform": platform})

    return load
