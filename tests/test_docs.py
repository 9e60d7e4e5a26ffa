"""The README stays true to the code: every finding code and every scenario is documented."""

from __future__ import annotations

from pathlib import Path

from goodword_tui.analysis.findings import CODES
from goodword_tui.sandbox.scenarios import SCENARIOS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_finding_code_is_documented() -> None:
    missing = [code for code in CODES if f"`{code}`" not in README]
    assert not missing, f"add these codes to the README's table: {missing}"


def test_every_scenario_is_documented() -> None:
    missing = [name for name in SCENARIOS if f"`{name}`" not in README]
    assert not missing, f"add these scenarios to the README's table: {missing}"
