"""Connectivity probes: can we reach the Snowflake host, the SQLMesh server, the state database.

A probe answers "is there a path and does something answer", nothing more: an HTTPS 200/302 from the
Snowflake host proves the host is reachable, not that the network policy admits us.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from datetime import UTC, datetime

from goodword_tui.config import ProbeSpec, Settings
from goodword_tui.model import ErrorKind, ProbeResult, SourceError, SourceResult


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


async def probe_tcp(spec: ProbeSpec) -> ProbeResult:
    started = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(spec.host, spec.port), timeout=spec.timeout_s)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(spec.name, spec.kind, spec.target, False, _elapsed_ms(started), None, _describe_error(exc))
    latency = _elapsed_ms(started)
    writer.close()
    # The port answered; how it closes does not change the verdict.
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), timeout=1)
    return ProbeResult(spec.name, spec.kind, spec.target, True, latency, None, "port open")


async def probe_http(spec: ProbeSpec, session: object) -> ProbeResult:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    started = time.perf_counter()
    try:
        async with session.head(
            spec.url or "", allow_redirects=False, timeout=aiohttp.ClientTimeout(total=spec.timeout_s)
        ) as response:
            status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return ProbeResult(spec.name, spec.kind, spec.target, False, _elapsed_ms(started), None, _describe_error(exc))
    ok = status in spec.expect_status
    detail = f"HTTP {status}" + ("" if ok else f", expected {'/'.join(map(str, spec.expect_status))}")
    return ProbeResult(spec.name, spec.kind, spec.target, ok, _elapsed_ms(started), status, detail)


async def fetch_probes(settings: Settings) -> SourceResult[tuple[ProbeResult, ...]]:
    """Run every probe at once; a failed probe is a result, not a source error."""
    started = time.perf_counter()
    try:
        # Imported on a worker thread first: imported on the event loop, it held the loop for as long as the import
        # took, and longer while another thread held an import lock it needed (the reader's warm-up does): the
        # reader's other reads could not even start. Once imported, the import below is a lookup.
        await asyncio.to_thread(importlib.import_module, "aiohttp")
        import aiohttp

        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(
                *(probe_tcp(p) if p.kind == "tcp" else probe_http(p, session) for p in settings.probes)
            )
    except Exception as exc:  # an unexpected failure of the probe machinery itself is reported, not raised
        return SourceResult(
            source="probes",
            fetched_at=datetime.now(UTC),
            error=SourceError("probes", ErrorKind.ERROR, f"probes could not run: {_describe_error(exc)}"),
            duration_s=time.perf_counter() - started,
        )
    return SourceResult(
        source="probes",
        fetched_at=datetime.now(UTC),
        data=tuple(results),
        duration_s=time.perf_counter() - started,
    )
