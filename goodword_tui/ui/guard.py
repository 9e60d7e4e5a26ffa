"""The exception guard: an unexpected error in a handler becomes a notification and a log line, not a crash.

On call, in the middle of an incident, a dashboard that dies with a traceback is worse than one that shows a
wrong cell. Every handler and action we write is wrapped with `guarded`; the traceback goes to the log file
(`logs.log_path()`), the screen gets one line.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("goodword_tui.ui")

F = TypeVar("F", bound=Callable[..., Any])


def log_loop_exception(_loop: object, context: dict[str, object]) -> None:
    """asyncio's handler for errors nobody awaited: to the log file, never to the terminal."""
    error = context.get("exception")
    message = str(context.get("message", "unhandled error in the event loop"))
    if isinstance(error, BaseException):
        log.error("%s", message, exc_info=error)
    else:
        log.error("%s", message)


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def report(node: Any, what: str, error: BaseException) -> None:
    """Log the traceback and tell the user in one line; never raises."""
    log.error("unexpected error in %s", what, exc_info=error)
    try:
        app = node.app if hasattr(node, "app") else node
        app.notify(
            f"Unexpected error in {what}: {one_line(error)} (details in the log)",
            title="Internal error",
            severity="error",
            timeout=10,
        )
    except Exception:  # the app may be shutting down; the log line is enough
        log.debug("could not notify about an error", exc_info=True)


def guarded(method: F) -> F:
    """Wrap a handler or action (sync or async) so an exception is reported instead of raised."""
    what = method.__qualname__

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, **kwargs)
            except Exception as error:
                report(self, what, error)
                return None

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            report(self, what, error)
            return None

    return wrapper  # type: ignore[return-value]


def _keep_draining_after_hangup() -> None:
    """When the terminal goes away (SSH drops), Textual's output thread dies on its first write error while
    its 30-slot queue fills up, and every later write, including the shutdown's, then blocks forever: the
    process hangs with its sandbox. Wrapping the thread's loop so it keeps draining (and discarding) after an
    OSError lets the app exit. Textual 8.2's `WriterThread` is private API, so this is checked, not assumed.
    """
    try:
        from textual.drivers import _writer_thread
    except ImportError:  # a Textual without it: nothing to mend
        return
    thread_class = getattr(_writer_thread, "WriterThread", None)
    original = getattr(thread_class, "run", None)
    if thread_class is None or original is None or getattr(original, "_goodword_drains", False):
        return

    def run(self: Any) -> None:
        try:
            original(self)
        except OSError:
            log.info("terminal gone: discarding further output")
            queue = getattr(self, "_queue", None)
            while queue is not None and queue.get() is not None:
                pass

    run._goodword_drains = True  # type: ignore[attr-defined]
    thread_class.run = run


_keep_draining_after_hangup()
