"""Where goodword-tui logs, for the dashboard and its reader process.

Never to the terminal the dashboard draws on: a small rotating file (`$GOODWORD_TUI_LOG`, else the user's log
directory). The reader process logs beside it, to a file of its own (`reader_log_path`): two processes rotating
one file would rename it under each other and lose lines. Kept out of `ui/` so the reader, which never imports
Textual, uses it too. The files are the operator's alone (0600), like the journal.
"""

from __future__ import annotations

import logging
import os
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("goodword_tui")


def log_path() -> Path:
    """Where the dashboard logs: $GOODWORD_TUI_LOG, else the user's log directory."""
    configured = os.environ.get("GOODWORD_TUI_LOG")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir("goodword-tui")) / "goodword-tui.log"


def reader_log_path(dashboard_log: Path) -> Path:
    """Where the reader process beside a dashboard logs: `goodword-tui.log` → `goodword-tui-reader.log`."""
    return dashboard_log.with_name(f"{dashboard_log.stem}-reader{dashboard_log.suffix}")


def owner_only(path: str, flags: int) -> int:
    """An `opener` for `open()`: the file is created (or left) readable by its owner only."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # also tightens a file an older version created with the umask's mode
    return fd


class OwnerOnlyFileHandler(RotatingFileHandler):
    """A rotating log whose files (the current one and each new one after a rollover) only their owner reads."""

    def _open(self) -> IO[Any]:
        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=owner_only)


def configure_logging() -> Path | None:
    """Send our log to a small rotating file (never to the terminal the dashboard draws on)."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = OwnerOnlyFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ours = logging.getLogger("goodword_tui")
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    # Everything else (asyncio's "exception was never retrieved", libraries' warnings) goes to the same file:
    # with no handler, Python's last-resort handler would print it over the dashboard.
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    threading.excepthook = _log_thread_exception
    return path


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread is not None else "?"
    exc = args.exc_value if args.exc_value is not None else Exception(str(args.exc_type))
    log.error("unhandled error in thread %s", name, exc_info=(args.exc_type, exc, args.exc_traceback))
