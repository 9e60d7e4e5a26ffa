"""The `w` prompt's input: validated with a message that says how to write it, and cited entries labelled."""

from __future__ import annotations

import pytest

from goodword_tui.analysis.reach import QueryError, ReachQuery, explain_why_labelled, label_entries, parse_query
from tests.analysis.builders import handoff_settings, handoff_snowflake


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("3.14.201.56", ReachQuery(("3.14.201.56",))),
        ("172.22.2.106 172.20.0.91 tcp/22", ReachQuery(("172.22.2.106", "172.20.0.91"), "tcp", 22)),
        ("172.22.2.106 -> 172.20.0.91 UDP/53", ReachQuery(("172.22.2.106", "172.20.0.91"), "udp", 53)),
        ("172.22.2.106, 172.20.0.91 all", ReachQuery(("172.22.2.106", "172.20.0.91"), "-1", None)),
        ("172.22.2.106 172.20.0.91 icmp", ReachQuery(("172.22.2.106", "172.20.0.91"), "icmp", None)),
        ("172.22.2.106 172.20.0.91 tcp/65535", ReachQuery(("172.22.2.106", "172.20.0.91"), "tcp", 65535)),
    ],
)
def test_valid_questions_are_parsed(typed: str, expected: ReachQuery) -> None:
    assert parse_query(typed) == expected


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("1.2.3.4 5.6.7.8 tcp/99999", "Port 99999 is out of range: a port is a whole number from 1 to 65535"),
        ("1.2.3.4 5.6.7.8 tcp/0", "Port 0 is out of range"),
        ("1.2.3.4 5.6.7.8 tcp/https", "'https' is not a port number"),
        ("1.2.3.4 5.6.7.8 icmp/3", "icmp has no ports"),
        ("1.2.3.4 5.6.7.8 sctp/9", "Unknown protocol 'sctp'"),
        ("1.2.3.4:443", "Write the port apart, as PROTOCOL/PORT"),
        ("3.14.201.0/24", "is a network, not one address"),
        ("999.1.1.1", "Not an IP address: 999.1.1.1 (IPv4"),
        ("hello", "Not an IP address: hello"),
        ("1.1.1.1 2.2.2.2 3.3.3.3", "3 addresses given; at most two"),
        ("tcp/22", "An address is missing before tcp/22"),
        ("3.14.201.56 tcp/443", "A protocol or port needs two addresses"),
        ("   ", "Type one address"),
    ],
)
def test_invalid_questions_say_what_is_wrong(typed: str, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(typed)
    assert says in caught.value.message


def test_why_labels_the_entries_it_cites_with_their_baseline_label() -> None:
    _, text = explain_why_labelled("34.33.7.3", handoff_snowflake(), handoff_settings())
    assert "ALLOWED_IP_LIST entry 34.33.7.0/29 (Airbyte Cloud US)" in text
    assert "matching: 34.33.7.0/29 (Airbyte Cloud US)" in text


def test_labels_only_baseline_entries_and_never_twice() -> None:
    settings = handoff_settings()
    assert label_entries("entry 172.22.0.0/16 and 203.0.113.9", settings) == (
        "entry 172.22.0.0/16 (Operations VPC) and 203.0.113.9"
    )
    once = label_entries("entry 172.22.0.0/16 (Operations VPC)", settings)
    assert once == "entry 172.22.0.0/16 (Operations VPC)"
