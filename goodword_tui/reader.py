"""The read side in a process of its own, so reading the platform never takes the keyboard's CPU.

Reading AWS and Snowflake means parsing thousands of records in Python (botocore's XML, the connector's result
sets, SQLMesh's state). In the dashboard's own process that work holds the GIL in turns with the event loop, and a
key pressed during a refresh waited for it. `ReaderProcess` runs the real sources (`monitor.default_fetchers`) in
a child (`reader.main`, started by `python -c` at a lower priority), which also imports boto3, the connector and
sqlmesh on the second core while the first one paints. Results come back pickled over a socket pair; a read
that found exactly what the previous one returned comes back as "same" (compared in the child), and the
dashboard keeps its previous data object, so it neither unpickles it nor analyses it again (`analysis.reuse`).

The child is a helper, never an authority: it only reads (its Snowflake gateway is read-only and its AWS session
refuses writes, as in-process), it starts in its own session (ctrl+c, a hang-up or ctrl+z on the terminal reach
the dashboard, not it), it ends when the dashboard closes the socket or dies, and if it dies or goes silent the
reads it owed come back as errors (the panes keep their last data, marked stale) and the next read starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from goodword_tui import startup
from goodword_tui.config import Settings
from goodword_tui.model import ErrorKind, SourceError, SourceResult

log = logging.getLogger("goodword_tui.reader")

# On top of a source's own bound (its deadline, which ends a hung read inside the child), how long the dashboard
# waits before it calls the child wedged, kills it and starts another.
SILENCE_SLACK_S = 10.0
STOP_WAIT_S = 1.0
RELEASE_WAIT_S = 2.0  # how long the child gives its sessions to close before it exits anyway
# Reads are background work: a read that lands 50 ms later is invisible, a key that lands 50 ms later is not.
READER_NICENESS = 10


def reads_in_process() -> bool:
    """`GOODWORD_TUI_READER=inline` reads in the dashboard's own process (for comparison, or where a child
    process cannot be started)."""
    return os.environ.get("GOODWORD_TUI_READER", "").strip().lower() == "inline"


def silence_bound_s(settings: Settings, source: str, slack_s: float = SILENCE_SLACK_S) -> float:
    """The longest the dashboard waits for one read from the child before it gives up on the child."""
    if source == "aws":
        from goodword_tui.sources.aws import read_deadline_s

        own = read_deadline_s(settings)
    elif source == "snowflake":
        from goodword_tui.sources.snowflake import read_deadline_s

        own = read_deadline_s(settings)
    elif source == "sqlmesh":
        own = 2 * settings.sqlmesh.timeout_s
    else:
        own = max((p.timeout_s for p in settings.probes), default=5.0)
    return own + slack_s


def _error(source: str, message: str, hint: str = "") -> SourceResult[Any]:
    return SourceResult(source, datetime.now(UTC), error=SourceError(source, ErrorKind.ERROR, message, hint))


class ReaderProcess:
    """The dashboard's side: starts the child, sends it reads, hands the answers to the waiting coroutines.

    `fetchers()` gives one `Fetcher` per source, so `Monitor` uses the child exactly as it uses in-process sources.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        # request id -> the loop and future waiting for it, and the child it was sent to
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], subprocess.Popen[bytes]]] = {}
        self._held: dict[str, tuple[int, Any]] = {}  # per source: (version, data) of the last data received
        self._ids = itertools.count(1)
        self.started = 0  # how many children were started (a restart after a crash counts)
        self.silence_slack_s = SILENCE_SLACK_S
        self._local_sqlmesh: Any = None  # sources.sqlmesh.SqlMeshReader for actions, made on first use
        self._merged: tuple[Any, Any, Any, Any] | None = None  # (child's status, tests, audits, merged status)

    # -- the child's life -------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child if none is running (called early, so its imports overlap the first paint)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None and self._conn is not None:
                return
            self._start_locked()

    def _start_locked(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        from goodword_tui.logs import log_path, owner_only, reader_log_path

        path = reader_log_path(log_path())
        env["GOODWORD_TUI_LOG"] = str(path)  # its own file beside the dashboard's: each rotates only its own
        try:  # anything the child prints (a crash before its logging is set up) goes there too, never on screen
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            stderr: Any = open(path, "ab", opener=owner_only)  # noqa: SIM115 (the child holds it; ours is closed below)
        except OSError:
            stderr = subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN.format(fd=theirs.fileno(), niceness=READER_NICENESS)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
                env=env,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            if stderr is not subprocess.DEVNULL:
                stderr.close()
        conn = Connection(ours.detach())  # closed by the receiving thread when the child's side is gone
        with contextlib.suppress(OSError):  # a child that died at once is noticed on the first read
            conn.send_bytes(pickle.dumps(self.settings, protocol=pickle.HIGHEST_PROTOCOL))
        self._conn = conn
        self._held.clear()  # a new child knows nothing: its first answers are whole
        self.started += 1
        threading.Thread(target=self._receive, args=(conn, self._proc), name="reader-receive", daemon=True).start()
        log.info("reader process %s started", self._proc.pid)

    def close(self) -> None:
        """Ask the child to end, then make sure it has; every read still waiting gets an error."""
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send_bytes(pickle.dumps(("close",)))
        if proc is not None:
            _stop(proc)  # its side closes, so the receiving thread sees the end and closes ours
            self._fail_pending(proc, "the reader process was stopped")
        local, self._local_sqlmesh, self._merged = self._local_sqlmesh, None, None
        if local is not None:
            local.close()

    def local_sqlmesh(self) -> Any:
        """The SQLMesh reader that plan, run, test and audit actions use in the dashboard's own process (they need
        its SQLMesh thread and its results store). Status reads stay in the child; the test and audit results
        recorded here are merged into them (`_with_local_results`)."""
        with self._lock:
            if self._local_sqlmesh is None:
                from goodword_tui.sources.sqlmesh import SqlMeshReader

                self._local_sqlmesh = SqlMeshReader()
            return self._local_sqlmesh

    def _with_local_results(self, result: SourceResult[Any]) -> SourceResult[Any]:
        """The child's SQLMesh status with the tests and audits launched from this process; the same merged
        object while neither side changed, so the analysis keeps reusing it."""
        local = self._local_sqlmesh
        if local is None or result.data is None:
            return result
        tests, audits = local.results.tests(), local.results.audits()
        if tests is None and not audits:
            return result
        merged = self._merged
        if merged is None or merged[0] is not result.data or merged[1] != tests or merged[2] != audits:
            status = dataclasses.replace(result.data, tests=tests, audits=audits)
            merged = self._merged = (result.data, tests, audits, status)
        return dataclasses.replace(result, data=merged[3])

    def _kill(self, proc: subprocess.Popen[bytes], why: str) -> None:
        with self._lock:
            if self._proc is proc:
                self._proc = self._conn = None
        log.warning("reader process %s stopped: %s", proc.pid, why)
        _stop(proc, wait=0.0)

    # -- reads ----------------------------------------------------------------------------------------------

    def fetchers(self, settings: Settings) -> tuple[dict[str, Callable[[Settings], Any]], Callable[[], None]]:
        """A `monitor.FetcherFactory`: a fetcher per source and how to release them (the child reads with the
        settings it was started with, which are the same ones)."""
        del settings
        from goodword_tui.monitor import SOURCE_NAMES

        return {name: _RemoteFetcher(self, name) for name in SOURCE_NAMES}, self.close

    async def read(self, source: str) -> SourceResult[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        request = next(self._ids)
        try:
            with self._lock:
                if self._proc is None or self._proc.poll() is not None or self._conn is None:
                    if self._proc is not None:
                        log.warning("reader process %s had ended (exit %s)", self._proc.pid, self._proc.returncode)
                    self._start_locked()
                proc, conn = self._proc, self._conn
                assert proc is not None and conn is not None
                held = self._held.get(source, (0, None))[0]
                self._pending[request] = (loop, future, proc)
                conn.send_bytes(pickle.dumps(("read", request, source, held)))
        except OSError as exc:
            self._pending.pop(request, None)
            return _error(source, f"could not reach the reader process: {exc.strerror or exc}")
        bound = silence_bound_s(self.settings, source, self.silence_slack_s)
        try:
            kind, result, version = await asyncio.wait_for(future, bound)
        except TimeoutError:
            self._pending.pop(request, None)
            await asyncio.to_thread(self._kill, proc, f"no answer for {source} in {bound:g}s")
            return _error(source, f"the reader process did not answer in {bound:g}s; a new one starts on the next read")
        except ReaderGone as gone:
            return _error(source, str(gone), "the next read starts a new reader process; the log has the details")
        finally:
            self._pending.pop(request, None)
        current = proc is self._proc  # an answer from a child since replaced says nothing about the new one's state
        if kind == "same":
            held_version, data = self._held.get(source, (0, None))
            if not current or held_version != version:  # never guess data
                return _error(source, "the reader process answered out of turn; the next read asks again")
            result = dataclasses.replace(result, data=data)
        elif result.data is not None and result.error is None and current:
            self._held[source] = (version, result.data)
        return self._with_local_results(result) if source == "sqlmesh" else result

    def _receive(self, conn: Connection, proc: subprocess.Popen[bytes]) -> None:
        """On its own thread: every answer is unpickled here and handed to the loop that asked for it."""
        while True:
            try:
                message = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                break
            except Exception as exc:  # an answer we cannot read: stop trusting this child
                log.error("unreadable answer from the reader process", exc_info=exc)
                self._kill(proc, "unreadable answer")
                break
            _, request, kind, result, version = message
            waiting = self._pending.get(request)
            if waiting is None:
                continue  # the dashboard stopped waiting for it (a read that ran over its bound)
            loop, future, _ = waiting
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, (kind, result, version))
        with self._lock:
            if self._conn is conn:  # the next read starts a new child instead of writing to a closed socket
                self._proc = self._conn = None
            with contextlib.suppress(OSError):
                conn.close()
        try:
            code = proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        self._fail_pending(proc, "the reader process ended" + (f" (exit code {code})" if code is not None else ""))

    def _fail_pending(self, proc: subprocess.Popen[bytes], why: str) -> None:
        """Every read sent to `proc` and still waiting gets `why` as its error (reads sent to a newer child wait on)."""
        for request, (loop, future, owner) in list(self._pending.items()):
            if owner is proc and self._pending.pop(request, None) is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle_error, future, ReaderGone(why))


class ReaderGone(Exception):
    """The child ended (or was stopped) before it answered."""


class _RemoteFetcher:
    """A `Fetcher` that reads `source` through the child."""

    def __init__(self, reader: ReaderProcess, source: str) -> None:
        self.reader, self.source = reader, source

    async def __call__(self, _settings: Settings) -> SourceResult[Any]:
        return await self.reader.read(self.source)

    def local_reader(self) -> Any:
        """For the SQLMesh fetcher: the in-process reader its actions use (see `ReaderProcess.local_sqlmesh`)."""
        return self.reader.local_sqlmesh() if self.source == "sqlmesh" else None


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _settle_error(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _stop(proc: subprocess.Popen[bytes], wait: float = STOP_WAIT_S) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait)
        return
    try:  # the child leads its own session: end whatever it started too (a credential_process, say)
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_WAIT_S)


# -- the child --------------------------------------------------------------------------------------------------


# What the reader imports at start, on one thread, so the first reads find their clients loaded. sqlmesh's
# first read waits until they are in: it imports the connector's submodules, and one thread importing a package
# while another imports its submodule can deadlock into a half-initialised module, which Python breaks by failing
# one of the imports. The other sources import only their own package, which the import lock serialises.
WARM_UP = ("botocore.session", "boto3", "snowflake.connector", "aiohttp")
# What the reader never imports. The connector loads pyarrow at import when it is installed (the sandbox's fakesnow
# needs it), only to offer `fetch_pandas_*` / `fetch_arrow_*`, which no read calls: rows come through the
# connector's own nanoarrow iterator either way. Left out, the reader is 63 MB smaller and its connector import
# 0.25 s shorter. A `None` entry in `sys.modules` is Python's way to make an import fail (`ModuleNotFoundError`).
NEVER_IMPORTED = ("pyarrow",)
# What the reader imports only once the warm-up is done: the connector imports pandas at start too (0.3-0.4 s of
# the child's ~1.3 s of imports before its first Snowflake read), only to find pyarrow missing and turn its pandas
# fetches off. sqlmesh needs pandas; its first read waits for the warm-up, which lets pandas be imported again.
HELD_BACK = ("pandas",)
AFTER_WARM_UP = frozenset({"sqlmesh"})
WARM_UP_WAIT_S = 60.0  # a read never waits longer than this for the imports (they take about a second)


class _Child:
    """Serves reads: one task per request, the real fetchers, answers as whole data or "same"."""

    def __init__(
        self, conn: Connection, settings: Settings, warm_up: Callable[[threading.Event], None] | None = None
    ) -> None:
        from goodword_tui.monitor import default_fetchers

        self.conn, self.settings = conn, settings
        self.fetchers, self.release = default_fetchers(settings)
        self.warmed_up = threading.Event()
        threading.Thread(target=warm_up or _warm_up, args=(self.warmed_up,), name="reader-imports", daemon=True).start()
        self.last: dict[str, tuple[int, Any]] = {}  # per source: (version, data) last sent whole
        self.send_lock = threading.Lock()
        self.answered: set[str] = set()  # sources answered once: when all have been, start-up is over

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        def listen() -> None:
            while True:
                try:
                    message = pickle.loads(self.conn.recv_bytes())
                except (EOFError, OSError):
                    message = ("close",)
                loop.call_soon_threadsafe(inbox.put_nowait, message)
                if message[0] == "close":
                    return

        threading.Thread(target=listen, name="reader-listen", daemon=True).start()
        loop.call_later(startup.STARTUP_LIMIT_S, startup.resume)
        tasks: set[asyncio.Task[None]] = set()
        while True:
            message = await inbox.get()
            if message[0] == "close":
                break
            _, request, source, held = message
            task = asyncio.create_task(self.answer(request, source, held))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in tasks:
            task.cancel()
        # Close the sessions politely, but never wait on them for long: a read still stuck on the network holds
        # the gateway, and asyncio's own shutdown would wait for its thread without a limit.
        releaser = threading.Thread(target=self.release, name="reader-release", daemon=True)
        releaser.start()
        releaser.join(RELEASE_WAIT_S)
        logging.shutdown()
        os._exit(0)

    async def answer(self, request: int, source: str, held: int) -> None:
        if source in AFTER_WARM_UP and not self.warmed_up.is_set():
            await asyncio.to_thread(self.warmed_up.wait, WARM_UP_WAIT_S)
        try:
            result = await self.fetchers[source](self.settings)
        except Exception as exc:  # a source must not raise; if one does, the dashboard gets a line, not a crash
            log.error("reading %s failed", source, exc_info=exc)
            result = _error(source, f"reading {source} failed unexpectedly ({type(exc).__name__}); see the log")
        try:
            kind, version = "data", 0
            if result.error is None and result.data is not None:
                last_version, last_data = self.last.get(source, (0, None))
                if last_version and last_version == held and await asyncio.to_thread(_equal, result.data, last_data):
                    kind, version, result = "same", last_version, dataclasses.replace(result, data=None)
                else:
                    version = last_version + 1
                    self.last[source] = (version, result.data)
            payload = pickle.dumps(("answer", request, kind, result, version), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # never leave a read unanswered: the dashboard would wait out its whole bound
            log.error("answering the read of %s failed", source, exc_info=exc)
            self.last.pop(source, None)
            failed = _error(source, f"the reader process could not send {source}'s data ({type(exc).__name__})")
            payload = pickle.dumps(("answer", request, "data", failed, 0), protocol=pickle.HIGHEST_PROTOCOL)
        await asyncio.to_thread(self._send, payload)
        self.answered.add(source)
        if self.answered.issuperset(self.fetchers):
            startup.resume()

    def _send(self, payload: bytes) -> None:
        with self.send_lock, contextlib.suppress(OSError):
            self.conn.send_bytes(payload)


def _warm_up(done: threading.Event) -> None:
    """Import the clients the first reads need while the dashboard paints (`WARM_UP`); sqlmesh is imported by its
    first read, once these are (`done`)."""
    import importlib

    try:
        for name in WARM_UP:
            try:
                importlib.import_module(name)
            except ImportError:  # the read says what is missing
                log.warning("could not import %s", name)
    finally:
        for name in HELD_BACK:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
        done.set()


def block_imports() -> None:
    """Make `NEVER_IMPORTED` and, until the warm-up ends, `HELD_BACK` fail to import in this process."""
    for name in (*NEVER_IMPORTED, *HELD_BACK):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


# The child's first lines: pause the collector for its start-up (`startup`), and lower its priority before it
# imports anything (its imports overlap the dashboard's), so that when both want the CPU the keyboard's process gets
# it first.
_CHILD_MAIN = (
    "from goodword_tui import startup\n"
    "startup.pause()\n"
    "import os\n"
    "try:\n    os.nice({niceness})\nexcept OSError:\n    pass\n"
    "from goodword_tui.reader import main\n"
    "main({fd})\n"
)


def main(fd: int) -> None:
    """`python -m goodword_tui.reader FD`: serve reads on the socket FD until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the dashboard decides when we end
    from goodword_tui.logs import configure_logging

    configure_logging()
    block_imports()
    conn = Connection(fd)
    try:
        settings = pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return
    started = time.monotonic()
    child = _Child(conn, settings)
    log.info("reader process %s serving (set up in %.2fs)", os.getpid(), time.monotonic() - started)
    asyncio.run(child.serve())  # ends the process itself (os._exit) once the sessions are closed or given up on


if __name__ == "__main__":
    main(int(sys.argv[1]))
