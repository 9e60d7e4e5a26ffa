"""Validation of everything a person types into a change: IP-list entries, labels, reasons, names and AWS ids.

Every statement and API call a change sends is built from values that went through here, so nothing typed can
change the shape of the SQL (no quotes, no backslashes, no control characters reach it). Each refusal is an
`InputError` whose message says what is wrong and how to fix it; the UI shows it next to the field.

Caps (documented here, enforced here):

- `MAX_IP_LIST_ENTRIES` = 1000. Snowflake documents no limit for ALLOWED_IP_LIST that we could find, but an IP
  list has no ADD/REMOVE: every edit re-sends the whole list. 1000 entries is ~20 KB of SQL; past that, use a
  network rule (Snowflake's own recommendation for new policies).
- An entry is at most 18 characters (``255.255.255.255/32``); a label at most 80; a reason at most 500.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Collection, Sequence

from goodword_tui.analysis.policy import Network, contains, is_catch_all, parse_entry

MAX_IP_LIST_ENTRIES = 1000
MAX_ENTRY_LENGTH = 18
MAX_LABEL_LENGTH = 80
MAX_REASON_LENGTH = 500
MAX_NAME_LENGTH = 255

# Characters that could end or escape a SQL literal or identifier; refused in every typed field.
QUOTE_CHARACTERS = "'\"`\\"
_ENTRY_CHARACTERS = frozenset("0123456789./")
_ENTRY_EXAMPLE = "an IPv4 address such as 203.0.113.7 or a CIDR such as 203.0.113.0/24"
# EC2 accepts these in a security-group rule description (its documented character set).
_SG_DESCRIPTION = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")


class InputError(ValueError):
    """A typed value that cannot be used: which field, what is wrong, and how to fix it."""

    def __init__(self, field: str, message: str, hint: str = "") -> None:
        self.field = field
        self.message = message
        self.hint = hint
        super().__init__(f"{field}: {message}" + (f" — {hint}" if hint else ""))


def _describe_char(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def check_text(field: str, value: str, *, max_length: int, required: bool = True) -> str:
    """Printable text without quote characters, trimmed; the shared rules for labels, reasons and names."""
    if not isinstance(value, str):
        raise InputError(field, f"expected text, got {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise InputError(field, "is empty", f"type a {field}")
    for position, ch in enumerate(text):
        if not ch.isprintable():
            raise InputError(
                field,
                f"contains a non-printable character ({_describe_char(ch)}) at position {position + 1}",
                "retype it without control characters (a paste can carry tabs or newlines)",
            )
        if ch in QUOTE_CHARACTERS:
            raise InputError(
                field,
                f"contains a quote or backslash ({ch}) at position {position + 1}",
                "remove it: quotes and backslashes are not accepted in any field",
            )
    if len(text) > max_length:
        raise InputError(field, f"is {len(text)} characters long, the limit is {max_length}", "shorten it")
    return text


# --------------------------------------------------------------------------------------------------------------
# IP-list entries


def parse_ipv4_entry(value: str, *, field: str = "entry", allow_host_bits: bool = False) -> str:
    """One IPv4 address or CIDR, strictly: the normalized text to send ("1.2.3.4", "10.0.0.0/8").

    `allow_host_bits` is only for re-sending entries the server already holds (Snowflake accepts
    ``10.1.2.3/24``); a person typing a new entry gets the strict rule and a suggestion.
    """
    text = check_text(field, value, max_length=64)
    if len(text) > MAX_ENTRY_LENGTH:
        raise InputError(
            field, f"is {len(text)} characters long; an IPv4 CIDR has at most {MAX_ENTRY_LENGTH}", _ENTRY_EXAMPLE
        )
    if ":" in text:
        raise InputError(
            field,
            f"{text} is an IPv6 address or network; this list holds IPv4 only",
            "Snowflake's IP lists take IPv4; use an IPV6 network rule for IPv6",
        )
    stray = sorted(set(text) - _ENTRY_CHARACTERS)
    if stray:
        shown = " ".join(repr(c) for c in stray[:5])
        raise InputError(field, f"contains {shown}: only digits, dots and one slash are allowed", _ENTRY_EXAMPLE)
    address, _, prefix = text.partition("/")
    if "/" in prefix:
        raise InputError(field, "has more than one slash", _ENTRY_EXAMPLE)
    if prefix and not (prefix.isdigit() and 0 <= int(prefix) <= 32 and (prefix == "0" or prefix[0] != "0")):
        raise InputError(field, f"the prefix length /{prefix} is not a number from 0 to 32", _ENTRY_EXAMPLE)
    try:
        ipaddress.IPv4Address(address)
    except ValueError as exc:
        raise InputError(field, f"{address} is not an IPv4 address ({exc})", _ENTRY_EXAMPLE) from None
    try:
        network = ipaddress.IPv4Network(text, strict=not allow_host_bits)
    except ValueError:
        wide = ipaddress.IPv4Network(text, strict=False)
        raise InputError(
            field,
            f"{text} has host bits set: it is not the start of a /{wide.prefixlen} network",
            f"use {wide} for the whole network, or {address} for the single address",
        ) from None
    if allow_host_bits and network.network_address != ipaddress.IPv4Address(address):
        return text  # kept exactly as the server holds it
    return str(network.network_address) if network.prefixlen == 32 else str(network)


def check_list_entries(
    existing: Sequence[str],
    new: Sequence[str],
    *,
    list_name: str = "ALLOWED_IP_LIST",
    covered_ok: Collection[Network] = (),
) -> None:
    """Refuse duplicates, entries already covered by another entry, and lists longer than the cap.

    `existing` is what the list keeps (server text), `new` the validated entries the change adds. An entry
    inside another, wider entry changes nothing and is refused, unless it
    is in `covered_ok` (the config's baseline lists it explicitly, e.g. 172.22.0.0/16 next to 172.16.0.0/12).
    A catch-all (0.0.0.0/0) is not counted as covering: it has its own, critical finding.
    """
    kept = [(text, n) for text in existing if (n := parse_entry(text)) is not None]
    seen: list[tuple[str, Network]] = list(kept)
    for text in new:
        network = parse_entry(text)
        if network is None:  # a programming error: new entries are validated first
            raise InputError("entry", f"{text!r} is not an IPv4 address or CIDR", _ENTRY_EXAMPLE)
        same = next((t for t, n in seen if n == network), None)
        if same is not None:
            raise InputError(
                "entry", f"{text} is already in {list_name} (as {same})", "nothing to add; pick another entry"
            )
        wider = [t for t, n in seen if n != network and not is_catch_all(n) and contains(n, network)]
        if wider and network not in covered_ok:
            raise InputError(
                "entry",
                f"{text} is already covered by {wider[0]} in {list_name}: adding it admits nobody new",
                "if it must be listed on its own, add it to [snowflake].allowed in config.toml first",
            )
        seen.append((text, network))
    if len(seen) > MAX_IP_LIST_ENTRIES:
        raise InputError(
            list_name,
            f"would hold {len(seen)} entries, more than the {MAX_IP_LIST_ENTRIES} this tool sends",
            "group addresses into wider CIDRs, or move them into a network rule",
        )


# --------------------------------------------------------------------------------------------------------------
# Labels, reasons, names


def validate_label(value: str, *, required: bool = True) -> str:
    """A short name for an entry (e.g. "Airbyte Cloud US"), recorded in the journal."""
    return check_text("label", value, max_length=MAX_LABEL_LENGTH, required=required)


def validate_reason(value: str) -> str:
    """Why the change is made (an incident id, a ticket); required for every change and journaled."""
    return check_text("reason", value, max_length=MAX_REASON_LENGTH)


def validate_policy_name(value: str) -> str:
    return check_text("policy", value, max_length=MAX_NAME_LENGTH)


def validate_rule_name(value: str) -> str:
    """A fully qualified network rule name DB.SCHEMA.RULE (parts may be "quoted" as the server renders them).

    Quotes are allowed here only as identifier delimiters; `qualified_rule_sql` checks the exact shape.
    """
    from goodword_tui.sources.snowflake import qualified_rule_sql

    if not isinstance(value, str):
        raise InputError("rule", f"expected text, got {type(value).__name__}")
    text = value.strip()
    bad = next((c for c in text if not c.isprintable() or c in "'`\\"), None)
    if bad is not None:
        raise InputError("rule", f"contains {_describe_char(bad)}", "type the rule as DB.SCHEMA.RULE")
    if not text or len(text) > 3 * MAX_NAME_LENGTH:
        raise InputError("rule", "is empty or too long", "type the rule as DB.SCHEMA.RULE")
    try:
        qualified_rule_sql(text)
    except ValueError:
        raise InputError("rule", f"{text} is not a fully qualified rule name", "type it as DB.SCHEMA.RULE") from None
    return text


_AWS_ID = re.compile(r"[a-z]+-[0-9a-z]{8,32}")  # AWS uses hex; lower-case alphanumerics are as safe


def validate_aws_id(value: str, prefix: str, field: str) -> str:
    """An EC2 resource id of the expected kind (rtb-, pcx-, sg-)."""
    if not isinstance(value, str):
        raise InputError(field, f"expected text, got {type(value).__name__}")
    text = value.strip()
    if not (_AWS_ID.fullmatch(text) and text.startswith(prefix + "-")):
        raise InputError(field, f"{text[:40]!r} is not a {prefix}- id", f"expected something like {prefix}-0123abcd")
    return text


def validate_cidr(value: str, field: str = "cidr") -> str:
    """An IPv4 network for a route or a security-group rule, always written with its prefix (10.0.0.0/8)."""
    text = parse_ipv4_entry(value, field=field)
    return str(ipaddress.IPv4Network(text))


PROTOCOLS = ("tcp", "udp", "icmp", "-1")


def validate_protocol(value: str) -> str:
    from goodword_tui.analysis.reach import normalize_protocol

    text = normalize_protocol(str(value))
    if text not in PROTOCOLS:
        raise InputError("protocol", f"{value!r} is not tcp, udp, icmp or -1 (all)", "pick one of tcp, udp, icmp, -1")
    return text


def validate_ports(protocol: str, from_port: object, to_port: object) -> tuple[int | None, int | None]:
    """Ports as EC2 wants them: none for protocol -1, -1/-1 for all ICMP, 0-65535 ranges for tcp/udp."""
    if protocol == "-1":
        return None, None

    def one(name: str, value: object, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(name, f"{value!r} is not a whole number", f"use {low}..65535")
        if not low <= value <= 65535:
            raise InputError(name, f"{value} is outside {low}..65535", f"use {low}..65535")
        return value

    if protocol == "icmp":
        low = -1 if from_port is None else one("from_port", from_port, -1)
        high = -1 if to_port is None else one("to_port", to_port, -1)
        return low, high
    low = 0 if from_port is None else one("from_port", from_port, 0)
    high = 65535 if to_port is None else one("to_port", to_port, 0)
    if low > high:
        raise InputError("to_port", f"the range {low}-{high} ends before it starts", "swap the two ports")
    return low, high


def validate_sg_description(value: str) -> str:
    text = check_text("description", value, max_length=255, required=False)
    if not _SG_DESCRIPTION.fullmatch(text):
        raise InputError(
            "description",
            "contains characters EC2 does not accept in a rule description",
            "use letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
        )
    return text
