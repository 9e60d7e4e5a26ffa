"""The sandbox's SQLMesh: a copy of sqlmesh_project whose DuckDB state is built in the background.

The story, and the clock. The seed CSVs are a snapshot of the raw tables as of 2025-10-06 00:30 UTC, so against
the real clock every model would be months behind and every raw-load freshness audit would fail. The sandbox
therefore has a clock of its own, `AS_OF` = 2025-10-06 06:00 UTC, written into the generated config as
`[sqlmesh] as_of` (the reader judges freshness against it; a `sqlmesh run` launched in the sandbox should use it
as its execution time). At that moment:

* the prod plan was applied the day before (execution time 2025-10-05 01:00, intervals up to 2025-10-05), and
* the nightly cron run at 2025-10-06 01:00 processed the day 2025-10-05 for every model ("fresh"), or for every
  model but `marts.daily_activity`, whose run failed that night ("stale"): at 06:00 its interval for 2025-10-05
  has been due since 00:00, more than the 1 h grace, so it is behind its cron while everything else is fresh.
  The raw-load freshness audits pass at 01:00 (the newest raw load is from 00:30).

How. `python -m goodword_tui.sandbox.sqlmesh BUILD_DIR VARIANTS_DIR` builds both states in a subprocess: the
sandbox process never imports sqlmesh (no ~2 s delay before its first line, no threads racing the dashboard's
SQLMesh thread when tests run the sandbox in-process, no SQLMesh log lines on its stderr). The live project the
config points at (`<state_dir>/sqlmesh_project`) gets a state by an atomic file replace, so a reader sees either no
state, the old one or the new one; until then the project holds a `PREPARING_MARKER` the reader shows instead.
Nothing is ever written into the repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from goodword_tui.sources.sqlmesh import PREPARING_MARKER

REPO_PROJECT = Path(__file__).resolve().parents[2] / "sqlmesh_project"
DUCKDB_NAME = "goodword_local.duckdb"  # the `local` gateway's default file: its stem is the catalog name
GATEWAY = "local"
ENVIRONMENT = "prod"
AS_OF = datetime(2025, 10, 6, 6, 0, tzinfo=UTC)
PLAN_EXECUTION_TIME = "2025-10-05 01:00:00"
RUN_EXECUTION_TIME = "2025-10-06 01:00:00"
STALE_MODEL = "marts.daily_activity"
VARIANTS = ("fresh", "stale")
_COPY_IGNORE = shutil.ignore_patterns(".cache", "logs", "*.duckdb", "*.duckdb.wal", "__pycache__", PREPARING_MARKER)


def copy_project(source: Path, destination: Path) -> Path:
    """A copy without caches, logs or warehouses."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=_COPY_IGNORE)
    return destination


def build_environment(cache_dir: Path) -> dict[str, str]:
    """The build subprocess's environment: no project setting of the caller's shell leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOODWORD_", "SNOWFLAKE_", "SQLMESH_", "SQLMESH__")) and k != "MAX_FORK_WORKERS"
    }
    env.update(
        {
            "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
            "MAX_FORK_WORKERS": "1",
            "GOODWORD_SQLMESH_CACHE_DIR": str(cache_dir),
        }
    )
    return env


class SqlMeshSandbox:
    """The live project copy, the background build of its two states, and which one is installed."""

    def __init__(self, state_dir: Path, source: Path = REPO_PROJECT) -> None:
        self.root = state_dir / "sqlmesh"
        self.project_dir = state_dir / "sqlmesh_project"
        self.source = source
        self.build_dir = self.root / "build"
        self.variants_dir = self.root / "variants"
        self.log_path = self.root / "build.log"
        self._lock = threading.Condition()
        self._wanted = "fresh"
        self._installed: str | None = None
        self._built = False
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    # -- life cycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Copy the project and start building in the background; returns at once (the copy is small)."""
        with self._lock:
            if self._thread is not None:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            copy_project(self.source, self.project_dir)
            self._mark("preparing the sandbox's SQLMesh state (a plan and a run, about 20 s)")
            self._thread = threading.Thread(target=self._build, name="goodword-sandbox-sqlmesh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def use(self, variant: str) -> None:
        """Install `variant` ("fresh" | "stale") now if it is built, else as soon as it is."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown SQLMesh sandbox state {variant!r}; known: {', '.join(VARIANTS)}")
        with self._lock:
            self._wanted = variant
            if self._built:
                self._install(variant)
            elif self.error is None:
                self._mark(f"preparing the sandbox's SQLMesh state ({variant}); the build is still running")

    def wait_ready(self, timeout: float) -> bool:
        """Block until the wanted state is installed (True), the build failed or `timeout` passed (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._installed != self._wanted and self.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return self._installed == self._wanted

    @property
    def state(self) -> str:
        """For the endpoint listing: preparing | fresh | stale | failed."""
        with self._lock:
            if self.error is not None:
                return "failed"
            return self._installed if self._installed == self._wanted else "preparing"

    def config_section(self) -> dict[str, object]:
        """The `[sqlmesh]` settings that point the dashboard at this copy, on the sandbox's clock."""
        return {
            "project_path": str(self.project_dir.resolve()),
            "gateway": GATEWAY,
            "environment": ENVIRONMENT,
            "as_of": AS_OF,
        }

    # -- internals ---------------------------------------------------------------------------------------------

    def _mark(self, text: str) -> None:
        (self.project_dir / PREPARING_MARKER).write_text(text + "\n", encoding="utf-8")

    def _build(self) -> None:
        """Runs on the background thread: build both states in a subprocess, then install the wanted one."""
        try:
            copy_project(self.source, self.build_dir)
            self.variants_dir.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "goodword_tui.sandbox.sqlmesh", str(self.build_dir), str(self.variants_dir)]
            with open(self.log_path, "wb") as log:
                with self._lock:
                    if self._stopping:
                        return
                    self._process = subprocess.Popen(
                        cmd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        cwd=self.root,
                        env=build_environment(self.root / "cache"),
                    )
                code = self._process.wait()
            if code != 0:
                raise RuntimeError(f"the build exited with {code}: {self._last_log_line()} (log: {self.log_path})")
            with self._lock:
                self._built = True
                self._install(self._wanted)
        except Exception as exc:  # reported through the marker the reader shows, and `error`
            with self._lock:
                self.error = str(exc) if not self._stopping else "stopped"
                with contextlib.suppress(OSError):
                    self._mark(f"the sandbox's SQLMesh state could not be built: {self.error}")
                self._lock.notify_all()

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:200] if lines else "no output"

    def _install(self, variant: str) -> None:
        """Atomically put a built state in the live project (lock held)."""
        target = self.project_dir / DUCKDB_NAME
        staging = self.project_dir / f".{DUCKDB_NAME}.installing"
        shutil.copyfile(self.variants_dir / variant / DUCKDB_NAME, staging)
        with contextlib.suppress(FileNotFoundError):
            (self.project_dir / f"{DUCKDB_NAME}.wal").unlink()  # a WAL of the old file must not meet the new one
        os.replace(staging, target)
        with contextlib.suppress(FileNotFoundError):
            (self.project_dir / PREPARING_MARKER).unlink()
        self._installed = variant
        self._lock.notify_all()


# --------------------------------------------------------------------------------------------------------------
# The build itself, in its own process: `python -m goodword_tui.sandbox.sqlmesh BUILD_DIR VARIANTS_DIR`


def build_variants(build_dir: Path, variants_dir: Path) -> None:
    """Plan prod, run the night's cron without one model ("stale"), then with it ("fresh"); keep a copy of each.

    The DuckDB file is closed before each copy (`Context.close()` checkpoints it), so each copy is complete.
    """
    os.environ.update({"SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1", "MAX_FORK_WORKERS": "1"})
    from sqlmesh import Context

    database = build_dir / DUCKDB_NAME
    started = time.perf_counter()

    def step(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", flush=True)

    context = Context(paths=build_dir, gateway=GATEWAY)
    try:
        step("project loaded")
        plan = context.plan_builder(ENVIRONMENT, execution_time=PLAN_EXECUTION_TIME, skip_tests=True).build()
        context.apply(plan)
        step(f"prod plan applied as of {PLAN_EXECUTION_TIME}")
        status = context.run(ENVIRONMENT, execution_time=RUN_EXECUTION_TIME, select_models=[f"* & ^{STALE_MODEL}"])
        if status.is_failure:
            raise RuntimeError("the run without the stale model failed")
        context.close()
        _keep(database, variants_dir / "stale")
        step(f"stale: cron run of {RUN_EXECUTION_TIME} without {STALE_MODEL}")
        status = context.run(ENVIRONMENT, execution_time=RUN_EXECUTION_TIME)
        if status.is_failure:
            raise RuntimeError(f"the run of {STALE_MODEL} failed")
        context.close()
        _keep(database, variants_dir / "fresh")
        step(f"fresh: {STALE_MODEL} caught up")
    finally:
        context.close()


def _keep(database: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wal = database.with_name(database.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} is still there after closing: the copy would be incomplete")
    shutil.copyfile(database, folder / DUCKDB_NAME)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m goodword_tui.sandbox.sqlmesh BUILD_DIR VARIANTS_DIR", file=sys.stderr)
        return 2
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    try:
        build_variants(Path(argv[0]).resolve(), Path(argv[1]).resolve())
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
