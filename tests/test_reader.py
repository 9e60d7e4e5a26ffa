"""The reader process: the real sources read in a child, answers equal to reading in process, "same" answers
keep the data object, and a child that dies, hangs or loses its parent never takes a read (or itself) with it."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from goodword_tui.config import Settings
from goodword_tui.model import RouteTargetKind, SourceResult, SqlMeshAuditResult
from goodword_tui.monitor import Monitor
from goodword_tui.reader import ReaderProcess, _Child
from goodword_tui.sandbox.aws import remove_route
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sqlmesh_actions import reader_of

PEERING = RouteTargetKind.PEERING


@pytest.fixture
def platform(handoff_behind_faults: SandboxPlatform) -> SandboxPlatform:
    return handoff_behind_faults


@pytest.fixture
def settings(fast_faulty_settings: Settings) -> Settings:
    return fast_faulty_settings


@pytest.fixture
def reader(settings: Settings) -> Iterator[ReaderProcess]:
    reader = ReaderProcess(settings)
    reader.start()
    yield reader
    reader.close()


def gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # our own child: reap it, or it lingers as a zombie that kill(pid, 0) still finds
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


async def test_the_child_reads_what_the_sources_read_in_process(settings: Settings, reader: ReaderProcess) -> None:
    remote, local = Monitor(settings, factory=reader.fetchers), Monitor(settings)
    try:
        for source in ("aws", "snowflake"):
            far, near = await remote.refresh(source), await local.refresh(source)
            assert far.error is None and near.error is None, (far.error, near.error)
            assert far.data == near.data
        probes = await remote.refresh("probes")
        assert probes.data and [p.name for p in probes.data] == [p.name for p in settings.probes]
    finally:
        local.close()
    assert reader.pid is not None and os.getsid(reader.pid) != os.getsid(0)  # keys and hang-ups reach us, not it
    # The connector read its rows without pyarrow (63 MB the child does not carry): no Arrow library is mapped.
    assert "libarrow" not in Path(f"/proc/{reader.pid}/maps").read_text()


async def test_nothing_new_keeps_the_data_object_and_a_change_comes_through(
    platform: SandboxPlatform, settings: Settings, reader: ReaderProcess
) -> None:
    monitor = Monitor(settings, factory=reader.fetchers)
    first = await monitor.refresh("aws")
    again = await monitor.refresh("aws")
    assert first.error is None and again.data is first.data  # "same": neither unpickled nor analysed again
    assert again.fetched_at > first.fetched_at
    peered = next(t for t in first.data.route_tables if t.name and any(r.target_kind == PEERING for r in t.routes))
    table, expected = peered.name, next(r.destination for r in peered.routes if r.target_kind == PEERING)
    remove_route(platform.aws, platform.topology, table, expected)
    try:
        changed = await monitor.refresh("aws")
        assert changed.data is not first.data
        routes = {r.destination for t in changed.data.route_tables if t.name == table for r in t.routes}
        assert expected not in routes
    finally:
        platform.load("handoff")


async def test_sqlmesh_results_launched_in_the_dashboard_show_in_the_childs_status(
    settings: Settings, reader: ReaderProcess
) -> None:
    """Plans, runs and audits run in the dashboard's process (they need its SQLMesh thread); the status comes
    from the child; what they recorded shows in it."""
    monitor = Monitor(settings, factory=reader.fetchers)
    first = await monitor.refresh("sqlmesh")
    assert first.data is not None and first.data.audits == ()
    local = reader_of(monitor)
    assert local is not None and local is reader.local_sqlmesh()
    audit = SqlMeshAuditResult("goodword.orders", "not_null", datetime.now(UTC), failed_rows=3, origin="run")
    local.results.record_audits([audit])
    second = await monitor.refresh("sqlmesh")
    assert second.data is not None and second.data.audits == (audit,)
    third = await monitor.refresh("sqlmesh")
    assert third.data is second.data  # nothing new on either side: the same object, the analysis reused


async def test_a_child_killed_during_a_read_fails_that_read_and_the_next_starts_a_new_one(
    platform: SandboxPlatform, settings: Settings, reader: ReaderProcess
) -> None:
    monitor = Monitor(settings, factory=reader.fetchers)
    good = await monitor.refresh("aws")
    platform.faults["aws"].set("latency", latency_s=5)
    pending = asyncio.create_task(monitor.refresh("aws"))
    deadline = time.monotonic() + 5
    while not reader._pending and time.monotonic() < deadline:  # the read has been sent to the child
        await asyncio.sleep(0.01)
    assert reader._pending and reader.pid is not None
    os.kill(reader.pid, signal.SIGKILL)
    failed = await asyncio.wait_for(pending, 5)
    assert failed.error is not None and "the reader process ended (exit code -9)" in failed.error.message
    assert failed.data is good.data and failed.stale_since == good.fetched_at  # the last good data, marked stale
    platform.faults["aws"].clear()
    recovered = await monitor.refresh("aws")
    assert recovered.error is None and recovered.data == good.data
    assert reader.started == 2


async def test_a_silent_child_is_replaced(settings: Settings, reader: ReaderProcess) -> None:
    reader.silence_slack_s = 1.0
    monitor = Monitor(settings, factory=reader.fetchers)
    assert (await monitor.refresh("probes")).error is None
    assert reader.pid is not None
    stuck = reader.pid
    os.kill(stuck, signal.SIGSTOP)  # alive, but answers nothing
    started = time.monotonic()
    silent = await monitor.refresh("probes")
    assert silent.error is not None and "did not answer" in silent.error.message
    assert time.monotonic() - started < max(p.timeout_s for p in settings.probes) + 3
    assert gone(stuck)  # killed, not left behind
    back = await monitor.refresh("probes")
    assert back.error is None and reader.started == 2


async def test_the_child_logs_to_its_own_owner_only_file(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes rotating one file would rename it under each other: the child has its own, beside ours."""
    monkeypatch.setenv("GOODWORD_TUI_LOG", str(tmp_path / "dashboard.log"))
    reader = ReaderProcess(settings)
    try:
        reader.start()
        assert (await Monitor(settings, factory=reader.fetchers).refresh("probes")).error is None
    finally:
        reader.close()
    own = tmp_path / "dashboard-reader.log"
    assert "serving" in own.read_text(encoding="utf-8")
    assert stat.S_IMODE(own.stat().st_mode) == 0o600
    assert not (tmp_path / "dashboard.log").exists()  # the dashboard's own file is the dashboard's


async def test_sqlmesh_reads_only_once_the_clients_are_imported_and_the_others_do_not_wait(
    settings: Settings,
) -> None:
    """sqlmesh's first read imports the connector's submodules; run beside the warm-up's import of the connector,
    the two imports deadlocked and Python failed one ("partially initialized module", seen once in CI)."""
    go = threading.Event()

    def slow_warm_up(done: threading.Event) -> None:
        go.wait(10)
        done.set()

    ours, theirs = socket.socketpair()
    child = _Child(Connection(theirs.detach()), settings, warm_up=slow_warm_up)
    calls: list[str] = []

    def fetcher(source: str) -> Callable[[Settings], Awaitable[SourceResult[tuple[()]]]]:
        async def fetch(_settings: Settings) -> SourceResult[tuple[()]]:
            calls.append(source)
            return SourceResult(source, datetime.now(UTC), data=())

        return fetch

    child.fetchers.update({"sqlmesh": fetcher("sqlmesh"), "probes": fetcher("probes")})
    answers = Connection(ours.detach())
    try:
        sqlmesh = asyncio.create_task(child.answer(7, "sqlmesh", 0))
        await asyncio.wait_for(child.answer(8, "probes", 0), 5)  # not held: it imports only its own package
        await asyncio.sleep(0.2)
        assert calls == ["probes"] and not sqlmesh.done()  # held while the imports run
        go.set()
        await asyncio.wait_for(sqlmesh, 5)
        assert calls == ["probes", "sqlmesh"]
        assert [pickle.loads(answers.recv_bytes())[:2] for _ in range(2)] == [("answer", 8), ("answer", 7)]
    finally:
        go.set()
        child.release()


def test_the_warm_up_imports_the_connector_without_pandas_and_lets_sqlmesh_import_it_after() -> None:
    """pandas cost the child's connector import 0.3-0.4 s before its first Snowflake read, for fetches that are
    off without pyarrow; sqlmesh's reads, which wait for the warm-up, still need it."""
    script = textwrap.dedent(
        """
        import sys, threading
        from goodword_tui import reader
        reader.block_imports()
        done = threading.Event()
        reader._warm_up(done)
        import snowflake.connector.options
        print(done.is_set(), "snowflake.connector" in sys.modules, "pandas" in sys.modules,
              snowflake.connector.options.installed_pandas)
        import pandas
        try:
            import pyarrow
        except ImportError:
            pyarrow = None
        print(pandas.DataFrame({"a": [1]}).shape, pyarrow)
        """
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.split("\n")[:2] == ["True True False False", "(1, 1) None"], shown.stderr


def test_closing_ends_the_child(reader: ReaderProcess) -> None:
    pid = reader.pid
    assert pid is not None
    reader.close()
    assert gone(pid, within_s=3)


def test_the_child_ends_when_the_dashboard_dies(settings: Settings, tmp_path: Path) -> None:
    """A dashboard killed outright (SIGKILL, OOM) leaves no reader behind: the socket closes, the child ends."""
    config = tmp_path / "settings.json"
    config.write_text(settings.model_dump_json(), encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from goodword_tui.config import Settings
        from goodword_tui.reader import ReaderProcess
        reader = ReaderProcess(Settings.model_validate_json(Path({str(config)!r}).read_text()))
        reader.start()
        print(reader.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        assert gone(child)
    finally:
        if parent.poll() is None:
            parent.kill()
