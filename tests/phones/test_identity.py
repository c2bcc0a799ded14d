"""MAC identification against the shared corpus of real REGISTERs, plus edge cases.

The corpus lives in ``shared/phones`` beside the repository root and is read in
place. If it is missing the corpus test fails (it must never silently pass).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pbx.phones.identity import (
    CARRIERS,
    MacEvidence,
    identify_mac,
    mac_evidence,
    normalize_mac,
)

# tests/phones/test_identity.py -> parents[2] is the repository root.
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "phones" / "register-corpus.json"

Headers = list[tuple[str, str]]

_COMPACT = {"m": "contact", "f": "from", "t": "to", "i": "call-id", "v": "via"}
_REQUEST_LINE = re.compile(r"[A-Z]+ .* SIP/2\.0")
_HEADER_LINE = re.compile(r"([!-9;-~]+)[ \t]*:[ \t]*(.*)")


def parse_headers(raw: str) -> Headers:
    """Lenient header parser for corpus text, some of which are fragments.

    Header section ends at the first blank line; bare LF is accepted; folded
    lines are joined with one space; names lowercased and compact forms mapped.
    Lines that are neither header nor continuation (request line) are skipped.
    """
    lines = re.split(r"\r\n|\n|\r", raw)
    headers: Headers = []
    for line in lines:
        if line == "":
            break
        if line[0] in " \t":
            if headers:
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        if _REQUEST_LINE.fullmatch(line):
            continue
        match = _HEADER_LINE.fullmatch(line)
        if match:
            name = match.group(1).lower()
            headers.append((_COMPACT.get(name, name), match.group(2).strip()))
    return headers


def _load_corpus() -> list[Any]:
    """Records as pytest params; a single failing param when the file is absent."""
    if not CORPUS.is_file():
        return [pytest.param(None, id="corpus-missing")]
    records = json.loads(CORPUS.read_text(encoding="utf-8"))
    return [pytest.param(record, id=record["id"]) for record in records]


CORPUS_PARAMS = _load_corpus()


@pytest.mark.parametrize("record", CORPUS_PARAMS)
def test_corpus_record(record: dict[str, Any] | None) -> None:
    if record is None:
        pytest.fail(f"shared corpus not found at {CORPUS.resolve()}")
    headers = parse_headers(record["raw"])
    assert headers, "the helper parsed no header at all"
    assert identify_mac(headers) == record["expected_mac"], record["reasoning"]


def test_corpus_has_positives_and_negatives() -> None:
    """Guards against a corpus (or parser) change that would make the table vacuous."""
    assert CORPUS.is_file(), f"shared corpus not found at {CORPUS.resolve()}"
    records = json.loads(CORPUS.read_text(encoding="utf-8"))
    expected = [record["expected_mac"] for record in records]
    assert sum(mac is not None for mac in expected) >= 5
    assert sum(mac is None for mac in expected) >= 20


def test_corpus_heuristic_macs_are_never_returned() -> None:
    """A MAC visible only in Call-ID/tags must not come out of any carrier."""
    records = json.loads(CORPUS.read_text(encoding="utf-8"))
    heuristic = [r for r in records if r["heuristic_mac"] and r["expected_mac"] is None]
    assert heuristic, "corpus lost its heuristic-only records"
    for record in heuristic:
        assert mac_evidence(parse_headers(record["raw"])) == [], record["id"]


# --- The lenient test helper itself ----------------------------------------------


def test_parse_headers_unfolds_maps_compact_and_skips_request_line() -> None:
    raw = (
        "REGISTER sip:pbx SIP/2.0\r\n"
        'm: <sip:1@h>;+sip.instance="\r\n <urn:uuid:x>"\r\n'
        "Call-ID: abc\n"
        "\r\n"
        "X-After-Body: no\r\n"
    )
    assert parse_headers(raw) == [
        ("contact", '<sip:1@h>;+sip.instance=" <urn:uuid:x>"'),
        ("call-id", "abc"),
    ]


# --- normalize_mac -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "00:15:65:12:34:56",
        "00-15-65-12-34-56",
        "00:15:65:12:34:56".upper(),
        "001565123456",
        "0015.6512.3456",
        "0015.6512.3456".upper(),
        "  00:15:65:12:34:56 ",
    ],
)
def test_normalize_mac_accepts_common_spellings(text: str) -> None:
    assert normalize_mac(text) == "001565123456"


@pytest.mark.parametrize(
    "text",
    [
        "01:00:5e:00:00:fb",  # IPv4 multicast
        "33:33:00:00:00:01",  # IPv6 multicast
        "03:15:65:12:34:56",  # I/G bit set, locally administered
        "ff:ff:ff:ff:ff:ff",  # broadcast
        "ffffffffffff",
        "00:00:00:00:00:00",  # all zero
        "000000000000",
        "00156512345",  # 11 digits
        "0015651234567",  # 13 digits
        "00:15:65-12:34:56",  # mixed separators
        "0:15:65:12:34:56",  # short group
        "00:15:65:12:34:5g",  # not hex
        "00156.5123.456",  # dots in the wrong place
        "00 15 65 12 34 56",
        "",
        "User-A",
    ],
)
def test_normalize_mac_rejects(text: str) -> None:
    assert normalize_mac(text) is None


def test_normalize_mac_accepts_locally_administered_unicast() -> None:
    """The U/L bit is not the I/G bit: 02:... is a unicast (virtual) address."""
    assert normalize_mac("02:00:00:00:00:01") == "020000000001"


# --- identify_mac: the seed's examples and each carrier -------------------------------


@pytest.mark.parametrize(
    "mac",
    ["00:15:65:12:34:56", "00-15-65-12-34-56", "00:15:65:12:34:56".upper(), "001565123456"],
)
def test_contact_mac_param(mac: str) -> None:
    headers = [("contact", f"<sip:1001@192.168.1.50:5060>;mac={mac}")]
    assert identify_mac(headers) == "001565123456"


def test_contact_mac_as_uri_param_and_quoted() -> None:
    assert identify_mac([("contact", "<sip:1001@10.0.0.5;mac=001565123456>")]) == "001565123456"
    assert identify_mac([("contact", '<sip:1001@10.0.0.5>;MAC="00:15:65:12:34:56"')]) == (
        "001565123456"
    )


def test_user_agent_tail_grandstream() -> None:
    headers = [("user-agent", "Grandstream GXP2170 1.0.9.1 000b82aabbcc")]
    assert identify_mac(headers) == "000b82aabbcc"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("PolycomVVX-VVX_350-UA/5.9.5.0614_0004F28E5A79", "0004f28e5a79"),
        ("Panasonic_KX-UT133/01.133 (0080f0a1b2c3)", "0080f0a1b2c3"),
        ("Grandstream HT-502  V2.0A 1.0.9.1  chip V2.2", None),
        ("Yealink SIP-T27G 69.86.0.15", None),
        ("LinphoneCore/4.4.2-7-g4bded1443", None),
        ("Foo/1.0 0004f28e5a79x", None),  # not at the end
        ("Foo/0004f28e5a79", None),  # after '/', not a documented separator
        ("Foo 01005e0000fb", None),  # multicast
    ],
)
def test_user_agent_tail(user_agent: str, expected: str | None) -> None:
    assert identify_mac([("user-agent", user_agent)]) == expected


def test_mac_header() -> None:
    assert identify_mac([("mac", "00:0b:82:12:34:56")]) == "000b82123456"
    assert identify_mac([("mac", "unknown")]) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("000e08daf417", "000e08daf417"),
        ("000E08DAF417", "000e08daf417"),
        ("User-A;mac=000e08daf417", "000e08daf417"),
        ('"Front desk";mac=00-0e-08-da-f4-17', "000e08daf417"),
        ("User-A", None),
        ("00:0e:08:da:f4:17", None),  # the bare-value rule wants 12 hex digits
        ("cafe", None),
    ],
)
def test_p_station_name(value: str, expected: str | None) -> None:
    assert identify_mac([("p-station-name", value)]) == expected


# --- +sip.instance layouts -------------------------------------------------------------

GS_INSTANCE = '<sip:7777@10.0.0.9>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-{tail}>"'
ZERO_INSTANCE = '<sip:100@10.0.0.9>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-{tail}>"'


def test_v1_zero_time_instance_needs_no_vendor() -> None:
    headers = [("contact", GS_INSTANCE.format(tail="000B82566BBB"))]
    assert identify_mac(headers) == "000b82566bbb"


@pytest.mark.parametrize("tail", ["01005e0000fb", "000000000000", "ffffffffffff"])
def test_v1_zero_time_instance_rejects_non_unicast_tail(tail: str) -> None:
    assert identify_mac([("contact", GS_INSTANCE.format(tail=tail))]) is None


def test_unquoted_unbracketed_instance() -> None:
    contact = "sip:1@10.0.0.9;+sip.instance=urn:uuid:00000000-0000-1000-8000-000b82566bbb"
    assert identify_mac([("contact", contact)]) == "000b82566bbb"


def test_cisco_zero_layout_without_cisco_sender_is_ignored() -> None:
    """pjsip softphones use the zero layout with '0000' + a host-name hash."""
    headers = [
        ("contact", ZERO_INSTANCE.format(tail="00003f2a9b1c")),
        ("user-agent", "MicroSIP/3.21.3"),
    ]
    assert identify_mac(headers) is None


@pytest.mark.parametrize(
    "evidence",
    [
        ("user-agent", "Cisco-CP8851/12.1.1"),
        ("user-agent", "Cisco-CSF"),
        ("user-agent", "CSCO/8"),
    ],
)
def test_cisco_zero_layout_with_cisco_user_agent(evidence: tuple[str, str]) -> None:
    headers = [("contact", ZERO_INSTANCE.format(tail="9c57ad12a4e0")), evidence]
    assert identify_mac(headers) == "9c57ad12a4e0"


def test_cisco_zero_layout_with_ccm_contact_param() -> None:
    contact = ZERO_INSTANCE.format(tail="9c57ad12a4e0") + ';+u.sip!model.ccm.cisco.com="684"'
    assert identify_mac([("contact", contact)]) == "9c57ad12a4e0"


@pytest.mark.parametrize(
    "uuid",
    [
        "e960df68-8f5d-4fec-aab4-1678c7bd76a0",  # v4
        "d507ea36-d79d-00a9-b9e4-f448ef9883c1",  # non-RFC random
        "00000000-0000-5000-8000-000b82566bbb",  # v5-looking with a MAC-like tail
        "00000000-0000-1000-8000-000b82566bb",  # short tail
    ],
)
def test_other_instances_carry_no_mac(uuid: str) -> None:
    contact = f'<sip:1@10.0.0.9>;+sip.instance="<urn:uuid:{uuid}>"'
    assert identify_mac([("contact", contact), ("user-agent", "Cisco-CP8851/12.1.1")]) is None


@pytest.mark.parametrize(
    ("device_name", "expected"),
    [("SEP9C57AD12A4E0", "9c57ad12a4e0"), ("CSFMRA01", None), ("SEP12345", None)],
)
def test_cisco_device_name(device_name: str, expected: str | None) -> None:
    contact = f'<sip:1@10.0.0.9>;+u.sip!devicename.ccm.cisco.com="{device_name}"'
    assert identify_mac([("contact", contact)]) == expected


# --- Untrusted places are never read ----------------------------------------------------


def test_mac_looking_values_in_untrusted_places_are_ignored() -> None:
    headers = [
        ("via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK001565123456"),
        ("from", "<sip:100@pbx>;tag=001565123456;epid=001565123456"),
        ("to", "<sip:100@pbx>;tag=001565123456"),
        ("call-id", "001565123456@10.0.0.9"),
        (
            "contact",
            "<sip:001565123456@10.0.0.9;rinstance=001565123456;line=001565123456>"
            ";reg-id=1;expires=3600",
        ),
        ("user-agent", "Foo/001565123456"),
    ]
    assert identify_mac(headers) is None
    assert mac_evidence(headers) == []


def test_mac_param_in_contact_user_part_is_ignored() -> None:
    assert identify_mac([("contact", "<sip:100;mac=001565123456@10.0.0.9>")]) is None


# --- Contact lists --------------------------------------------------------------------


def test_mac_in_second_contact_of_a_list() -> None:
    value = (
        '"Doe, John" <sip:1@10.0.0.9>;methods="INVITE,ACK";expires=0, '
        "<sip:1@10.0.0.10>;mac=00:15:65:12:34:56"
    )
    assert identify_mac([("contact", value)]) == "001565123456"


def test_mac_in_second_contact_header() -> None:
    headers = [
        ("contact", "<sip:1@10.0.0.9;ob>"),
        ("contact", "<sip:1@10.0.0.10;ob>;mac=001565123456;expires=0"),
    ]
    assert identify_mac(headers) == "001565123456"


def test_quoted_comma_does_not_split_a_contact() -> None:
    """If the display name were split, its tail would be parsed as an addr-spec."""
    value = '"a, ;mac=001565123456" <sip:1@10.0.0.9>'
    assert identify_mac([("contact", value)]) is None


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "",
        "<sip:100001@83.70.206.42:5060",
        "<sip:twolmsted@24.183.120.253, sip:5060>",
        '"unterminated <sip:1@h>;mac=001565123456',
        ";;;=;",
        "<>;+sip.instance",
    ],
)
def test_malformed_contacts_do_not_raise(value: str) -> None:
    assert identify_mac([("contact", value)]) is None


# --- Order of evidence --------------------------------------------------------------------


def test_explicit_mac_param_wins_over_user_agent() -> None:
    headers = [
        ("user-agent", "Grandstream GXP2170 1.0.9.1 000b82aabbcc"),
        ("contact", "<sip:1@10.0.0.9>;mac=001565123456"),
    ]
    assert identify_mac(headers) == "001565123456"
    assert mac_evidence(headers) == [
        MacEvidence("contact-mac-param", "001565123456"),
        MacEvidence("user-agent", "000b82aabbcc"),
    ]


def test_invalid_first_carrier_falls_through_to_next() -> None:
    headers = [
        ("contact", "<sip:1@10.0.0.9>;mac=ff:ff:ff:ff:ff:ff"),
        ("mac", "000b82123456"),
    ]
    assert identify_mac(headers) == "000b82123456"


def test_carrier_table_follows_readme_order() -> None:
    assert [name for name, _ in CARRIERS] == [
        "contact-mac-param",
        "p-station-name-mac-param",
        "sip-instance",
        "cisco-devicename",
        "mac-header",
        "p-station-name",
        "user-agent",
    ]


def test_no_headers() -> None:
    assert identify_mac([]) is None
