"""Probes against real listeners on loopback: an HTTP server, an open port, a closed port, a silent port."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from goodword_tui.config import parse_settings
from goodword_tui.sources.probes import fetch_probes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def http_server() -> AsyncIterator[int]:
    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/login")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_route("*", "/", redirect)
    app.router.add_route("*", "/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield port
    await runner.cleanup()


def settings_with(probes: list[dict]) -> object:
    return parse_settings({"snowflake": {"account": "x"}, "probes": probes})


async def test_probes_report_each_target_status_and_latency(http_server: int) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    # Fill the backlog so a further connect hangs: a port that never answers.
    filler = socket.socket()
    filler.setblocking(False)
    filler.connect_ex(silent.getsockname())
    closed = free_port()
    s = settings_with(
        [
            {"name": "snowflake", "kind": "http", "url": f"http://127.0.0.1:{http_server}/"},
            {"name": "broken", "kind": "http", "url": f"http://127.0.0.1:{http_server}/broken"},
            {"name": "open", "kind": "tcp", "host": "127.0.0.1", "port": http_server},
            {"name": "closed", "kind": "tcp", "host": "127.0.0.1", "port": closed, "timeout_s": 2},
            {"name": "nothing-http", "kind": "http", "url": f"http://127.0.0.1:{closed}/", "timeout_s": 2},
        ]
    )
    started = time.perf_counter()
    result = await fetch_probes(s)
    elapsed = time.perf_counter() - started
    silent.close()
    filler.close()
    assert result.ok
    by_name = {p.name: p for p in result.data}
    assert by_name["snowflake"].ok and by_name["snowflake"].status == 302
    assert (
        not by_name["broken"].ok and by_name["broken"].status == 503 and "expected 200/302" in by_name["broken"].detail
    )
    assert by_name["open"].ok and by_name["open"].latency_ms is not None
    assert not by_name["closed"].ok and by_name["closed"].detail == "connection refused"
    assert not by_name["nothing-http"].ok
    assert elapsed < 2.5  # run together, bounded by the slowest timeout


async def test_a_probe_that_hangs_times_out_and_the_others_still_answer(http_server: int) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    s = settings_with(
        [
            {"name": "hangs", "kind": "http", "url": f"http://127.0.0.1:{port}/", "timeout_s": 0.5},
            {"name": "fine", "kind": "http", "url": f"http://127.0.0.1:{http_server}/"},
        ]
    )
    started = time.perf_counter()
    result = await fetch_probes(s)
    assert time.perf_counter() - started < 2
    server.close()
    by_name = {p.name: p for p in result.data}
    assert not by_name["hangs"].ok and by_name["hangs"].detail == "timed out"
    assert by_name["fine"].ok


def test_aiohttp_is_imported_off_the_event_loop() -> None:
    """A first import on the loop held it for the whole import (longer while another thread held an import lock
    it needed): in the reader process, the other reads could not start meanwhile. Checked in a fresh interpreter,
    where aiohttp is not imported yet, by Python's own audit event for imports."""
    script = textwrap.dedent(
        """
        import asyncio, sys, threading
        from goodword_tui.config import parse_settings
        from goodword_tui.sources.probes import fetch_probes
        assert "aiohttp" not in sys.modules
        importers = []
        sys.addaudithook(lambda event, args: event == "import" and str(args[0]).startswith("aiohttp")
                         and importers.append(threading.get_ident()))
        async def main():
            loop_thread = threading.get_ident()
            result = await fetch_probes(parse_settings({"snowflake": {"account": "x"}, "probes": []}))
            assert result.error is None, result.error
            return loop_thread
        loop_thread = asyncio.run(main())
        assert importers and loop_thread not in importers, (loop_thread, importers)
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
