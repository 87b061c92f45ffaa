"""The shortcuts a Meraki network's model is built with give what the plain reading gives: remembered and
C-looked-up row keys, L7 names, walled garden entries, SSID folders and uplink addresses (generated input, each
asked twice so the remembered answer is checked too)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.errors import SnapshotError
from auditor.model import Origin
from auditor.packets import V4_BASE, PacketSet, address_interval, format_address_interval
from auditor.snapshot import api_segment
from auditor.vendors.meraki import adapter
from auditor.vendors.meraki.rules import VPN_APP_PATTERN, Resolver, l7_rule, row_key, row_keys
from tests.snapshot_builder import MerakiSnapshot, deny, verdicts

TEXTS = st.sampled_from([None, "tcp", "udp", "Any", "any", "icmp", "bogus", "443", "500,4500", "1-65535", "70000",
                         "", "Any ", "x7", ["tcp"], 443, -1])
ROWS = st.lists(st.fixed_dictionaries({}, optional={"protocol": TEXTS, "destPort": TEXTS, "comment": TEXTS}),
                max_size=8)


@given(ROWS)
def test_row_keys_are_each_rows_key(rows: list[dict]) -> None:
    expected = [row_key(row) for row in rows]
    assert row_keys(rows) == expected
    assert row_keys(rows) == expected  # remembered now (or still not, for values that are not texts)


def test_row_keys_of_new_texts_beside_values_that_are_not_texts() -> None:
    """A list whose first unremembered texts come before a value that is not a text (read in two C passes that
    could each stop at one of them)."""
    rows: list[dict[str, Any]] = [{"protocol": "tcp", "destPort": "4711"}, {"protocol": "udp", "destPort": "4712,4713"},
                                  {"protocol": ["tcp"], "destPort": "1"}, {"protocol": "tcp", "destPort": "4711"}]
    assert row_keys(rows) == [row_key(row) for row in rows]
    assert row_keys(rows[:2]) == row_keys(rows[:2]) == [row_key(row) for row in rows[:2]]


NAMES = st.one_of(st.sampled_from(["Video & music", "BitTorrent", "VPN", "IPsec", "Remote access", "SSL VPN",
                                   "Tunnel Bear", "OpenVPN", "File sharing", "Peer-to-peer (P2P)"]),
                  st.text(max_size=12))
L7_ROWS = st.fixed_dictionaries({
    "policy": st.sampled_from(["deny", "Deny", "allow", "", None]),
    "type": st.sampled_from(["application", "applicationCategory", " application ", "port", "host", "other"]),
    "value": st.one_of(NAMES, st.builds(lambda n, i: {"id": i, "name": n}, NAMES, st.text(max_size=4)),
                       st.lists(NAMES, max_size=2))})


@given(L7_ROWS)
def test_l7_application_rows_are_read_as_the_pattern_says(row: dict) -> None:
    """An application (category) deny is left out exactly when the VPN pattern does not find its name; every
    other row is the rule its text and reason say."""
    kind = str(row.get("type", "")).strip()
    value = row["value"]
    name = str(value.get("name") or value.get("id") or value) if isinstance(value, dict) else \
        ",".join(map(str, value)) if isinstance(value, list) else str(value)
    for _ in range(2):
        rule = l7_rule(row, 3, Origin("l7.json", 2), Resolver())
        deny = str(row.get("policy", "deny")).lower() == "deny"
        if deny and kind in ("application", "applicationCategory"):
            if VPN_APP_PATTERN.search(name) is None:
                assert rule is None
                continue
            assert rule is not None and not rule.certain
            assert rule.reason == f"L7 {kind} '{name}' may classify VPN traffic and block it"
        if rule is not None:
            assert rule.text == f"{row.get('policy', 'deny')} {kind} {name}"
            assert rule.position == 3 and rule.origin == Origin("l7.json", 2)


ENTRIES = st.one_of(st.sampled_from(["198.51.100.10/32", "vpn.example.com", "203.0.113.80", "10.0.0.0/8",
                                     "2001:db8::/32", "300.1.1.1", "10.0.0.1/33", " 192.0.2.1 ", "*.example.com",
                                     "", "not a host"]),
                    st.ip_addresses().map(str), st.text(max_size=10))


@given(ENTRIES)
def test_walled_garden_entries_read_as_addresses_or_not(entry: str) -> None:
    try:
        expected: PacketSet | None = PacketSet.of(dst=[address_interval(entry)])
    except ValueError:
        expected = None
    for _ in range(2):
        found = adapter._garden_addresses(entry)
        assert (found is None) == (expected is None)
        assert found is None or found == expected


@given(st.one_of(st.integers(-5, 20), st.text(max_size=5), st.sampled_from([".", "..", "a/b", "ü", "%", None])))
def test_ssid_folders_are_api_segments(number: object) -> None:
    for _ in range(2):
        assert adapter._segment(number) == api_segment(number)


ADDRESSES = st.one_of(st.ip_addresses(v=4).map(lambda a: (V4_BASE + int(a), V4_BASE + int(a))),
                      st.ip_addresses(v=6).map(lambda a: (int(a), int(a))),
                      st.tuples(st.integers(0, V4_BASE + 2**32 - 1), st.integers(0, 2**40)).map(
                          lambda t: (t[0], min(t[0] + t[1], V4_BASE + 2**32 - 1))),
                      st.sampled_from([(0, V4_BASE + 2**32 - 1), (V4_BASE, V4_BASE + 2**32 - 1), (V4_BASE, V4_BASE)]))


@given(ADDRESSES)
def test_uplink_addresses_are_written_as_format_address_interval_writes_them(iv: tuple[int, int]) -> None:
    assert adapter._address_text(iv) == format_address_interval(iv)
    if iv[0] == iv[1] and iv[0] >= V4_BASE:
        assert adapter._address_text(iv) == str(ipaddress.IPv4Address(iv[0] - V4_BASE))


# A value that is not a text where the Dashboard writes one: corrupt input, an error naming file, row and field
UNREADABLE = [({"destPort": 1}, {"destPort": True}, "SSID"),      # (protocol, port) read once per org
              ({"destPort": 1}, {"destPort": 1.0}, "SSID"),
              ({"destPort": "500", "srcPort": 1}, {"destPort": "500", "srcPort": True}, "MX")]  # whole rows


@pytest.mark.parametrize(("readable", "unreadable", "where"), UNREADABLE)
def test_a_row_that_cannot_be_read_never_takes_a_readable_rows_reading(tmp_path: Path, readable: dict,
                                                                       unreadable: dict, where: str) -> None:
    """1, 1.0 and true are one key in a Python dict: a network whose rule says port 1 (read as port 1) must not
    lend its reading to a later network's rule that says true (not a port). Audited alone, that network's rule
    is an error naming it; after the other network it must be the same error, never a rule of port 1 that the
    VPN's ports pass (udp/500 allowed), as the rows' remembered keys and readings once made it."""
    def snapshot(root: Path, networks: list[tuple[str, str, dict]]) -> MerakiSnapshot:
        snap = MerakiSnapshot(root)
        for net_id, name, row in networks:
            rule = deny("udp", "Any", **row)
            snap.network(net_id, name, mx_rules=[rule] if where == "MX" else None)
            snap.ssid(net_id, 0, "Staff", rules=[rule] if where == "SSID" else None)
        return snap

    readable_only = snapshot(tmp_path / "readable", [("N_1", "Store A", readable)]).audit()
    assert verdicts(readable_only, "Staff", network="Store A")["udp/500"] == "allowed"  # port 1: VPN passes
    with pytest.raises(SnapshotError) as alone:
        snapshot(tmp_path / "alone", [("N_2", "Store B", unreadable)]).audit()
    with pytest.raises(SnapshotError) as after_readable:
        snapshot(tmp_path / "both", [("N_1", "Store A", readable), ("N_2", "Store B", unreadable)]).audit()
    assert str(after_readable.value) == str(alone.value) and "N_2" in str(alone.value)
