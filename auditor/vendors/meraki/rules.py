"""Meraki rule rows -> model rules.

Handles the value syntax of Dashboard L3 rules (`any` in any case, comma lists, CIDRs, port ranges,
`VLAN(n).*` / `VLAN(n).h`, `OBJ(id)` / `GRP(id)`, FQDNs, `Local LAN`) and L7 rules. What cannot be resolved
becomes an uncertain rule with the reason; what cannot be parsed becomes an UNKNOWN rule over everything it
could affect. Nothing is guessed.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from auditor.errors import Unreadable
from auditor.model import Action, AssumedRule, Origin, Rule, RuleList
from auditor.model import RowKey as ListRowKey
from auditor.packets import (
    ALL,
    ANY_ADDR,
    ANY_PORT,
    ANY_PROTO,
    ANY_V4,
    ANY_V6,
    MAX_BOXES,
    Interval,
    PacketSet,
    address_interval,
    hull,
    network_interval,
    product_size,
)
from auditor.snapshot import SnapshotError

RFC1918 = [address_interval(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
MERAKI_PROTOCOLS: dict[str, list[Interval]] = {
    "tcp": [(6, 6)], "udp": [(17, 17)], "icmp": [(1, 1)], "icmp6": [(58, 58)], "any": [ANY_PROTO],
}
_VLAN_REF = re.compile(r"^vlan\((\d+)\)\.(\*|\d+)$", re.IGNORECASE)
_OBJ_REF = re.compile(r"^(obj|grp)\(([^)]*)\)$", re.IGNORECASE)
_FQDN = re.compile(r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$", re.IGNORECASE)
VPN_APP_PATTERN = re.compile(r"vpn|ipsec|\bike|l2tp|sstp|tunnel|remote access|anyconnect|openvpn|wireguard",
                             re.IGNORECASE)


class ValueError_(Unreadable, ValueError):
    """A value the Dashboard would not accept or we cannot read."""

    field = ""  # the row's field it was read from, where known
    malformed = True  # False: well-formed, but it does not fit the rest of the snapshot (a VLAN host)


@dataclass(slots=True)
class Resolver:
    """What rule values refer to in one network: its VLANs, the org's policy objects, and DNS data
    (the FQDNs of VPN servers from audit.yaml, which name their addresses)."""

    vlans: dict[int, ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
    vlans_reason: str = "VLANs are not in the snapshot"
    objects: dict[str, dict[str, Any]] | None = None
    groups: dict[str, dict[str, Any]] | None = None
    objects_reason: str = "policy objects are not in the snapshot"
    dns: dict[str, list[Interval]] = field(default_factory=dict)
    # Parsed rows shared by every network of one organisation (same objects, groups and DNS data): rows
    # repeat across networks built from templates, and a row that names no VLAN means the same everywhere.
    rows: dict[tuple, RowParts] | None = None

    def lookup_name(self, name: str) -> list[Interval] | None:
        name = name.lower().rstrip(".")
        if name in self.dns:
            return self.dns[name]
        for pattern, intervals in self.dns.items():
            if pattern.startswith("*.") and name.endswith(pattern[1:]):
                return intervals
        return None

    def names_named(self, pattern: str) -> list[Interval]:
        """Addresses of known names that a host entry names itself: the name, or a `*.domain` wildcard's
        subdomains. A plain domain is that host only (a walled garden lists "domain names, and domain
        wildcards", *update-network-wireless-ssid*): what it permits must not reach the domain's subdomains."""
        pattern = pattern.lower().rstrip(".")
        out: list[Interval] = []
        for name, intervals in self.dns.items():
            if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
                out.extend(intervals)
        return out

    def names_matching(self, pattern: str) -> list[Interval]:
        """Addresses of known names that a (possibly wildcard) host pattern covers."""
        pattern = pattern.lower().rstrip(".")
        out: list[Interval] = []
        for name, intervals in self.dns.items():
            if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])) or \
                    name.endswith("." + pattern):
                out.extend(intervals)
        return out


@dataclass(slots=True)
class Addresses:
    certain: list[Interval] = field(default_factory=list)
    uncertain: list[Interval] = field(default_factory=list)  # what unresolved items may cover
    reasons: list[str] = field(default_factory=list)


def parse_addresses(value: Any, resolver: Resolver, *, allow_local_lan: bool = False) -> Addresses:
    if value is None:
        raise ValueError_("missing address")
    out = Addresses()
    for raw in str(value).split(","):
        item = raw.strip()
        low = item.lower()
        if not item:
            continue
        if low == "any":
            out.certain.append(ANY_ADDR)
        elif low == "local lan" and allow_local_lan:
            out.certain.extend(RFC1918)
        elif match := _VLAN_REF.match(item):
            _vlan_ref(int(match.group(1)), match.group(2), resolver, out, item)
        elif match := _OBJ_REF.match(item):
            _object_ref(match.group(1).lower(), match.group(2).strip(), resolver, out, item)
        elif _looks_like_address(item):
            try:
                out.certain.append(address_interval(item))
            except ValueError:
                raise ValueError_(f"bad address '{item}'") from None
        elif _FQDN.match(item):
            _fqdn(item, resolver, out)
        else:
            raise ValueError_(f"cannot read address '{item}'")
    return out


def _looks_like_address(item: str) -> bool:
    head = item.split("/")[0]
    return bool(re.fullmatch(r"[0-9.]+", head) or ":" in head)


def _vlan_ref(vlan_id: int, host: str, resolver: Resolver, out: Addresses, item: str) -> None:
    if resolver.vlans is None:
        out.uncertain.append(ANY_ADDR)
        out.reasons.append(f"{item} cannot be resolved: {resolver.vlans_reason}")
        return
    subnet = resolver.vlans.get(vlan_id)
    if subnet is None:
        out.uncertain.append(ANY_ADDR)
        out.reasons.append(f"{item} names VLAN {vlan_id}, which this network does not have")
        return
    if host == "*":
        out.certain.append(network_interval(subnet))
        return
    offset = int(host)
    if offset >= subnet.num_addresses:
        error = ValueError_(f"{item}: host {offset} is outside VLAN {vlan_id} ({subnet})")
        error.malformed = False  # the subnet may have shrunk under the rule: unknown, not unusable input
        raise error
    address = subnet.network_address + offset
    out.certain.append(address_interval(str(address)))


def _object_ref(kind: str, ref: str, resolver: Resolver, out: Addresses, item: str,
                depth: int = 0) -> None:
    table = resolver.objects if kind == "obj" else resolver.groups
    if table is None:
        out.uncertain.append(ANY_ADDR)
        out.reasons.append(f"{item} cannot be resolved: {resolver.objects_reason}")
        return
    entry = table.get(ref)
    if entry is None:
        out.uncertain.append(ANY_ADDR)
        out.reasons.append(f"{item} is not among the organization's policy {'objects' if kind == 'obj' else 'groups'}")
        return
    if kind == "grp":
        object_ids = entry.get("objectIds") or []
        if not isinstance(object_ids, list):
            out.uncertain.append(ANY_ADDR)
            out.reasons.append(f"{item} has an unreadable objectIds list")
            return
        for object_id in object_ids:
            _object_ref("obj", str(object_id), resolver, out, f"{item} -> OBJ({object_id})", depth + 1)
        return
    obj_type = str(entry.get("type", "")).lower()
    if obj_type in ("cidr", "adaptivepolicyipv4cidr") and entry.get("cidr"):
        try:
            out.certain.append(address_interval(str(entry["cidr"])))
        except ValueError:
            out.uncertain.append(ANY_ADDR)
            out.reasons.append(f"{item} has an unreadable cidr '{entry['cidr']}'")
    elif obj_type == "ipandmask" and entry.get("ip") and entry.get("mask"):
        try:
            out.certain.append(address_interval(f"{entry['ip']}/{entry['mask']}"))
        except ValueError:
            out.uncertain.append(ANY_ADDR)
            out.reasons.append(f"{item} has an unreadable ip/mask")
    elif obj_type == "fqdn" and entry.get("fqdn"):
        _fqdn(str(entry["fqdn"]), resolver, out, via=item)
    else:
        out.uncertain.append(ANY_ADDR)
        out.reasons.append(f"{item} is a policy object of type '{obj_type}' that does not name addresses")


def _fqdn(name: str, resolver: Resolver, out: Addresses, via: str = "") -> None:
    resolved = resolver.lookup_name(name)
    label = f"{via} ({name})" if via else name
    if resolved is not None:
        out.certain.extend(resolved)
        return
    # An FQDN whose addresses we do not know may be any address, including the server's.
    out.uncertain.append(ANY_ADDR)
    out.reasons.append(f"FQDN {label} cannot be resolved from the snapshot (no DNS data names it)")


def parse_ports(value: Any) -> list[Interval]:
    if value is None:
        return [ANY_PORT]
    out: list[Interval] = []
    for raw in str(value).split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item == "any":
            return [ANY_PORT]
        lo, sep, hi = item.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise ValueError_(f"bad port '{raw.strip()}'")
        first, last = int(lo), int(hi) if sep else int(lo)
        if not (1 <= first <= last <= 65535):
            raise ValueError_(f"port out of range '{raw.strip()}'")
        out.append((first, last))
    if not out:
        raise ValueError_("empty port list")
    return out


def parse_protocol(value: Any) -> list[Interval]:
    protocol = str(value if value is not None else "any").strip().lower()
    if protocol not in MERAKI_PROTOCOLS:
        raise ValueError_(f"unknown protocol '{value}'")
    return MERAKI_PROTOCOLS[protocol]


RowKey = tuple[tuple[Interval, ...], tuple[Interval, ...]]
_ROW_KEYS: dict[tuple[Any, Any], RowKey | None] = {}
_ROW_KEYS_MAX = 50_000  # distinct (protocol, port) texts in an org are few; this bounds hostile input


def row_key(row: dict[str, Any]) -> RowKey | None:
    """(protocols, destination ports) of a row, read cheaply; None when they cannot be read. Remembered by
    the two texts, which repeat across the rows and networks of an org."""
    texts = (row.get("protocol"), row.get("destPort"))
    try:
        return _ROW_KEYS[texts]
    except KeyError:
        pass
    except TypeError:  # a list or object where a text belongs: not remembered
        return _read_row_key(*texts)
    key = _read_row_key(*texts)
    if _texts_only(texts):
        if len(_ROW_KEYS) >= _ROW_KEYS_MAX:
            _ROW_KEYS.clear()
        _ROW_KEYS[texts] = key
    return key


def _texts_only(values: tuple[Any, ...]) -> bool:
    """Whether a memo may be keyed by these JSON values: texts and nulls only. A number or boolean equals
    others that read differently (1, 1.0 and true are one key, yet port 1 is a port and 'True' is not), so a row
    holding one is read on its own each time: else it could take another row's reading, and a rule that cannot
    be read (which may reach anything) be read as one that names a single port."""
    return all(type(value) is str or value is None for value in values)


_UNREAD = object()  # row_keys: a row whose texts are not remembered yet


def _row_texts(rows: Sequence[dict[str, Any]]) -> Iterator[tuple[Any, Any]]:
    """Each row's (protocol, destPort), read in C."""
    return zip(map(dict.get, rows, repeat("protocol")), map(dict.get, rows, repeat("destPort")), strict=True)


def _with_unread(rows: Sequence[dict[str, Any]]) -> list[ListRowKey | None] | None:
    """row_keys of a list holding texts not remembered yet, or None when a row or value is not what the C
    lookup reads (the loop then reads each row)."""
    try:
        out: list[Any] = list(map(_ROW_KEYS.get, _row_texts(rows), repeat(_UNREAD)))
    except TypeError:
        return None
    at = -1
    while True:
        try:
            at = out.index(_UNREAD, at + 1)
        except ValueError:
            return out
        out[at] = row_key(rows[at])


def row_keys(rows: Sequence[dict[str, Any]]) -> list[ListRowKey | None]:
    """`row_key` of each row (a list's keys are read when it is built: hundreds of rows a network, nearly all of
    them remembered texts, so the whole list is first looked up in C; a text not remembered yet, or a value that
    is not one, sends it through the loop that reads and remembers)."""
    try:
        return list(map(_ROW_KEYS.__getitem__, _row_texts(rows)))
    except KeyError:  # texts first seen in this list: those rows read (and remembered) one by one
        found = _with_unread(rows)
        if found is not None:
            return found
    except TypeError:  # a row that is not an object, or a value that is not a text: each row on its own
        pass
    return [row_key(row) for row in rows]


def _read_row_key(protocol: Any, dest_port: Any) -> RowKey | None:
    try:
        return tuple(parse_protocol(protocol)), tuple(parse_ports(dest_port))
    except (ValueError_, TypeError):
        return None


def rule_text(row: dict[str, Any], *, with_source: bool, resolver: Resolver | None = None) -> str:
    """The row as the Dashboard writes it; policy objects and groups the resolver knows get their names
    beside their ids (`GRP(2001) "VPN Concentrators"`), which is how people recognise them."""
    proto = str(row.get("protocol", "any")).lower()
    dst = f"{_named(row.get('destCidr', 'any'), resolver)}:{row.get('destPort', 'any')}"
    if with_source:
        src = _named(row.get("srcCidr", "any"), resolver)
        return f"{row.get('policy', '?')} {proto} {src}:{row.get('srcPort', 'any')} -> {dst}"
    return f"{row.get('policy', '?')} {proto} -> {dst}"


_OBJ_IN_TEXT = re.compile(r"\b(obj|grp)\(\s*([^)]*?)\s*\)", re.IGNORECASE)


def _named(value: Any, resolver: Resolver | None) -> Any:
    if resolver is None or not isinstance(value, str) or "(" not in value:
        return value

    def name(match: re.Match[str]) -> str:
        table = resolver.objects if match.group(1).lower() == "obj" else resolver.groups
        entry = (table or {}).get(match.group(2))
        label = entry.get("name") if isinstance(entry, dict) else None
        return f'{match.group(0)} "{label}"' if isinstance(label, str) and label else match.group(0)

    return _OBJ_IN_TEXT.sub(name, value)


def row_destinations(row: dict[str, Any], resolver: Resolver, local_lan: bool = False) -> tuple[Interval, ...] | None:
    """Where a row's destination may reach, read without the rest of the row: the span of every address it may
    cover (resolved or not; a span, since a row too long to expand matches its addresses' hull), or None when
    it cannot be read (the row may then reach anything). Remembered per organisation, like whole rows, for
    destinations that name no VLAN."""
    value = row.get("destCidr")
    cache = resolver.rows if isinstance(value, str) else None
    key = ("dst", value, local_lan)
    if cache is not None:
        found = cache.get(key)
        if found is not None:  # only a destination that names no VLAN is kept
            return found[0]
        if "vlan(" in str(value).lower():  # a text (the cache is only asked for texts)
            cache = None
    try:
        parsed = parse_addresses(value, resolver, allow_local_lan=local_lan)
        items = parsed.certain + parsed.uncertain
        reach: tuple[Interval, ...] | None = \
            ((min(a for a, _ in items), max(b for _, b in items)),) if len(items) > 1 else tuple(items)
    except (ValueError_, TypeError, ValueError):
        reach = None
    if cache is not None:
        if len(cache) >= _ROWS_MAX:
            cache.clear()
        cache[key] = (reach,)
    return reach


# What a row means apart from where it sits: (action, match, certain, reason) per model rule, or, when it
# cannot be read, ("error", message) / ("huge", size, match) for l3_rules to word with the row's origin.
RowParts = tuple
_ROWS_MAX = 100_000  # per organisation; a hostile snapshot of unique rows only loses the sharing


def l3_rules(row: dict[str, Any], position: int, origin: Origin, resolver: Resolver, *,
             with_source: bool, local_lan: bool = False, where: str | None = None) -> list[Rule]:
    """One Dashboard L3 row as one or two model rules (the resolved part certain, the rest uncertain).

    `where` (e.g. "rules[3]") says the row is as the Dashboard returned it: a value it would not accept
    (`destPort: "45OO"`) is then corrupt input, an error naming the file, the row and the field, rather
    than an unknown rule that makes every path through the list unknown."""
    # the same rows recur in every network of an org (templates): their texts are kept once
    text = sys.intern(rule_text(row, with_source=with_source, resolver=resolver))
    comment = sys.intern(str(row.get("comment") or ""))
    parts = _shared_parts(row, resolver, with_source, local_lan)
    if parts[0] == "error" and where is not None and parts[2]:
        raise SnapshotError(origin.path + ("" if where.startswith("[") else " ") + where, f"{parts[2]}: {parts[1]}")
    if parts[0] == "error":
        return [Rule(position, Action.UNKNOWN, ALL, text, comment, origin,
                     reason=f"{origin}: {parts[1]}; the rule may match any VPN flow")]
    if parts[0] == "huge":
        return [Rule(position, parts[1], parts[3], text, comment, origin, certain=False,
                     reason=f"{origin}: the rule expands to {parts[2]:,} address and port combinations; only "
                            "its bounds are evaluated, so what it decides inside them is unknown")]
    return [Rule(position, action, match, text, comment, origin, certain=certain, reason=reason)
            for action, match, certain, reason in parts[1]]


_ROW_FIELDS = ("policy", "protocol", "srcPort", "srcCidr", "destPort", "destCidr", "ipVer")


def _shared_parts(row: dict[str, Any], resolver: Resolver, with_source: bool, local_lan: bool) -> RowParts:
    """_row_parts, remembered per organisation for rows whose addresses name no VLAN (VLAN(n) is the
    network's own subnet; everything else resolves the same in every network of the org)."""
    cache = resolver.rows
    if cache is None:
        return _row_parts(row, resolver, with_source, local_lan)
    values = tuple(map(row.get, _ROW_FIELDS))
    key = (values, with_source, local_lan)
    try:
        found = cache.get(key)
    except TypeError:  # a list or object where a value belongs: parsed, not remembered
        return _row_parts(row, resolver, with_source, local_lan)
    if found is None:
        found = _row_parts(row, resolver, with_source, local_lan)
        names_vlan = any("vlan(" in str(v).lower() for v in (row.get("srcCidr"), row.get("destCidr")))
        if _texts_only(values) and not names_vlan:
            if len(cache) >= _ROWS_MAX:
                cache.clear()
            cache[key] = found
    return found


def _row_parts(row: dict[str, Any], resolver: Resolver, with_source: bool, local_lan: bool) -> RowParts:
    field = "policy"
    try:
        policy = str(row.get("policy", "")).strip().lower()
        if policy not in ("allow", "deny"):
            raise ValueError_(f"unknown policy '{row.get('policy')}' (allow or deny)")
        action = Action.PERMIT if policy == "allow" else Action.DENY
        field = "protocol"
        protos = parse_protocol(row.get("protocol"))
        field = "destPort"
        dports = parse_ports(row.get("destPort"))
        field = "destCidr"
        dst = parse_addresses(row.get("destCidr"), resolver, allow_local_lan=local_lan)
        if with_source:
            field = "srcPort"
            sports = parse_ports(row.get("srcPort"))
            field = "srcCidr"
            src = parse_addresses(row.get("srcCidr", "any"), resolver)
        else:
            sports, src = [ANY_PORT], Addresses(certain=[ANY_ADDR])
        field = "ipVer"
        family = _ip_version(row.get("ipVer"))
    except ValueError_ as exc:
        return ("error", str(exc), field if exc.malformed else "")

    everything = (src.certain + src.uncertain, dst.certain + dst.uncertain, protos, sports, dports)
    size = product_size(*everything)
    if size > MAX_BOXES:  # long comma lists on both sides: exact, this one row would not finish
        src_all, dst_all, *rest = everything
        return ("huge", action, size, PacketSet.of(hull(src_all), hull(dst_all), *rest))

    def build(src_iv: list[Interval], dst_iv: list[Interval]) -> PacketSet:
        src_iv = _clip(src_iv, family)
        dst_iv = _clip(dst_iv, family)
        if not src_iv or not dst_iv:
            return PacketSet()
        return PacketSet.of(src_iv, dst_iv, protos, sports, dports)

    rules: list[tuple[Action, PacketSet, bool, str]] = []
    if src.certain and dst.certain:
        rules.append((action, build(src.certain, dst.certain), True, ""))
    if src.uncertain or dst.uncertain:
        may = build(src.certain + src.uncertain, dst.certain + dst.uncertain)
        if rules:
            may = may - rules[0][1]
        rules.append((action, may, False, "; ".join(src.reasons + dst.reasons)))
    return ("ok", tuple(rules))


def _ip_version(value: Any) -> Interval | None:
    version = str(value or "both").strip().lower()
    if version in ("both", "any", ""):
        return None
    if version == "ipv4":
        return ANY_V4
    if version == "ipv6":
        return ANY_V6
    raise ValueError_(f"unknown ipVer '{value}'")


def _clip(intervals: list[Interval], family: Interval | None) -> list[Interval]:
    if family is None:
        return intervals
    lo, hi = family
    return [(max(a, lo), min(b, hi)) for a, b in intervals if a <= hi and lo <= b]


def l7_rule(row: dict[str, Any], position: int, origin: Origin, resolver: Resolver) -> Rule | None:
    """An L7 deny as an uncertain rule over what it could block, or None when it cannot touch VPN flows.

    L7 rules match on signatures, names and countries the snapshot cannot evaluate; the ones that could
    match VPN traffic make it unknown (docs/semantics/meraki.md), with the reason.
    """
    kind = str(row.get("type", "")).strip()
    value = row.get("value")
    shown = _l7_value_text(value)
    if kind in _APP_KINDS and str(row.get("policy", "deny")).lower() == "deny" and not _may_name_vpn(shown):
        return None  # most rows of an org's lists: decided before their text is written
    text = sys.intern(f"{row.get('policy', 'deny')} {kind} {shown}")  # recurs in every network
    if str(row.get("policy", "deny")).lower() != "deny":
        return Rule(position, Action.UNKNOWN, ALL, text, "", origin,
                    reason=f"{origin}: an L7 rule with policy '{row.get('policy')}' is not understood")
    if kind in _APP_KINDS:  # one whose name may be a VPN's (the others returned above)
        return Rule(position, Action.DENY, ALL, text, "", origin, certain=False,
                    reason=f"L7 {kind} '{shown}' may classify VPN traffic and block it")
    if kind == "port":
        try:
            ports = parse_ports(value)
        except ValueError_:
            return Rule(position, Action.UNKNOWN, ALL, text, "", origin,
                        reason=f"{origin}: unreadable L7 port value '{value}'")
        return Rule(position, Action.DENY, PacketSet.of(dport=ports), text, "", origin, certain=False,
                    reason=f"L7 port rule {value}: how it treats UDP is not documented")
    if kind == "ipRange":
        cidr, _, port = str(value or "").partition(":")
        try:
            dst = [address_interval(cidr)]
            ports = parse_ports(port) if port else [ANY_PORT]
        except (ValueError, ValueError_):
            return Rule(position, Action.UNKNOWN, ALL, text, "", origin,
                        reason=f"{origin}: unreadable L7 ipRange '{value}'")
        return Rule(position, Action.DENY, PacketSet.of(dst=dst, dport=ports), text, "", origin,
                    certain=False, reason=f"L7 ipRange rule {value}")
    if kind == "host":
        covered = resolver.names_matching(str(value or ""))
        if not covered:
            return None  # IKE carries no host name; only a name the clients dial can be matched
        return Rule(position, Action.DENY, PacketSet.of(dst=covered), text, "", origin, certain=False,
                    reason=f"L7 host rule '{value}' names the VPN server; whether it blocks traffic to the "
                           "address is not documented")
    if kind in ("blockedCountries", "allowedCountries", "blacklistedCountries", "whitelistedCountries"):
        return Rule(position, Action.DENY, ALL, text, "", origin, certain=False,
                    reason=f"L7 {kind} rule: the country of the VPN server's address is not in the snapshot")
    return Rule(position, Action.UNKNOWN, ALL, text, "", origin,
                reason=f"{origin}: L7 rule type '{kind}' is not understood")


UDP = PacketSet.of(proto=[(17, 17)])


def l7_rules(rows: list[tuple[int, dict[str, Any]]], origin: Callable[[int], Origin], resolver: Resolver,
             port_udp: bool | None = None) -> tuple[list[Rule], int]:
    """An L7 list's rules from its (index, row) pairs, leaving out rows that cannot touch VPN flows, and how
    many rows became rules (the default rule's position follows them).

    `port_udp` is audit.yaml `assume: meraki-l7-port-matches-udp`; without it a `port` rule is uncertain for
    every protocol. With it, the UDP part of the rule is settled and the rest stays uncertain: true, a certain
    deny; false, a pass placed after every other rule (L7 rules only deny, so it lets through exactly what
    the default would, and a path that it lets through can name the assumption)."""
    rules: list[Rule] = []
    passes: list[Rule] = []
    count = 0
    for i, row in rows:
        rule = l7_rule(row, i + 1, origin(i), resolver)
        if rule is None:
            continue
        count += 1
        if port_udp is None or rule.action is not Action.DENY or str(row.get("type", "")).strip() != "port":
            rules.append(rule)
            continue
        udp, rest = rule.match & UDP, rule.match - UDP
        if rest:
            rules.append(Rule(rule.position, Action.DENY, rest, rule.text, "", rule.origin, certain=False,
                              reason=rule.reason))
        if not udp:
            continue
        assumed = f"meraki-l7-port-matches-udp = {'true' if port_udp else 'false'}"
        if port_udp:
            rules.append(AssumedRule(rule.position, Action.DENY, udp, rule.text, "", rule.origin, assumed=assumed))
        else:
            passes.append(AssumedRule(rule.position, Action.PERMIT, udp,
                                      f"{rule.text}: does not match UDP (assumed: {assumed})", "", rule.origin,
                                      synthetic=True, assumed=assumed))
    return rules + passes, count


_APP_KINDS = ("application", "applicationCategory")
_VPN_NAMES: dict[str, bool] = {}  # application (category) name -> whether VPN_APP_PATTERN finds it
_VPN_NAMES_MAX = 10_000  # an org's L7 lists name a few dozen; this bounds hostile input


def _may_name_vpn(name: str) -> bool:
    """VPN_APP_PATTERN.search(name), remembered: every network's lists name the same applications."""
    found = _VPN_NAMES.get(name)
    if found is None:
        if len(_VPN_NAMES) >= _VPN_NAMES_MAX:
            _VPN_NAMES.clear()
        found = _VPN_NAMES[name] = VPN_APP_PATTERN.search(name) is not None
    return found


def _l7_value_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def allow_all(name: str, origin: Origin | None, text: str = "default allow") -> RuleList:
    return RuleList(name, [], Rule(1, Action.PERMIT, ALL, text, "", origin, synthetic=True), origin)
