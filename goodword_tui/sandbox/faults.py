"""Faults between the dashboard and the sandbox's endpoints, switched on and off while everything runs.

On-call opens the console when things fail, so the sandbox can fail the way production does (issue 6). Each
proxy listens on a loopback port of its own and forwards to one emulator; the sandbox config points the
dashboard at the proxies, so a fault changes what the dashboard sees and nothing else. Clearing a fault makes
the platform healthy again (a hung request is then forwarded, as when a network comes back).

API (the read side's tests, the write side and the CLI use it; keep it stable):

- `FaultProxy(host, port).start()`: TCP, asyncio streams, any protocol (PostgreSQL for the `state` target).
  Kinds `TCP_KINDS`: `latency` (added once per request), `hang` (accept, never answer; open connections stall),
  `reset` (RST, open connections too), `down` (open connections reset, new ones refused). `.fault` (a `Fault`)
  may also be edited directly, as bench/snapshot.py does (`proxy.fault.latency_s = 0.1`).
- `HttpFaultProxy(host, port, service="aws" | "snowflake").start()`: HTTP, aiohttp. Kinds `HTTP_KINDS`:
  `latency`, `hang`, `reset`, `http-500`, `http-503`; for AWS also `throttle` (EC2's query-protocol
  `RequestLimitExceeded`, STS's `Throttling`, S3's `SlowDown`) and `expired-token` (`ExpiredToken`, HTTP 400), in
  the XML each service really returns, so botocore raises the very ClientError (and retries) it would on AWS.
- Both: `.set(kind, count=None, latency_s=None)` then `.clear()`; `count` = the next N uses (requests; TCP
  connections for hang/reset), after which the fault clears itself; `None` = until cleared. `.status()` (JSON-able),
  `.address`, `.port`, `.url` (HTTP), `.stop()`.
- Snowflake session faults are answered by the account layer (`SnowflakeSandbox.set_fault`), the only part that
  knows sessions: `session-expired` (390112 once per open session: the connector renews its token by itself),
  `token-expired` (390114, the master token is gone: the client must log in again), `login-refused` (390422).
- `FaultTarget`: one target's switch (`SandboxPlatform.faults["aws" | "snowflake" | "state"]`), e.g.
  `platform.faults["aws"].set("throttle", count=3)` and `.clear()`.
- `ControlServer` / `send_control`: the same over loopback HTTP for `goodword-tui sandbox fault`, with the address
  and a bearer token in `<state_dir>/faults.json` (0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from aiohttp import ClientSession, web

TCP_KINDS = ("latency", "hang", "reset", "down")
HTTP_KINDS = ("latency", "hang", "reset", "http-500", "http-503")
AWS_KINDS = (*HTTP_KINDS, "throttle", "expired-token")
SNOWFLAKE_SESSION_KINDS = ("session-expired", "token-expired", "login-refused")
DEFAULT_LATENCY_S = 1.0
CONTROL_FILE = "faults.json"


class FaultError(ValueError):
    """A fault request that cannot be honoured (unknown target or kind, bad option); the message says why."""


@dataclass(frozen=True)
class ActiveFault:
    """The fault a target applies now."""

    kind: str
    remaining: int | None  # uses left; None: until cleared
    latency_s: float = DEFAULT_LATENCY_S

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "remaining": self.remaining, "latency_s": self.latency_s}


class FaultSwitch:
    """Which fault is on, how many uses it has left; thread-safe (set from a control thread, used in a loop).

    `generation` changes on every set and clear, so a hung request knows when to stop hanging.
    """

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = tuple(kinds)
        self._lock = threading.Lock()
        self._active: ActiveFault | None = None
        self.generation = 0
        self.applied = 0  # uses since the last set, for status and tests

    def set(self, kind: str, count: int | None = None, latency_s: float | None = None) -> ActiveFault:
        if kind not in self.kinds:
            raise FaultError(f"unknown fault {kind!r}; this target knows {', '.join(self.kinds)}")
        if count is not None and count < 1:
            raise FaultError("count must be at least 1 (leave it out for 'until cleared')")
        if latency_s is not None and not 0 < latency_s <= 600:
            raise FaultError("latency must be between 0 and 600 seconds")
        active = ActiveFault(kind, count, DEFAULT_LATENCY_S if latency_s is None else latency_s)
        with self._lock:
            self._active = active
            self.generation += 1
            self.applied = 0
        return active

    def clear(self) -> None:
        with self._lock:
            self._active = None
            self.generation += 1

    @property
    def active(self) -> ActiveFault | None:
        return self._active

    def take(self, kinds: Iterable[str] | None = None) -> ActiveFault | None:
        """The fault to apply to one use (of one of `kinds`, if given), counting it; None when healthy."""
        with self._lock:
            active = self._active
            if active is None or (kinds is not None and active.kind not in kinds):
                return None
            self.applied += 1
            if active.remaining is not None:
                left = active.remaining - 1
                self._active = None if left <= 0 else ActiveFault(active.kind, left, active.latency_s)
                if left <= 0:
                    self.generation += 1
            return active

    def status(self) -> dict[str, Any]:
        active = self._active
        return {"fault": active.to_json() if active else None, "applied": self.applied}


# --------------------------------------------------------------------------------------------------------------
# An asyncio loop in a thread of its own (both proxies and the control server run on one each)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _LoopThread:
    """Runs `_serve()` on a private event loop in a daemon thread; `stop()` cancels everything it started."""

    name = "fault-proxy"

    def __init__(self) -> None:
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _start_thread(self) -> None:
        self.port = self.port or free_port()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._startup_error is not None:
            raise RuntimeError(f"the {self.name} did not start: {self._startup_error or 'no answer in 10 s'}")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() in one line
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:  # let cancelled handlers finish before the loop goes away
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._close())
        finally:
            loop.close()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        """Run a coroutine on the proxy's loop from another thread and wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    async def _serve(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        """Release what `_serve` opened (runs on the loop after it stopped)."""


def _abort_with_reset(transport: asyncio.BaseTransport | None) -> None:
    """Close a connection with a TCP RST (SO_LINGER 0), as a middlebox that drops the flow does."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
    else:
        transport.close()


async def _hold(switch: FaultSwitch, generation: int) -> None:
    """Hang until the fault is set again or cleared (the caller is cancelled if its client leaves first)."""
    while switch.generation == generation:
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------------------------
# TCP


@dataclass
class _Turn:
    """Which way bytes last flowed on one connection: a request in progress, or a response."""

    requesting: bool = False


@dataclass
class Fault:
    """What the TCP proxy does to traffic now; change it at any time, it applies to the next chunk.

    `set()` / `clear()` write these fields (and count uses); editing them directly is a fault until cleared.
    """

    latency_s: float = 0.0  # added once per request: before the first client chunk that follows a response
    hang: bool = False  # accept, never answer
    reset: bool = False  # close new and open connections at once


class FaultProxy(_LoopThread):
    """Listens on a free loopback port and forwards to `target_host:target_port` in a thread of its own."""

    name = "tcp-fault-proxy"

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__()
        self.target = (target_host, target_port)
        self.fault = Fault()
        self.switch = FaultSwitch(TCP_KINDS)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> FaultProxy:
        self._start_thread()
        return self

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    # -- control

    def set(self, kind: str, count: int | None = None, latency_s: float | None = None) -> ActiveFault:
        active = self.switch.set(kind, count, latency_s)
        self.fault = Fault(
            latency_s=active.latency_s if kind == "latency" else 0.0, hang=kind == "hang", reset=kind == "reset"
        )
        self.call(self._listen(kind != "down"))
        if kind in ("reset", "down"):  # a database that goes down drops its sessions too
            self.call(self._reset_open())
        return active

    def clear(self) -> None:
        self.switch.clear()
        self.fault = Fault()
        self.call(self._listen(True))

    def status(self) -> dict[str, Any]:
        return self.switch.status()

    async def _listen(self, on: bool) -> None:
        """Open or close the listening socket: closed, connecting gets 'connection refused' (down)."""
        if on and self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        elif not on and self._server is not None:
            self._server.close()
            self._server = None

    async def _reset_open(self) -> None:
        for writer in list(self._writers):
            _abort_with_reset(writer.transport)

    def _use(self) -> ActiveFault | None:
        """Count one use of a fault set through `set()`; the last use of a count-limited one clears it."""
        used = self.switch.take()
        if used is not None and self.switch.active is None:
            self.fault = Fault()
        return used

    # -- traffic

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            if self.fault.reset:
                self._use()
                _abort_with_reset(client_writer.transport)
                return
            if self.fault.hang:
                generation = self.switch.generation
                used = self._use()
                if used is not None and used.remaining is not None:
                    generation = self.switch.generation  # its last use cleared it: this connection still hangs
                hung = asyncio.ensure_future(client_reader.read())  # returns when the client gives up
                await asyncio.wait(
                    [hung, asyncio.ensure_future(_hold(self.switch, generation))],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if hung.done():
                    return
                hung.cancel()
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
            while self.fault.hang:  # an open connection stalls too, as behind a dead link; resumes when cleared
                await asyncio.sleep(0.05)
            if request and not turn.requesting and self.fault.latency_s:
                # A new request (headers and body may come as several chunks): one round trip's delay.
                delay = self.fault.latency_s
                self._use()
                await asyncio.sleep(delay)
            turn.requesting = request
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


# --------------------------------------------------------------------------------------------------------------
# HTTP

_HOP_BY_HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade", "te"}
)

# (status, code, message) per AWS protocol family and fault; what AWS itself answers.
_AWS_ERRORS: dict[str, dict[str, tuple[int, str, str]]] = {
    "ec2": {
        "throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
        "expired-token": (400, "ExpiredToken", "The security token included in the request is expired"),
        "http-500": (500, "InternalError", "An internal error has occurred"),
        "http-503": (503, "Unavailable", "The server is overloaded and can't handle the request"),
    },
    "query": {
        "throttle": (400, "Throttling", "Rate exceeded"),
        "expired-token": (400, "ExpiredToken", "The security token included in the request is expired"),
        "http-500": (500, "InternalFailure", "The request processing has failed because of an unknown error"),
        "http-503": (503, "ServiceUnavailable", "Service is unavailable"),
    },
    "s3": {
        "throttle": (503, "SlowDown", "Please reduce your request rate."),
        "expired-token": (400, "ExpiredToken", "The provided token has expired."),
        "http-500": (500, "InternalError", "We encountered an internal error. Please try again."),
        "http-503": (503, "ServiceUnavailable", "Please reduce your request rate."),
    },
}


def aws_service(headers: Mapping[str, str]) -> str:
    """The signing name of the service a SigV4 request is for (`ec2`, `sts`, `s3`), from its credential scope."""
    auth = headers.get("Authorization", "")
    marker = "Credential="
    if marker not in auth:
        return ""
    scope = auth.split(marker, 1)[1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else ""


def aws_error_body(service: str, kind: str) -> tuple[int, str]:
    """The HTTP status and XML body AWS sends for `kind` from `service`, in that service's protocol."""
    family = "ec2" if service == "ec2" else "s3" if service == "s3" else "query"
    status, code, message = _AWS_ERRORS[family][kind]
    request_id = str(uuid.uuid4())
    if family == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    elif family == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    else:
        side = "Receiver" if status >= 500 else "Sender"
        body = (
            f'<ErrorResponse xmlns="https://{service or "sts"}.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>{side}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return status, body


class HttpFaultProxy(_LoopThread):
    """An HTTP reverse proxy (aiohttp) in front of one emulator that answers with faults when told."""

    name = "http-fault-proxy"

    def __init__(self, target_host: str, target_port: int, *, service: Literal["aws", "snowflake"] = "aws") -> None:
        super().__init__()
        self.target = (target_host, target_port)
        self.service = service
        self.switch = FaultSwitch(AWS_KINDS if service == "aws" else HTTP_KINDS)
        self._runner: web.ServerRunner | None = None
        self._client: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpFaultProxy:
        self._start_thread()
        return self

    def set(self, kind: str, count: int | None = None, latency_s: float | None = None) -> ActiveFault:
        return self.switch.set(kind, count, latency_s)

    def clear(self) -> None:
        self.switch.clear()

    def status(self) -> dict[str, Any]:
        return self.switch.status()

    async def _serve(self) -> None:
        import aiohttp
        from aiohttp import web

        # No decompression, no added headers: bytes go through as the client and the server sent them.
        self._client = aiohttp.ClientSession(
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # handler_cancellation: a hung request ends when its client gives up.
        server = web.Server(self._handle, handler_cancellation=True, access_log=None, auto_decompress=False)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        generation = self.switch.generation
        fault = self.switch.take()
        if fault is not None:
            if fault.kind == "reset":
                _abort_with_reset(request.transport)
                raise asyncio.CancelledError  # nothing more to send on a connection that is gone
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_s)
            elif fault.kind == "hang":
                await _hold(self.switch, generation if fault.remaining is None else self.switch.generation)
            else:
                await request.read()
                return self._error_response(request, fault.kind)
        return await self._forward(request, await request.read())

    def _error_response(self, request: web.BaseRequest, kind: str) -> web.Response:
        from aiohttp import web

        if self.service == "aws":
            status, body = aws_error_body(aws_service(request.headers), kind)
            return web.Response(
                status=status,
                text=body,
                content_type="text/xml",
                headers={"x-amzn-RequestId": str(uuid.uuid4())},
            )
        status = 500 if kind == "http-500" else 503
        reason = "Internal Server Error" if status == 500 else "Service Unavailable"
        return web.Response(
            status=status, text=f"<html><body><h1>{status} {reason}</h1></body></html>", content_type="text/html"
        )

    async def _forward(self, request: web.BaseRequest, body: bytes) -> web.Response:
        import aiohttp
        from aiohttp import web

        assert self._client is not None
        # The Host header goes through as sent: it is part of what SigV4 signs.
        headers = [(k, v) for k, v in request.headers.items() if k.lower() == "host" or k.lower() not in _HOP_BY_HOP]
        url = f"http://{self.target[0]}:{self.target[1]}{request.path_qs}"
        try:
            async with self._client.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            ) as upstream:
                payload = await upstream.read()
                answer = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP]
                return web.Response(status=upstream.status, body=payload, headers=answer)
        except (aiohttp.ClientError, OSError) as exc:
            return web.Response(status=502, text=f"bad gateway: {type(exc).__name__}")


# --------------------------------------------------------------------------------------------------------------
# Targets and run-time control


class FaultTarget(Protocol):
    """One place faults can be put (`aws`, `snowflake`, `state`)."""

    kinds: tuple[str, ...]

    def set(self, kind: str, count: int | None = None, latency_s: float | None = None) -> ActiveFault: ...

    def clear(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class ProxyTarget:
    """A target that is one proxy."""

    def __init__(self, proxy: FaultProxy | HttpFaultProxy) -> None:
        self.proxy = proxy
        self.kinds = proxy.switch.kinds

    def set(self, kind: str, count: int | None = None, latency_s: float | None = None) -> ActiveFault:
        return self.proxy.set(kind, count, latency_s)

    def clear(self) -> None:
        self.proxy.clear()

    def status(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), **self.proxy.status()}


class SessionFaults(Protocol):
    """What the Snowflake account layer offers (`SnowflakeSandbox`)."""

    def set_fault(self, kind: str, count: int | None = None) -> ActiveFault: ...

    def clear_fault(self) -> None: ...

    def fault_status(self) -> dict[str, Any]: ...


class SnowflakeTarget:
    """Transport faults in the HTTP proxy, session faults in the account layer; one fault at a time."""

    def __init__(self, proxy: HttpFaultProxy, layer: SessionFaults) -> None:
        self.proxy = proxy
        self.layer = layer
        self.kinds = (*proxy.switch.kinds, *SNOWFLAKE_SESSION_KINDS)

    def set(self, kind: str, count: int | None = None, latency_s: float | None = None) -> ActiveFault:
        if kind in SNOWFLAKE_SESSION_KINDS:
            self.proxy.clear()
            return self.layer.set_fault(kind, count)
        self.layer.clear_fault()
        return self.proxy.set(kind, count, latency_s)

    def clear(self) -> None:
        self.proxy.clear()
        self.layer.clear_fault()

    def status(self) -> dict[str, Any]:
        proxy, layer = self.proxy.status(), self.layer.fault_status()
        return {"kinds": list(self.kinds), **(layer if layer.get("fault") else proxy)}


def set_fault(targets: Mapping[str, FaultTarget], target: str, kind: str, **options: Any) -> dict[str, Any]:
    """Set (or, with kind "clear", clear) one target's fault; FaultError when the request is wrong."""
    chosen = targets.get(target)
    if chosen is None:
        raise FaultError(f"unknown target {target!r}; known: {', '.join(sorted(targets))}")
    if kind == "clear":
        chosen.clear()
    else:
        chosen.set(kind, options.get("count"), options.get("latency_s"))
    return chosen.status()


class ControlServer(_LoopThread):
    """Loopback HTTP control of the targets for `goodword-tui sandbox fault`; every request needs the token.

    GET /faults → every target's status; POST /faults/<target> {"kind", "count"?, "latency_s"?};
    DELETE /faults/<target> clears it. Its address and token go to `<state_dir>/faults.json`, mode 0600.
    """

    name = "fault-control"

    def __init__(self, targets: Mapping[str, FaultTarget], state_dir: Path) -> None:
        super().__init__()
        self.targets = targets
        self.path = Path(state_dir) / CONTROL_FILE
        self.token = secrets.token_urlsafe(24)
        self._runner: web.AppRunner | None = None

    def start(self) -> ControlServer:
        from goodword_tui.sandbox.platform import _write_private  # the sandbox's one way to write its files

        self._start_thread()
        _write_private(self.path, json.dumps({"url": f"http://127.0.0.1:{self.port}", "token": self.token}) + "\n")
        return self

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(OSError):
            self.path.unlink()

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/faults", self._list)
        app.router.add_post("/faults/{target}", self._set)
        app.router.add_delete("/faults/{target}", self._clear)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def _auth(self) -> Callable[..., Any]:
        from aiohttp import web

        @web.middleware
        async def check(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
            if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.token}"):
                return web.json_response({"error": "missing or wrong token"}, status=401)
            return await handler(request)

        return check

    async def _list(self, request: web.Request) -> web.Response:
        from aiohttp import web

        statuses = await asyncio.to_thread(lambda: {n: t.status() for n, t in self.targets.items()})
        return web.json_response(statuses)

    async def _apply(self, request: web.Request, kind: str, options: dict[str, Any]) -> web.Response:
        from aiohttp import web

        target = request.match_info["target"]
        try:
            # Off this loop: a target's set may wait on a proxy's own loop.
            status = await asyncio.to_thread(set_fault, self.targets, target, kind, **options)
        except FaultError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({target: status})

    async def _set(self, request: web.Request) -> web.Response:
        from aiohttp import web

        try:
            data = await request.json()
            kind = str(data["kind"])
            count = None if data.get("count") is None else int(data["count"])
            latency = None if data.get("latency_s") is None else float(data["latency_s"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"kind": ..., "count"?: N, "latency_s"?: S}'}, status=400)
        return await self._apply(request, kind, {"count": count, "latency_s": latency})

    async def _clear(self, request: web.Request) -> web.Response:
        return await self._apply(request, "clear", {})


def send_control(
    state_dir: Path,
    target: str | None,
    kind: str | None = None,
    *,
    count: int | None = None,
    latency_s: float | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Ask a running sandbox (its state dir) to set, clear (kind "clear") or list (target None) faults.

    Raises FaultError with a one-line reason (no sandbox there, a refused request).
    """
    path = Path(state_dir) / CONTROL_FILE
    try:
        control = json.loads(path.read_text(encoding="utf-8"))
        base, token = str(control["url"]), str(control["token"])
    except (OSError, ValueError, KeyError) as exc:
        raise FaultError(
            f"no running sandbox with fault control in {state_dir} ({type(exc).__name__}); "
            "start one with `goodword-tui sandbox serve --state-dir DIR`"
        ) from None
    if target is None:
        method, url, data = "GET", f"{base}/faults", None
    elif kind == "clear":
        method, url, data = "DELETE", f"{base}/faults/{target}", None
    else:
        method, url = "POST", f"{base}/faults/{target}"
        data = json.dumps({"kind": kind, "count": count, "latency_s": latency_s}).encode()
    import urllib.error  # here: every `goodword-tui` start imports this module for the fault kinds' names
    import urllib.request

    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error") or exc.reason
        except ValueError:
            reason = exc.reason
        raise FaultError(str(reason)) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FaultError(f"the sandbox's fault control at {base} did not answer ({exc})") from None
