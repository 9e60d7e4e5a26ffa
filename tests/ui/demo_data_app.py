"""Run the dashboard on the hand-built data, to try it as a person would (tmux, a real terminal).

    python -m tests.ui.demo_data_app [handoff|incident|flaky] [--read-only] [--live-clock]

`flaky`: the Snowflake source fails on its second read and recovers on the fourth (refresh with `r`).
"""

from __future__ import annotations

import sys

from goodword_tui.model import ErrorKind
from goodword_tui.monitor import Monitor
from goodword_tui.ui.app import GoodwordApp
from tests.ui import data


def build_app(scenario: str = "handoff", *, read_only: bool = False, live_clock: bool = False) -> GoodwordApp:
    settings = data.settings(refresh_interval_s=30)
    fetchers = data.incident_fetchers() if scenario == "incident" else data.handoff_fetchers()
    if scenario == "flaky":
        good = data.ok("snowflake", data.handoff_snowflake())
        bad = data.failed("snowflake", ErrorKind.AUTH, "login refused (390422)", "is your address allowed?")
        fetchers["snowflake"] = data.Scripted(good, data.stale(good, bad), data.stale(good, bad), good)
    if live_clock:
        for fetcher in fetchers.values():
            fetcher.live = True
    clock = None if live_clock else (lambda: data.NOW)
    return GoodwordApp(settings, Monitor(settings, fetchers), clock, read_only=read_only)


if __name__ == "__main__":
    args = sys.argv[1:]
    name = next((a for a in args if not a.startswith("--")), "handoff")
    app = build_app(name, read_only="--read-only" in args, live_clock="--live-clock" in args)
    app.run()
