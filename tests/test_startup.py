"""Start-up with the collector paused: nothing is collected until start-up ends; then the collector runs again,
with start-up's heap frozen. Each case runs in a fresh interpreter: pausing, and above all freezing, the test
runner's own collector would change every later test."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from typing import Any

from goodword_tui import startup

WATCH = """
import gc, json
seen = []
gc.callbacks.append(lambda phase, info: phase == "stop" and seen.append((info["generation"], info["collected"])))

def cycles(n):
    for _ in range(n):
        a = []; a.append(a)
"""


def run(script: str, *args: str, exit_code: int = 0) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", WATCH + script, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == exit_code, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_paused_start_collects_nothing_then_resumes_with_one_full_collection() -> None:
    report = run(
        """
from goodword_tui import startup
startup.pause()
seen.clear()
cycles(100_000)  # dozens of collections' worth with the collector on
during = list(seen)
enabled_during = gc.isenabled()
startup.resume()
print(json.dumps({"during": during, "enabled_during": enabled_during, "after": seen[len(during):],
                  "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""
    )
    assert report["during"] == [] and report["enabled_during"] is False
    [(generation, collected)] = report["after"]  # one collection, a full one, that found the garbage
    assert generation == 2 and collected >= 100_000
    assert report["enabled"] is True
    assert report["frozen"] > 0


def test_resuming_without_a_collection_freezes_everything_and_walks_nothing() -> None:
    report = run(
        """
from goodword_tui import startup
startup.pause()
seen.clear()
alive = [[] for _ in range(50_000)]
startup.resume(collect=False)
after_resume = list(seen)
cycles(20_000)  # the collector runs again, and no longer walks what start-up made
gc.collect()
print(json.dumps({"at_resume": after_resume, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "young": seen[len(after_resume):]}))
"""
    )
    assert report["at_resume"] == []
    assert report["enabled"] is True
    assert report["frozen"] >= 50_000
    assert sum(collected for _, collected in report["young"]) >= 20_000


def test_a_process_that_never_paused_is_left_alone() -> None:
    frozen, enabled = gc.get_freeze_count(), gc.isenabled()
    startup.resume()
    assert (gc.get_freeze_count(), gc.isenabled()) == (frozen, enabled)


def test_the_command_starts_paused_and_only_the_dashboard_stays_paused() -> None:
    """`goodword-tui check` (any command but the dashboard and the demo) resumes before it does its work."""
    report = run(
        """
import atexit, sys
from goodword_tui import startup
import goodword_tui.__main__ as entry
report = {}
real_pause, real_resume = startup.pause, startup.resume
def pause():
    real_pause()
    report["paused_at_start"] = not gc.isenabled()
def resume(**kwargs):
    report["resumed"] = True
    real_resume(**kwargs)
startup.pause, startup.resume = pause, resume
atexit.register(lambda: print(json.dumps({**report, "enabled_at_exit": gc.isenabled()})))
sys.argv = ["goodword-tui", "check", "-c", sys.argv[1]]
entry.run()
""",
        "/nonexistent/config.toml",
        exit_code=4,  # the config is missing: check cannot run (after start-up has ended)
    )
    assert report == {"paused_at_start": True, "resumed": True, "enabled_at_exit": True}


def test_a_source_that_never_answers_ends_the_dashboards_start_up_at_the_limit() -> None:
    """A hung read must not keep the collector off for good: the limit ends start-up (shortened here from 20 s)."""
    report = run(
        """
import asyncio, os, time
from goodword_tui import startup
startup.pause()
startup.STARTUP_LIMIT_S = 1.5
from goodword_tui.monitor import Monitor
from goodword_tui.ui.app import GoodwordApp
from tests.ui import data

async def main():
    fetchers = data.handoff_fetchers()
    fetchers["sqlmesh"].gate = asyncio.Event()  # never set: SQLMesh's first read hangs
    monitor = Monitor(data.settings(), fetchers)
    app = GoodwordApp(data.settings(), monitor, lambda: data.NOW, watch_terminal=False, own_process=True)
    started = time.monotonic()
    async with app.run_test() as pilot:
        await pilot.pause(0.7)
        answered = sorted(source for source, count in app.refresh_count.items() if count)
        early = gc.isenabled()
        while not gc.isenabled() and time.monotonic() - started < 15:
            await pilot.pause(0.05)
        print(json.dumps({"answered": answered, "early": early, "late": gc.isenabled(),
                          "after_s": time.monotonic() - started}), flush=True)
        os._exit(0)  # the hung read's task would hold the exit

asyncio.run(main())
"""
    )
    assert report["answered"] == ["aws", "probes", "snowflake"]
    assert report["early"] is False  # the other sources answering does not end start-up
    assert report["late"] is True and report["after_s"] >= 1.5


def test_a_source_that_never_answers_ends_the_reader_processs_start_up_at_the_limit() -> None:
    """The reader child pauses its collector too and ends start-up when every source has answered once; a hung read
    must not keep it off for good (the limit, shortened here from 20 s, ends it)."""
    report = run(
        """
import asyncio, os, pickle, socket, time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from goodword_tui import startup
startup.pause()
startup.STARTUP_LIMIT_S = 1.5
from goodword_tui.model import SourceResult
from goodword_tui.reader import _Child
from tests.ui import data

def fetcher(source, hang):
    async def fetch(_settings):
        if hang:
            await asyncio.Event().wait()
        return SourceResult(source, datetime.now(UTC), data=())
    return fetch

async def main():
    ours, theirs = socket.socketpair()
    child = _Child(Connection(theirs.detach()), data.settings(), warm_up=lambda done: done.set())
    child.fetchers = {s: fetcher(s, hang=s == "sqlmesh") for s in ("aws", "snowflake", "probes", "sqlmesh")}
    dashboard = Connection(ours.detach())
    started = time.monotonic()
    serving = asyncio.create_task(child.serve())  # held: the loop keeps only a weak reference to a task
    for request, source in enumerate(child.fetchers, 1):
        dashboard.send_bytes(pickle.dumps(("read", request, source, 0)))
    await asyncio.sleep(0.7)
    answered = []
    while dashboard.poll():
        answered.append(pickle.loads(dashboard.recv_bytes())[1])
    early = gc.isenabled()
    while not gc.isenabled() and time.monotonic() - started < 15:
        await asyncio.sleep(0.05)
    print(json.dumps({"answered": sorted(answered), "early": early, "late": gc.isenabled(),
                      "after_s": time.monotonic() - started}), flush=True)
    os._exit(0)  # the hung read would hold the exit

asyncio.run(main())
"""
    )
    assert report["answered"] == [1, 2, 3]  # aws, snowflake, probes; not sqlmesh
    assert report["early"] is False  # the other sources answering does not end start-up
    assert report["late"] is True and report["after_s"] >= 1.5
