"""What the benchmarks report about a list of timings, computed and rounded one way for all of them."""

from __future__ import annotations

import statistics


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
