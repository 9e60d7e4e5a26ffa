"""Entry-field validation: every bad input refused with a message saying how to fix it; hypothesis over the field."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodword_tui.changes.inputs import (
    MAX_IP_LIST_ENTRIES,
    InputError,
    check_list_entries,
    parse_ipv4_entry,
    validate_label,
    validate_ports,
    validate_reason,
    validate_rule_name,
    validate_sg_description,
)
from goodword_tui.changes.snowflake import policy_statement
from goodword_tui.model import NetworkPolicy
from goodword_tui.sources.snowflake import tokenize


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("34.106.229.69", "34.106.229.69"),
        ("  34.106.229.69\n", "34.106.229.69"),  # a paste's surrounding whitespace is trimmed
        ("34.106.229.69/32", "34.106.229.69"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_valid_entries_are_normalized(text: str, normalized: str) -> None:
    assert parse_ipv4_entry(text) == normalized


@pytest.mark.parametrize(
    ("text", "says", "suggests"),
    [
        ("10.1.2.3/24", "host bits set", "use 10.1.2.0/24 for the whole network, or 10.1.2.3"),
        ("2001:db8::/32", "IPv6", "IPV6 network rule"),
        ("::1", "IPv6", "IPv4"),
        ("", "is empty", "type"),
        ("34.106.229.69'", "quote", "remove it"),
        ('34.106.229.69"', "quote", "remove it"),
        ("34.106.229.69\\", "backslash", "remove it"),
        ("34.106.\x00229.69", "non-printable", "control characters"),
        ("34.106.229.69\u200b", "non-printable", "control characters"),
        ("34.106.229.69 /32", "contains ' '", "203.0.113.7"),
        ("300.1.2.3", "not an IPv4 address", "203.0.113.7"),
        ("010.1.2.3", "not an IPv4 address", "203.0.113.7"),
        ("10.0.0.0/33", "prefix length", "203.0.113.0/24"),
        ("10.0.0.0/08", "prefix length", "203.0.113.0/24"),
        ("10.0.0.0/255.0.0.0", "prefix length", "203.0.113.0/24"),
        ("10.0.0.0/8/8", "more than one slash", "203.0.113.0/24"),
        ("1" * 19, "characters long", "203.0.113.7"),
        ("airbyte", "contains", "203.0.113.7"),
    ],
)
def test_bad_entries_are_refused_with_a_fix(text: str, says: str, suggests: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_ipv4_entry(text)
    assert caught.value.field == "entry"
    assert says in caught.value.message
    assert suggests in caught.value.hint


def test_server_entries_with_host_bits_can_be_resent_as_they_are() -> None:
    assert parse_ipv4_entry("10.1.2.3/24", allow_host_bits=True) == "10.1.2.3/24"
    with pytest.raises(InputError):
        parse_ipv4_entry("10.1.2.3/24'", allow_host_bits=True)


def test_duplicates_covered_entries_and_long_lists_are_refused() -> None:
    existing = ["172.16.0.0/12", "34.106.109.131", "0.0.0.0/0"]
    with pytest.raises(InputError, match=r"already in ALLOWED_IP_LIST \(as 34.106.109.131\)"):
        check_list_entries(existing, ["34.106.109.131"])
    with pytest.raises(InputError, match=r"already covered by 172\.16\.0\.0/12") as caught:
        check_list_entries(existing, ["172.22.0.0/16"])
    assert "config.toml" in caught.value.hint
    # The baseline lists it explicitly: allowed. The catch-all never counts as covering.
    check_list_entries(existing, ["172.22.0.0/16"], covered_ok={ipaddress.IPv4Network("172.22.0.0/16")})
    check_list_entries(existing, ["203.0.113.7"])
    with pytest.raises(InputError, match="already in"):
        check_list_entries([], ["203.0.113.7", "203.0.113.7"])
    many = [str(ipaddress.IPv4Address(0x0B000000 + i)) for i in range(MAX_IP_LIST_ENTRIES)]
    with pytest.raises(InputError, match=f"more than the {MAX_IP_LIST_ENTRIES}") as too_many:
        check_list_entries(many, ["203.0.113.7"])
    assert "network rule" in too_many.value.hint


@pytest.mark.parametrize("validate", [validate_label, validate_reason])
@pytest.mark.parametrize("text", ["it's", 'a "b"', "a`b", "a\\b", "a\nb", "a\tb", "a\x1bb", "a\u2028b"])
def test_labels_and_reasons_refuse_quotes_and_control_characters(validate: object, text: str) -> None:
    with pytest.raises(InputError) as caught:
        validate(text)  # type: ignore[operator]
    assert caught.value.hint


def test_reason_is_required_and_bounded() -> None:
    assert validate_reason("  INC-4711 Airbyte sync failing ") == "INC-4711 Airbyte sync failing"
    with pytest.raises(InputError, match="is empty"):
        validate_reason("   ")
    with pytest.raises(InputError, match="limit is 500"):
        validate_reason("x" * 501)
    assert validate_reason("Zürich on-call: 🚨 INC-1") == "Zürich on-call: 🚨 INC-1"


def test_rule_names_ports_and_descriptions() -> None:
    assert validate_rule_name("GOODWORD_WH.RAW.ANY") == "GOODWORD_WH.RAW.ANY"
    assert validate_rule_name('"my db".RAW.X') == '"my db".RAW.X'
    for bad in ("RAW.ANY", "A.B.C; DROP", "A.B.'C'", "A.B\n.C"):
        with pytest.raises(InputError):
            validate_rule_name(bad)
    assert validate_ports("tcp", None, None) == (0, 65535)
    assert validate_ports("icmp", None, None) == (-1, -1)
    assert validate_ports("-1", 5, 6) == (None, None)
    with pytest.raises(InputError, match="ends before it starts"):
        validate_ports("tcp", 443, 80)
    with pytest.raises(InputError, match="not a whole number"):
        validate_ports("tcp", "80", 80)
    with pytest.raises(InputError, match="outside"):
        validate_ports("udp", 0, 70000)
    with pytest.raises(InputError, match="EC2 does not accept"):
        validate_sg_description("ops <script>")


# --------------------------------------------------------------------------------------------------------------
# Hypothesis over the entry field


@st.composite
def ipv4_networks(draw: st.DrawFn) -> ipaddress.IPv4Network:
    address = draw(st.ip_addresses(v=4))
    prefix = draw(st.integers(min_value=0, max_value=32))
    return ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)


# Text an operator might type or paste: near-miss addresses, junk, SQL, control and quote characters.
entry_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789./: '\"\\\t\n,;()-abcdefx", max_size=24),
    ipv4_networks().map(str),
    st.builds(lambda a, p: f"{a}/{p}", st.ip_addresses(v=4), st.integers(min_value=-1, max_value=40)),
    st.ip_addresses(v=6).map(str),
)


@settings(max_examples=500, deadline=None)
@given(entry_text)
def test_any_entry_is_refused_with_a_message_or_is_a_strict_ipv4_network(text: str) -> None:
    try:
        value = parse_ipv4_entry(text)
    except InputError as exc:
        assert exc.field == "entry"
        assert exc.message
        assert exc.hint  # every refusal says how to fix it
        return
    network = ipaddress.IPv4Network(value, strict=True)  # never host bits, never IPv6
    assert set(value) <= set("0123456789./")
    assert len(value) <= 18
    assert network == ipaddress.IPv4Network(text.strip(), strict=True)  # the same network that was typed


@settings(max_examples=300, deadline=None)
@given(ipv4_networks())
def test_every_ipv4_network_is_accepted_as_itself(network: ipaddress.IPv4Network) -> None:
    value = parse_ipv4_entry(str(network))
    assert ipaddress.IPv4Network(value) == network


@settings(max_examples=200, deadline=None)
@given(st.lists(entry_text, min_size=1, max_size=6))
def test_whatever_is_typed_the_statement_keeps_its_shape(texts: list[str]) -> None:
    """Accepted entries go into the SET statement as string literals only: the lexer reads back exactly them."""
    accepted: list[str] = []
    for text in texts:
        try:
            accepted.append(parse_ipv4_entry(text))
        except InputError:
            continue
    accepted = list(dict.fromkeys(accepted))
    before = NetworkPolicy("INTEGRATIONS", allowed_ips=("198.51.100.7",))
    after = NetworkPolicy("INTEGRATIONS", allowed_ips=(*before.allowed_ips, *accepted))
    if not accepted:
        return
    tokens = tokenize(policy_statement(before, after))
    assert [t.value.upper() for t in tokens[:6] if t.kind == "ident"] == [
        "ALTER",
        "NETWORK",
        "POLICY",
        "INTEGRATIONS",
        "SET",
        "ALLOWED_IP_LIST",
    ]
    assert [t.value for t in tokens if t.kind == "string"] == list(after.allowed_ips)
    assert not any(t.is_punct(";") for t in tokens)
