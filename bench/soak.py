"""A bounded soak: the dashboard runs for minutes while the sandbox's faults switch on and off at random.

The sandbox runs in its own process (`goodword-tui sandbox serve`, its endpoints behind fault proxies); the
dashboard runs in this one, headless, at 160x48, refreshing every few seconds, while a pilot presses keys and
times them. Faults are switched through the sandbox's control endpoint, as `goodword-tui sandbox fault` does.
At the end every fault is cleared and each source must come back by itself. Printed as JSON:

- `refreshes`: source reads completed, per source
- `fault_episodes` / `faults_survived`: faults switched on; those the dashboard came through (still answering
  keys during the fault, no crash)
- `crashes` (must be 0): the app ended, or our own code logged an error (a worker or callback that raised)
- `stuck_workers` (must be 0): sources with no successful read within `--recover` seconds after the last clear
- `key_latency_ms`: a key reaching the app → the first frame that shows its effect (the tab switched, the
  cursor moved), p50/p95/max (target p95 <= 50 ms). Headless: the frame is composed but not turned into terminal
  bytes (`bench/dashboard.py` times that on a real terminal). Keys that change nothing (down on the last row)
  are pressed but not timed.
- `key_idle_ms`: the same key → the pilot's "idle" (no work left in the whole process, threads included, for
  20 ms): an upper bound, what this bench reported before `key_latency_ms`
- `rss_mb`: at start (every source loaded, after a warm-up) and at the end, and the growth (must stay under 10 %);
  `reader_rss_mb`: the same for the child process that reads the sources, and how often it was restarted

The dashboard is built as `goodword-tui` builds it (`ui.app.dashboard_app`: reads in a child process, heap
frozen); `GOODWORD_TUI_READER=inline` reads in this process instead, for comparison.

Run: `python bench/soak.py [--minutes 10] [--refresh 3] [--seed 1]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import latency_summary
from goodword_tui.cli import SandboxProcess
from goodword_tui.config import parse_settings
from goodword_tui.sandbox.faults import send_control

# What the soak switches on, per target (a subset of what the proxies offer that a real outage looks like).
FAULTS: dict[str, tuple[str, ...]] = {
    "aws": ("latency", "hang", "reset", "http-500", "http-503", "throttle", "expired-token"),
    "snowflake": ("latency", "hang", "reset", "http-503", "session-expired", "token-expired", "login-refused"),
    "state": ("latency", "hang", "reset", "down"),
}
SOURCES = ("aws", "snowflake", "probes", "sqlmesh")
KEYS = ("down", "down", "up", "2", "3", "1", "down", "up")
KEY_CHARACTERS = {"1": "1", "2": "2", "3": "3"}
KEY_LIMIT_S = 2.0


class FrameClock:
    """When each frame was composed and what it showed: the screen, the tab, the focused widget and its cursor
    row. A key's latency is the time to the first frame showing a state other than the one before the key."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.frames: list[tuple[float, tuple[Any, ...]]] = []
        display = app._display  # the one place every frame passes; wrapped on this instance only

        def timed(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and not app._batch_count:
                self.frames.append((time.perf_counter(), self.state()))
                del self.frames[:-50]

        app._display = timed

    def state(self) -> tuple[Any, ...]:
        from goodword_tui.ui.widgets import TabStrip

        screen = self.app.screen
        tabs = next(iter(screen.query(TabStrip)), None)
        focused = screen.focused
        return (id(screen), tabs.active if tabs else None, id(focused), getattr(focused, "cursor_row", None))

    def changes(self, key: str) -> bool:
        """Whether `key` would change what is shown (a cursor at the end of its table does not move)."""
        tabs, focused = self.state()[1], self.app.screen.focused
        if key in KEY_CHARACTERS:
            return tabs != {"1": "findings", "2": "network", "3": "snowflake"}[key]
        row, count = getattr(focused, "cursor_row", None), getattr(focused, "row_count", 0)
        if row is None:
            return False
        return (row + 1 < count) if key == "down" else row > 0

    async def press(self, key: str) -> float | None:
        """Post `key` as a terminal would and wait for the frame that shows it; None when it changes nothing."""
        from textual import events

        counts = self.changes(key)
        before = self.state()
        started = time.perf_counter()
        self.app.post_message(events.Key(key, KEY_CHARACTERS.get(key)))
        while counts and time.perf_counter() - started < KEY_LIMIT_S:
            await asyncio.sleep(0.002)
            shown = next((t for t, state in self.frames if t > started and state != before), None)
            if shown is not None:
                return (shown - started) * 1000
        return KEY_LIMIT_S * 1000 if counts else None


def rss_mb(pid: int | str | None = "self") -> float:
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def summary(latencies: list[float], pressed: int) -> dict[str, float]:
    return {"pressed": pressed, "timed": len(latencies), **latency_summary(latencies)}


def soak_settings(config_path: Path, refresh_s: float) -> Any:
    """The sandbox's config with a short refresh and short timeouts, so faults bite and clear quickly."""
    data = tomllib.loads(config_path.read_text())
    data.setdefault("platform", {})["refresh_interval_s"] = refresh_s
    data.setdefault("aws", {}).update(connect_timeout_s=1.0, read_timeout_s=3.0)
    data.setdefault("snowflake", {}).update(login_timeout_s=3.0, network_timeout_s=3.0)
    data.setdefault("sqlmesh", {}).update(connect_timeout_s=1.0, timeout_s=10.0)
    return parse_settings(data, source=config_path)


async def soak(args: argparse.Namespace, state_dir: Path, config_path: Path) -> dict[str, Any]:
    from goodword_tui.logs import configure_logging
    from goodword_tui.reader import ReaderProcess, reads_in_process
    from goodword_tui.ui.app import dashboard_app

    log_file = configure_logging()
    rng = random.Random(args.seed)
    settings = soak_settings(config_path, args.refresh)
    reader = None if reads_in_process() else ReaderProcess(settings)
    if reader is not None:
        reader.start()
    app = dashboard_app(settings, reader=reader, watch_terminal=False)
    latencies: list[float] = []
    idle_latencies: list[float] = []
    pressed = 0
    episodes: list[dict[str, Any]] = []
    started = time.monotonic()
    async with app.run_test(size=(160, 48)) as pilot:
        clock = FrameClock(app)
        # RSS is taken once every source has answered and a warm-up has run (sqlmesh loads after the panes).
        while not all(app.monitor.loaded(s) for s in SOURCES) and time.monotonic() - started < 120:
            await pilot.pause(0.2)
        warm_until = time.monotonic() + args.warmup
        while time.monotonic() < warm_until:
            await pilot.press(KEYS[int(time.monotonic() * 10) % len(KEYS)])
            await pilot.pause(0.3)
        rss_start, reader_start = rss_mb(), rss_mb(reader.pid if reader else None)
        deadline = time.monotonic() + args.minutes * 60
        active: tuple[str, str] | None = None
        switch_at = time.monotonic() + rng.uniform(5, 15)
        episode_slow = 0
        while time.monotonic() < deadline and app.is_running:
            if time.monotonic() >= switch_at:
                if active is not None:
                    await asyncio.to_thread(send_control, state_dir, active[0], "clear")
                    episodes[-1]["slow_keys"] = episode_slow
                    active = None
                    switch_at = time.monotonic() + rng.uniform(5, 15)  # healthy for a while
                else:
                    target = rng.choice(sorted(FAULTS))
                    kind = rng.choice(FAULTS[target])
                    await asyncio.to_thread(send_control, state_dir, target, kind)
                    active, episode_slow = (target, kind), 0
                    episodes.append({"target": target, "kind": kind, "at_s": round(time.monotonic() - started, 1)})
                    switch_at = time.monotonic() + rng.uniform(10, 30)
            key = KEYS[pressed % len(KEYS)]
            pressed += 1
            t0 = time.perf_counter()
            elapsed = await clock.press(key)
            await pilot.pause()
            idle_latencies.append((time.perf_counter() - t0) * 1000)
            if elapsed is not None:
                latencies.append(elapsed)
                if active is not None and elapsed > 1000:
                    episode_slow += 1
            await pilot.pause(rng.uniform(0.2, 0.6))
        if active is not None:
            episodes[-1]["slow_keys"] = episode_slow
        alive = app.is_running
        # Everything healthy again: every source must come back by itself (no `r`).
        await asyncio.to_thread(send_control, state_dir, "aws", "clear")
        await asyncio.to_thread(send_control, state_dir, "snowflake", "clear")
        await asyncio.to_thread(send_control, state_dir, "state", "clear")
        cleared = datetime.now(UTC)
        recover_by = time.monotonic() + args.recover

        def recovered(source: str) -> bool:
            result = app.monitor.result(source)
            return result is not None and result.error is None and result.fetched_at >= cleared

        while time.monotonic() < recover_by and not all(recovered(s) for s in SOURCES):
            await pilot.pause(0.5)
        stuck = [s for s in SOURCES if not recovered(s)]
        refreshes = dict(app.refresh_count)
        rss_end, reader_end = rss_mb(), rss_mb(reader.pid if reader else None)
        await pilot.press("q")
    log_text = log_file.read_text() if log_file is not None and log_file.exists() else ""
    # A crash is the app ending, or an error our own code logged (a worker or callback that raised, an unhandled
    # thread or loop exception: all logged by goodword_tui.ui). The connector logs its own network errors with
    # tracebacks at ERROR; under faults those are expected and are not crashes.
    crashes = (0 if alive else 1) + len(re.findall(r" (?:ERROR|CRITICAL) goodword_tui", log_text))
    survived = sum(1 for e in episodes if e.get("slow_keys", 0) == 0) if alive else 0
    return {
        "benchmark": "soak",
        "minutes": args.minutes,
        "refresh_interval_s": args.refresh,
        "seed": args.seed,
        "refreshes": refreshes,
        "refreshes_total": sum(refreshes.values()),
        "fault_episodes": len(episodes),
        "faults_survived": survived,
        "faults": episodes,
        "crashes": crashes,
        "stuck_workers": len(stuck),
        "stuck_sources": stuck,
        "key_latency_ms": summary(latencies, pressed),
        "key_idle_ms": summary(idle_latencies, pressed),
        "rss_mb": {
            "start": rss_start,
            "end": rss_end,
            "growth_pct": round((rss_end - rss_start) * 100 / rss_start, 1),
        },
        "reader_rss_mb": {  # the child that reads the sources (restarts, if any, start it afresh)
            "start": reader_start,
            "end": reader_end,
            "restarts": (reader.started - 1) if reader else 0,
        },
        "log": log_text,
        "targets": {"crashes": 0, "stuck_workers": 0, "key_p95_ms": 50, "rss_growth_pct": 10},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--refresh", type=float, default=3.0, help="the dashboard's refresh interval (s)")
    parser.add_argument("--recover", type=float, default=60.0, help="seconds allowed to recover after the clear")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of keys and refreshes before RSS")
    parser.add_argument("--scenario", default="handoff")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="goodword-soak-") as tmp:
        state_dir = Path(tmp) / "sandbox"
        os.environ["GOODWORD_TUI_LOG"] = str(Path(tmp) / "dashboard.log")
        sandbox = SandboxProcess(args.scenario, state_dir)
        try:
            sandbox.wait_ready()  # its SQLMesh build is the sandbox's start-up, not the soak
            report = asyncio.run(soak(args, state_dir, sandbox.config_path))
        finally:
            sandbox.stop()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "soak.log").write_text(report.pop("log"))
    print(json.dumps(report, indent=2))
    (out / "soak.json").write_text(json.dumps(report, indent=2))
    return 0 if report["crashes"] == 0 and report["stuck_workers"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
