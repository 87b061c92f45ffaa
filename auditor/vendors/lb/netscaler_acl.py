"""NetScaler ACLs (simple and extended, IPv4 and IPv6) as a first-match rule list met before any vserver.

docs/semantics/load-balancers.md (NetScaler ACLs): simple ACLs (`add ns simpleacl`, DENY only, on the source
address and optionally protocol and destination port) are compared first and work as soon as they are added;
extended ACLs (`add ns acl NAME ALLOW|DENY|BRIDGE ...`) follow in priority order, lower number first, and work
only once applied (`apply ns acls`; `apply ns acls6` for ACL6s): the appliance filters on its lookup table, not
on the configuration file. A packet no ACL matches goes on to the virtual servers. BRIDGE forwards the packet
without processing it, which is not modelled (unknown). Any condition the tool does not evaluate (VLAN,
interface, MAC, datasets, `-established`, a traffic domain, a TTL) makes the ACL uncertain: unknown where it
may match, never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.model import Action, Origin, Rule
from auditor.packets import ANY_PORT, ANY_V4, ANY_V6, PROTO_NUMBERS, PacketSet, address_interval

EXTENDED = "extended"
SIMPLE = "simple"
# Options that do not change what an ACL matches.
_NEUTRAL = {"priority", "state", "logstate", "ratelimit", "stateful", "aclaction", "kernelstate", "aclname",
            "hits", "nodeid", "newname", "type"}
# Options that narrow the match in ways not evaluated here.
_UNEVALUATED = {"vlan": "VLAN", "vxlan": "VXLAN", "interface": "interface", "srcmac": "source MAC",
                "srcmacmask": "source MAC mask", "established": "established TCP sessions only",
                "icmptype": "ICMP type", "icmpcode": "ICMP code", "srcipdataset": "a source address dataset",
                "destipdataset": "a destination address dataset", "srcportdataset": "a source port dataset",
                "destportdataset": "a destination port dataset", "dfdhash": "a DFD hash", "ttl": "a time to live"}
_PROTOCOLS = {**{k.upper(): v for k, v in PROTO_NUMBERS.items()}, "TCP": 6, "UDP": 17, "ICMP": 1, "GRE": 47,
              "ESP": 50, "AH": 51, "ICMPV6": 58, "SCTP": 132, "IGMP": 2, "OSPF": 89, "IPV6": 41}


@dataclass(slots=True)
class NsAcl:
    """One ACL as configured: its options as `-option value...` words (ns.conf) or NITRO fields folded into that
    form, and whether the appliance's lookup table is known to hold this version (extended ACLs only)."""

    name: str
    kind: str  # simple | extended
    family: int  # 4 | 6
    action: str  # ALLOW | DENY | BRIDGE
    options: dict[str, list[str]]
    origin: Origin
    order: int  # creation order
    applied: bool | None = True  # None: not known whether `apply ns acls` has run since it was last changed
    applied_note: str = ""
    extra: list[str] = field(default_factory=list)  # conditions found that cannot be evaluated
    raw: str = ""  # the ns.conf line as written
    changed: bool = False  # a later `set` line changed it: its text is rebuilt from the options

    def opt(self, key: str) -> list[str]:
        return self.options.get(key, [])

    @property
    def enabled(self) -> bool:
        state = self.opt("state")
        return not state or state[0].upper() not in ("DISABLED", "XACLDISABLED")

    @property
    def priority(self) -> int | None:
        value = self.opt("priority")
        return int(value[0]) if value and value[0].isdigit() else None

    def text(self) -> str:
        if self.raw and not self.changed:
            return self.raw
        verb = "add ns simpleacl" if self.kind == SIMPLE else "add ns acl"
        verb += "6" if self.family == 6 else ""
        opts = " ".join(f"-{k} {' '.join(v)}".rstrip() for k, v in self.options.items()
                        if k not in ("aclaction", "aclname", "kernelstate"))
        return f"{verb} {self.name} {self.action} {opts}".rstrip()


def from_nsconf(words: list[str], options: dict[str, list[str]], origin: Origin, order: int) -> NsAcl | None:
    """`add ns acl|acl6|simpleacl|simpleacl6 NAME ACTION [-option value...]`, or None for other commands."""
    if len(words) < 5 or words[0].lower() != "add" or words[1].lower() != "ns":
        return None
    noun = words[2].lower()
    kinds = {"acl": (EXTENDED, 4), "acl6": (EXTENDED, 6), "simpleacl": (SIMPLE, 4), "simpleacl6": (SIMPLE, 6)}
    if noun not in kinds:
        return None
    kind, family = kinds[noun]
    acl = NsAcl(words[3], kind, family, words[4].upper(), dict(options), origin, order)
    acl.extra.extend(f"word {w}" for w in words[5:])  # nothing positional follows the action
    return acl


# NITRO field -> (ns.conf option, NITRO operator field)
_NITRO_FIELDS = {"srcipval": ("srcip", "srcipop"), "destipval": ("destip", "destipop"),
                 "srcportval": ("srcport", "srcportop"), "destportval": ("destport", "destportop"),
                 "srcipv6val": ("srcipv6", "srcipop"), "destipv6val": ("destipv6", "destipop")}
_NITRO_SKIP = {"aclname", "acl6name", "aclaction", "acl6action", "srcip", "destip", "srcport", "destport",
               "srcipop", "destipop", "srcportop", "destportop", "srcipv6", "destipv6", "kernelstate", "hits",
               "td", "__count", "aclassociate", "stateflag", "aclchildcount", "newname", "type"}


def kernel_state(acl: NsAcl, value: str) -> None:
    """`-kernelstate` (saved ns.conf) or NITRO `kernelstate`: whether this version is in the lookup table.
    APPLIED (SFAPPLIED61 in saved configurations): yes; NOTAPPLIED: never applied; anything else (RE-APPLY,
    missing): the version in effect may differ."""
    state = value.upper()
    if "NOTAPPLIED" in state:
        acl.applied, acl.applied_note = False, ""
    elif "APPLIED" in state and "RE" not in state.replace("SFAPPLIED", ""):
        acl.applied, acl.applied_note = True, ""
    else:
        acl.applied = None
        acl.applied_note = (f"its kernelstate is {value or 'missing'}: the version in effect may differ from the "
                            f"configuration")


def from_nitro(row: dict[str, Any], kind: str, family: int, origin: Origin, order: int) -> NsAcl:
    """A NITRO nsacl / nsacl6 / nssimpleacl / nssimpleacl6 row. `kernelstate` says whether the extended ACL's
    current version is in the lookup table (APPLIED; NOTAPPLIED: never applied; anything else: changed since)."""
    name = str(row.get("aclname") or row.get("acl6name") or "")
    action = str(row.get("aclaction") or row.get("acl6action") or "DENY").upper()
    options: dict[str, list[str]] = {}
    for key, (option, operator) in _NITRO_FIELDS.items():
        if row.get(key) not in (None, ""):
            options[option] = [str(row.get(operator) or "="), str(row[key])]
    if kind == SIMPLE:
        for key, option in (("srcip", "srcip"), ("srcipv6", "srcipv6"), ("destport", "destport")):
            if row.get(key) not in (None, "", 0, "0"):
                options[option] = [str(row[key])]
    for key, value in row.items():
        if key in _NITRO_SKIP or key in _NITRO_FIELDS or value in (None, "", False) or key in options:
            continue
        if _unset(key, value):
            continue
        if key == "established" and value in (True, "true", "YES"):
            options["established"] = []
        elif key != "established":
            options[key] = [str(value)]
    if str(row.get("td") or "0") != "0":
        options["td"] = [str(row["td"])]
    acl = NsAcl(name, kind, family, action, options, origin, order)
    if kind == EXTENDED:
        kernel_state(acl, str(row.get("kernelstate") or ""))
    return acl


def _unset(key: str, value: Any) -> bool:
    """NITRO's way of saying a field is not set: 0 for numbers, 65536 for ICMP type and code."""
    if key in ("vlan", "vxlan", "ttl", "ratelimit") and str(value) == "0":
        return True
    return key in ("icmptype", "icmpcode") and str(value) == "65536"


def rules(acls: list[NsAcl]) -> list[Rule]:
    """Simple ACLs (creation order), then extended ACLs by priority (lower first), as first-match rules."""
    simple = sorted((a for a in acls if a.kind == SIMPLE), key=lambda a: a.order)
    extended = [a for a in acls if a.kind == EXTENDED]
    explicit = any(a.priority is not None for a in extended)
    unnumbered = [a for a in extended if a.priority is None]
    extended.sort(key=lambda a: (a.priority is None, a.priority or 0, a.order))
    out: list[Rule] = []
    for acl in [*simple, *extended]:
        if acl.kind == EXTENDED and acl.applied is False:
            continue  # never applied: not in the lookup table
        if not acl.enabled and acl.applied:
            continue  # disabled, and applied so: not used
        rule = _rule(acl, len(out) + 1)
        if not acl.enabled:  # disabled but not applied since: the table may hold its enabled version
            rule.certain, rule.reason = False, f"{acl.name} is disabled, but {_pending(acl)}"
        elif acl.kind == EXTENDED and acl.applied is None and rule.certain:
            rule.certain, rule.reason = False, _pending(acl)
        elif acl in unnumbered and explicit and rule.certain:
            rule.certain, rule.reason = False, (f"{acl.name} has no -priority, which the appliance assigns: where "
                                                f"it falls among the numbered ACLs is not in the configuration")
        out.append(rule)
    return out


def _pending(acl: NsAcl) -> str:
    return acl.applied_note or ("no `apply ns acls" + ("6" if acl.family == 6 else "") + "` follows it in the "
                                "configuration: whether the appliance's lookup table holds it is not known")


def _rule(acl: NsAcl, position: int) -> Rule:
    unknown: list[str] = list(acl.extra)
    family = ANY_V4 if acl.family == 4 else ANY_V6
    src = _addresses(acl, "srcipv6" if acl.family == 6 else "srcip", family, unknown)
    dst = _addresses(acl, "destipv6" if acl.family == 6 else "destip", family, unknown)
    proto = _protocol(acl, unknown)
    sport = _ports(acl, "srcport", unknown)
    dport = _ports(acl, "destport", unknown)
    for key, values in acl.options.items():
        if key in _UNEVALUATED:
            unknown.append(f"matches on {_UNEVALUATED[key]} ({' '.join(values) or key})")
        elif key == "td" and values and values[0] != "0":
            unknown.append(f"applies in traffic domain {values[0]}")
        elif key not in _NEUTRAL and key not in ("srcip", "destip", "srcipv6", "destipv6", "srcport", "destport",
                                                 "protocol", "protocolnumber", "td"):
            unknown.append(f"option -{key} not understood")
    if acl.kind == EXTENDED and (acl.opt("type") or ["CLASSIC"])[0].upper() != "CLASSIC":
        unknown.append(f"type {acl.opt('type')[0]} (not a classic ACL)")
    if sport != [ANY_PORT] or dport != [ANY_PORT]:  # ports only exist for TCP, UDP and SCTP
        proto = [(p, p) for p in (6, 17, 132) if any(lo <= p <= hi for lo, hi in proto)]
    match = PacketSet.of(src, dst, proto, sport, dport) if proto and src and dst and sport and dport \
        else PacketSet()
    action = {"ALLOW": Action.PERMIT, "DENY": Action.DENY}.get(acl.action, Action.UNKNOWN)
    rule = Rule(position, action, match, acl.text(), origin=acl.origin)
    if acl.kind == SIMPLE and acl.action != "DENY":
        unknown.append(f"action {acl.action} on a simple ACL (simple ACLs only deny)")
    if action is Action.UNKNOWN:
        rule.reason = ("BRIDGE sends the packet on by layer 2/3 forwarding without processing it, which is not "
                       "modelled" if acl.action == "BRIDGE" else f"action {acl.action} not understood")
    elif unknown:
        rule.certain, rule.reason = False, f"{acl.name} {'; '.join(unknown)}: not evaluated"
    return rule


def _operator(values: list[str]) -> tuple[bool, str | None]:
    """(negated, value) of `= V`, `!= V`, `EQ V`, `NEQ V` or a bare `V`."""
    if not values:
        return False, None
    if values[0].upper() in ("=", "EQ", "!=", "NEQ") and len(values) > 1:
        return values[0].upper() in ("!=", "NEQ"), values[1]
    return False, values[0]


def _addresses(acl: NsAcl, key: str, family: tuple[int, int], unknown: list[str]) -> list[tuple[int, int]]:
    if key not in acl.options:
        return [family]
    negated, value = _operator(acl.opt(key))
    try:
        if value is None:
            raise ValueError(value)
        lo_text, _, hi_text = value.partition("-")
        lo = address_interval(lo_text.strip())
        hi = address_interval(hi_text.strip()) if hi_text else lo
        span = (lo[0], hi[1])
        if not (family[0] <= span[0] <= span[1] <= family[1]):
            raise ValueError(value)
    except ValueError:
        unknown.append(f"-{key} {' '.join(acl.opt(key))} not understood")
        return [family]
    return _complement(span, family) if negated else [span]


def _ports(acl: NsAcl, key: str, unknown: list[str]) -> list[tuple[int, int]]:
    if key not in acl.options:
        return [ANY_PORT]
    negated, value = _operator(acl.opt(key))
    lo_text, _, hi_text = (value or "").partition("-")
    if not lo_text.strip().isdigit() or (hi_text and not hi_text.strip().isdigit()):
        unknown.append(f"-{key} {' '.join(acl.opt(key))} not understood")
        return [ANY_PORT]
    span = (int(lo_text), int(hi_text or lo_text))
    if span[0] > span[1] or span[1] > 65535:
        unknown.append(f"-{key} {' '.join(acl.opt(key))} not understood")
        return [ANY_PORT]
    return _complement(span, ANY_PORT) if negated else [span]


def _protocol(acl: NsAcl, unknown: list[str]) -> list[tuple[int, int]]:
    value = (acl.opt("protocolnumber") or acl.opt("protocol") or [""])[0]
    if not value:
        return [(0, 255)]
    number = int(value) if value.isdigit() else _PROTOCOLS.get(value.upper())
    if number is None or not 0 <= number <= 255:
        unknown.append(f"protocol {value} not understood")
        return [(0, 255)]
    return [(number, number)]


def _complement(span: tuple[int, int], whole: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    if span[0] > whole[0]:
        out.append((whole[0], span[0] - 1))
    if span[1] < whole[1]:
        out.append((span[1] + 1, whole[1]))
    return out


__all__ = ["EXTENDED", "SIMPLE", "NsAcl", "from_nitro", "from_nsconf", "kernel_state", "rules"]
