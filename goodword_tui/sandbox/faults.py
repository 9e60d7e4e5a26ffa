"""A TCP proxy that can put faults between the dashboard and a sandbox endpoint.

It forwards bytes both ways (asyncio streams, so it serves HTTP, the Snowflake protocol and PostgreSQL alike)
and, when told, delays each request, hangs, or resets connections. The benchmark uses the latency fault to
measure what concurrency buys; the faults issue builds on the same proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass
class _Turn:
    """Which way bytes last flowed on one connection: a request in progress, or a response."""

    requesting: bool = False


@dataclass
class Fault:
    """What the proxy does to traffic now; change it at any time, it applies to the next chunk."""

    latency_s: float = 0.0  # added once per request: before the first client chunk that follows a response
    hang: bool = False  # accept, never answer
    reset: bool = False  # close new and open connections at once


class FaultProxy:
    """Listens on a free loopback port and forwards to `target_host:target_port` in a thread of its own."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.fault = Fault()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> FaultProxy:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = None

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        assert self._loop is not None
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.call_soon(self._loop.stop)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            loop.run_forever()
            # Let the cancelled connection handlers finish before the loop goes away.
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            if self.fault.reset:
                return
            if self.fault.hang:
                await client_reader.read()  # until the client gives up
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            self._writers.add(upstream_writer)
            turn = _Turn()
            try:
                await asyncio.gather(
                    self._pipe(client_reader, upstream_writer, turn, request=True),
                    self._pipe(upstream_reader, client_writer, turn, request=False),
                )
            finally:
                self._writers.discard(upstream_writer)
                upstream_writer.close()
        except (OSError, asyncio.CancelledError):
            pass  # a peer went away (or the proxy stops): the other side sees the connection close
        finally:
            self._writers.discard(client_writer)
            client_writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, turn: _Turn, *, request: bool
    ) -> None:
        while True:
            chunk = await reader.read(65536)
            if not chunk or self.fault.reset:
                break
            if request and not turn.requesting and self.fault.latency_s:
                # A new request (headers and body may come as several chunks): one round trip's delay.
                await asyncio.sleep(self.fault.latency_s)
            turn.requesting = request
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
