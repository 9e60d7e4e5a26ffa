"""Command line: the dashboard (default), the headless checks, and the sandbox.

Exit codes of `check`: 0 all good, 1 warnings, 2 critical findings, 3 a source unreachable (the data is
incomplete, whatever it found). Any command: 4 when it cannot run at all (bad config, bad argument).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click

from goodword_tui import startup
from goodword_tui.config import ConfigError, Settings, default_config_path, load_settings

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNREACHABLE, EXIT_UNUSABLE = 0, 1, 2, 3, 4
JSON_VERSION = 1


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNUSABLE)


def _load(config: str | None, read_only: bool = False) -> Settings:
    try:
        settings = load_settings(Path(config) if config else default_config_path())
    except ConfigError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(EXIT_UNUSABLE)
    if read_only:
        platform = settings.platform.model_copy(update={"mode": "read-only"})
        settings = settings.model_copy(update={"platform": platform})
    return settings


def _color() -> bool:
    return "NO_COLOR" not in os.environ


config_option = click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $GOODWORD_TUI_CONFIG or ./config.toml).",
)


@click.group(invoke_without_command=True)
@config_option
@click.option("--read-only", is_flag=True, help="Audit mode: nothing can change anything.")
@click.version_option(package_name="goodword-tui")
@click.pass_context
def main(ctx: click.Context, config: str | None, read_only: bool) -> None:
    """goodword-tui: the on-call console for the Goodword data platform.

    With no command it opens the dashboard.
    """
    if ctx.invoked_subcommand is None:
        settings = _load(config, read_only)
        sys.exit(_run_dashboard(settings, read_only))
    if ctx.invoked_subcommand != "demo":
        startup.resume()  # only the dashboard's start-up runs with the collector paused (the demo's included)


def _run_dashboard(settings: Settings, read_only: bool) -> int:
    from goodword_tui.reader import ReaderProcess, reads_in_process

    reader = None if reads_in_process() else ReaderProcess(settings)
    try:
        if reader is not None:
            with contextlib.suppress(OSError):  # could not start: the first read tries again and says why
                reader.start()  # first, so its imports (boto3, the connector) run on the other core as Textual loads
        from goodword_tui.ui.app import run_dashboard

        return run_dashboard(settings, read_only=read_only or None, reader=reader)
    finally:
        if reader is not None:
            reader.close()


# --------------------------------------------------------------------------------------------------------------
# Headless


def _collect(settings: Settings) -> tuple[Any, list[Any]]:
    from goodword_tui.monitor import Monitor

    monitor = Monitor(settings)
    try:
        snapshot = asyncio.run(monitor.refresh_all())
        return snapshot, monitor.findings()
    finally:
        monitor.close()


def check_exit_code(snapshot: Any, findings: list[Any]) -> int:
    if any(r.error is not None for r in snapshot.results()):
        return EXIT_UNREACHABLE
    return int(max((f.severity for f in findings), default=0))


def _source_lines(snapshot: Any) -> list[dict[str, Any]]:
    from goodword_tui.model import to_jsonable

    return [
        {
            "source": r.source,
            "ok": r.ok,
            "fetched_at": r.fetched_at.isoformat(),
            "duration_s": round(r.duration_s, 3),
            "stale_since": r.stale_since.isoformat() if r.stale_since else None,
            "error": to_jsonable(r.error),
        }
        for r in snapshot.results()
    ]


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see the README).")
def check(config: str | None, as_json: bool) -> None:
    """Print the findings grouped by area; the exit code says how bad it is."""
    from goodword_tui.model import Severity, to_jsonable

    settings = _load(config)
    snapshot, findings = _collect(settings)
    code = check_exit_code(snapshot, findings)
    counts = {s.label: sum(1 for f in findings if f.severity == s) for s in reversed(Severity)}
    if as_json:
        payload = {
            "version": JSON_VERSION,
            "taken_at": snapshot.taken_at.isoformat(),
            "platform": settings.platform.name,
            "exit_code": code,
            "summary": counts,
            "sources": _source_lines(snapshot),
            "findings": to_jsonable(findings),
        }
        click.echo(json.dumps(payload, indent=2))
        sys.exit(code)
    click.echo(render_check(settings, snapshot, findings, code, color=_color()))
    sys.exit(code)


SEVERITY_STYLE = {"critical": "red", "warning": "yellow", "info": "cyan"}


def render_check(settings: Settings, snapshot: Any, findings: list[Any], code: int, *, color: bool) -> str:
    def style(text: str, fg: str, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines = [f"{settings.platform.name}: check at {snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC"]
    for r in snapshot.results():
        status = "ok" if r.ok else f"FAILED ({r.error.kind}): {r.error.message}" if r.error else "no data"
        lines.append(f"  source {r.source:<10} {status}  [{r.duration_s:.2f}s]")
        if r.error and r.error.hint:
            lines.append(f"    hint: {r.error.hint}")
    by_area: dict[str, list[Any]] = {}
    for f in findings:
        by_area.setdefault(f.area.value, []).append(f)
    for area, items in by_area.items():
        lines.append("")
        lines.append(style(area.upper(), "white", bold=True))
        for f in items:
            label = style(f"{f.severity.label.upper():<8}", SEVERITY_STYLE[f.severity.label], bold=True)
            lines.append(f"  {label} {f.code:<28} {f.resource}: {f.message}")
            lines.extend(f"           {e}" for e in f.evidence)
            if f.fix is not None:
                lines.append(f"           fix: {f.fix.summary}")
    counts = {s: sum(1 for f in findings if f.severity.label == s) for s in ("critical", "warning", "info")}
    verdict = {0: "all good", 1: "warnings", 2: "CRITICAL", 3: "a source is unreachable"}[code]
    lines.append("")
    lines.append(
        f"{counts['critical']} critical, {counts['warning']} warning, {counts['info']} info: {verdict} (exit {code})"
    )
    return "\n".join(lines)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, default=True, help="JSON output (the only format).")
def snapshot(config: str | None, as_json: bool) -> None:
    """Print the full snapshot of every source as JSON."""
    from goodword_tui.model import to_jsonable

    settings = _load(config)
    snap, _ = _collect(settings)
    click.echo(json.dumps({"version": JSON_VERSION, "snapshot": to_jsonable(snap)}, indent=2))


@main.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--since", default=None, help="Journal entries from this time on (ISO 8601, e.g. 2026-11-26T00:00).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, help="Default: beside the journal.")
@click.option("--read-only", is_flag=True, help="Audit mode: the report is written locally, never uploaded.")
def export(config: str | None, fmt: str, since: str | None, out_dir: str | None, read_only: bool) -> None:
    """Write an audit report: the snapshot, the findings and the journal, with its SHA-256."""
    from datetime import UTC, datetime

    from goodword_tui.export import export_report

    journal_since = None
    if since:
        try:
            journal_since = datetime.fromisoformat(since)
        except ValueError:
            _fail(f"--since {since!r} is not an ISO 8601 time (expected e.g. 2026-11-26T00:00)")
        if journal_since is not None and journal_since.tzinfo is None:
            journal_since = journal_since.replace(tzinfo=UTC)
    settings = _load(config, read_only)
    snap, findings = _collect(settings)
    try:
        result = export_report(settings, snap, findings, journal_since, fmt, out_dir=out_dir)  # type: ignore[arg-type]
    except OSError as exc:  # a full disk, a folder every user can write to: one line, no traceback
        _fail(f"the report was not written: {exc}")
        return
    click.echo(f"report: {result.path}")
    click.echo(f"sha256: {result.sha256}  ({result.checksum_path})")
    if result.s3_uri:
        click.echo(f"uploaded: {result.s3_uri}")
    if result.note:
        click.echo(f"note: {result.note}")


def _parse_ip(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        _fail(f"{what} {value!r} is not an IP address (expected e.g. 172.22.2.106)")
        raise AssertionError from None  # unreachable: _fail exits


@main.command()
@config_option
@click.argument("ip")
def why(config: str | None, ip: str) -> None:
    """Which entry of the Snowflake network policy allows or blocks IP (blocked list first)."""
    from goodword_tui.analysis.reach import why as explain
    from goodword_tui.sources.snowflake import fetch_snowflake

    address = _parse_ip(ip, "IP")
    settings = _load(config)
    result = asyncio.run(fetch_snowflake(settings))
    if result.data is None:
        err = result.error
        _fail(
            f"cannot read Snowflake: {err.message if err else 'no data'}"
            + (f" ({err.hint})" if err and err.hint else "")
        )
    verdict = explain(address, result.data)
    click.echo(verdict.explain() if hasattr(verdict, "explain") else verdict.reason)
    sys.exit(EXIT_OK if verdict.allowed else EXIT_WARNING)


@main.command()
@config_option
@click.argument("source")
@click.argument("destination")
def reach(config: str | None, source: str, destination: str) -> None:
    """Explain the network path from SOURCE to DESTINATION (route tables, peering, security groups)."""
    from goodword_tui.analysis.reach import reach as explain
    from goodword_tui.sources.aws import fetch_aws

    src, dst = _parse_ip(source, "SOURCE"), _parse_ip(destination, "DESTINATION")
    settings = _load(config)
    result = asyncio.run(fetch_aws(settings))
    if result.data is None:
        err = result.error
        _fail(f"cannot read AWS: {err.message if err else 'no data'}" + (f" ({err.hint})" if err and err.hint else ""))
    path = explain(src, dst, result.data, settings)
    click.echo(path.explain() if hasattr(path, "explain") else str(path))
    sys.exit(EXIT_OK if path.ok else EXIT_WARNING)


# --------------------------------------------------------------------------------------------------------------
# Sandbox


@main.group()
def sandbox() -> None:
    """The emulated Goodword platform (moto + fakesnow and our Snowflake account layer) on loopback."""


@sandbox.command("scenarios")
def sandbox_scenarios() -> None:
    """List the scenarios."""
    from goodword_tui.sandbox.scenarios import describe

    for item in describe():
        click.echo(f"{item['name']:<22} {item['summary']}")


def _scenario_choice() -> click.Choice:
    from goodword_tui.sandbox.scenarios import SCENARIOS

    return click.Choice(sorted(SCENARIOS))


@sandbox.command("serve")
@click.option("--scenario", default="handoff", type=_scenario_choice(), show_default=True)
@click.option("--config-out", type=click.Path(dir_okay=False), default=None, help="Where to write the config.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None, help="Default: a new temp folder.")
@click.option("--client-ip", default=None, help="The address Snowflake pretends to see (default: the access server's).")
@click.option("--base-config", type=click.Path(dir_okay=False, exists=True), default=None)
def sandbox_serve(
    scenario: str, config_out: str | None, state_dir: str | None, client_ip: str | None, base_config: str | None
) -> None:
    """Start the sandbox; the first line printed is the config path, then the endpoints; runs until interrupted."""
    from goodword_tui.sandbox.platform import SandboxPlatform

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    platform = SandboxPlatform(
        Path(state_dir) if state_dir else None,
        base_config=Path(base_config) if base_config else None,
        client_ip=client_ip,
        faults=True,  # the dashboard goes through fault proxies: `goodword-tui sandbox fault` switches them
    )
    try:
        config_path = platform.start(scenario)
        if config_out:
            target = Path(config_out)
            target.write_text(config_path.read_text(encoding="utf-8"), encoding="utf-8")
            target.chmod(0o600)
            config_path = target
        click.echo(str(config_path.resolve()))
        for name, value in platform.endpoints().items():
            click.echo(f"{name}: {value}")
        sys.stdout.flush()
        stop.wait()
    except Exception as exc:  # startup failures are reported in one line, never as a traceback
        click.echo(f"error: the sandbox could not start: {exc}", err=True)
        sys.exit(EXIT_UNUSABLE)
    finally:
        platform.stop()


def _fault_kinds() -> list[str]:
    from goodword_tui.sandbox.faults import AWS_KINDS, SNOWFLAKE_SESSION_KINDS, TCP_KINDS

    return sorted({*AWS_KINDS, *SNOWFLAKE_SESSION_KINDS, *TCP_KINDS, "clear"})


def _describe_fault(target: str, status: dict[str, Any]) -> str:
    fault = status.get("fault")
    if not fault:
        return f"{target}: healthy"
    left = "until cleared" if fault.get("remaining") is None else f"{fault['remaining']} use(s) left"
    latency = f", {fault['latency_s']:g} s" if fault.get("kind") == "latency" else ""
    return f"{target}: {fault['kind']}{latency} ({left}; applied {status.get('applied', 0)} time(s))"


@sandbox.command("fault")
@click.argument("target", type=click.Choice(["aws", "snowflake", "state"]), required=False)
@click.argument("kind", type=click.Choice(_fault_kinds()), required=False)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Only the next N requests (default: until cleared)."
)
@click.option(
    "--latency",
    "latency_s",
    type=click.FloatRange(0, 600, min_open=True),
    default=None,
    help="Seconds added per request (kind latency; default 1).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="The running sandbox's state folder (default: the folder of --config / $GOODWORD_TUI_CONFIG).",
)
@config_option
def sandbox_fault(
    target: str | None,
    kind: str | None,
    count: int | None,
    latency_s: float | None,
    state_dir: str | None,
    config: str | None,
) -> None:
    """Put a fault between the dashboard and a running sandbox (`sandbox serve` or `demo`), or clear it.

    TARGET is aws, snowflake or state (the PostgreSQL state port). KIND: latency, hang, reset, http-500,
    http-503, throttle and expired-token (aws), session-expired, token-expired and login-refused (snowflake),
    down (state), or clear. Without KIND it shows the target's fault; without TARGET, every target's.
    """
    from goodword_tui.sandbox.faults import FaultError, send_control

    folder = Path(state_dir) if state_dir else (Path(config) if config else default_config_path()).parent
    try:
        if target is None or kind is None:
            statuses = send_control(folder, None)
            chosen = [target] if target else sorted(statuses)
            for name in chosen:
                click.echo(_describe_fault(name, statuses.get(name, {})))
            return
        answer = send_control(folder, target, kind, count=count, latency_s=latency_s)
    except FaultError as exc:
        _fail(str(exc))
        return
    click.echo(_describe_fault(target, answer.get(target, {})))


class SandboxProcess:
    """`goodword-tui sandbox serve` as a child process, so the dashboard's process stays its own."""

    def __init__(self, scenario: str, state_dir: Path, client_ip: str | None = None) -> None:
        cmd = [sys.executable, "-m", "goodword_tui", "sandbox", "serve", "--scenario", scenario]
        cmd += ["--state-dir", str(state_dir)]
        if client_ip:
            cmd += ["--client-ip", client_ip]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first or self.proc.poll() is not None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(err.strip().splitlines()[-1] if err.strip() else "the sandbox exited at start")
        self.config_path = Path(first)

    def wait_ready(self, timeout_s: float = 300.0) -> bool:
        """Wait until the sandbox has finished building its SQLMesh state (it builds in the background, with most
        of a core, after the endpoints are up). Benchmarks call this, so the build's CPU is not charged to them."""
        from goodword_tui.sources.sqlmesh import PREPARING_MARKER

        settings = load_settings(self.config_path)
        marker = settings.resolve(settings.sqlmesh.project_path) / PREPARING_MARKER
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if "could not be built" in marker.read_text(encoding="utf-8", errors="replace"):
                    return False
            except FileNotFoundError:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@main.command()
@click.option("--scenario", default="handoff", type=_scenario_choice(), show_default=True)
@click.option("--read-only", is_flag=True, help="Audit mode.")
@click.option("--check", "headless", is_flag=True, help="Print `check` against the sandbox instead of the dashboard.")
def demo(scenario: str, read_only: bool, headless: bool) -> None:
    """Start the sandbox and the dashboard together."""
    state_dir = Path(tempfile.mkdtemp(prefix="goodword-demo-"))
    click.echo(f"starting the sandbox ({scenario}) in {state_dir} ...", err=True)
    try:
        child = SandboxProcess(scenario, state_dir)
    except RuntimeError as exc:
        shutil.rmtree(state_dir, ignore_errors=True)
        _fail(f"the sandbox could not start: {exc}")
        return
    try:
        settings = _load(str(child.config_path), read_only)
        if headless:
            startup.resume()
            snap, findings = _collect(settings)
            code = check_exit_code(snap, findings)
            click.echo(render_check(settings, snap, findings, code, color=_color()))
            sys.exit(code)
        sys.exit(_run_dashboard(settings, read_only))
    finally:
        child.stop()
        # The demo's emulated platform is throwaway (and holds its fake credentials): leave nothing behind.
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    main()
