"""The one thread all SQLMesh work runs on, and read-only access to a project's configuration and state.

Why one thread: a SQLMesh `Context` is not safe for concurrent use, loading a project rewrites `sys.path` and
`sys.modules` (its `config.py` and macros are imported under plain names such as `config`), and connections are
kept per thread. Every call into sqlmesh therefore goes through `SqlMeshRuntime`, a single-thread executor, and
sqlmesh is imported there, lazily, after the process-wide switches it reads at import are set (no telemetry
thread or atexit flush, no `fork()` of a threaded process).

Why a read-only path of our own (see shared/reference/sqlmesh-facts.md):
* `Context.state_sync` migrates (creates tables in) an empty state database, and wraps the state in a cache that
  serves snapshots up to 120 s old.
* `EngineAdapterStateSync` itself writes an on-disk snapshot cache into the current directory unless told
  otherwise, and de-duplicates snapshot rows it finds twice by writing them back.
So the state is opened here on a connection the database itself keeps read-only (DuckDB `read_only=True`,
PostgreSQL `default_transaction_read_only`), after checking that there is state at all; the snapshot cache is
in memory, and SQLMesh's own code refreshes every mutable column and all intervals from the database on each
read, so a cached definition can never hide a change.

Nothing in this module imports sqlmesh at import time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from sqlmesh.core.config import Config
    from sqlmesh.core.config.connection import ConnectionConfig
    from sqlmesh.core.context import Context
    from sqlmesh.core.engine_adapter import EngineAdapter
    from sqlmesh.core.snapshot import Snapshot, SnapshotId
    from sqlmesh.core.state_sync import EngineAdapterStateSync

P = ParamSpec("P")
T = TypeVar("T")

# Set before sqlmesh is imported (it reads the first two then). The third is read by the Snowflake connector at
# each login sqlmesh makes to a Snowflake gateway (plan, run): without it the connector probes the cloud metadata
# endpoints and AWS STS from the operator's machine (our own sessions turn it off per connection instead).
IMPORT_SWITCHES = {
    "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
    "MAX_FORK_WORKERS": "1",
    "SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true",
}
THREAD_NAME = "goodword-sqlmesh"
STATE_ENGINES = ("duckdb", "postgres")  # the state engines we can open with the database enforcing read-only


class SqlMeshUnavailable(Exception):
    """A reason SQLMesh status cannot be read, with a kind (an `ErrorKind` value) and what to do about it."""

    def __init__(self, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


class NoStateYet(Exception):
    """The state database does not exist or has no SQLMesh tables: nothing was ever applied there."""


# --------------------------------------------------------------------------------------------------------------
# The process and the thread


def prepare_process() -> None:
    """Set the switches sqlmesh reads at import and keep its log records off the terminal.

    Called on the SQLMesh thread before the first import. If sqlmesh was imported earlier (a test, a plugin),
    its fork-pool size is forced down as well: forking a process that runs other threads can deadlock.
    Log records go to whatever the application configured; with nothing configured they are dropped instead of
    reaching Python's last-resort handler, which would print them over the dashboard.
    """
    for name, value in IMPORT_SWITCHES.items():
        os.environ[name] = value
    constants = sys.modules.get("sqlmesh.core.constants")
    if constants is not None:
        constants.MAX_FORK_WORKERS = 1  # type: ignore[attr-defined]
    logger = logging.getLogger("sqlmesh")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    # Deprecation chatter from pandas and friends, raised inside sqlmesh, would otherwise print over the screen.
    warnings.filterwarnings("ignore", module=r"sqlmesh(\..*)?$")


class SqlMeshRuntime:
    """A single-thread executor for every SQLMesh call, which also imports sqlmesh (once, on that thread)."""

    def __init__(self, name: str = THREAD_NAME) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._thread_ident: int | None = None
        self.import_seconds: float | None = None  # how long `import sqlmesh` took here (0.0: already imported)
        self.imported_at: float | None = None  # time.monotonic() when sqlmesh became usable
        self._closed = False

    def on_thread(self) -> bool:
        return threading.get_ident() == self._thread_ident

    def _ready(self) -> None:
        self._thread_ident = threading.get_ident()
        if self.imported_at is not None:
            return
        prepare_process()
        started = time.perf_counter()
        already = "sqlmesh" in sys.modules
        import sqlmesh  # noqa: F401  (the import is the point)

        self.import_seconds = 0.0 if already else time.perf_counter() - started
        self.imported_at = time.monotonic()

    def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        self._ready()
        return fn(*args, **kwargs)

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> concurrent.futures.Future[T]:
        """Queue `fn` on the SQLMesh thread (after sqlmesh is imported there)."""
        if self._closed:
            raise RuntimeError("the SQLMesh runtime is closed")
        return self._executor.submit(self._run, fn, *args, **kwargs)  # type: ignore[arg-type]

    async def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        """Run `fn` on the SQLMesh thread and wait for it without blocking the event loop.

        On timeout a job that has not started is dropped; one already running cannot be stopped and finishes
        in the background (callers keep its future to avoid queueing another behind it).
        """
        future = self.submit(fn, *args, **kwargs)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def close(self, wait: bool = False, cancel_pending: bool = True) -> None:
        """Stop taking work; queued jobs are cancelled (or run first), a running one finishes on its own."""
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=cancel_pending)


# --------------------------------------------------------------------------------------------------------------
# Project configuration (runs on the SQLMesh thread)


def default_cache_root() -> Path:
    """Where our SQLMesh caches live: the user's cache directory, never the project folder."""
    import platformdirs

    return platformdirs.user_cache_path("goodword-tui") / "sqlmesh"


def project_cache_dir(project: Path, root: Path | None = None) -> Path:
    digest = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:16]
    return (root or default_cache_root()) / digest


@dataclass
class ProjectConfig:
    """A project's configuration with one gateway selected, as SQLMesh itself would load it."""

    path: Path
    gateway: str
    configs: dict[Path, Config]  # what `Context(config=...)` takes; cache_dir moved out of the project folder
    config: Config
    state_connection: ConnectionConfig
    state_schema: str | None
    cache_dir: Path
    signature: tuple[tuple[str, int, int], ...]  # the config files' (name, mtime, size): reload when it changes


CONFIG_FILES = ("config.py", "config.yaml", "config.yml", ".env")


def config_signature(project: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for name in CONFIG_FILES:
        path = project / name
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        out.append((name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_project_config(project: Path, gateway: str, cache_dir: Path | None = None) -> ProjectConfig:
    """Load `config.py`/`config.yaml` and select `gateway`; every problem is a `SqlMeshUnavailable` (config).

    The gateway's scheduler is asked first, as SQLMesh does before touching a database: a project may refuse a
    gateway whose settings are incomplete (sqlmesh_project's `MissingSettingsScheduler`) and that refusal,
    which names what is missing, is the message to show.
    """
    from sqlmesh.core.config import Config
    from sqlmesh.core.config.loader import load_configs
    from sqlmesh.core.config.scheduler import BuiltInSchedulerConfig
    from sqlmesh.utils.errors import SQLMeshError

    project = project.resolve()
    if not project.is_dir():
        raise SqlMeshUnavailable(
            "config",
            f"SQLMesh project not found: {project}",
            "set [sqlmesh] project_path in the config (relative paths are taken from the config file's folder)",
        )
    signature = config_signature(project)
    if not any(name.startswith("config") for name, _, _ in signature):
        raise SqlMeshUnavailable(
            "config", f"no config.py or config.yaml in {project}", "point [sqlmesh] project_path at the project"
        )
    cache = cache_dir or project_cache_dir(project)
    try:
        loaded = load_configs(None, Config, [project])
        configs = {path: cfg.copy(update={"cache_dir": str(cache)}) for path, cfg in loaded.items()}
        config = next(iter(configs.values()))
        name = (gateway or config.default_gateway_name).lower()
        gateway_config = config.get_gateway(name)
        scheduler = gateway_config.scheduler or config.default_scheduler
        if not isinstance(scheduler, BuiltInSchedulerConfig):
            raise SqlMeshUnavailable(
                "config", f"gateway '{name}' uses a {type(scheduler).__name__}, which this dashboard cannot read"
            )
        # The built-in scheduler only fingerprints the state connection here; a refusing one raises.
        connection = config.get_connection(name)
        shim = SimpleNamespace(config=config, gateway=name, connection_config=connection)
        scheduler.state_sync_fingerprint(shim)  # type: ignore[arg-type]
        state_connection = config.get_state_connection(name) or connection
        state_schema = config.get_state_schema(name)
    except SqlMeshUnavailable:
        raise
    except (SQLMeshError, ValueError, TypeError, KeyError, ImportError, SyntaxError) as exc:
        raise SqlMeshUnavailable(
            "config",
            f"SQLMesh project {project.name}: {first_line(exc)}",
            "check the project's config and the environment variables it reads",
        ) from None
    return ProjectConfig(
        path=project,
        gateway=name,
        configs=configs,
        config=config,
        state_connection=state_connection,
        state_schema=state_schema,
        cache_dir=cache,
        signature=signature,
    )


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error, for one-line messages (SQLMesh errors run to many lines)."""
    text = str(error).strip() or type(error).__name__
    return next((line.strip() for line in text.splitlines() if line.strip()), text)[:300]


# --------------------------------------------------------------------------------------------------------------
# Read-only state (runs on the SQLMesh thread)


def open_read_only_adapter(connection: ConnectionConfig, connect_timeout_s: float, statement_timeout_s: float) -> Any:
    """An engine adapter on a connection the database keeps read-only; never creates a database file.

    DuckDB: the file must exist (a read-write open would create an empty one) and is opened `read_only`.
    While it is open no other process (a cron `sqlmesh run`) can take its write lock, so callers close it after
    each read.
    PostgreSQL: every transaction is read-only (`default_transaction_read_only`), with connect and statement
    timeouts so a database that is down or stuck fails fast.
    """
    kind = connection.type_
    if kind == "duckdb":
        return _duckdb_adapter(connection)
    if kind == "postgres":
        return _postgres_adapter(connection, connect_timeout_s, statement_timeout_s)
    raise SqlMeshUnavailable(
        "config",
        f"SQLMesh state on {kind} cannot be opened read-only by this dashboard (supported: {', '.join(STATE_ENGINES)})",
        "use PostgreSQL for the state connection (SQLMesh's own recommendation)",
    )


def _duckdb_adapter(connection: Any) -> Any:
    import duckdb
    from sqlmesh.core.engine_adapter import DuckDBEngineAdapter

    database = connection.database
    if not database and connection.catalogs:
        first = next(iter(connection.catalogs.values()))
        database = first if isinstance(first, str) else first.path
    if not database or database == ":memory:":
        raise NoStateYet("the state is an in-memory DuckDB database (nothing persists between runs)")
    path = Path(database)
    if not path.is_absolute():
        # SQLMesh opens a relative path against the current directory; say so rather than guess.
        path = Path.cwd() / path
    if not path.is_file():
        raise NoStateYet(f"the state database {path} does not exist")
    catalog = path.stem
    literal = str(path).replace("'", "''")
    identifier = catalog.replace('"', '""')

    def connect() -> Any:
        # Not `duckdb.connect(path)`: that shares a cached instance with any connection to the same path still
        # open in this process, which keeps reading the file it opened even after the file was replaced.
        # Attaching into a fresh in-memory instance reads the file as it is now.
        conn = duckdb.connect(":memory:")
        try:
            conn.execute(f"ATTACH '{literal}' AS \"{identifier}\" (READ_ONLY)")
        except BaseException:
            conn.close()
            raise
        return conn

    def use(cursor: Any) -> None:  # per cursor: a DuckDB cursor starts in the instance's default catalog
        cursor.execute(f'USE "{identifier}"')

    return DuckDBEngineAdapter(connect, default_catalog=catalog, multithreaded=False, cursor_init=use)


def _postgres_adapter(connection: Any, connect_timeout_s: float, statement_timeout_s: float) -> Any:
    import psycopg2
    from sqlmesh.core.engine_adapter import PostgresEngineAdapter

    timeout = max(1, int(min(float(connection.connect_timeout or connect_timeout_s), connect_timeout_s)))
    options = f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout_s * 1000)}"
    params: dict[str, Any] = {
        "host": connection.host,
        "port": connection.port,
        "user": connection.user,
        "password": connection.password,
        "dbname": connection.database,
        "connect_timeout": timeout,
        "sslmode": connection.sslmode,
        "keepalives_idle": connection.keepalives_idle,
        "application_name": connection.application_name or "goodword-tui (read-only)",
        "options": options,
    }
    params = {k: v for k, v in params.items() if v is not None}
    role = connection.role

    def connect() -> Any:
        conn = psycopg2.connect(**params)
        if role:
            with conn.cursor() as cursor:
                cursor.execute("SET ROLE %s", (role,))
            conn.commit()
        return conn

    return PostgresEngineAdapter(connect, default_catalog=connection.database, multithreaded=False)


class MemorySnapshotCache:
    """Parsed snapshot definitions kept in memory between reads, in place of SQLMesh's on-disk cache.

    Same contract as `sqlmesh.core.snapshot.cache.SnapshotCache.get_or_load`: for a cache hit SQLMesh re-reads
    every mutable column (updated_ts, unpaused_ts, unrestorable, forward_only, next auto restatement) and drops
    ids no longer in state, and the facade re-hydrates all intervals, so only the immutable definition is reused.
    Nothing is written anywhere; entries not asked for in the latest read are let go.
    """

    def __init__(self) -> None:
        self._entries: dict[SnapshotId, Snapshot] = {}

    def get_or_load(
        self, snapshot_ids: set[SnapshotId], loader: Callable[[set[SnapshotId]], Iterable[Snapshot]]
    ) -> tuple[dict[SnapshotId, Snapshot], set[SnapshotId]]:
        hits = {sid: self._entries[sid] for sid in snapshot_ids if sid in self._entries}
        for snapshot in hits.values():
            snapshot.intervals = []
            snapshot.dev_intervals = []
        missing = snapshot_ids - hits.keys()
        loaded = {s.snapshot_id: s for s in loader(missing)} if missing else {}
        for snapshot in loaded.values():
            # What SnapshotCache does after loading: the node's hashes are the stored fingerprint's.
            snapshot.node._data_hash = snapshot.fingerprint.data_hash
            snapshot.node._metadata_hash = snapshot.fingerprint.metadata_hash
        found = {**hits, **loaded}
        self._entries = {**{k: v for k, v in self._entries.items() if k not in snapshot_ids}, **found}
        if len(self._entries) > 4 * max(1, len(snapshot_ids)) + 1000:
            self._entries = dict(found)
        return found, set(hits)

    def put(self, snapshot: Snapshot) -> None:  # SnapshotState calls it when pushing: never happens here
        """Nothing to do: this cache is only filled by reads."""

    def clear(self) -> None:
        self._entries.clear()


class ReadOnlyState:
    """SQLMesh's own state reader (`EngineAdapterStateSync`) over a read-only connection.

    `open()` checks that state tables exist before anything else reads them (an empty database answers
    `NoStateYet` and stays empty) and that the state was written by this sqlmesh's minor version.
    """

    def __init__(self, sync: EngineAdapterStateSync, adapter: EngineAdapter) -> None:
        self.sync = sync
        self.adapter = adapter

    @classmethod
    def open(
        cls,
        project: ProjectConfig,
        *,
        connect_timeout_s: float,
        statement_timeout_s: float,
        snapshot_cache: MemorySnapshotCache | None = None,
    ) -> ReadOnlyState:
        from sqlmesh.core.state_sync import EngineAdapterStateSync
        from sqlmesh.utils.errors import SQLMeshError

        adapter = open_read_only_adapter(project.state_connection, connect_timeout_s, statement_timeout_s)
        try:
            # cache_dir: SQLMesh's default is the current directory; ours is never written (see below).
            sync = EngineAdapterStateSync(adapter, schema=project.state_schema, cache_dir=project.cache_dir / "state")
            sync.snapshot_state._snapshot_cache = snapshot_cache or MemorySnapshotCache()  # type: ignore[assignment]
            versions = sync.get_versions(validate=False)  # reads _versions only if it exists; creates nothing
            if versions.schema_version == 0:
                raise NoStateYet("the state database has no SQLMesh state tables")
            try:
                sync.get_versions(validate=True)
            except SQLMeshError as exc:
                raise SqlMeshUnavailable(
                    "config",
                    f"SQLMesh state version mismatch: {first_line(exc)}",
                    "install the sqlmesh version that wrote the state (pin it to the runner's minor version)",
                ) from None
        except BaseException:
            adapter.close()
            raise
        return cls(sync, adapter)

    def close(self) -> None:
        self.adapter.close()


# --------------------------------------------------------------------------------------------------------------
# A Context on read-only state (runs on the SQLMesh thread)


@functools.cache
def read_only_context_class() -> type[Context]:
    """`Context` whose state is whatever `ReadOnlyState` it is given: never migrated, never cached for 120 s.

    Built on first use so that importing this module does not import sqlmesh.
    """
    from sqlmesh.core.context import Context

    class ReadOnlyStateContext(Context):
        """A Context for loading the project and comparing it with state; it cannot reach a writable state."""

        read_only_state: ReadOnlyState | None = None

        @property
        def state_sync(self) -> Any:
            if self.read_only_state is None:
                raise SqlMeshUnavailable("error", "no state is open for this project comparison")
            return self.read_only_state.sync

        @property
        def state_reader(self) -> Any:
            return self.state_sync

    return ReadOnlyStateContext


def load_read_only_context(project: ProjectConfig) -> Any:
    """Parse the project's models (no database is touched; the state is attached later, per read)."""
    cls = read_only_context_class()
    return cls(paths=project.path, config=project.configs, gateway=project.gateway, load=True)
