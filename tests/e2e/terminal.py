"""A real program in a pseudo-terminal, read through pyte as a person would see it.

Used by the end-to-end tests and the dashboard benchmark: start a process on a PTY of a given size (the PTY is
its controlling terminal, as under sshd, so closing it hangs the program up), press keys (raw bytes, as a
terminal sends them), and wait for what appears on screen. The screen keeps the main and the alternate buffer
apart like a real terminal, so after the program exits `text()` is what the user is left looking at.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyte
from pyte.screens import Char

KEYS = {
    "enter": b"\r",
    "escape": b"\x1b",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "space": b" ",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "pageup": b"\x1b[5~",
    "pagedown": b"\x1b[6~",
    "ctrl+p": b"\x10",
    "ctrl+c": b"\x03",
    "ctrl+u": b"\x15",
    "backspace": b"\x7f",
}

ALTERNATE_SCREEN_MODES = (47, 1047, 1049)
SYNCHRONIZED_OUTPUT = 2026  # between ?2026h and ?2026l a frame is being drawn: a terminal shows it only whole
SYNC_QUERY, SYNC_SUPPORTED = b"\x1b[?2026$p", b"\x1b[?2026;2$y"
FRAME_END = b"\x1b[?2026l"  # the end of a synchronized update: a terminal shows the frame now
ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
KITTY_KEYBOARD = re.compile(rb"\x1b\[[<>=?][0-9;]*u")  # pyte does not know these and would print the "u"
# Private modes a full-screen program turns on and must turn off again when it leaves.
MOUSE_AND_PASTE_MODES = {1000: "mouse clicks", 1002: "mouse drags", 1003: "all mouse motion", 1006: "SGR mouse",
                         1015: "urxvt mouse", 2004: "bracketed paste"}  # fmt: skip


class TerminalScreen(pyte.Screen):
    """A pyte screen with the alternate buffer (modes 47/1047/1049) and answers to the program's queries."""

    def __init__(self, columns: int, lines: int, reply: Callable[[str], None]) -> None:
        super().__init__(columns, lines)
        self._reply = reply
        self._saved_main: tuple[Any, Any] | None = None

    @property
    def alternate(self) -> bool:
        return self._saved_main is not None

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and any(m in ALTERNATE_SCREEN_MODES for m in modes) and not self.alternate:
            self._saved_main = (copy.deepcopy(self.buffer), copy.copy(self.cursor))
            self.erase_in_display(2)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        super().reset_mode(*modes, **kwargs)
        if kwargs.get("private") and any(m in ALTERNATE_SCREEN_MODES for m in modes) and self._saved_main:
            buffer, cursor = self._saved_main
            self._saved_main = None
            self.buffer.clear()
            self.buffer.update(buffer)
            self.cursor = cursor
            self.dirty.update(range(self.lines))

    def write_process_input(self, data: str) -> None:
        """Answer cursor-position and device-attribute queries, so the program never waits on us."""
        self._reply(data)


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
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            close_fds=True,
            preexec_fn=_own_session_on_tty,  # only setsid + ioctl: safe between fork and exec
        )
        os.close(slave)
        self.fd: int | None = master
        self.screen = TerminalScreen(cols, rows, self._write)
        self.stream = pyte.ByteStream(self.screen)
        self.bytes_read = 0
        self.output = bytearray()  # everything the program wrote, for checks a screen cannot show

    # -- reading

    def pump(self, timeout: float = 0.05) -> int:
        """Read what the program wrote within `timeout`; returns the number of bytes."""
        chunks = self.read_raw(timeout)
        for _, data in chunks:
            self.feed(data)
        return sum(len(data) for _, data in chunks)

    def read_raw(self, timeout: float = 0.05) -> list[tuple[float, bytes]]:
        """Read what the program wrote within `timeout` without showing it yet: each chunk with the time it
        arrived. (Showing costs pyte ~2.5 ms per 4 KB chunk, time a terminal emulator written in C does not
        take, during which a PTY's 4 KB buffer holds the program's next write back.)"""
        chunks: list[tuple[float, bytes]] = []
        deadline = time.perf_counter() + timeout
        while self.fd is not None:
            remaining = max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return chunks
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the program closed the terminal (it exited)
                return chunks
            if not data:
                return chunks
            chunks.append((time.perf_counter(), data))
            self.bytes_read += len(data)
            self.output += data
            if SYNC_QUERY in data:  # say we support synchronized output, so frames arrive whole
                self._write_bytes(SYNC_SUPPORTED)
            if time.perf_counter() >= deadline:
                return chunks
        return chunks

    def feed(self, data: bytes) -> None:
        """Show bytes `read_raw` returned on the screen."""
        self.stream.feed(KITTY_KEYBOARD.sub(b"", data))

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def look(self) -> tuple[tuple[Char, ...], ...]:
        """What a person sees: every cell's character and its colours and attributes. A cursor moving down a
        table changes only which row is highlighted, so `text()` alone would miss it."""
        return tuple(self.look_of_line(y) for y in range(self.screen.lines))

    def look_of_line(self, y: int) -> tuple[Char, ...]:
        line = self.screen.buffer[y]
        return tuple(line[x] for x in range(self.screen.columns))

    def changed_lines(self) -> set[int]:
        """The lines written to since the last call (pyte's dirty set): comparing only those keeps a benchmark's
        own CPU off the two cores the program it times runs on."""
        dirty = set(self.screen.dirty)
        self.screen.dirty.clear()
        return dirty

    @property
    def mid_frame(self) -> bool:
        """The program is drawing a frame (synchronized output) and the screen is not to be read yet."""
        return (SYNCHRONIZED_OUTPUT << 5) in self.screen.mode

    def lines(self) -> list[str]:
        return list(self.screen.display)

    def line_with(self, needle: str) -> int:
        """The number of the first screen line showing `needle`, or -1."""
        return next((y for y, line in enumerate(self.screen.display) if needle in line), -1)

    def char(self, y: int, x: int) -> Char:
        return self.screen.buffer[y][x]

    def background(self, needle: str) -> str:
        """The background colour where `needle` is shown: the row under a table's cursor differs from its
        neighbours, as a person sees it."""
        y = self.line_with(needle)
        if y < 0:
            raise AssertionError(f"{needle!r} is not on screen:\n{self.text()}")
        return str(self.char(y, self.screen.display[y].index(needle)).bg)

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = 20.0) -> float:
        """Pump until the screen satisfies `predicate` (or shows the text); returns when, since start."""
        check = (lambda screen: predicate in screen) if isinstance(predicate, str) else predicate
        what = repr(predicate) if isinstance(predicate, str) else getattr(predicate, "__name__", "condition")
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.pump(0.05)
            if not self.mid_frame and check(self.text()):
                return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                self.pump(0.2)
                if check(self.text()):
                    return time.perf_counter() - self.started
                raise AssertionError(
                    f"the program exited ({self.proc.returncode}) before showing {what}; screen:\n{self.text()}"
                )
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen:\n{self.text()}")

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 10.0) -> None:
        """Pump until the program has written nothing for `quiet` seconds: the screen a person would settle on
        (what follows a first frame, e.g. a scroll, has happened)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.pump(quiet) == 0 and not self.mid_frame:
                return
        raise AssertionError(f"the screen did not settle within {timeout}s; screen:\n{self.text()}")

    def wait_gone(self, text: str, timeout: float = 10.0) -> float:
        """Pump until `text` is no longer on screen."""
        return self.wait_for(lambda screen: text not in screen, timeout)

    # -- writing

    def press(self, *keys: str) -> None:
        """Press keys one after another, as named in KEYS or as the characters themselves."""
        for key in keys:
            self._write_bytes(KEYS.get(key, key.encode()))
            self.pump(0.05)

    def type(self, text: str) -> None:
        self._write_bytes(text.encode())

    def _write(self, data: str) -> None:
        self._write_bytes(data.encode())

    def _write_bytes(self, data: bytes) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.fd, data)

    # -- ending

    def wait_exit(self, timeout: float = 15.0) -> int:
        if self.fd is None:  # hung up: nothing more to read, only the process to wait for
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the program did not exit within {timeout}s of the hang-up") from None
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.pump(0.05)
            code = self.proc.poll()
            if code is not None:
                self.pump(0.2)  # what it wrote last (leaving the alternate screen, restoring modes)
                return code
        raise AssertionError(f"the program did not exit within {timeout}s; screen:\n{self.text()}")

    def hang_up(self) -> None:
        """Close the terminal, as when the SSH connection drops: the kernel sends SIGHUP to the program."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def modes_left_on(self) -> list[str]:
        """Terminal modes the program turned on and did not turn off: empty when it left the terminal clean."""
        left = [name for mode, name in MOUSE_AND_PASTE_MODES.items() if (mode << 5) in self.screen.mode]
        if self.screen.alternate:
            left.append("alternate screen")
        if (25 << 5) not in self.screen.mode:
            left.append("cursor hidden")
        return left

    def written_after_last(self, marker: bytes) -> str:
        """What the program wrote after the last `marker` (e.g. leaving the alternate screen), escapes removed."""
        index = self.output.rfind(marker)
        tail = self.output[index + len(marker) :] if index >= 0 else self.output
        return ESCAPE_SEQUENCE.sub("", tail.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _own_session_on_tty() -> None:
    """In the child: a new session whose controlling terminal is the PTY (stdin), like a login shell's."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
