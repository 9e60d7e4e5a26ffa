"""The "inside X" status of an allowed entry: the narrowest other allowed entry that holds it.

`views` finds it with integer masks rather than `ipaddress` objects (a 1,000-entry policy is refreshed every 30 s);
these tests hold it to the plain definition, a scan of every entry with `subnet_of`.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from goodword_tui.analysis import views
from tests.ui import data

SETTINGS = data.settings()

# Networks in a small corner of the address space, so that containment between them is common.
networks = st.builds(
    lambda base, prefix: str(ipaddress.ip_network(f"203.0.{base}.0/{prefix}", strict=False)),
    st.integers(min_value=0, max_value=7),
    st.integers(min_value=16, max_value=32),
) | st.builds(lambda last: f"203.0.1.{last}", st.integers(min_value=0, max_value=255))


def narrowest_container(entry: str, allowed: list[str]) -> str | None:
    """The definition: of the other entries (as networks) wholly holding `entry`, the one with the longest prefix."""
    inner = ipaddress.ip_network(entry, strict=False)
    holders = [
        (outer.prefixlen, text)
        for text in allowed
        if (outer := ipaddress.ip_network(text, strict=False)).prefixlen < inner.prefixlen and inner.subnet_of(outer)
    ]
    return max(holders)[1] if holders else None


def inside_word(statuses: tuple[str, ...]) -> str | None:
    found = [word.removeprefix("inside ") for word in statuses if word.startswith("inside ")]
    assert len(found) <= 1, statuses
    return found[0] if found else None


@settings(max_examples=150, deadline=None)
@given(st.lists(networks, min_size=1, max_size=25, unique=True))
def test_inside_names_the_narrowest_other_entry_holding_it(allowed: list[str]) -> None:
    # Entries that denote the same network ("203.0.1.0/32" and "203.0.1.0") count once, as Snowflake would.
    distinct: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, str] = {}
    for text in allowed:
        distinct.setdefault(ipaddress.ip_network(text, strict=False), text)
    allowed = list(distinct.values())
    base = data.handoff_snowflake()
    state = dataclasses.replace(base, policy=dataclasses.replace(base.policy, allowed_ips=tuple(allowed)))
    states = {e.entry: e for e in views.entry_states(state, SETTINGS) if e.list == "allowed" and e.present}
    for entry in allowed:
        expected = narrowest_container(entry, allowed)
        assert inside_word(states[entry].statuses) == expected, (entry, allowed)


def test_a_single_address_is_inside_its_network_and_a_network_in_nothing_narrower() -> None:
    base = data.handoff_snowflake()
    allowed = ("203.0.113.7", "203.0.113.0/24", "203.0.0.0/16", "198.51.100.0/24")
    state = dataclasses.replace(base, policy=dataclasses.replace(base.policy, allowed_ips=allowed))
    states = {e.entry: e for e in views.entry_states(state, SETTINGS) if e.list == "allowed" and e.present}
    assert inside_word(states["203.0.113.7"].statuses) == "203.0.113.0/24"
    assert inside_word(states["203.0.113.0/24"].statuses) == "203.0.0.0/16"
    assert inside_word(states["203.0.0.0/16"].statuses) is None
    assert inside_word(states["198.51.100.0/24"].statuses) is None
