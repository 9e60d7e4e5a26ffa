"""The lockout and reach guards: range arithmetic that agrees with evaluate_ip, and what they refuse."""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from goodword_tui.analysis.policy import evaluate_ip
from goodword_tui.changes.guards import AddressSet, admitted_addresses, check_lockout, reach_lost
from goodword_tui.model import NetworkPolicy, NetworkRule
from tests.analysis.builders import ACCESS_PUBLIC_IP, handoff_policy, handoff_rules, handoff_settings


def nets(*texts: str) -> AddressSet:
    return AddressSet.of(ipaddress.ip_network(t) for t in texts)


def test_address_sets_merge_subtract_and_contain() -> None:
    s = nets("10.0.0.0/25", "10.0.0.128/25", "192.168.1.0/24")
    assert s.networks() == ["10.0.0.0/24", "192.168.1.0/24"]  # the two halves merged
    assert len(s.ranges) == 2
    cut = s.minus(nets("10.0.0.64/26"))
    assert cut.networks() == ["10.0.0.0/26", "10.0.0.128/25", "192.168.1.0/24"]
    assert ipaddress.IPv4Network("10.0.0.128/25") in cut
    assert ipaddress.IPv4Network("10.0.0.0/24") not in cut
    assert ipaddress.IPv4Address("10.0.0.70") not in cut
    assert AddressSet.everything().minus(AddressSet.everything()).size() == 0
    assert not nets("2001:db8::/32")  # IPv6 is not part of an IPv4 set


# A small pool so random policies overlap, nest and block each other often.
POOL = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "203.0.113.0/24", "203.0.113.7", "0.0.0.0/0", "x"]
ADDRESSES = ["10.1.2.3", "10.1.2.4", "10.2.0.1", "203.0.113.7", "203.0.113.8", "8.8.8.8", "0.0.0.0"]


@st.composite
def policies(draw: st.DrawFn) -> tuple[NetworkPolicy, tuple[NetworkRule, ...], bool]:
    pick = st.lists(st.sampled_from(POOL), max_size=3, unique=True)
    rules = (
        NetworkRule("DB.S.A", draw(st.sampled_from(["IPV4", "AWSVPCEID"])), "INGRESS", tuple(draw(pick))),
        NetworkRule("DB.S.B", "IPV4", draw(st.sampled_from(["INGRESS", "INTERNAL_STAGE"])), tuple(draw(pick))),
    )
    names = st.lists(st.sampled_from(["DB.S.A", "DB.S.B", "DB.S.MISSING"]), max_size=2, unique=True)
    policy = NetworkPolicy(
        "P",
        allowed_ips=tuple(draw(pick)),
        blocked_ips=tuple(draw(pick)),
        allowed_rules=tuple(draw(names)),
        blocked_rules=tuple(draw(names)),
    )
    return policy, rules, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(policies())
def test_admitted_ranges_agree_with_evaluate_ip(case: tuple[NetworkPolicy, tuple[NetworkRule, ...], bool]) -> None:
    policy, rules, emptied = case
    admitted = admitted_addresses(policy, rules, allow_list_emptied=emptied)
    for ip in ADDRESSES:
        verdict = evaluate_ip(ip, policy, rules, allow_list_emptied=emptied)
        assert (ipaddress.IPv4Address(ip) in admitted) == verdict.allowed, (ip, verdict.reason)


def test_reach_lost_names_what_is_no_longer_admitted() -> None:
    rules = handoff_rules()
    no_catch_all = handoff_policy(allowed_rules=("AIRBYTE_DB.RAW.AIRBYTE",))
    # With GOODWORD_WH.RAW.ANY (0.0.0.0/0) attached, removing an entry loses nobody ...
    assert not reach_lost(handoff_policy(), handoff_policy(allowed_ips=()), rules)
    # ... without it, removing Tailscale loses exactly Tailscale.
    smaller = dataclasses.replace(
        no_catch_all, allowed_ips=tuple(e for e in no_catch_all.allowed_ips if e[:3] != "100")
    )
    assert reach_lost(no_catch_all, smaller, rules).networks() == ["100.64.0.0/10"]
    # Activating a policy (None → policy) loses everything it does not admit.
    assert reach_lost(None, no_catch_all, rules).size() > 2**31


def test_lockout_judges_the_operator_and_protected_entries() -> None:
    settings_ = handoff_settings()
    rules = handoff_rules()
    policy = handoff_policy(allowed_rules=("AIRBYTE_DB.RAW.AIRBYTE",), allowed_ips=(*handoff_policy().allowed_ips,))
    mine = dataclasses.replace(policy, allowed_ips=(*policy.allowed_ips, ACCESS_PUBLIC_IP))
    # Taking my address out locks me out; the report says who and why.
    report = check_lockout(mine, policy, rules, ACCESS_PUBLIC_IP, settings_)
    assert report.locks_out
    assert [i.subject for i in report.locked_out] == [f"your address {ACCESS_PUBLIC_IP}"]
    assert "would be locked out" in report.explain()
    # Removing protected Tailscale (only in the list) locks it out; removing 172.22/16 does not (172.16/12 covers it).
    no_tailscale = dataclasses.replace(mine, allowed_ips=tuple(e for e in mine.allowed_ips if e != "100.64.0.0/10"))
    report = check_lockout(mine, no_tailscale, rules, ACCESS_PUBLIC_IP, settings_)
    assert [i.subject for i in report.locked_out] == ["protected entry 100.64.0.0/10 (Tailscale)"]
    no_ops = dataclasses.replace(mine, allowed_ips=tuple(e for e in mine.allowed_ips if e != "172.22.0.0/16"))
    assert not check_lockout(mine, no_ops, rules, ACCESS_PUBLIC_IP, settings_).locks_out
    # A blocked entry wins over the allowed one (blocked first).
    blocked = dataclasses.replace(mine, blocked_ips=(ACCESS_PUBLIC_IP,))
    assert check_lockout(mine, blocked, rules, ACCESS_PUBLIC_IP, settings_).locks_out
    # An address Snowflake did not report: a change that refuses anyone admitted now counts as a lockout risk.
    unknown = check_lockout(mine, no_tailscale, rules, "", settings_)
    assert unknown.unknown_current_ip and unknown.locks_out
    assert not check_lockout(no_tailscale, mine, rules, "", settings_).locks_out  # widening is never a risk


spans = st.lists(st.tuples(st.integers(0, 80), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1])), max_size=6)


@settings(max_examples=300, deadline=None)
@given(spans, spans)
def test_address_set_subtraction_matches_set_arithmetic(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    def members(ranges: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> set[int]:
        return {n for low, high in ranges for n in range(low, high + 1)}

    left = AddressSet(()).union(AddressSet(tuple(sorted(a))))  # union merges overlapping spans
    right = AddressSet(()).union(AddressSet(tuple(sorted(b))))
    assert members(left.minus(right).ranges) == members(a) - members(b)
    assert members(left.union(right).ranges) == members(a) | members(b)
