"""SQLMesh figures: the status pane's data after start, plan preview build time, and a 300-model status refresh.

Printed as JSON:

- `pane_filled`: a fresh process reads the real project's status (state only, DuckDB state as the sandbox has
  it, and PostgreSQL state when a server listens on 127.0.0.1:5432). `from_process_start_s` counts from spawning
  the process; `import_s` is `import sqlmesh` on the SQLMesh thread; `after_import_s` is what the pane waits for
  once sqlmesh is imported (target <= 1.0 s). Median of `--runs` processes.
- `plan_preview`: `plan_builder("prod").build()` on the read-only context (nothing applied, nothing written):
  no change with unit tests, and one changed model (tests skipped: the change breaks a test's expected columns).
- `generated_project`: a generated project of `--models` models (a seed, then a 3-ary tree of FULL /
  INCREMENTAL_BY_TIME_RANGE / VIEW models over it) applied once; `status_refresh_s` is a status read with warm
  connections (target <= 1.5 s), `first_read_s` the first one after import (definitions parsed), `loop_lag_ms`
  how late a 10 ms asyncio ticker ran meanwhile (a proxy for a stalled screen; key latency is measured in the UI),
  `first_comparison_s` the first full comparison of the project with state (it runs in the background after
  the first read; a refresh asked for meanwhile waits behind it) and `comparison_after_one_edit_s` a later one.

- `dashboard_pane_filled`: the real dashboard (`GoodwordApp`, headless, the other sources scripted) in a fresh
  process on the real project: from spawning the process, and from sqlmesh imported on the SQLMesh thread, to the
  SQLMesh pane's models table filled (target <= 1.0 s after the import). Median of `--runs` processes.
- `dashboard_key_latency`: the same app on the generated project: cursor keys pressed in the 300-model table
  while the SQLMesh source refreshes again and again; a key's latency is from the press to the next frame the
  app composes (p50 / p95 / max, split by whether a SQLMesh read was in flight; target p95 <= 50 ms).

Run: `python bench/sqlmesh_status.py [--runs 3] [--models 300] [--keys 60]` (about three minutes, most of it
applying plans). The figures are indicative: they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/sqlmesh_status.py`, this file's folder comes first on sys.path, where it would shadow the real
# `sqlmesh` package for every later `import sqlmesh`: drop it before anything imports sqlmesh.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parent))  # the repository, for tests.ui.data (the scripted sources of the UI tests)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from bench.figures import latency_summary  # noqa: E402
from goodword_tui.config import Settings, parse_settings  # noqa: E402
from goodword_tui.sandbox.sqlmesh import AS_OF, DUCKDB_NAME, REPO_PROJECT, build_environment, copy_project  # noqa: E402
from goodword_tui.sources.sqlmesh import SqlMeshReader  # noqa: E402
from goodword_tui.sqlmesh_runtime import (  # noqa: E402
    ReadOnlyState,
    SqlMeshRuntime,
    load_project_config,
    load_read_only_context,
)

SCRIPT = str(Path(__file__).resolve())

SEED_EXECUTION_TIME = "2025-10-06 01:00:00"


def settings_for(project: Path, gateway: str = "local", as_of: datetime = AS_OF) -> Settings:
    return parse_settings(
        {
            "snowflake": {"account": "bench"},
            "sqlmesh": {"project_path": str(project), "gateway": gateway, "as_of": as_of},
        }
    )


def run_python(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed: {(done.stdout + done.stderr)[-1500:]}")
    return done.stdout


def postgres_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------------------
# The status pane after start, in fresh processes


def child_status(project: str, gateway: str, preimport: str) -> None:
    """In the measured process: one status read, then the timings as one JSON line.

    `preimport` "1": import the Snowflake connector first, as the dashboard's Snowflake source does (on its own
    worker, at start); the project's config.py validates its Snowflake gateway, which imports the connector.
    """
    if preimport == "1":
        import snowflake.connector  # noqa: F401
    started = time.monotonic()
    reader = SqlMeshReader(cache_root=Path(project).parent / "reader-cache")

    async def main() -> dict[str, Any]:
        result = await reader(settings_for(Path(project), gateway))
        done = time.monotonic()
        imported_at = reader.runtime.imported_at or done
        return {
            "done_wall": time.time(),
            "ok": result.ok,
            "error": result.error.message if result.error else "",
            "models": len(result.data.models) if result.data else 0,
            "import_s": reader.runtime.import_seconds,
            "after_import_s": done - imported_at,
            "config_s": reader.session.timings.get("config_s", 0.0),
            "state_s": reader.session.timings.get("state_s", 0.0),
            "in_process_s": done - started,
        }

    figures = asyncio.run(main())
    reader.close()
    print(json.dumps(figures))


def pane_filled(project: Path, gateway: str, runs: int, env: dict[str, str], preimport: bool = False) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        spawned = time.time()
        args = [SCRIPT, "child-status", str(project), gateway, "1" if preimport else "0"]
        out = run_python(args, project.parent, env)
        line = json.loads(out.strip().splitlines()[-1])
        if not line["ok"]:
            raise RuntimeError(f"status read failed: {line['error']}")
        line["from_process_start_s"] = line["done_wall"] - spawned
        samples.append(line)

    def median(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 3)

    return {
        "gateway": gateway,
        "snowflake_connector_already_imported": preimport,
        "models": samples[0]["models"],
        "from_process_start_s": median("from_process_start_s"),
        "import_s": median("import_s"),
        "after_import_s": median("after_import_s"),
        "after_import_max_s": round(max(s["after_import_s"] for s in samples), 3),
        "of_which_project_config_s": median("config_s"),
        "of_which_state_read_s": median("state_s"),
        "target_after_import_s": 1.0,
        "runs": runs,
    }


def local_pg_project(root: Path, env: dict[str, str]) -> tuple[Path, dict[str, str], str]:
    """The real project planned with PostgreSQL state in a throwaway database (dropped by the caller)."""
    import psycopg2

    name = f"goodword_bench_{int(time.time())}"
    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    project = copy_project(REPO_PROJECT, root / "project-pg")
    pg_env = {
        **env,
        "GOODWORD_LOCAL_PG_DATABASE": name,
        "GOODWORD_LOCAL_PG_DUCKDB": str(root / "goodword_local_pg.duckdb"),
    }
    code = (
        "from sqlmesh import Context\n"
        f"c = Context(paths={str(project)!r}, gateway='local_pg')\n"
        f"c.apply(c.plan_builder('prod', execution_time={SEED_EXECUTION_TIME!r}, skip_tests=True).build())\n"
        "c.close()\n"
    )
    run_python(["-c", code], root, pg_env)
    return project, pg_env, name


def drop_database(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


# --------------------------------------------------------------------------------------------------------------
# Plan preview


def plan_preview(project: Path, runs: int) -> dict[str, Any]:
    """Plans built on the read-only context of the status reader (the same thread discipline)."""
    runtime = SqlMeshRuntime()

    def measure() -> dict[str, Any]:
        config = load_project_config(project, "local", project.parent / "plan-cache")
        started = time.perf_counter()
        context = load_read_only_context(config)
        load_s = time.perf_counter() - started
        state = ReadOnlyState.open(config, connect_timeout_s=5, statement_timeout_s=60)
        context.read_only_state = state
        try:

            def build(skip_tests: bool) -> tuple[float, Any]:
                begun = time.perf_counter()
                plan = context.plan_builder("prod", execution_time=AS_OF, skip_tests=skip_tests).build()
                return time.perf_counter() - begun, plan

            unchanged = [build(False)[0] for _ in range(runs)]
            model = project / "models" / "marts" / "signup_funnel.sql"
            model.write_text(
                model.read_text().replace(
                    "AS paid_conversion_rate\n", "AS paid_conversion_rate,\n  1 AS extra_column\n"
                )
            )
            context.load()
            changed = []
            for _ in range(runs):
                seconds, plan = build(True)
                changed.append(seconds)
            return {
                "context_load_s": round(load_s, 3),
                "unchanged_with_unit_tests_s": round(statistics.median(unchanged), 3),
                "one_model_changed_s": round(statistics.median(changed), 3),
                "changed_preview": {
                    "directly_modified": sorted(s.name for s in plan.directly_modified),
                    "categories": sorted((s.name, s.change_category.name) for s in plan.categorized),
                    "backfill_intervals": {si.snapshot_id.name: len(si.intervals) for si in plan.missing_intervals},
                },
            }
        finally:
            context.read_only_state = None
            state.close()
            context.close()

    try:
        return runtime.submit(measure).result()
    finally:
        runtime.close()


# --------------------------------------------------------------------------------------------------------------
# A generated project


def generate_project(root: Path, models: int) -> Path:
    """A seed and `models - 1` models, each reading the one before it in a 3-ary tree (depth ~log3 n)."""
    project = root / "generated"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n"
        f"      database: {project / 'generated.duckdb'}\n"
        "default_gateway: local\n"
        "model_defaults:\n  dialect: duckdb\n  start: '2025-09-01'\n  cron: '@daily'\n"
    )
    rows = ["id,ts,amount"] + [f"{i},2025-09-{1 + i % 30:02d} 00:00:00,{i * 3 % 97}" for i in range(200)]
    (project / "seeds" / "events.csv").write_text("\n".join(rows) + "\n")
    (project / "models" / "m000.sql").write_text("MODEL (name bench.m000, kind SEED (path '../seeds/events.csv'));\n")
    for i in range(1, models):
        parent = f"bench.m{(i - 1) // 3:03d}"
        if i % 3 == 0:
            body = f"MODEL (name bench.m{i:03d}, kind FULL);\nSELECT id, ts, amount + {i} AS amount FROM {parent}\n"
        elif i % 3 == 1:
            body = (
                f"MODEL (name bench.m{i:03d}, kind INCREMENTAL_BY_TIME_RANGE (time_column ts));\n"
                f"SELECT id, ts::TIMESTAMP AS ts, amount * 2 AS amount FROM {parent}\n"
                "WHERE ts::TIMESTAMP BETWEEN @start_ts AND @end_ts\n"
            )
        else:
            body = (
                f"MODEL (name bench.m{i:03d}, kind VIEW);\n"
                f"SELECT id, ts, amount FROM {parent} WHERE amount > {i % 50}\n"
            )
        (project / "models" / f"m{i:03d}.sql").write_text(body)
    return project


def generated_refresh(project: Path, runs: int, env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    code = (
        "from sqlmesh import Context\n"
        f"c = Context(paths={str(project)!r})\n"
        f"c.apply(c.plan_builder('prod', execution_time={SEED_EXECUTION_TIME!r}, skip_tests=True).build())\n"
        "c.close()\n"
    )
    run_python(["-c", code], project.parent, env)
    apply_s = time.perf_counter() - started
    settings = settings_for(project)
    reader = SqlMeshReader(cache_root=project.parent / "reader-cache")

    async def main() -> dict[str, Any]:
        await reader.runtime.call(lambda: None)  # import sqlmesh: not part of a refresh
        lags: list[float] = []
        running = True

        async def ticker() -> None:
            while running:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append((time.perf_counter() - before - 0.01) * 1000)

        begun = time.perf_counter()
        first = await reader(settings)
        first_s = time.perf_counter() - begun
        if not first.ok:
            raise RuntimeError(f"status read failed: {first.error}")
        # The first comparison of the project with state parses every model; it runs on the SQLMesh thread after
        # the first read, and a refresh asked for meanwhile waits for it. Timed on its own, then the steady state.
        begun = time.perf_counter()
        checked = await reader.check_local_changes(settings)
        first_comparison_s = time.perf_counter() - begun
        tick = asyncio.create_task(ticker())
        refreshes = []
        for _ in range(runs):
            begun = time.perf_counter()
            result = await reader(settings)
            refreshes.append(time.perf_counter() - begun)
        running = False
        await tick
        model = project / "models" / "m152.sql"  # a VIEW: `... WHERE amount > 2`
        model.write_text(model.read_text().replace("amount > ", "amount >= "))
        begun = time.perf_counter()
        edited = await reader.check_local_changes(settings)
        local_s = time.perf_counter() - begun
        ordered = sorted(lags)
        return {
            "models": len(result.data.models) if result.data else 0,
            "apply_plan_s": round(apply_s, 1),
            "first_read_s": round(first_s, 3),
            "status_refresh_s": round(statistics.median(refreshes), 3),
            "status_refresh_max_s": round(max(refreshes), 3),
            "target_status_refresh_s": 1.5,
            "loop_lag_ms": {
                "p50": round(ordered[len(ordered) // 2], 1),
                "p95": round(ordered[int(len(ordered) * 0.95)], 1),
                "max": round(ordered[-1], 1),
            },
            "first_comparison_s": round(first_comparison_s, 3),
            "local_changes_found_first": len(checked.data.local_changes) if checked.data else None,
            "comparison_after_one_edit_s": round(local_s, 3),
            "local_changes_found_after_edit": len(edited.data.local_changes) if edited.data else None,
        }

    try:
        return asyncio.run(main())
    finally:
        reader.close()


# --------------------------------------------------------------------------------------------------------------
# The real dashboard


def dashboard_app(project: Path, journal: Path) -> Any:
    """`GoodwordApp` on `project` through the real SQLMesh source; the other sources scripted (instant)."""
    from goodword_tui.monitor import Monitor
    from goodword_tui.ui.app import GoodwordApp
    from tests.ui import data

    base = data.settings(journal_path=str(journal))
    section = {"project_path": str(project), "gateway": "local", "environment": "prod", "as_of": AS_OF}
    settings = base.model_copy(update={"sqlmesh": base.sqlmesh.model_copy(update=section)})
    reader = SqlMeshReader(cache_root=project.parent / "app-cache")
    fetchers: dict[str, Any] = {**data.handoff_fetchers(), "sqlmesh": reader}
    return GoodwordApp(settings, Monitor(settings, fetchers), lambda: data.NOW, watch_terminal=False), reader


def models_shown(app: Any) -> int:
    from goodword_tui.ui.widgets import KeyedTable

    try:
        table = app.screen_stack[0].query_one("#table-sqlmesh_models", KeyedTable)
    except Exception:  # not mounted yet
        return 0
    return sum(1 for row in table.all_rows if row.key.startswith("model:"))


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


def child_pane(project: str, spawned: str, preimport: str) -> None:
    """In the measured process: the dashboard until the SQLMesh pane shows the models, as one JSON line.

    `preimport` "1": the Snowflake connector imported first, as the real Snowflake source does at start (the
    project's config.py validates its Snowflake gateway, which imports it); the sources here are scripted.
    """
    if preimport == "1":
        import snowflake.connector  # noqa: F401
    app, reader = dashboard_app(Path(project), Path(project).parent / "journal.jsonl")

    async def main() -> dict[str, Any]:
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("4")
            await wait_for(lambda: models_shown(app) > 0, 120, "the SQLMesh pane")
            filled = time.monotonic()
            filled_wall = time.time()
            imported_at = reader.runtime.imported_at or filled
            figures = {
                "models": models_shown(app),
                "from_process_start_s": filled_wall - float(spawned),
                "import_s": reader.runtime.import_seconds,
                "after_import_s": filled - imported_at,
            }
            await pilot.press("q")
        return figures

    print(json.dumps(asyncio.run(main())))


def dashboard_pane_filled(project: Path, runs: int, env: dict[str, str], preimport: bool) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        args = [SCRIPT, "child-pane", str(project), repr(time.time()), "1" if preimport else "0"]
        out = run_python(args, project.parent, env)
        samples.append(json.loads(out.strip().splitlines()[-1]))

    def median(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 3)

    return {
        "snowflake_connector_already_imported": preimport,
        "models": samples[0]["models"],
        "from_process_start_s": median("from_process_start_s"),
        "import_s": median("import_s"),
        "after_import_s": median("after_import_s"),
        "after_import_max_s": round(max(s["after_import_s"] for s in samples), 3),
        "target_after_import_s": 1.0,
        "runs": runs,
    }


def percentiles(values: list[float]) -> dict[str, Any]:
    return {"presses": len(values), **latency_summary(values)} if values else {"presses": 0}


def dashboard_key_latency(project: Path, models: int, presses: int) -> dict[str, Any]:
    """Cursor keys in the models table of an applied `project` while its status is read again and again."""
    from goodword_tui.ui.widgets import KeyedTable

    app, reader = dashboard_app(project, project.parent / "journal.jsonl")

    async def main() -> dict[str, Any]:
        async with app.run_test(size=(160, 50)) as pilot:
            frames: list[float] = []
            compose = app._display

            def recording(screen: Any, renderable: Any) -> None:
                if renderable is not None:
                    frames.append(time.perf_counter())
                compose(screen, renderable)

            app._display = recording  # headless: the frame is composed, not written; its time is what we need
            await pilot.press("4")
            await wait_for(lambda: models_shown(app) >= models, 300, f"{models} models in the pane")
            # The first comparison of the project with state (every model parsed) runs after the first read.
            await wait_for(lambda: not app._busy, 300, "the first reads")
            app.screen_stack[0].query_one("#table-sqlmesh_models", KeyedTable).focus()
            busy: list[float] = []
            idle: list[float] = []
            refreshes = 0
            for index in range(presses):
                if "sqlmesh" not in app._busy:
                    app.refresh_source("sqlmesh")
                    refreshes += 1
                    await asyncio.sleep(0.02)  # the read is under way on the SQLMesh thread
                reading = "sqlmesh" in app._busy
                mark = len(frames)
                started = time.perf_counter()
                await pilot.press("down" if index % 4 < 2 else "up")
                deadline = started + 2.0
                while len(frames) == mark and time.perf_counter() < deadline:
                    await asyncio.sleep(0.0005)
                latency = ((frames[mark] if len(frames) > mark else time.perf_counter()) - started) * 1000
                (busy if reading else idle).append(latency)
                await asyncio.sleep(0.03)  # a person does not type at machine speed
            shown = models_shown(app)
            await pilot.press("q")
        return {
            "models": shown,
            "refreshes_started": refreshes,
            "during_sqlmesh_read_ms": percentiles(busy),
            "between_reads_ms": percentiles(idle),
            "all_ms": percentiles(busy + idle),
            "target_p95_ms": 50,
        }

    try:
        return asyncio.run(main())
    finally:
        reader.close()


# --------------------------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "child-status":
        child_status(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) == 5 and sys.argv[1] == "child-pane":
        child_pane(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--keys", type=int, default=60)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="goodword-bench-sqlmesh-"))
    env = build_environment(root / "cache")
    try:
        # The real project in the sandbox's "fresh" state, on DuckDB.
        build = copy_project(REPO_PROJECT, root / "build")
        run_python(["-m", "goodword_tui.sandbox.sqlmesh", str(build), str(root / "variants")], root, env)
        project = copy_project(REPO_PROJECT, root / "project")
        shutil.copyfile(root / "variants" / "fresh" / DUCKDB_NAME, project / DUCKDB_NAME)
        figures: dict[str, Any] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pane_filled": [
                pane_filled(project, "local", args.runs, env),
                pane_filled(project, "local", args.runs, env, preimport=True),
            ],
        }
        if postgres_listening():
            pg_project, pg_env, database = local_pg_project(root, env)
            try:
                figures["pane_filled"].append(pane_filled(pg_project, "local_pg", args.runs, pg_env, preimport=True))
            finally:
                drop_database(database)
        figures["plan_preview"] = plan_preview(project, args.runs)
        figures["dashboard_pane_filled"] = [
            dashboard_pane_filled(project, args.runs, env, preimport=False),
            dashboard_pane_filled(project, args.runs, env, preimport=True),
        ]
        generated = generate_project(root, args.models)
        figures["generated_project"] = generated_refresh(generated, args.runs, env)
        figures["dashboard_key_latency"] = dashboard_key_latency(generated, args.models, args.keys)
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
