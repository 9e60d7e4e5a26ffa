"""Building findings against a code registry: shared by every analysis module, so a code cannot be raised
without being documented (each module keeps its own `CODES`; `findings.CODES` gathers them for the README)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from goodword_tui.model import Area, Finding, Severity, SuggestedFix


def new_finding(
    codes: Mapping[str, str],
    severity: Severity,
    code: str,
    area: Area,
    resource: str,
    message: str,
    evidence: Iterable[str] = (),
    fix: SuggestedFix | None = None,
) -> Finding:
    if code not in codes:  # a programming error, caught by the tests
        raise KeyError(f"finding code {code} is not registered in CODES")
    return Finding(severity, code, area, resource, message, tuple(e for e in evidence if e), fix)
