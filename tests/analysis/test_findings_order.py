"""Findings order: within one severity, the root cause comes before the findings it explains."""

from __future__ import annotations

import dataclasses

from goodword_tui.analysis.findings import CODES, ROOT_CAUSES, cause_rank
from goodword_tui.model import Severity
from tests.analysis.builders import handoff_snowflake, run


def test_an_inactive_policy_is_listed_above_the_catch_all_it_makes_moot() -> None:
    """The policy-inactive scenario: both are critical; the cause (not active) is what to read and fix first."""
    findings = run(snowflake=dataclasses.replace(handoff_snowflake(), account_policy=""))
    critical = [f.code for f in findings if f.severity is Severity.CRITICAL]
    assert critical[:2] == ["SF_POLICY_NOT_ACTIVE", "SF_ADMITS_ALL"]


def test_consequences_come_after_the_other_findings_of_their_severity() -> None:
    findings = run()
    warnings = [f.code for f in findings if f.severity is Severity.WARNING]
    ranks = [cause_rank(code) for code in warnings]
    assert ranks == sorted(ranks)
    assert warnings[0] == "SF_ENTRY_NEVER_MATCHES"  # a defect of the policy itself, before what addresses suffer
    assert {"EGRESS_CATCH_ALL", "SF_CURRENT_IP_CATCH_ALL"} <= set(warnings[-3:])


def test_every_root_cause_is_a_known_code() -> None:
    assert set(CODES) >= ROOT_CAUSES
