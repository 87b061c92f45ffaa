"""What the adapter and the MX front devices both read of an MX: its L3 rule lists, deployment mode and
uplink addresses, with the shape checks of Dashboard bodies. A module of its own so that front.py (the MX in
front of a server) and adapter.py (networks and roles, which uses the fronts) need not import each other."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

from auditor.model import Action, IndexedRows, Origin, RowKey, Rule, RuleList, rule_key
from auditor.packets import ALL, V4_BASE, Interval, address_interval
from auditor.snapshot import SnapshotError
from auditor.vendors.meraki.rules import Resolver, l3_rules, row_destinations, row_keys

SYNTHETIC_DEFAULT = "default rule"


def expect(data: Any, kind: type, rel: str, what: str) -> Any:
    if not isinstance(data, kind):
        raise SnapshotError(rel, f"expected {what}, found {type(data).__name__}")
    return data


def optional(body: dict[str, Any], key: str, kind: type, rel: str) -> Any:
    """body[key] when it has the expected type, an empty one when absent or null; else SnapshotError.
    (Truthiness is no test: a corrupted `[]` where an object belongs must not read as "not set".)"""
    value = body.get(key)
    if value is None:
        return kind()
    return expect(value, kind, rel, f"'{key}' to be {'an object' if kind is dict else 'a list'}")


def rule_rows(data: Any, rel: str) -> list[dict[str, Any]]:
    """The `rules` array of a Dashboard rules body, each row checked to be an object."""
    body = expect(data, dict, rel, "an object with 'rules'")
    rows = body.get("rules", [])
    expect(rows, list, rel, "'rules' to be a list")
    if not all(map(isinstance, rows, repeat(dict))):  # checked in C; the message is only built for a bad item
        for i, row in enumerate(rows):
            expect(row, dict, f"{rel} rules[{i}]", "a rule object")
    return rows


def l3_rows(rel: str, indexed: list[tuple[int, dict[str, Any]]], resolver: Resolver, *, with_source: bool,
            local_lan: bool = False, tail: Rule | None = None) -> IndexedRows:
    """Lazy rows of an SSID or MX L3 list ((index in the file, row) pairs), optionally ending in a rule the
    list adds itself (the SSID's LAN rule)."""

    def parse(k: int) -> list[Rule]:
        if k == len(indexed):
            assert tail is not None
            return [tail]
        i, row = indexed[k]
        return l3_rules(row, i + 1, Origin(rel, i), resolver, with_source=with_source, local_lan=local_lan,
                        where=f"rules[{i}]")

    def dests(k: int) -> Sequence[Interval] | None:
        return row_destinations(indexed[k][1], resolver, local_lan) if k < len(indexed) else None  # tail: built

    keys: list[RowKey | None] = row_keys(list(map(itemgetter(1), indexed)))
    if tail is not None:
        keys.append(rule_key(tail))
    return IndexedRows(keys, parse, dests)


def mx_rule_list(data: Any, rel: str, resolver: Resolver) -> RuleList:
    """An MX-shaped L3 list (MX rules, org site-to-site VPN rules): rows with source, the trailing synthetic
    "Default rule" row read as the list's default."""
    rows = rule_rows(data, rel)
    indexed = list(enumerate(rows))
    whole = Origin(rel)  # one for the list and its default (origins are never changed)
    default = Rule(len(rows) + 1, Action.PERMIT, ALL, "default rule: allow any", "", whole, synthetic=True)
    if indexed and str(indexed[-1][1].get("comment", "")).strip().lower() == SYNTHETIC_DEFAULT:
        i, row = indexed.pop()
        default = Rule(i + 1, Action.PERMIT if str(row.get("policy", "allow")).lower() == "allow"
                       else Action.DENY, ALL, "default rule: " + str(row.get("policy", "allow")) + " any",
                       "", Origin(rel, i), synthetic=True)
    return RuleList(rel, None, default, whole, l3_rows(rel, indexed, resolver, with_source=True))


_UPLINK_KEYS = ("interface", "status", "publicIp")


def uplink_view(data: Any) -> Any:
    """What the audit reads of an org's appliance uplink statuses: each item's networkId and its uplinks'
    interface, status and publicIp. The rest (report times, private addresses, DNS) changes with every
    collection and decides nothing; leaving it out keeps the audit cache's entries valid across collections.
    Anything malformed is kept as it is, for the readers to report."""
    if not isinstance(data, list):
        return data
    out: list[Any] = []
    for item in data:
        if not isinstance(item, dict):
            out.append(item)
            continue
        kept = {key: item[key] for key in ("networkId", "uplinks") if key in item}
        if isinstance(kept.get("uplinks"), list):
            kept["uplinks"] = [{key: up[key] for key in _UPLINK_KEYS if key in up} if isinstance(up, dict) else up
                               for up in kept["uplinks"]]
        out.append(kept)
    return out


UPLINK_CARRIES = {"active", "ready"}  # an uplink in use, or a standby one that takes over on failover


def uplinks_by_network(data: Any, rel: str) -> dict[str, list[tuple[str, tuple[int, int]]]] | None:
    """(interface, public IPv4 address) per network from an org's appliance uplink statuses: both MXs of a
    warm-spare pair, every uplink that carries or can take over traffic (the MX translates IPv4 only; IPv6
    is routed). None when the file was not collected."""
    if data is None:
        return None
    out: dict[str, list[tuple[str, tuple[int, int]]]] = {}
    for i, item in enumerate(expect(data, list, rel, "a list of appliance uplink statuses")):
        where = f"{rel}[{i}]"
        expect(item, dict, where, "an appliance uplink status object")
        for j, uplink in enumerate(optional(item, "uplinks", list, where)):
            expect(uplink, dict, f"{where}.uplinks[{j}]", "an uplink object")
            public = uplink.get("publicIp")
            if str(uplink.get("status", "")).lower() not in UPLINK_CARRIES or public in (None, ""):
                continue
            try:
                address = address_interval(str(public))
            except ValueError:
                raise SnapshotError(f"{where}.uplinks[{j}]", f"bad publicIp '{public}'") from None
            if address[0] >= V4_BASE:
                out.setdefault(str(item.get("networkId")), []).append((str(uplink.get("interface", "")), address))
    return out


def deployment_mode(data: Any, rel: str) -> Any:
    """An MX's `deploymentMode` from its appliance/settings.json body (None: not collected; the Dashboard's
    default, routed, when the key is absent); a body that is not an object is an input error."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SnapshotError(rel, "expected an object (appliance settings)")
    return data.get("deploymentMode", "routed")
