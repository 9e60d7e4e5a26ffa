"""End to end: `goodword-tui demo` as a real process on a pseudo-terminal, driven by keys and read off the screen.

Nothing here reaches into the app: the demo starts the sandbox as its own child process, exactly as `make demo`
does, and every check is about what a person at the terminal would see (text, the cursor row's colour) or what
the terminal is left with afterwards. One demo process serves a whole walk-through: the sandbox start dominates.
"""

from __future__ import annotations

import base64
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.terminal import Terminal

DEMO = (sys.executable, "-m", "goodword_tui", "demo", "--scenario", "route-missing")
START_S = 120.0  # sandbox start plus the first read of every source, on a busy 2-core machine
STEP_S = 15.0  # a key's effect on screen
EXIT_S = 30.0  # quitting includes stopping the sandbox (about 5 s)
BOX = "█▌▐▊▎▔▁│"  # borders of modal boxes and the inspector, not text


def header(term: Terminal) -> list[str]:
    return term.lines()[:2]


def loaded(screen: str) -> bool:
    """AWS, Snowflake and the probes have answered: the header says so and both critical findings are listed."""
    top = "\n".join(screen.splitlines()[:2])
    return (
        "loading" not in top
        and "probes ✓" in top
        and "Goodword private 2b" in screen
        and "GOODWORD_WH.RAW.ANY" in screen
    )


def flat(lines: list[str]) -> str:
    """Screen lines as one line of words: wrapped text reads as it was written."""
    text = " ".join(lines)
    return " ".join(text.translate({ord(c): " " for c in BOX}).split())


def below_rule(term: Terminal) -> str:
    """At 80 columns the inspector is under the tables, after a horizontal rule."""
    lines = term.lines()
    rule = max(y for y, line in enumerate(lines) if line.startswith("────"))
    return flat(lines[rule + 1 : -1])  # the last line is the key bar


def right_of_bar(term: Terminal) -> str:
    """At 160 columns the inspector is to the right of the tables, after a vertical bar."""
    return flat([line.split("│", 1)[1] for line in term.lines() if "│" in line[90:]])


def line(term: Terminal, needle: str) -> str:
    y = term.line_with(needle)
    assert y >= 0, f"{needle!r} is not on screen:\n{term.text()}"
    return term.lines()[y]


def row(term: Terminal, key: str) -> str:
    """The table row whose first cell (after the status mark) is `key`."""
    for text in term.lines():
        left = text.split("│", 1)[0]
        if key in left.split()[:2]:
            return left
    raise AssertionError(f"no row for {key!r} on screen:\n{term.text()}")


def table_rows(term: Terminal, first_header_word: str) -> list[str]:
    """The rows shown under a table's header line, up to the next blank, rule or section line (left of the
    inspector when it stands beside the tables)."""
    lines = [text.split("│", 1)[0] for text in term.lines()]
    start = next(y for y, text in enumerate(lines) if text.split()[:1] == [first_header_word])
    rows = []
    for text in lines[start + 1 :]:
        if not text.strip() or text.startswith("─") or not text.startswith(" "):
            break
        rows.append(text)
    return rows


def help_keys(term: Terminal) -> dict[str, list[str]]:
    """The help table as a person reads it: what a key does → the keys that do it."""
    found: dict[str, list[str]] = {}
    for text in term.lines():
        cells = [c for c in re.split(r"\s{2,}", text.strip(BOX + " ")) if c]
        if len(cells) >= 3 and cells[-1] in ("everywhere", "screen", "table"):
            found[cells[1]] = cells[0].split(", ")
    return found


def processes_under(pid: int) -> set[int]:
    """Every descendant of `pid` (the sandbox and whatever it runs), from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(children - found)
            found |= children
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextmanager
def demo(tmp_path: Path, *extra: str, cols: int, rows: int) -> Iterator[Terminal]:
    """The demo on a PTY, every source loaded; its sandbox's state directory and its log land under `tmp_path`."""
    env = {"TMPDIR": str(tmp_path), "GOODWORD_TUI_LOG": str(tmp_path / "dashboard.log")}
    with Terminal([*DEMO, *extra], cols=cols, rows=rows, env=env) as term:
        term.wait_for(loaded, START_S)
        yield term


def wait(term: Terminal, condition: Callable[[str], bool]) -> None:
    term.wait_for(condition, STEP_S)


def filter_bar_has_focus(screen: str) -> bool:
    """The filter bar is open and holds the focus: the key bar then lists only its keys (no "q Quit")."""
    return "filter the table" in screen and "Quit" not in screen.splitlines()[-1]


def type_into_box(term: Terminal, text: str) -> None:
    """Replace what the focused input holds with `text` and see it echoed (typing again if the echo is late)."""
    echoed = re.compile(r"▊\s+" + re.escape(text) + r"\s+▎") if text else re.compile(r"▊\s+e\.g\. ")
    deadline = time.perf_counter() + STEP_S
    while True:
        term.press("end", "ctrl+u")
        term.type(text)
        try:
            term.wait_for(lambda s: echoed.search(s) is not None, 2.0)
            return
        except AssertionError:
            if time.perf_counter() > deadline:
                raise


def test_walk_through_the_route_incident_at_80x24(tmp_path: Path) -> None:
    with demo(tmp_path, cols=80, rows=24) as term:
        top = header(term)
        assert "Goodword (sandbox)" in top[0]
        assert " WRITE " in top[0] and "READ-ONLY" not in top[0]
        assert "AWS 123456789012 us-east-2" in top[0]
        assert "could not be read" not in term.text()  # every source answered
        sandbox = processes_under(term.proc.pid)
        assert sandbox, "the demo runs the sandbox as its child"

        # Findings first, critical on top, the cursor on the first one.
        findings = table_rows(term, "Sev")
        assert findings[0].startswith(" CRIT") and "Goodword private 2b" in findings[0]
        severities = [r.split()[0].upper() for r in findings]
        assert severities == sorted(severities, key=["CRIT", "WARN", "INFO"].index)
        route_table = re.search(r"rtb-[0-9a-f]{8,}", findings[0])
        assert route_table is not None
        rtb = route_table.group(0)
        assert term.background(findings[0].split()[2]) != term.background(findings[1].split()[2])

        # A first look at the Snowflake tab: is the policy active? (Asserted at the end, so that one hidden line
        # does not hide the rest of the walk-through.) Then back to the findings, the cursor where it was.
        term.press("3")
        wait(term, lambda s: "Snowflake: read" in s and "Allowed entry" in s)
        term.wait_quiet()
        snowflake_tab = term.text()
        policy_status_shown = "Policy INTEGRATIONS: ACTIVE on account" in snowflake_tab
        term.press("1")
        wait(term, lambda s: "Sev " in s and "CRITICAL NET_ROUTE_MISSING" in s)

        # Enter on it: the Network tab, the route table's row under the cursor, the evidence beside it.
        term.press("enter")
        wait(term, lambda s: "AWS: read" in s and f"Route table {rtb} (Goodword private 2b)" in s)
        route_row = line(term, "Goodword private 2b")
        assert "✗" in route_row and rtb in route_row and "172.22.0.0/16 missing" in route_row
        assert term.background("Goodword private 2b") != term.background("Goodword private 2a")
        evidence = below_rule(term)
        assert evidence.startswith(f"Route table {rtb} (Goodword private 2b)")
        assert "CRITICAL NET_ROUTE_MISSING" in evidence and "has no route 172.22.0.0/16" in evidence
        assert "configured for Goodword private 2b" in evidence

        # c copies the selected value through the terminal (OSC 52), so it works over SSH.
        term.press("c")
        wait(term, lambda s: f"Copied {rtb}" in s)
        assert b"\x1b]52;c;" + base64.b64encode(rtb.encode()) in term.output

        # / narrows the focused table; Enter keeps the filter, Escape clears it.
        term.press("/")
        wait(term, filter_bar_has_focus)
        term.type("private 2b")
        wait(term, lambda s: re.search(r"Route tables \(1/\d+\)\s+filter: private 2b", s) is not None)
        term.press("enter")
        wait(term, lambda s: "filter the table" not in s and "Goodword private 2b" in s)
        assert "Goodword private 2a" not in term.text() and "Goodword private 2c" not in term.text()
        term.press("escape")
        wait(term, lambda s: re.search(r"Route tables \(\d+\)", s) is not None and "Goodword private 2a" in s)

        # Keys read together with `/` (a paste, a fast typist) land in the filter bar: "/q" filters, never quits.
        term.type("/q")
        wait(term, lambda s: re.search(r"Route tables \(0/\d+\)\s+filter: q", s) is not None)
        assert term.proc.poll() is None, "the demo quit on a q typed into the filter"
        term.press("escape")
        wait(term, lambda s: re.search(r"Route tables \(\d+\)", s) is not None and "Goodword private 2a" in s)

        # 80 columns: the key bar ends with the keys one always needs, not cut off.
        assert term.lines()[-1].rstrip().endswith("q Quit  ? Help"), term.lines()[-1]

        # 3: the Snowflake policy, each entry with its status and its label from the baseline.
        term.press("3")
        wait(term, lambda s: "Snowflake: read" in s and "Allowed entry" in s)
        airbyte = row(term, "34.106.109.131")
        assert "expected" in airbyte and "Airbyte" in airbyte
        private = row(term, "172.22.0.0/16")
        assert "never matches" in private and "Operation" in private
        assert re.search(r"Allowed entry \S+ \([A-Z][^)]+\)", below_rule(term)), "the inspector names the label"

        # ? shows the live keys; Escape closes it and the Snowflake tab is still there.
        term.press("?")
        wait(term, lambda s: "Keys (live" in s)
        keys = help_keys(term)
        assert "q" in keys["Quit"] and "r" in keys["Refresh"] and "w" in keys["Why"] and "/" in keys["Filter"]
        term.press("end")  # the notes at the bottom scroll into view by keyboard
        wait(term, lambda s: "Mode: WRITE." in flat(s.splitlines()))
        term.press("escape")
        wait(term, lambda s: "Keys (live" not in s and "Snowflake: read" in s)

        # w: type an address, read which entry admits it, with its label from the baseline; typed right after `w`,
        # in one write, the address lands in the prompt. Bad input gets a plain answer, not a traceback.
        term.type("w34.106.109.131\r")
        wait(term, lambda s: "Why / reach" in s and "ADMITTED" in s)
        assert "admitted by INTEGRATIONS: ALLOWED_IP_LIST entry 34.106.109.131 (Airbyte Cloud US)" in flat(term.lines())
        type_into_box(term, "172.22.2.106 172.20.0.91 tcp/99999")
        term.press("enter")
        wait(term, lambda s: "Port 99999 is out of range" in flat(s.splitlines()))
        type_into_box(term, "300.1.2.3")
        term.press("enter")
        wait(term, lambda s: "Not an IP address: 300.1.2.3" in s)
        type_into_box(term, "")
        term.press("enter")
        wait(term, lambda s: "Type one address" in s)
        term.press("escape")
        wait(term, lambda s: "Why / reach" not in s and "Snowflake: read" in s)

        # q: exit 0, the terminal as it was (main screen back, no modes left on) and the sandbox stopped.
        term.press("q")
        assert term.wait_exit(EXIT_S) == 0
        left = term.text()
        assert "Traceback" not in left and "rror" not in left, left
        assert "Findings" not in left, "the dashboard must not be left on the main screen"
        assert term.modes_left_on() == []
        assert "Traceback" not in term.written_after_last(b"\x1b[?1049l")
        assert [pid for pid in sandbox if running(pid)] == []
        for name in ("dashboard.log", "dashboard-reader.log"):  # ours, and the reader process's own
            log = (tmp_path / name).read_text(encoding="utf-8")
            assert "Traceback" not in log, log
            # Both started with the collector paused, and both turned it back on once every source had answered.
            assert "the collector runs again" in log, log
    assert policy_status_shown, f"the Snowflake tab must show whether the policy is active:\n{snowflake_tab}"


def test_read_only_at_160x48(tmp_path: Path) -> None:
    with demo(tmp_path, "--read-only", cols=160, rows=48) as term:
        top = header(term)
        assert " READ-ONLY " in top[0] and "WRITE" not in top[0]
        assert re.search(r"\d+ crit \d+ warn", top[1]), "160 columns show the counts in the header"

        # Every finding at once, and the inspector beside them rather than under them.
        title = re.search(r"Findings \((\d+)\)", term.text())
        assert title is not None
        findings = table_rows(term, "Sev")
        assert len(findings) == int(title.group(1))
        severities = [r.split()[0].upper() for r in findings]
        assert severities == sorted(severities, key=["CRIT", "WARN", "INFO"].index) and "INFO" in severities
        assert term.lines()[term.line_with("CRITICAL NET_ROUTE_MISSING")].index("CRITICAL") > 100
        assert "configured for Goodword private 2b" in right_of_bar(term)

        # The policy's labels in full.
        term.press("3")
        wait(term, lambda s: "Policy INTEGRATIONS" in s)
        assert "Airbyte Cloud US" in row(term, "34.106.109.131")
        assert "Operations VPC" in row(term, "172.22.0.0/16")

        # The help says what read-only means.
        term.press("?")
        wait(term, lambda s: "Keys (live" in s)
        term.press("end")
        wait(term, lambda s: "Mode: READ-ONLY: write actions are hidden and refused" in flat(s.splitlines()))
        term.press("escape")
        wait(term, lambda s: "Keys (live" not in s)

        # ctrl+c, the key an on-call engineer reaches for, quits as cleanly as q.
        term.press("ctrl+c")
        assert term.wait_exit(EXIT_S) == 0
        assert term.modes_left_on() == []
        assert "Traceback" not in term.written_after_last(b"\x1b[?1049l")


def test_a_dropped_connection_ends_the_demo_and_its_sandbox(tmp_path: Path) -> None:
    """The SSH connection drops while the dashboard is drawing: it must exit by itself and stop the sandbox.

    The burst of tab switches queues frames for a terminal that is gone; Textual's writer thread dies on the
    first write (EIO) and its bounded queue then blocks the next writes, which is what this guards against.
    """
    with demo(tmp_path, cols=80, rows=24) as term:
        sandbox = processes_under(term.proc.pid)
        assert sandbox
        term.type("23123121")
        term.hang_up()
        assert term.wait_exit(EXIT_S) == 0
        assert [pid for pid in sandbox if running(pid)] == []
        log = (tmp_path / "dashboard.log").read_text(encoding="utf-8")
        assert "terminal gone" in log and "CRITICAL" not in log, log
