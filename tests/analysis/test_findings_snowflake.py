"""Snowflake findings: the policy's existence and activation, its entries against the baseline, blocked entries,
rules, catch-alls, the operator's own address, entries that can never match, redundancy."""

from __future__ import annotations

from typing import Any

import pytest

from goodword_tui.model import Area, NetworkRule, Severity
from tests.analysis.builders import (
    ACCESS_PUBLIC_IP,
    AIRBYTE_IPS,
    AIRBYTE_RULE,
    ANY_RULE,
    HANDOFF_ALLOWED,
    PRIVATE_ENTRIES,
    codes,
    handoff_policy,
    handoff_settings,
    handoff_snowflake,
    one,
    run,
    with_code,
    without_catch_all,
)


def sf_codes(findings) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.code for f in findings if f.code.startswith("SF_")}


def allowed(*entries: str) -> Any:
    return handoff_snowflake(policy=handoff_policy(allowed_ips=entries))


# --------------------------------------------------------------------------------------------------------------
# Existence and activation


def test_missing_policy_is_critical_and_alone() -> None:
    findings = run(snowflake=handoff_snowflake(policy=None, account_policy=""))
    finding = one(findings, "SF_POLICY_MISSING", "INTEGRATIONS")
    assert finding.severity is Severity.CRITICAL and finding.area is Area.SNOWFLAKE
    assert sf_codes(findings) == {"SF_POLICY_MISSING"}
    assert not with_code(findings, "EGRESS_CATCH_ALL")  # nothing to evaluate egress against


def test_inactive_policy_is_critical_with_activation_fix() -> None:
    finding = one(run(snowflake=handoff_snowflake(account_policy="")), "SF_POLICY_NOT_ACTIVE", "INTEGRATIONS")
    assert finding.severity is Severity.CRITICAL
    assert "admits every address" in finding.message
    assert finding.fix is not None
    assert finding.fix.action == "set_account_policy" and dict(finding.fix.params) == {"policy": "INTEGRATIONS"}
    assert any(f"would admit your address {ACCESS_PUBLIC_IP}" in line for line in finding.evidence)


def test_activation_evidence_warns_of_a_lockout() -> None:
    state = without_catch_all(handoff_snowflake(account_policy=""))
    finding = one(run(snowflake=state), "SF_POLICY_NOT_ACTIVE")
    assert any("would REFUSE your address" in line for line in finding.evidence)


def test_another_active_policy_is_named() -> None:
    finding = one(run(snowflake=handoff_snowflake(account_policy="LEGACY")), "SF_POLICY_NOT_ACTIVE")
    assert "LEGACY" in finding.message


def test_active_policy_name_compares_case_insensitively() -> None:
    assert "SF_POLICY_NOT_ACTIVE" not in codes(run(snowflake=handoff_snowflake(account_policy="integrations")))


def test_user_policy_override_is_a_warning() -> None:
    finding = one(run(snowflake=handoff_snowflake(user_policy="CHRIS_POLICY")), "SF_USER_POLICY_OVERRIDE")
    assert finding.severity is Severity.WARNING and "CHRIS_POLICY" in finding.message
    assert "SF_USER_POLICY_OVERRIDE" not in codes(run(snowflake=handoff_snowflake(user_policy="INTEGRATIONS")))


# --------------------------------------------------------------------------------------------------------------
# Entries against the baseline


def test_missing_protected_entry_is_critical_with_add_fix() -> None:
    entries = tuple(e for e in HANDOFF_ALLOWED if e != "172.22.0.0/16")
    finding = one(run(snowflake=allowed(*entries)), "SF_ENTRY_MISSING", "172.22.0.0/16")
    assert finding.severity is Severity.CRITICAL
    assert finding.fix is not None and finding.fix.action == "add_allowed_ip"
    assert dict(finding.fix.params) == {"policy": "INTEGRATIONS", "cidr": "172.22.0.0/16", "label": "Operations VPC"}


def test_missing_protected_entry_still_admitted_by_a_rule_is_a_warning() -> None:
    """Airbyte's address is also in the AIRBYTE rule: dropped from the list it is drift, not an outage."""
    entries = tuple(e for e in HANDOFF_ALLOWED if e != "34.106.109.131")
    finding = one(run(snowflake=allowed(*entries)), "SF_ENTRY_MISSING", "34.106.109.131")
    assert finding.severity is Severity.WARNING
    assert "still admitted by rule AIRBYTE_DB.RAW.AIRBYTE" in finding.message
    assert finding.fix is not None and finding.fix.action == "add_allowed_ip"


def test_missing_unprotected_entry_is_a_warning() -> None:
    entries = tuple(e for e in HANDOFF_ALLOWED if e != "10.0.0.0/8")
    assert one(run(snowflake=allowed(*entries)), "SF_ENTRY_MISSING", "10.0.0.0/8").severity is Severity.WARNING


def test_unexpected_entry_is_a_warning_with_remove_fix() -> None:
    finding = one(run(snowflake=allowed(*HANDOFF_ALLOWED, "203.0.113.7")), "SF_ENTRY_UNEXPECTED", "203.0.113.7")
    assert finding.severity is Severity.WARNING
    assert finding.fix is not None and finding.fix.action == "remove_allowed_ip"
    assert dict(finding.fix.params) == {"policy": "INTEGRATIONS", "cidr": "203.0.113.7"}


def test_same_network_written_differently_is_neither_missing_nor_unexpected() -> None:
    entries = tuple(f"{e}/32" if "/" not in e else e for e in HANDOFF_ALLOWED)
    findings = run(snowflake=allowed(*entries))
    assert not {"SF_ENTRY_MISSING", "SF_ENTRY_UNEXPECTED"} & codes(findings)


def test_duplicate_spelling_is_info() -> None:
    findings = run(snowflake=allowed(*HANDOFF_ALLOWED, "34.106.109.131/32"))
    finding = one(findings, "SF_ENTRY_DUPLICATE", "34.106.109.131/32")
    assert finding.severity is Severity.INFO
    assert "SF_ENTRY_UNEXPECTED" not in codes(findings)


def test_invalid_entry_is_a_warning() -> None:
    assert one(run(snowflake=allowed(*HANDOFF_ALLOWED, "bogus")), "SF_ENTRY_INVALID", "bogus")


# --------------------------------------------------------------------------------------------------------------
# Blocked entries


def test_blocked_entry_shadowing_a_protected_entry_is_critical() -> None:
    state = handoff_snowflake(policy=handoff_policy(blocked_ips=("34.106.109.0/24",)))
    findings = run(snowflake=state)
    finding = one(findings, "SF_BLOCKED_SHADOWS_ALLOWED", "34.106.109.0/24")
    assert finding.severity is Severity.CRITICAL
    assert any("fully shadows allowed 34.106.109.131" in line for line in finding.evidence)
    assert any("AIRBYTE" in line for line in finding.evidence)  # the rule's value is shadowed too
    assert one(findings, "SF_BLOCKED_UNEXPECTED", "34.106.109.0/24").severity is Severity.WARNING


def test_blocked_entry_inside_an_unprotected_range_is_a_warning() -> None:
    state = handoff_snowflake(policy=handoff_policy(blocked_ips=("10.1.0.0/16",)))
    finding = one(run(snowflake=state), "SF_BLOCKED_SHADOWS_ALLOWED", "10.1.0.0/16")
    assert finding.severity is Severity.WARNING
    assert any("partly shadows allowed 10.0.0.0/8" in line for line in finding.evidence)


def test_configured_carve_out_is_info_and_expected() -> None:
    def block(data: dict[str, Any]) -> None:
        data["snowflake"]["blocked"] = ["10.1.0.0/16"]

    state = handoff_snowflake(policy=handoff_policy(blocked_ips=("10.1.0.0/16",)))
    findings = run(snowflake=state, settings=handoff_settings(block))
    assert one(findings, "SF_BLOCKED_SHADOWS_ALLOWED").severity is Severity.INFO
    assert "SF_BLOCKED_UNEXPECTED" not in codes(findings)


def test_blocked_entry_not_overlapping_anything_is_only_unexpected() -> None:
    findings = run(snowflake=handoff_snowflake(policy=handoff_policy(blocked_ips=("203.0.113.0/24",))))
    assert "SF_BLOCKED_SHADOWS_ALLOWED" not in codes(findings)  # carving out of the catch-all is fine
    assert one(findings, "SF_BLOCKED_UNEXPECTED")


def test_configured_blocked_entry_missing_is_a_warning() -> None:
    def block(data: dict[str, Any]) -> None:
        data["snowflake"]["blocked"] = ["203.0.113.0/24"]

    finding = one(run(settings=handoff_settings(block)), "SF_BLOCKED_MISSING", "203.0.113.0/24")
    assert finding.severity is Severity.WARNING


def test_blocked_rule_shadowing_a_protected_entry_is_critical() -> None:
    state = handoff_snowflake(
        policy=handoff_policy(blocked_rules=("SEC.NET.DENY",)),
        rules=(*handoff_snowflake().rules, NetworkRule("SEC.NET.DENY", "IPV4", "INGRESS", ("34.33.7.0/24",))),
    )
    finding = one(run(snowflake=state), "SF_BLOCKED_SHADOWS_ALLOWED", "SEC.NET.DENY")
    assert finding.severity is Severity.CRITICAL


# --------------------------------------------------------------------------------------------------------------
# Rules


def test_expected_rule_missing_from_the_policy_is_critical_with_fix() -> None:
    state = handoff_snowflake(policy=handoff_policy(allowed_rules=(ANY_RULE,)))
    finding = one(run(snowflake=state), "SF_RULE_MISSING", AIRBYTE_RULE)
    assert finding.severity is Severity.CRITICAL
    assert finding.fix is not None and finding.fix.action == "add_policy_rule"
    assert dict(finding.fix.params) == {"policy": "INTEGRATIONS", "rule": AIRBYTE_RULE, "list": "allowed"}


def test_expected_rule_in_the_wrong_list_is_critical() -> None:
    state = handoff_snowflake(policy=handoff_policy(allowed_rules=(ANY_RULE,), blocked_rules=(AIRBYTE_RULE,)))
    findings = run(snowflake=state)
    assert one(findings, "SF_RULE_WRONG_LIST", AIRBYTE_RULE).severity is Severity.CRITICAL
    assert "SF_RULE_MISSING" not in codes(findings)


def test_rule_referenced_but_not_visible_is_a_warning() -> None:
    state = handoff_snowflake(rules=handoff_snowflake().rules[:1])
    assert one(run(snowflake=state), "SF_RULE_NOT_FOUND", AIRBYTE_RULE).severity is Severity.WARNING


def test_rule_not_in_the_config_is_unexpected() -> None:
    extra = NetworkRule("OPS.NET.EXTRA", "IPV4", "INGRESS", ("198.51.100.0/24",))
    state = handoff_snowflake(
        policy=handoff_policy(allowed_rules=(ANY_RULE, AIRBYTE_RULE, "OPS.NET.EXTRA")),
        rules=(*handoff_snowflake().rules, extra),
    )
    assert one(run(snowflake=state), "SF_RULE_UNEXPECTED", "OPS.NET.EXTRA").severity is Severity.WARNING


def test_quoted_rule_names_from_the_server_match_the_config() -> None:
    state = handoff_snowflake(policy=handoff_policy(allowed_rules=('"GOODWORD_WH"."RAW"."ANY"', AIRBYTE_RULE)))
    assert not {"SF_RULE_MISSING", "SF_RULE_UNEXPECTED", "SF_RULE_NOT_FOUND"} & codes(run(snowflake=state))


def rules_config(values: list[str] | None, **extra: str) -> Any:
    def edit(data: dict[str, Any]) -> None:
        spec: dict[str, Any] = {"name": AIRBYTE_RULE, **extra}
        if values is not None:
            spec["values"] = values
        data["snowflake"]["rules"] = [{"name": ANY_RULE}, spec]

    return handoff_settings(edit)


def test_rule_values_are_checked_when_configured() -> None:
    assert "SF_RULE_VALUES_MISMATCH" not in codes(run(settings=rules_config(list(AIRBYTE_IPS))))
    # Written differently (/32) is the same value.
    same = [f"{v}/32" if "/" not in v else v for v in AIRBYTE_IPS]
    assert "SF_RULE_VALUES_MISMATCH" not in codes(run(settings=rules_config(same)))
    finding = one(run(settings=rules_config([*AIRBYTE_IPS[1:], "34.106.0.1"])), "SF_RULE_VALUES_MISMATCH")
    assert finding.severity is Severity.WARNING
    assert "missing: 34.106.0.1" in finding.evidence and "unexpected: 34.106.109.131" in finding.evidence


def test_rule_kind_mismatch() -> None:
    finding = one(run(settings=rules_config(None, mode="INTERNAL_STAGE")), "SF_RULE_KIND_MISMATCH", AIRBYTE_RULE)
    assert finding.severity is Severity.WARNING


# --------------------------------------------------------------------------------------------------------------
# Catch-alls


def test_catch_all_rule_is_critical() -> None:
    finding = one(run(), "SF_ADMITS_ALL", ANY_RULE)
    assert finding.severity is Severity.CRITICAL
    assert "admits every address: the IP list restricts nothing" in finding.message
    assert "SF_ADMITS_ALL" not in codes(run(snowflake=without_catch_all(handoff_snowflake())))


def test_catch_all_entry_is_critical_with_remove_fix_and_not_also_unexpected() -> None:
    state = without_catch_all(allowed(*HANDOFF_ALLOWED, "0.0.0.0/0"))
    findings = run(snowflake=state)
    finding = one(findings, "SF_ADMITS_ALL", "INTEGRATIONS")
    assert finding.fix is not None and dict(finding.fix.params) == {"policy": "INTEGRATIONS", "cidr": "0.0.0.0/0"}
    assert "SF_ENTRY_UNEXPECTED" not in codes(findings)


def test_policy_with_nothing_allowed_admits_all() -> None:
    state = handoff_snowflake(policy=handoff_policy(allowed_ips=(), allowed_rules=()))
    assert one(run(snowflake=state), "SF_ADMITS_ALL", "INTEGRATIONS").severity is Severity.CRITICAL


# --------------------------------------------------------------------------------------------------------------
# The operator's own address


def test_own_address_refused_is_critical_with_add_fix() -> None:
    state = without_catch_all(handoff_snowflake())
    finding = one(run(snowflake=state), "SF_CURRENT_IP_REFUSED", ACCESS_PUBLIC_IP)
    assert finding.severity is Severity.CRITICAL
    assert "next login" in finding.message
    assert finding.fix is not None
    assert dict(finding.fix.params) == {
        "policy": "INTEGRATIONS",
        "cidr": f"{ACCESS_PUBLIC_IP}/32",
        "label": "operator CHRIS",
    }


def test_own_address_refused_by_an_inactive_policy_warns_about_activation() -> None:
    state = without_catch_all(handoff_snowflake(account_policy=""))
    assert "activating INTEGRATIONS would lock you out" in one(run(snowflake=state), "SF_CURRENT_IP_REFUSED").message


def test_own_address_blocked_has_no_add_fix() -> None:
    state = handoff_snowflake(policy=handoff_policy(blocked_ips=(ACCESS_PUBLIC_IP,)))
    finding = one(run(snowflake=state), "SF_CURRENT_IP_REFUSED")
    assert finding.fix is None and "BLOCKED_IP_LIST" in finding.message


def test_own_address_only_by_catch_all_is_a_warning() -> None:
    finding = one(run(), "SF_CURRENT_IP_CATCH_ALL", ACCESS_PUBLIC_IP)
    assert finding.severity is Severity.WARNING
    assert finding.fix is not None and finding.fix.params["cidr"] == f"{ACCESS_PUBLIC_IP}/32"


def test_own_address_allowed_explicitly_gives_no_finding() -> None:
    findings = run(snowflake=allowed(*HANDOFF_ALLOWED, ACCESS_PUBLIC_IP))
    assert not {"SF_CURRENT_IP_REFUSED", "SF_CURRENT_IP_CATCH_ALL"} & codes(findings)


@pytest.mark.parametrize("ip", ["", "unknown"])
def test_unknown_own_address_is_info(ip: str) -> None:
    findings = run(snowflake=handoff_snowflake(current_ip=ip))
    assert one(findings, "SF_CURRENT_IP_UNKNOWN").severity is Severity.INFO
    assert not {"SF_CURRENT_IP_REFUSED", "SF_CURRENT_IP_CATCH_ALL"} & codes(findings)


# --------------------------------------------------------------------------------------------------------------
# Entries that never match, and redundant ones


def test_private_and_cgnat_entries_never_match_without_privatelink() -> None:
    findings = with_code(run(), "SF_ENTRY_NEVER_MATCHES")
    assert {f.resource for f in findings} == set(PRIVATE_ENTRIES)
    assert all(f.severity is Severity.WARNING for f in findings)
    tailscale = one(findings, "SF_ENTRY_NEVER_MATCHES", "100.64.0.0/10")
    assert "Tailscale" in tailscale.message
    ops = one(findings, "SF_ENTRY_NEVER_MATCHES", "172.22.0.0/16")
    assert any("SQLMesh server (172.22.2.106) reaches Snowflake as 3.14.15.92" in line for line in ops.evidence)


def test_private_rule_values_never_match_either() -> None:
    state = handoff_snowflake(
        rules=(NetworkRule(ANY_RULE, "IPV4", "INGRESS", ("192.168.7.0/24",)), handoff_snowflake().rules[1])
    )
    assert one(run(snowflake=state), "SF_ENTRY_NEVER_MATCHES", ANY_RULE)


def test_privatelink_makes_private_entries_meaningful() -> None:
    vpce = NetworkRule("OPS.NET.PL", "AWSVPCEID", "INGRESS", ("vpce-0123",))
    state = handoff_snowflake(
        policy=handoff_policy(allowed_rules=(ANY_RULE, AIRBYTE_RULE, "OPS.NET.PL")),
        rules=(*handoff_snowflake().rules, vpce),
    )
    assert "SF_ENTRY_NEVER_MATCHES" not in codes(run(snowflake=state))


def test_entries_inside_other_entries_are_info() -> None:
    findings = with_code(run(), "SF_ENTRY_REDUNDANT")
    assert {f.resource for f in findings} == {"172.22.0.0/16", "172.20.0.0/16"}
    assert all(f.severity is Severity.INFO and "172.16.0.0/12" in f.message for f in findings)
    assert not with_code(run(snowflake=allowed("34.106.109.131", "34.33.7.0/29")), "SF_ENTRY_REDUNDANT")


def test_own_address_refused_while_a_user_policy_decides_says_so() -> None:
    state = without_catch_all(handoff_snowflake(user_policy="CHRIS_POLICY"))
    finding = one(run(snowflake=state), "SF_CURRENT_IP_REFUSED")
    assert "only your user policy CHRIS_POLICY keeps you in" in finding.message
