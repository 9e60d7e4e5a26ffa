"""Fixtures for the changes tests: a scenario loaded on the shared sandbox, its snapshot, a change context.

Each test gets its own journal file (under tmp_path), so journals never mix between tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from goodword_tui.analysis.findings import analyze
from goodword_tui.changes.apply import ChangeContext
from goodword_tui.config import Settings
from goodword_tui.model import Finding, Snapshot, SourceResult
from goodword_tui.sandbox.platform import SandboxPlatform
from goodword_tui.sources.aws import fetch_aws
from goodword_tui.sources.snowflake import fetch_snowflake
from tests.changes.faulty import proxies, write_proxies  # noqa: F401  (fixtures for test_write_faults)


def with_platform(settings: Settings, **platform: object) -> Settings:
    return settings.model_copy(update={"platform": settings.platform.model_copy(update=platform)})


def read_only(settings: Settings) -> Settings:
    return with_platform(settings, mode="read-only")


def take_snapshot(settings: Settings, *, aws: bool = True) -> Snapshot:
    """Snowflake (and AWS unless `aws=False`) read through the real sources, as the dashboard reads them."""
    now = datetime.now(UTC)
    skipped: SourceResult = SourceResult("aws", now)  # type: ignore[type-arg]

    async def read() -> tuple[SourceResult, SourceResult]:  # type: ignore[type-arg]
        if not aws:
            return skipped, await fetch_snowflake(settings)
        return await asyncio.gather(fetch_aws(settings), fetch_snowflake(settings))

    aws_result, snowflake = asyncio.run(read())
    assert aws_result.error is None, aws_result.error
    assert snowflake.error is None, snowflake.error
    return Snapshot(taken_at=now, aws=aws_result, snowflake=snowflake, probes=SourceResult("probes", now, data=()))


@dataclass
class Scene:
    """A scenario on the sandbox: its settings (journal under tmp_path), snapshot, findings and platform."""

    settings: Settings
    snapshot: Snapshot
    findings: list[Finding]
    platform: SandboxPlatform
    aws: bool = True

    def finding(self, code: str) -> Finding:
        found = [f for f in self.findings if f.code == code]
        assert found, f"no {code} finding among {[f.code for f in self.findings]}"
        return found[0]

    def refresh(self) -> Scene:
        snapshot = take_snapshot(self.settings, aws=self.aws)
        return Scene(self.settings, snapshot, analyze(snapshot, self.settings), self.platform, self.aws)


@pytest.fixture
def scene(
    load_scenario: Callable[[str], Settings],
    sandbox_platform: SandboxPlatform,
    isolated_aws_env: Path,
    tmp_path: Path,
) -> Callable[[str], Scene]:
    def load(name: str, *, aws: bool = True) -> Scene:
        """`aws=False`: read only Snowflake (faster, for Snowflake-only tests)."""
        settings = with_platform(load_scenario(name), journal_path=str(tmp_path / "journal.jsonl"))
        snapshot = take_snapshot(settings, aws=aws)
        return Scene(settings, snapshot, analyze(snapshot, settings), sandbox_platform, aws)

    return load


@pytest.fixture
def contexts() -> Iterator[Callable[..., ChangeContext]]:
    """Make ChangeContexts; all are closed after the test."""
    made: list[ChangeContext] = []

    def make(settings: Settings, **kwargs: object) -> ChangeContext:
        ctx = ChangeContext(settings, **kwargs)  # type: ignore[arg-type]
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
