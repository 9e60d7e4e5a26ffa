"""Snapshot tests (pytest-textual-snapshot): the hand-off and an incident at 80x24 and 160x48.

Deterministic: a frozen clock, fixed ids and data, no cursor blink, no animation. Review a changed picture in
the HTML report before accepting it with `pytest tests/ui --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from goodword_tui.monitor import Monitor
from goodword_tui.ui.app import GoodwordApp
from tests.ui import data
from tests.ui.conftest import settled

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def app_for(fetchers: dict[str, Any], **kwargs: Any) -> GoodwordApp:
    settings = data.settings()
    return GoodwordApp(settings, Monitor(settings, fetchers), lambda: data.NOW, watch_terminal=False, **kwargs)


async def jump_to_the_missing_route(pilot: Pilot) -> None:
    """The on-call path: the findings, Enter on the missing route, the route table with its evidence."""
    await settled(pilot)
    await pilot.press("enter")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_handoff(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(data.handoff_fetchers()), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_incident_findings(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(data.incident_fetchers()), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_incident_jump_to_route_table(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(data.incident_fetchers()), terminal_size=size, run_before=jump_to_the_missing_route)


def test_incident_snowflake_read_only_no_color(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR and read-only: every state must still read in words and marks."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def snowflake_tab(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("3")

    app = app_for(data.incident_fetchers(), read_only=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=snowflake_tab)
