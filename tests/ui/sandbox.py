"""The dashboard against the real sandbox: the real AWS, Snowflake and probe sources reading moto and the
Snowflake emulator, through a Monitor like the one `goodword-tui` builds.

SQLMesh is left out (answered as "not read"): these tests are about AWS and Snowflake changes, and the SQLMesh
source has its own tests. Every other source the Monitor knows gets the same placeholder, so the dashboard's
"all sources loaded" wait holds whatever sources exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich.text import Text
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input, Static

from goodword_tui.config import Settings
from goodword_tui.model import SourceResult
from goodword_tui.monitor import SOURCE_NAMES, Fetcher, Monitor
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sandbox.snowflake import SnowflakeSandbox
from goodword_tui.ui.app import GoodwordApp
from goodword_tui.ui.screens import ChangeScreen
from tests.ui.conftest import settled, until
from tests.ui.test_dashboard import table, text_of

REAL_SOURCES = ("aws", "snowflake", "probes")


def sandbox_fetchers(settings: Settings) -> tuple[dict[str, Fetcher], Callable[[], None]]:
    """The real AWS, Snowflake and probe fetchers (as `monitor.default_fetchers` makes them), and their release."""
    from goodword_tui.sources.aws import AwsReader
    from goodword_tui.sources.probes import fetch_probes
    from goodword_tui.sources.snowflake import SnowflakeGateway, fetch_snowflake

    gateway = SnowflakeGateway(settings, read_only=True)
    aws = AwsReader()

    async def snowflake(s: Settings) -> SourceResult[Any]:
        return await fetch_snowflake(s, gateway)

    async def not_read(_settings: Settings) -> SourceResult[Any]:
        return SourceResult(source="sqlmesh", fetched_at=datetime.now(UTC))

    def release() -> None:
        gateway.close()
        aws.close()

    fetchers: dict[str, Fetcher] = {"aws": aws, "snowflake": snowflake, "probes": fetch_probes}
    for name in SOURCE_NAMES:
        fetchers.setdefault(name, not_read)
    return fetchers, release


class SandboxApp(GoodwordApp):
    """The dashboard over the sandbox; `close()` releases the sources' sessions (the CLI does this after run)."""

    def __init__(self, settings: Settings, *, reader: bool = False, **kwargs: Any) -> None:
        """`reader`: read through the reader process, as `goodword-tui` does (else in this process)."""
        if reader:
            from goodword_tui.reader import ReaderProcess

            process = ReaderProcess(settings)
            process.start()
            monitor, self._release = Monitor(settings, factory=process.fetchers), process.close
        else:
            fetchers, self._release = sandbox_fetchers(settings)
            monitor = Monitor(settings, fetchers)
        kwargs.setdefault("auto_refresh", False)
        super().__init__(settings, monitor, watch_terminal=False, **kwargs)

    def close(self) -> None:
        self._release()


S = TypeVar("S", bound=Screen[Any])

# Deadlines, not waits: a poll returns as soon as its condition holds. Generous, because a busy CI machine can
# take seconds for what takes a fraction of one on an idle laptop (the first read imports boto3 and the connector).
LOAD_TIMEOUT_S = 30.0
APPLY_TIMEOUT_S = 30.0  # re-read, send, verify (polling), journal, upload: about a second on the sandbox
REFRESH_TIMEOUT_S = 20.0


@asynccontextmanager
async def dashboard(settings: Settings, **kwargs: Any) -> AsyncIterator[tuple[SandboxApp, Pilot]]:
    """The dashboard over the sandbox, every source read once."""
    app = SandboxApp(settings, **kwargs)
    try:
        async with app.run_test(size=(140, 48)) as pilot:
            await settled(pilot, LOAD_TIMEOUT_S)
            yield app, pilot
        assert app._change_ctx is None  # the app closed its change context (and the Snowflake session in it)
    finally:
        app.close()


async def screen_of(pilot: Pilot, kind: type[S]) -> S:
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted,
        APPLY_TIMEOUT_S,
        kind.__name__,
    )
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, kind)
    return screen


def codes(app: SandboxApp) -> set[str]:
    return {f.code for f in app.findings}


def select_finding(app: SandboxApp, code: str) -> None:
    findings = table(app, "findings")
    row = next(r for r in findings.all_rows if r.subject.code == code)
    assert findings.select_key(row.key)
    findings.focus()


def shown_text(widget: Static) -> str:
    """A Static's text exactly as given to it (before the terminal's width wraps it)."""
    content = widget.content
    return content.plain if isinstance(content, Text) else text_of(widget)


def preview(screen: ChangeScreen) -> str:
    return shown_text(screen.query_one("#change-preview", Static))


def result(screen: ChangeScreen) -> str:
    return shown_text(screen.query_one("#change-result", Static))


def error(screen: Screen[Any], selector: str = "#change-error") -> str:
    return shown_text(screen.query_one(selector, Static))


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    """Focus the field, clear it and type `text` key by key, as a person would."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*["space" if ch == " " else ch for ch in text])
    assert field.value == text


def fill(pilot: Pilot, selector: str, text: str) -> None:
    """Put `text` in a field at once (where how it was typed is not the point: quicker than key by key)."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text


async def press_button(pilot: Pilot, selector: str) -> None:
    button = pilot.app.screen.query_one(selector, Button)
    assert button.display and not button.disabled, f"{selector} is not pressable"
    button.focus()
    await pilot.press("enter")


async def apply(pilot: Pilot, screen: ChangeScreen) -> Any:
    """Press Apply and wait for the outcome the core returned."""
    screen.outcome = None
    await press_button(pilot, "#change-apply")
    await until(pilot, lambda: screen.outcome is not None, APPLY_TIMEOUT_S, "the apply's outcome")
    return screen.outcome


def snowflake_writes(sandbox: SnowflakeSandbox) -> list[str]:
    return [s.sql for s in sandbox.statements() if s.sql.lstrip().upper().startswith(("ALTER", "CREATE", "DROP"))]


def allowed_ips(platform: SandboxPlatform) -> list[str]:
    rows = dict(platform.sql("DESC NETWORK POLICY INTEGRATIONS"))
    return [v for v in str(rows.get("ALLOWED_IP_LIST", "")).split(",") if v]
