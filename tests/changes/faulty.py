"""Write-path faults: an HTTP fault proxy that also faults one chosen request *around* the server.

`sandbox.faults.HttpFaultProxy` faults a request before it reaches the emulator. A write under faults needs
two more cases, where the server has applied the change and the client still sees an error:

- `reset-after`: the request is forwarded, the server answers, and the client's connection is reset instead
  of getting the answer;
- `late-answer`: the request is forwarded, the server answers, and the answer is held past the client's
  read timeout.

and two where it never arrives, for just that request: `drop` (held until the client gives up; aiohttp then
cancels the handler, so it is never forwarded) and `throttle` (answered with AWS's throttling error, as AWS
refuses a request over its rate, without forwarding it).

Only a request whose body holds `match` is faulted (an EC2 `Action=CreateRoute`, a Snowflake statement): the
reads made before and after it go through untouched, without hooking into the client.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from goodword_tui.config import Settings
from goodword_tui.sandbox.aws import AwsSandbox
from goodword_tui.sandbox.faults import FaultSwitch, HttpFaultProxy, _abort_with_reset
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from tests.fixtures.platform import FAST_AWS, FAST_SNOWFLAKE, with_timeouts

if TYPE_CHECKING:
    from aiohttp import web

WriteFault = Literal["drop", "reset-after", "late-answer", "throttle"]
WRITE_FAULTS = ("drop", "reset-after", "late-answer", "throttle")


class WriteFaultProxy(HttpFaultProxy):
    """An HttpFaultProxy that can fault the next request whose body holds a marker (see the module docstring)."""

    def __init__(self, target_host: str, target_port: int, *, service: Literal["aws", "snowflake"]) -> None:
        super().__init__(target_host, target_port, service=service)
        self.write_switch = FaultSwitch(WRITE_FAULTS)
        self.match = b""
        self.then: str | None = None
        self.forwarded = 0  # requests holding the marker that reached the server
        self.refused = 0  # requests holding the marker answered with a throttling error instead

    def fail_next(
        self, kind: WriteFault, match: bytes, *, hold_s: float = 5.0, then: str | None = None, count: int = 1
    ) -> None:
        """Fault the next `count` requests holding `match`; `hold_s`: how long `late-answer` holds the answer;
        `then`: a `sandbox.faults` kind switched on (until cleared) once it fired, e.g. the platform goes down."""
        self.match = match
        self.forwarded = 0
        self.refused = 0
        self.then = then
        self.write_switch.set(kind, count=count, latency_s=hold_s)

    def clear(self) -> None:
        super().clear()
        self.write_switch.clear()

    def _matches(self, request: web.BaseRequest, body: bytes) -> bool:
        if self.service == "snowflake" and not request.path.endswith("/query-request"):
            return False  # e.g. the abort-request the connector sends after a timeout repeats the statement
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return bool(self.match) and self.match in body

    async def _forward(self, request: web.BaseRequest, body: bytes) -> web.Response:
        matched = self._matches(request, body)
        fault = self.write_switch.take() if matched else None
        if fault is not None and fault.kind == "drop":
            await asyncio.sleep(3600)  # cancelled when the client gives up: never forwarded
        if fault is not None and fault.kind == "throttle":
            self.refused += 1
            return self._error_response(request, "throttle")
        response = await super()._forward(request, body)
        if matched and response.status < 500:
            self.forwarded += 1
        if fault is not None and self.then:
            self.switch.set(self.then)
        if fault is not None and fault.kind == "reset-after":
            _abort_with_reset(request.transport)
            raise asyncio.CancelledError  # the answer is lost with the connection
        if fault is not None and fault.kind == "late-answer":
            await asyncio.sleep(fault.latency_s)  # the client times out first; its handler is cancelled here
        return response


@dataclass
class WriteProxies:
    """One WriteFaultProxy in front of each emulator (shared by a module's tests, cleared after each)."""

    aws: WriteFaultProxy
    snowflake: WriteFaultProxy
    snowflake_sandbox: SnowflakeSandbox

    def route(self, settings: Settings, folder: Path) -> Settings:
        """`settings` sent through the proxies, with small timeouts (a connections.toml of its own in `folder`)."""
        connections = self.snowflake_sandbox.write_connections_toml(
            folder / "connections-via-proxy.toml", settings.snowflake.connection_name, port=self.snowflake.port
        )
        routed = with_timeouts(
            settings,
            aws={**FAST_AWS, "endpoint_url": self.aws.url},
            snowflake={**FAST_SNOWFLAKE, "connections_file": str(connections)},
        )
        return routed

    def clear(self) -> None:
        self.aws.clear()
        self.snowflake.clear()


@pytest.fixture(scope="module")
def write_proxies(aws_sandbox: AwsSandbox, snowflake_sandbox: SnowflakeSandbox) -> Iterator[WriteProxies]:
    aws = WriteFaultProxy(*aws_sandbox.address, service="aws").start()
    snowflake = WriteFaultProxy(snowflake_sandbox.host, snowflake_sandbox.port, service="snowflake").start()
    try:
        yield WriteProxies(aws, snowflake, snowflake_sandbox)
    finally:
        aws.stop()
        snowflake.stop()


@pytest.fixture
def proxies(write_proxies: WriteProxies) -> Iterator[WriteProxies]:
    """The module's proxies, healthy again after each test (even a failing one)."""
    write_proxies.clear()
    yield write_proxies
    write_proxies.clear()
