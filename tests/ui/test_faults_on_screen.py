"""Issue 6 on screen: with a fault between the dashboard and AWS or Snowflake, the failed source shows its last
good data marked stale with the error, the rest of the screen keeps working and keys answer; when the fault
clears, the next read brings the source back by itself.

The dashboard runs over the sandbox behind its fault proxies (real sources, real clients); the PostgreSQL state
faults are asserted at the source level (tests/sources/test_source_faults.py) because these dashboards leave
SQLMesh out.
"""

from __future__ import annotations

import pytest

from goodword_tui.config import load_settings
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.ui.widgets import SourceLine
from tests.fixtures.platform import FAST_AWS, FAST_SNOWFLAKE, with_timeouts
from tests.ui.conftest import until
from tests.ui.sandbox import LOAD_TIMEOUT_S, REFRESH_TIMEOUT_S, dashboard
from tests.ui.test_dashboard import active_tab, header, table, text_of

# Keys must be handled while a hanging read runs: the test checks that their effect is on screen before the read
# has ended, not how long they took (pilot.press waits for the whole process to go idle, which took over 3 s on a
# slow, loaded machine). Every attempt of a hanging read times out after HANG_TIMEOUT_S.
HANG_TIMEOUT_S = 4.0


@pytest.fixture
def platform(handoff_behind_faults: SandboxPlatform) -> SandboxPlatform:
    return handoff_behind_faults


@pytest.mark.parametrize(
    ("target", "kind", "label", "error_text"),
    [
        ("aws", "expired-token", "AWS", "ExpiredToken"),
        ("aws", "throttle", "AWS", "throttled"),
        ("aws", "http-503", "AWS", "503"),
        ("aws", "hang", "AWS", "timed out"),
        ("snowflake", "http-503", "Snowflake", "503"),
        ("snowflake", "reset", "Snowflake", ""),
        ("snowflake", "hang", "Snowflake", ""),
    ],
)
async def test_a_fault_shows_stale_data_keys_answer_and_the_source_recovers(
    platform: SandboxPlatform, target: str, kind: str, label: str, error_text: str
) -> None:
    aws, snowflake = dict(FAST_AWS), dict(FAST_SNOWFLAKE)
    if kind == "hang":
        aws["read_timeout_s"] = snowflake["network_timeout_s"] = HANG_TIMEOUT_S
    settings = with_timeouts(load_settings(platform.config_path), aws=aws, snowflake=snowflake)
    async with dashboard(settings, reader=True) as (app, pilot):  # as goodword-tui reads: in its reader process
        tab, pane, table_id = (
            ("2", "#pane-network", "route_tables") if target == "aws" else ("3", "#pane-snowflake", "entries")
        )
        await pilot.press(tab)
        # On a slow machine the first read can outrun these short timeouts; the dashboard retries it by itself.
        await until(pilot, lambda: len(table(app, table_id).all_rows) > 0, LOAD_TIMEOUT_S, "the first data")
        rows_before = len(table(app, table_id).all_rows)
        reads = app.refresh_count[target]

        platform.faults[target].set(kind)
        await pilot.press("r")
        await pilot.press("1")
        assert active_tab(app) == "findings"
        await pilot.press(tab)
        assert active_tab(app) == pane.removeprefix("#pane-")
        if kind == "hang":  # the keys were shown while the read still hung, not after it had failed
            assert app.refresh_count[target] == reads, "keys waited for the failing read"

        await until(pilot, lambda: app.refresh_count[target] > reads, REFRESH_TIMEOUT_S, f"the faulted {target} read")
        await pilot.pause()
        line = text_of(app.screen_stack[0].query_one(f"{pane} SourceLine", SourceLine))
        assert f"{label} FAILED" in line and "STALE" in line, line
        assert error_text in line, line
        assert "Traceback" not in line
        assert "✗ STALE" in header(app)
        assert len(table(app, table_id).all_rows) == rows_before, "the last good data stays on screen"
        other = "snowflake" if target == "aws" else "aws"
        assert app.monitor.result(other) is not None and app.monitor.result(other).error is None

        platform.faults[target].clear()
        reads = app.refresh_count[target]
        await pilot.press("r")
        await until(pilot, lambda: app.refresh_count[target] > reads, REFRESH_TIMEOUT_S, f"the {target} read after")
        await pilot.pause()
        line = text_of(app.screen_stack[0].query_one(f"{pane} SourceLine", SourceLine))
        assert "FAILED" not in line and "STALE" not in line, line
        assert "✗" not in header(app)
