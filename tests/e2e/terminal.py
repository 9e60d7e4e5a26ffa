"""A real program in a pseudo-terminal, read through pyte as a person would see it.

Used by the end-to-end tests and the dashboard benchmark: start a process on a PTY of a given size, press keys
(raw bytes, as a terminal sends them), and wait for what appears on screen.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence

import pyte

KEYS = {
    "enter": b"\r",
    "escape": b"\x1b",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "ctrl+p": b"\x10",
    "ctrl+c": b"\x03",
    "backspace": b"\x7f",
}


class Terminal:
    """A process on a PTY with a pyte screen that follows everything it writes."""

    def __init__(
        self, argv: Sequence[str], *, cols: int = 80, rows: int = 24, env: Mapping[str, str] | None = None
    ) -> None:
        self.cols, self.rows = cols, rows
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        full_env.update(env or {})
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        self.fd = master
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.bytes_read = 0

    # -- reading

    def pump(self, timeout: float = 0.05) -> int:
        """Read what the program wrote within `timeout`; returns the number of bytes."""
        total = 0
        deadline = time.perf_counter() + timeout
        while True:
            remaining = max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return total
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the program closed the terminal (it exited)
                return total
            if not data:
                return total
            total += len(data)
            self.bytes_read += len(data)
            self.stream.feed(data)
            # Answer the terminal queries Textual may send so it never waits on us.
            if b"\x1b[6n" in data:
                os.write(self.fd, f"\x1b[{self.rows};{self.cols}R".encode())
            if time.perf_counter() >= deadline:
                return total

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = 20.0) -> float:
        """Pump until the screen satisfies `predicate` (or shows the text); returns when, since start."""
        check = (lambda screen: predicate in screen) if isinstance(predicate, str) else predicate
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.pump(0.05)
            if check(self.text()):
                return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                self.pump(0.2)
                if check(self.text()):
                    return time.perf_counter() - self.started
                raise AssertionError(f"the program exited ({self.proc.returncode}) first; screen:\n{self.text()}")
        raise AssertionError(f"timed out waiting; screen:\n{self.text()}")

    # -- writing

    def press(self, *keys: str) -> None:
        for key in keys:
            os.write(self.fd, KEYS.get(key, key.encode()))
            self.pump(0.05)

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    # -- ending

    def wait_exit(self, timeout: float = 10.0) -> int:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.pump(0.05)
            code = self.proc.poll()
            if code is not None:
                return code
        raise AssertionError(f"the program did not exit; screen:\n{self.text()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
