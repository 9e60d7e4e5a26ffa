"""What the benchmarks report about a list of timings, computed and rounded one way for all of them."""

from __future__ import annotations

import statistics
import time


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: a value that was measured, not one interpolated between two."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_summary(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p95 and max of latencies in milliseconds, to 0.1 ms."""
    return {
        "p50": round(statistics.median(latencies_ms), 1),
        "p95": round(percentile(latencies_ms, 0.95), 1),
        "max": round(max(latencies_ms), 1),
    }


def machine_speed_s(rounds: int = 3) -> float:
    """Seconds this machine takes for a fixed piece of pure-Python work (median of `rounds`), to read the other
    figures by: the same code measured 2-3x apart on this VM on different days, with a quiet load average both
    times. Compare figures taken at similar speeds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        sum(range(30_000_000))
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)
