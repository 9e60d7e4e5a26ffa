"""Where goodword-tui logs, for the dashboard and its reader process alike.

Never to the terminal the dashboard draws on: a small rotating file (`$GOODWORD_TUI_LOG`, else the user's log
directory). Kept out of `ui/` so the reader process, which never imports Textual, logs to the same file.
"""

from __future__ import annotations

import logging
import os
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

log = logging.getLogger("goodword_tui")


def log_path() -> Path:
    """Where the dashboard logs: $GOODWORD_TUI_LOG, else the user's log directory."""
    configured = os.environ.get("GOODWORD_TUI_LOG")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_log_dir

    return Path(user_log_dir("goodword-tui")) / "goodword-tui.log"


def configure_logging() -> Path | None:
    """Send our log to a small rotating file (never to the terminal the dashboard draws on)."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
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
