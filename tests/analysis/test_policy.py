"""evaluate_ip: Snowflake's precedence (blocked first), rules, catch-alls, and the lockout guard."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodword_tui.analysis.policy import (
    Decider,
    contains,
    evaluate_ip,
    host_cidr,
    non_internet_reason,
    normalize_rule_name,
    parse_entry,
    same_network,
    would_allow_after,
)
from goodword_tui.model import NetworkPolicy, NetworkRule
from tests.analysis.builders import (
    AIRBYTE_RULE,
    ANY_RULE,
    OPS_NAT_IP,
    handoff_policy,
    handoff_rules,
)


def policy(
    allowed: tuple[str, ...] = (),
    blocked: tuple[str, ...] = (),
    allowed_rules: tuple[str, ...] = (),
    blocked_rules: tuple[str, ...] = (),
) -> NetworkPolicy:
    return NetworkPolicy("P", allowed, blocked, allowed_rules, blocked_rules)


def ipv4_rule(name: str, *values: str, mode: str = "INGRESS") -> NetworkRule:
    return NetworkRule(name, "IPV4", mode, values)


# --------------------------------------------------------------------------------------------------------------
# Parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4/32"),
        (" 1.2.3.4/32 ", "1.2.3.4/32"),
        ("34.33.7.0/29", "34.33.7.0/29"),
        ("10.1.2.3/8", "10.0.0.0/8"),  # host bits as the server may keep them: tolerated
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_parse_entry_reads_server_entries(text: str, expected: str) -> None:
    assert parse_entry(text) == ipaddress.ip_network(expected)


@pytest.mark.parametrize("text", ["", "not-an-ip", "1.2.3.4/33", "300.1.1.1"])
def test_parse_entry_refuses_non_networks(text: str) -> None:
    assert parse_entry(text) is None


def test_same_network_ignores_spelling() -> None:
    assert same_network("1.2.3.4", "1.2.3.4/32")
    assert not same_network("1.2.3.4", "1.2.3.5")
    assert not same_network("junk", "junk")


def test_host_cidr() -> None:
    assert host_cidr("3.14.15.92") == "3.14.15.92/32"
    assert host_cidr("2001:db8::1") == "2001:db8::1/128"


def test_contains_is_false_across_versions() -> None:
    v4, v6 = ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")
    assert not contains(v4, v6)
    assert contains(v4, ipaddress.ip_network("10.0.0.0/8"))


def test_rule_names_normalize_quotes_and_case() -> None:
    assert normalize_rule_name('"goodword_wh"."raw"."any"') == "GOODWORD_WH.RAW.ANY"


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("172.22.0.0/16", "RFC 1918"),
        ("10.0.0.0/8", "RFC 1918"),
        ("192.168.1.0/24", "RFC 1918"),
        ("100.64.0.0/10", "carrier-grade"),
        ("100.100.1.1/32", "carrier-grade"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("fd00::/8", "unique-local"),
    ],
)
def test_non_internet_space_is_recognised(cidr: str, fragment: str) -> None:
    reason = non_internet_reason(ipaddress.ip_network(cidr))
    assert reason is not None and fragment in reason


@pytest.mark.parametrize("cidr", ["34.106.109.131/32", "0.0.0.0/0", "172.0.0.0/8", "100.0.0.0/8", "3.14.15.92/32"])
def test_public_or_mixed_space_can_match(cidr: str) -> None:
    # 172.0.0.0/8 and 100.0.0.0/8 overlap private/CGNAT space but also hold public addresses.
    assert non_internet_reason(ipaddress.ip_network(cidr)) is None


def test_cgnat_is_caught_although_python_does_not_call_it_private() -> None:
    network = ipaddress.ip_network("100.64.0.0/10")
    assert not network.is_private  # the trap: a check on is_private alone would miss Tailscale's range
    assert non_internet_reason(network) is not None


# --------------------------------------------------------------------------------------------------------------
# Precedence


def test_no_policy_admits_everything() -> None:
    verdict = evaluate_ip("8.8.8.8", None)
    assert verdict.allowed and verdict.decided_by is Decider.NO_POLICY


def test_invalid_address_is_refused_with_reason() -> None:
    verdict = evaluate_ip("nope", policy(allowed=("0.0.0.0/0",)))
    assert not verdict.allowed and verdict.decided_by is Decider.INVALID_ADDRESS


def test_allowed_ip_list_entry_admits() -> None:
    verdict = evaluate_ip("34.106.109.131", policy(allowed=("34.106.109.131",)))
    assert verdict.allowed
    assert verdict.decided_by is Decider.ALLOWED_IP_LIST
    assert verdict.entry == "34.106.109.131"
    assert not verdict.catch_all


def test_address_outside_the_allowed_list_is_refused() -> None:
    verdict = evaluate_ip("8.8.8.8", policy(allowed=("34.106.109.131",)))
    assert not verdict.allowed
    assert verdict.decided_by is Decider.NOT_ALLOWED


def test_blocked_list_wins_over_allowed_list() -> None:
    verdict = evaluate_ip("192.168.1.99", policy(allowed=("192.168.1.0/24",), blocked=("192.168.1.99",)))
    assert not verdict.allowed
    assert verdict.decided_by is Decider.BLOCKED_IP_LIST
    assert verdict.entry == "192.168.1.99"
    assert "checked before" in verdict.reason
    # Its neighbour is still admitted by the allowed range.
    assert evaluate_ip("192.168.1.98", policy(allowed=("192.168.1.0/24",), blocked=("192.168.1.99",))).allowed


def test_blocked_rule_wins_over_allowed_list_and_rules() -> None:
    p = policy(allowed=("3.0.0.0/8",), allowed_rules=("DB.S.OPEN",), blocked_rules=("DB.S.BAD",))
    rules = (ipv4_rule("DB.S.OPEN", "0.0.0.0/0"), ipv4_rule("DB.S.BAD", "3.14.15.0/24"))
    verdict = evaluate_ip(OPS_NAT_IP, p, rules)
    assert not verdict.allowed
    assert verdict.decided_by is Decider.BLOCKED_RULE
    assert verdict.rule == "DB.S.BAD"


def test_blocked_list_is_checked_before_blocked_rules() -> None:
    p = policy(blocked=("3.14.15.92",), blocked_rules=("DB.S.BAD",))
    verdict = evaluate_ip(OPS_NAT_IP, p, (ipv4_rule("DB.S.BAD", "3.0.0.0/8"),))
    assert verdict.decided_by is Decider.BLOCKED_IP_LIST
    assert verdict.steps[0].startswith("BLOCKED_IP_LIST")


def test_allowed_rule_admits() -> None:
    p = policy(allowed=("34.106.109.131",), allowed_rules=(AIRBYTE_RULE,))
    verdict = evaluate_ip("34.33.7.3", p, handoff_rules())
    assert verdict.allowed and verdict.decided_by is Decider.ALLOWED_RULE
    assert verdict.rule == AIRBYTE_RULE and verdict.entry == "34.33.7.0/29"


def test_allowed_rules_alone_restrict() -> None:
    p = policy(allowed_rules=(AIRBYTE_RULE,))
    assert not evaluate_ip("8.8.8.8", p, handoff_rules()).allowed


def test_no_allowed_list_and_no_rules_admits_all_not_blocked() -> None:
    p = policy(blocked=("6.6.6.6",))
    admitted = evaluate_ip("8.8.8.8", p)
    assert admitted.allowed and admitted.decided_by is Decider.NO_ALLOW_LIST and admitted.catch_all
    assert not evaluate_ip("6.6.6.6", p).allowed


def test_catch_all_rule_is_flagged_as_the_only_reason() -> None:
    verdict = evaluate_ip(OPS_NAT_IP, handoff_policy(), handoff_rules())
    assert verdict.allowed and verdict.catch_all
    assert verdict.decided_by is Decider.ALLOWED_RULE and verdict.rule == ANY_RULE
    assert "catch-all" in verdict.reason


def test_specific_entry_is_preferred_over_catch_all() -> None:
    verdict = evaluate_ip("34.106.109.131", handoff_policy(), handoff_rules())
    assert verdict.allowed and not verdict.catch_all
    assert verdict.decided_by is Decider.ALLOWED_IP_LIST  # tie with the Airbyte rule's /32: the list is named


def test_rules_of_other_types_and_modes_do_not_decide_addresses() -> None:
    p = policy(allowed_rules=("DB.S.VPCE", "DB.S.STAGE"))
    rules = (
        NetworkRule("DB.S.VPCE", "AWSVPCEID", "INGRESS", ("vpce-123",)),
        ipv4_rule("DB.S.STAGE", "8.8.8.0/24", mode="INTERNAL_STAGE"),
    )
    verdict = evaluate_ip("8.8.8.8", p, rules)
    # Neither rule restricts addresses at login: nothing restricts, everything not blocked is admitted.
    assert verdict.allowed and verdict.decided_by is Decider.NO_ALLOW_LIST
    assert any("DB.S.VPCE" in note for note in verdict.notes)


def test_invisible_allowed_rule_is_treated_as_restricting() -> None:
    verdict = evaluate_ip("8.8.8.8", policy(allowed_rules=("DB.S.HIDDEN",)), ())
    assert not verdict.allowed
    assert any("not visible" in note for note in verdict.notes)


def test_rule_names_match_whatever_their_quoting() -> None:
    p = policy(allowed_rules=('"airbyte_db"."raw"."airbyte"',))
    assert evaluate_ip("34.106.60.246", p, handoff_rules()).allowed


def test_bad_entries_are_ignored_with_a_note() -> None:
    verdict = evaluate_ip("1.2.3.4", policy(allowed=("garbage", "1.2.3.4")))
    assert verdict.allowed
    assert any("garbage" in note for note in verdict.notes)


def test_explain_lists_the_steps_in_order() -> None:
    text = evaluate_ip(OPS_NAT_IP, handoff_policy(), handoff_rules()).explain()
    lines = text.splitlines()
    assert lines[0].startswith("ADMITTED")
    order = [
        i
        for i, line in enumerate(lines)
        for key in ("BLOCKED_IP_LIST", "blocked rules", "ALLOWED_IP_LIST")
        if key in line
    ]
    assert order == sorted(order) and len(order) == 3
    assert any("only a catch-all" in line for line in lines)


# --------------------------------------------------------------------------------------------------------------
# Lockout guard


def test_removing_the_catch_all_locks_out_an_address_it_alone_admitted() -> None:
    check = would_allow_after(OPS_NAT_IP, handoff_policy(), handoff_rules(), allowed_rules=(AIRBYTE_RULE,))
    assert check.before.allowed and not check.after.allowed
    assert check.locks_out


def test_adding_the_address_first_makes_removal_safe() -> None:
    before = handoff_policy(allowed_ips=(*handoff_policy().allowed_ips, OPS_NAT_IP))
    check = would_allow_after(OPS_NAT_IP, before, handoff_rules(), allowed_rules=(AIRBYTE_RULE,))
    assert check.after.allowed and not check.locks_out


def test_changing_rule_values_is_considered() -> None:
    check = would_allow_after(OPS_NAT_IP, handoff_policy(), handoff_rules(), rule_values={ANY_RULE: ["10.0.0.0/8"]})
    assert check.locks_out


def test_blocking_your_own_address_locks_you_out() -> None:
    check = would_allow_after("34.106.109.131", handoff_policy(), handoff_rules(), blocked_ips=("34.106.109.0/24",))
    assert check.locks_out and check.after.decided_by is Decider.BLOCKED_IP_LIST


def test_emptying_the_allowed_list_without_ipv4_rules_admits_nobody() -> None:
    check = would_allow_after("8.8.8.8", policy(allowed=("8.8.8.8",)), (), allowed_ips=())
    assert check.before.allowed and not check.after.allowed
    assert check.after.decided_by is Decider.EMPTIED_ALLOW_LIST


def test_unrelated_change_keeps_the_address_admitted() -> None:
    check = would_allow_after("34.106.109.131", handoff_policy(), handoff_rules(), blocked_ips=("6.6.6.6",))
    assert check.before.allowed and check.after.allowed and not check.locks_out


def test_no_policy_means_no_change() -> None:
    check = would_allow_after("8.8.8.8", None, (), allowed_ips=())
    assert check.before.allowed and check.after.allowed


# --------------------------------------------------------------------------------------------------------------
# Property: evaluate_ip agrees with a brute-force reading of the documented precedence

octet = st.integers(0, 255)
address_st = st.tuples(octet, octet, octet, octet).map(lambda t: ".".join(map(str, t)))
network_st = st.tuples(address_st, st.integers(0, 32)).map(
    lambda t: str(ipaddress.ip_network(f"{t[0]}/{t[1]}", strict=False))
)
# Small worlds so that matches actually happen: addresses and networks inside 10.0.0.0/28 most of the time.
small_address = st.integers(0, 15).map(lambda n: f"10.0.0.{n}")
small_network = st.tuples(st.integers(0, 15), st.integers(28, 32)).map(
    lambda t: str(ipaddress.ip_network(f"10.0.0.{t[0]}/{t[1]}", strict=False))
)
entries = st.lists(st.one_of(small_network, network_st, small_address), max_size=4).map(tuple)


def brute_force(ip: str, p: NetworkPolicy, rules: dict[str, tuple[str, ...]]) -> bool:
    address = ipaddress.ip_address(ip)

    def hit(values: tuple[str, ...]) -> bool:
        return any(address in ipaddress.ip_network(v, strict=False) for v in values)

    if hit(p.blocked_ips) or any(hit(rules[r]) for r in p.blocked_rules):
        return False
    if not p.allowed_ips and not p.allowed_rules:
        return True
    return hit(p.allowed_ips) or any(hit(rules[r]) for r in p.allowed_rules)


@settings(max_examples=200, deadline=None)
@given(
    ip=st.one_of(small_address, address_st),
    allowed=entries,
    blocked=entries,
    allowed_rule=st.one_of(st.none(), entries),
    blocked_rule=st.one_of(st.none(), entries),
)
def test_evaluate_ip_agrees_with_brute_force(
    ip: str,
    allowed: tuple[str, ...],
    blocked: tuple[str, ...],
    allowed_rule: tuple[str, ...] | None,
    blocked_rule: tuple[str, ...] | None,
) -> None:
    rule_values = {"DB.S.A": allowed_rule or (), "DB.S.B": blocked_rule or ()}
    p = policy(
        allowed=allowed,
        blocked=blocked,
        allowed_rules=("DB.S.A",) if allowed_rule is not None else (),
        blocked_rules=("DB.S.B",) if blocked_rule is not None else (),
    )
    rules = tuple(ipv4_rule(name, *values) for name, values in rule_values.items())
    verdict = evaluate_ip(ip, p, rules)
    assert verdict.allowed == brute_force(ip, p, rule_values)
    if verdict.allowed and verdict.entry:
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(verdict.entry, strict=False)
    if not verdict.allowed and verdict.decided_by in (Decider.BLOCKED_IP_LIST, Decider.BLOCKED_RULE):
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(verdict.entry, strict=False)


def test_adding_the_first_allowed_entry_refuses_everyone_else() -> None:
    # An empty allow list admits everything; its first entry turns it into a restriction.
    check = would_allow_after("8.8.8.8", policy(), (), allowed_ips=("1.2.3.4",))
    assert check.locks_out


@settings(max_examples=100, deadline=None)
@given(
    ip=st.one_of(small_address, address_st),
    allowed=st.lists(st.one_of(small_network, network_st), min_size=1, max_size=4).map(tuple),
    extra=st.one_of(small_network, network_st),
)
def test_adding_to_a_non_empty_allowed_list_never_refuses_an_admitted_address(
    ip: str, allowed: tuple[str, ...], extra: str
) -> None:
    p = policy(allowed=allowed)
    check = would_allow_after(ip, p, (), allowed_ips=(*allowed, extra))
    assert not check.locks_out
    if ipaddress.ip_address(ip) in ipaddress.ip_network(extra):
        assert check.after.allowed
