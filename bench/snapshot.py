"""How long a full snapshot takes against the sandbox with network-like latency, next to the same calls in series.

A fault proxy adds a fixed delay to every request sent to moto and to the Snowflake emulator (each emulator
answers a loopback call in milliseconds, so without it concurrency has nothing to hide). Printed as JSON:

- `single_calls_s`: each API request / SQL statement alone, through the proxy (the slowest is the floor)
- `sequential_s`: the same calls one after another (what a naive client would take)
- `snapshot_s`: `Monitor.refresh_all()` (every source at once, calls inside each source at once), median of runs
- `ratio_to_slowest_call`: snapshot_s / slowest single call; the target is <= 1.3

Run: `python bench/snapshot.py [--latency 0.1] [--runs 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomlkit

from goodword_tui.cli import SandboxProcess
from goodword_tui.config import Settings, load_settings
from goodword_tui.monitor import Monitor
from goodword_tui.sandbox.faults import FaultProxy
from goodword_tui.sources import aws as aws_source
from goodword_tui.sources.snowflake import SnowflakeGateway


def proxied_config(config_path: Path, aws_proxy: FaultProxy, sf_proxy: FaultProxy) -> Settings:
    """The sandbox config, with both endpoints moved behind their proxies."""
    doc = tomlkit.parse(config_path.read_text())
    doc["aws"]["endpoint_url"] = f"http://127.0.0.1:{aws_proxy.port}"
    connections = tomlkit.parse(Path(doc["snowflake"]["connections_file"]).read_text())
    connections["goodword"]["port"] = sf_proxy.port
    state_dir = config_path.parent
    conn_path = state_dir / "connections-proxied.toml"
    conn_path.write_text(tomlkit.dumps(connections))
    conn_path.chmod(0o600)
    doc["snowflake"]["connections_file"] = str(conn_path)
    path = state_dir / "bench-config.toml"
    path.write_text(tomlkit.dumps(doc))
    path.chmod(0o600)
    return load_settings(path)


def time_it(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def single_calls(settings: Settings) -> dict[str, float]:
    """Every request a snapshot makes, each alone (warm clients and session, so only the call is timed)."""
    timings: dict[str, float] = {}
    session = aws_source.make_session(settings)
    clients = aws_source.make_clients(settings, session)
    for call in aws_source.CALLS:
        client = clients[call.client]
        aws_source.run_call(call, client)  # warm the connection
        timings[f"aws:{call.operation}"] = time_it(lambda c=call, cl=client: aws_source.run_call(c, cl))
    with SnowflakeGateway(settings, read_only=True) as gateway:
        gateway.login_user()
        statements = [
            "SELECT CURRENT_IP_ADDRESS(), CURRENT_USER(), CURRENT_ROLE()",
            "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT",
            "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN USER CHRIS",
            "DESCRIBE NETWORK POLICY INTEGRATIONS",
            "SHOW NETWORK POLICIES LIKE 'INTEGRATIONS'",
            *(f"DESCRIBE NETWORK RULE {r.name}" for r in settings.snowflake.rules),
        ]
        for sql in statements:
            timings[f"snowflake:{sql}"] = time_it(lambda q=sql: gateway.execute(q))
    return timings


async def snapshot_runs(settings: Settings, runs: int) -> tuple[list[float], dict[str, float]]:
    """Full snapshots (median of `runs`), and each source's own median duration inside them."""
    monitor = Monitor(settings)
    try:
        await monitor.refresh_all()  # first run: imports, login, connection pools
        assert not monitor.snapshot().errors, monitor.snapshot().errors
        times: list[float] = []
        per_source: dict[str, list[float]] = {}
        for _ in range(runs):
            started = time.perf_counter()
            snap = await monitor.refresh_all()
            times.append(time.perf_counter() - started)
            assert not snap.errors, snap.errors
            for result in snap.results():
                per_source.setdefault(result.source, []).append(result.duration_s)
        return times, {k: round(statistics.median(v), 4) for k, v in per_source.items()}
    finally:
        monitor.close()


def measure(settings: Settings, proxies: list[FaultProxy], latency: float, runs: int) -> dict[str, Any]:
    for proxy in proxies:
        proxy.fault.latency_s = latency
    singles = single_calls(settings)
    times, per_source = asyncio.run(snapshot_runs(settings, runs))
    slowest_name, slowest = max(singles.items(), key=lambda kv: kv[1])
    median = statistics.median(times)
    return {
        "injected_latency_s": latency,
        "calls": len(singles),
        "single_calls_s": {k: round(v, 4) for k, v in singles.items()},
        "slowest_single_call": {"call": slowest_name, "seconds": round(slowest, 4)},
        "sequential_s": round(sum(singles.values()), 4),
        "snapshot_runs_s": [round(t, 4) for t in times],
        "snapshot_s": round(median, 4),
        "per_source_s": per_source,
        "ratio_to_slowest_call": round(median / slowest, 3),
        "speedup_vs_sequential": round(sum(singles.values()) / median, 2),
        "meets_target_1_3x": median <= 1.3 * slowest,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, nargs="+", default=[0.1, 0.3], help="seconds added to every request (several ok)"
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    # The emulators run in their own process, as in the demo, so their CPU work does not compete with the
    # client's for this process's GIL.
    with tempfile.TemporaryDirectory(prefix="goodword-bench-") as state:
        sandbox = SandboxProcess("handoff", Path(state))
        base = load_settings(sandbox.config_path)
        assert base.aws.endpoint_url and base.snowflake.connections_file
        connections = tomlkit.parse(Path(base.snowflake.connections_file).read_text())
        aws_proxy = FaultProxy("127.0.0.1", int(base.aws.endpoint_url.rsplit(":", 1)[1])).start()
        sf_proxy = FaultProxy("127.0.0.1", int(connections["goodword"]["port"])).start()
        try:
            settings = proxied_config(sandbox.config_path, aws_proxy, sf_proxy)
            proxies = [aws_proxy, sf_proxy]
            # With no added latency: how long the emulators themselves take. moto answers every call in one
            # process under one GIL, so its service time adds up even when the calls are concurrent; real AWS
            # serves them in parallel. That sum is the floor of the AWS fan-out against this emulator.
            baseline = measure(settings, proxies, 0.0, args.runs)
            aws_service = sum(v for k, v in baseline["single_calls_s"].items() if k.startswith("aws:"))
            runs = [measure(settings, proxies, latency, args.runs) for latency in args.latency]
        finally:
            aws_proxy.stop()
            sf_proxy.stop()
            sandbox.stop()
    for run in runs:
        floor = run["injected_latency_s"] + aws_service
        run["emulator_floor_s"] = round(floor, 4)
        run["ratio_to_emulator_floor"] = round(run["snapshot_s"] / floor, 3)
    report = {
        "benchmark": "snapshot",
        "target": "full snapshot <= 1.3x the slowest single call",
        "aws_emulator_service_time_s": round(aws_service, 4),
        "no_latency": {k: baseline[k] for k in ("snapshot_s", "sequential_s", "per_source_s")},
        "runs": runs,
    }
    print(json.dumps(report, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "snapshot.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
