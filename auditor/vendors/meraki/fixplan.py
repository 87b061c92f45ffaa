"""Meraki fix plans: Dashboard API request bodies that let a blocked VPN flow through.

Per deciding point:
- SSID L3 / MX L3 / group policy L3 / the org's site-to-site outbound deny: if a later allow in the same list
  already covers the blocked packets (a shadowed VPN rule), move it above the deny; otherwise insert an allow
  for the blocked flows to the server above the deny. The PUT body is the full rule list, without the synthetic
  rows GETs append (PUT rejects them).
- Splash gate (block all before sign-on): add the server's address to the SSID's walled garden.
- An MX 1:1 NAT in front of the server that does not allow the VPN flows in: add them to its allowed inbound.
- An MX named in `path` whose port forwards do not take a VPN flow: forward it to the LAN address its other
  forwards use, or let a forward limited to other remote IPs take any.
The snapshot file the rule came from is edited the same way, in GET shape, so the audit re-reads the result.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from auditor.checks import Finding
from auditor.fixplan import COMMENT, Blocked, Change, PlanContext
from auditor.model import Action, AmbiguousHop, Decision, FilterHop, Hop, Rule
from auditor.packets import ANY_ADDR, PROTO_NUMBERS, PacketSet, address_interval, format_address_interval

_NETWORK = re.compile(r"^meraki/networks/([^/]+)/")
_SSID = re.compile(r"^meraki/networks/([^/]+)/wireless/ssids/(\d+)/")
_S2S = re.compile(r"^meraki/organizations/([^/]+)/appliance/vpn/vpnFirewallRules\.json$")
SYNTHETIC = ("default rule", "wireless clients accessing lan")


def _host(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{32 if ip.version == 4 else 128}"


def _allow_rows(blocked: Blocked, *, mx: bool) -> list[dict[str, Any]]:
    """One allow row per IP protocol of the blocked flows, to the server's address only."""
    ports: dict[str, list[int]] = {}
    for flow in blocked.flows:
        proto, _, port = flow.partition("/")
        ports.setdefault(proto, [])
        if port:
            ports[proto].append(int(port))
    rows = []
    for proto, numbers in sorted(ports.items()):
        meraki_proto = proto if proto in ("tcp", "udp", "icmp") else "any"  # ESP and the like: only `any`
        row: dict[str, Any] = {"comment": f"Allow VPN to {blocked.server.name} ({COMMENT})", "policy": "allow",
                               "protocol": meraki_proto}
        if mx:
            row.update({"srcPort": "Any", "srcCidr": "Any"})
        row["destPort"] = ",".join(str(p) for p in sorted(set(numbers))) if numbers and meraki_proto != "any" \
            else "Any"
        row["destCidr"] = _host(blocked.server.address)
        if mx:
            row["syslogEnabled"] = False
        rows.append(row)
    return rows


def _user_end(rows: list[dict[str, Any]]) -> int:
    """Index after the last user row: the synthetic rows GETs append come last."""
    end = len(rows)
    while end and str(rows[end - 1].get("comment", "")).strip().lower() in SYNTHETIC:
        end -= 1
    return end


def _index_of(rows: list[Any], row: Any) -> int:
    return next(i for i, r in enumerate(rows) if r is row)


def _rule_list(hop: Hop) -> list[Rule]:
    if isinstance(hop, FilterHop) and hop.rules is not None:
        return hop.rules.rules
    if isinstance(hop, AmbiguousHop) and hop.readings:
        return next(iter(hop.readings.values())).rules
    return []


def _row_index(rule: Rule, in_policy: bool) -> int | None:
    if rule.origin is None:
        return None
    if in_policy:
        return rule.position - 1  # group policy rules: origin.index is the policy's, position the row's
    return rule.origin.index


def _vpn_packets(blocked: Blocked) -> PacketSet:
    """The blocked flows to the server's address, from any source: all a move may open."""
    target = [address_interval(blocked.server.address)]
    out = PacketSet()
    for flow in blocked.flows:
        proto, _, port = flow.partition("/")
        if proto in PROTO_NUMBERS:
            out = out | PacketSet.flow([ANY_ADDR], target, PROTO_NUMBERS[proto], int(port) if port else None)
    return out


def _shadowed_allow(hop: Hop, deny: Rule, blocked: Blocked, in_policy: bool) -> Rule | None:
    """A later allow of the same list that certainly covers every blocked packet, and whose move above the deny
    changes nothing but the VPN flows to the server: an allow that is broader (`allow any`, a subnet, other
    ports) would also let through what the deny, and every deny between them, blocks for other traffic."""
    assert deny.origin is not None
    rules = [r for r in _rule_list(hop) if r.origin is not None and r.origin.path == deny.origin.path
             and not r.synthetic and (not in_policy or r.origin.index == deny.origin.index)]
    for rule in rules:
        if rule.position > deny.position and rule.action is Action.PERMIT and rule.certain and \
                blocked.segment.packets.issubset(rule.match):
            passed = [r.match for r in rules if deny.position <= r.position < rule.position
                      and r.action is not Action.PERMIT]
            changed = PacketSet()
            for match in passed:
                changed = changed | (rule.match & match)
            if not changed.issubset(_vpn_packets(blocked)):
                return None  # insert an allow of exactly the VPN flows instead
            return rule
    return None


class MerakiPlanner:
    def plan_finding(self, ctx: PlanContext, finding: Finding) -> list[Change] | None:
        return None

    def plan_hop(self, ctx: PlanContext, blocked: Blocked) -> list[Change] | None:
        hop, rule = blocked.hop, blocked.segment.rule
        origin_path = (rule.origin.path if rule is not None and rule.origin else None) or \
            (hop.origin.path if hop.origin else "")
        if (org := _S2S.match(origin_path)) and rule is not None and rule.action is Action.DENY:
            return self._list(ctx, blocked, rule, mx=True, endpoint=f"/organizations/{org.group(1)}/appliance/vpn/"
                                                                      "vpnFirewallRules")
        if not origin_path.startswith("meraki/networks/"):
            return None
        if hop.stage == "one-to-one-nat" and hop.origin is not None and hop.origin.index is not None:
            return self._one_to_one(ctx, blocked, origin_path, hop.origin.index)
        if hop.stage == "splash":
            return self._walled_garden(ctx, blocked, origin_path)
        if hop.stage == "port-forwarding" and rule is None and blocked.segment.decision is Decision.DENY:
            return self._port_forward(ctx, blocked, origin_path)
        if rule is None or rule.action is not Action.DENY:
            return None
        if origin_path.endswith("/groupPolicies.json"):
            return self._group_policy(ctx, blocked, rule)
        if origin_path.endswith("/appliance/firewall/l3FirewallRules.json"):
            return self._list(ctx, blocked, rule, mx=True)
        if _SSID.match(origin_path) and origin_path.endswith("/firewall/l3FirewallRules.json"):
            return self._list(ctx, blocked, rule, mx=False)
        return None

    # -- edits ------------------------------------------------------------------------------------------
    def _edit_rows(self, ctx: PlanContext, key: tuple[str, Any], rows: list[dict[str, Any]], blocked: Blocked,
                   deny: Rule, in_policy: bool, mx: bool) -> str | None:
        """Move a shadowed allow above the deny, or insert an allow there; returns what was done, in words
        (None when an earlier finding's edit already did it)."""
        assert deny.origin is not None
        index = _row_index(deny, in_policy)
        if deny.synthetic or index is None:
            at = _user_end(rows)
            where = "at the end of the list (above the default rows)"
        else:
            at = _index_of(rows, ctx.tracker.row(key, rows, index))
            where = f"above rule {deny.position} ({deny.text})"
        shadowed = None if deny.synthetic else _shadowed_allow(blocked.hop, deny, blocked, in_policy)
        if shadowed is not None:
            source = ctx.tracker.row(key, rows, _row_index(shadowed, in_policy))  # type: ignore[arg-type]
            current = _index_of(rows, source)
            if current > at:
                rows.insert(at, rows.pop(current))
                return f"move rule {shadowed.position} ({shadowed.text}) {where}: it already allows the VPN"
            return None
        done = []
        for row in _allow_rows(blocked, mx=mx):
            if any(r == row for r in rows[:at + 1]):
                continue  # another finding's edit already put it there
            rows.insert(at, row)
            at += 1
            done.append(f"{row['policy']} {row['protocol']} -> {row['destCidr']}:{row['destPort']}")
        return f"insert {'; '.join(done)} {where}" if done else None

    def _list(self, ctx: PlanContext, blocked: Blocked, deny: Rule, *, mx: bool,
              endpoint: str | None = None) -> list[Change]:
        """An L3 list's PUT: MX-shaped (`mx`: MX or site-to-site rules, with sources) or an SSID's."""
        assert deny.origin is not None
        rel = deny.origin.path
        data = ctx.workspace.json(rel)
        rows = data["rules"]
        what = self._edit_rows(ctx, (rel, None), rows, blocked, deny, in_policy=False, mx=mx)
        if endpoint is None:
            net_id = _NETWORK.match(rel).group(1)  # type: ignore[union-attr]
            number = _SSID.match(rel).group(2) if not mx else None  # type: ignore[union-attr]
            endpoint = f"/networks/{net_id}/appliance/firewall/l3FirewallRules" if mx else \
                f"/networks/{net_id}/wireless/ssids/{number}/firewall/l3FirewallRules"
        change = ctx.change(f"PUT {endpoint}", vendor="meraki", device=blocked.hop.device, method="PUT",
                            endpoint=endpoint, file=rel)
        if what:
            change.summaries.append(f"{what} (for {', '.join(blocked.flows)} to {blocked.server.name})")
        change.render = lambda ws, rel=rel, mx=mx: _rules_body(ws.json(rel), mx)
        return [change]

    def _one_to_one(self, ctx: PlanContext, blocked: Blocked, rel: str, index: int) -> list[Change]:
        """A 1:1 NAT that lets the VPN server's public address in only for other services: add the blocked
        flows to its allowed inbound list (from any remote IP, as client VPNs come from anywhere)."""
        net_id = _NETWORK.match(rel).group(1)  # type: ignore[union-attr]
        data = ctx.workspace.json(rel)
        nat = data["rules"][index]
        allowed = nat.setdefault("allowedInbound", [])
        added = []
        for row in _allow_rows(blocked, mx=False):
            entry = {"protocol": row["protocol"], "allowedIps": ["any"],
                     "destinationPorts": row["destPort"].split(",") if row["destPort"] != "Any" else ["any"]}
            if entry not in allowed:
                allowed.append(entry)
                added.append(f"{entry['protocol']} {','.join(entry['destinationPorts'])}")
        endpoint = f"/networks/{net_id}/appliance/firewall/oneToOneNatRules"
        change = ctx.change(f"PUT {endpoint}", vendor="meraki", device=blocked.hop.device, method="PUT",
                            endpoint=endpoint, file=rel)
        if added:
            change.summaries.append(f"allow {'; '.join(added)} from any remote IP in the 1:1 NAT of "
                                    f"{nat.get('publicIp')} (for {', '.join(blocked.flows)} to {blocked.server.name})")
        change.render = lambda ws, rel=rel: {"rules": ws.json(rel)["rules"]}
        return [change]

    def _port_forward(self, ctx: PlanContext, blocked: Blocked, rel: str) -> list[Change] | None:
        """A flow no port forward takes (the MX is in front of the server): a forward of it to the LAN address
        the MX's other forwards use, from any remote IP (client VPNs come from anywhere); a forward that takes
        it only from other remote IPs is opened to any instead. Without one LAN address to forward to, no
        writer: the finding's remediation says what to add."""
        from auditor.vendors.meraki.front import InboundNatHop  # the hop whose forwards name the LAN address

        hop = blocked.hop
        if not isinstance(hop, InboundNatHop):
            return None
        lans = {format_address_interval(f.lan) for f in hop.forwards}
        public = blocked.segment.packets.destinations()
        net_id = _NETWORK.match(rel).group(1)  # type: ignore[union-attr]
        data = ctx.workspace.json(rel)
        rows = data.setdefault("rules", [])
        done, handled = [], False  # handled: an edit (this finding's or an earlier one's) covers a flow
        for flow in blocked.flows:  # the group's flows share the hop, each its own forward
            proto, _, port = flow.partition("/")
            if proto not in ("tcp", "udp") or not port:
                continue  # a port forward carries only TCP and UDP: the remediation says what else to do
            wanted = PacketSet.flow([ANY_ADDR], public, PROTO_NUMBERS[proto], int(port))
            narrow = [f for f in hop.forwards if f.match.intersects(wanted)]
            handled |= bool(narrow) or len(lans) == 1
            for forward in narrow:  # it takes the flow, only not from these sources
                assert forward.rule.origin is not None and forward.rule.origin.index is not None
                row = ctx.tracker.row((rel, None), rows, forward.rule.origin.index)
                if row.get("allowedIps") != ["any"]:
                    row["allowedIps"] = ["any"]
                    done.append(f"let {forward.rule.text} take any remote IP")
            if narrow or len(lans) != 1:
                continue
            entry = {"lanIp": next(iter(lans)), "allowedIps": ["any"],
                     "name": f"VPN {proto.upper()} {port} ({COMMENT})", "protocol": proto, "publicPort": port,
                     "localPort": port, "uplink": "both"}
            if not any(r.get("protocol") == proto and str(r.get("publicPort")) == port and
                       r.get("lanIp") == entry["lanIp"] for r in rows):
                rows.append(entry)
                done.append(f"forward {proto.upper()} {port} to {entry['lanIp']}")
        if not handled:
            return None
        endpoint = f"/networks/{net_id}/appliance/firewall/portForwardingRules"
        change = ctx.change(f"PUT {endpoint}", vendor="meraki", device=hop.device, method="PUT",
                            endpoint=endpoint, file=rel)
        if done:
            change.summaries.append(f"{'; '.join(done)} (for {', '.join(blocked.flows)} to {blocked.server.name})")
        change.render = lambda ws, rel=rel: {"rules": ws.json(rel)["rules"]}
        return [change]

    def _group_policy(self, ctx: PlanContext, blocked: Blocked, deny: Rule) -> list[Change] | None:
        assert deny.origin is not None
        rel = deny.origin.path
        net_id = _NETWORK.match(rel).group(1)  # type: ignore[union-attr]
        policies = ctx.workspace.json(rel)
        if not isinstance(policies, list) or deny.origin.index is None:
            return None
        policy = ctx.tracker.row((rel, "policies"), policies, deny.origin.index)
        gp_id = str(policy.get("groupPolicyId"))
        fw = policy.setdefault("firewallAndTrafficShaping", {})
        rows = fw.setdefault("l3FirewallRules", [])
        what = self._edit_rows(ctx, (rel, gp_id), rows, blocked, deny, in_policy=True, mx=False)
        endpoint = f"/networks/{net_id}/groupPolicies/{gp_id}"
        change = ctx.change(f"PUT {endpoint}", vendor="meraki", device=f"group policy {gp_id} "
                            f"'{policy.get('name')}' ({blocked.path.role.network_name})", method="PUT",
                            endpoint=endpoint, file=rel)
        if what:
            change.summaries.append(f"{what} (for {', '.join(blocked.flows)} to {blocked.server.name})")

        def render(ws: Any, rel: str = rel, gp_id: str = gp_id) -> dict[str, Any]:
            current = next(p for p in ws.json(rel) if str(p.get("groupPolicyId")) == gp_id)
            section = current.get("firewallAndTrafficShaping") or {}
            return {"firewallAndTrafficShaping": {
                "settings": section.get("settings", "custom"),
                "trafficShapingRules": section.get("trafficShapingRules", []),
                "l3FirewallRules": section.get("l3FirewallRules", []),
                "l7FirewallRules": section.get("l7FirewallRules", [])}}

        change.render = render
        return [change]

    def _walled_garden(self, ctx: PlanContext, blocked: Blocked, origin_path: str) -> list[Change] | None:
        rule = blocked.segment.rule
        found = _SSID.match(origin_path)
        if rule is None or not rule.synthetic or rule.action is not Action.DENY or found is None:
            return None  # only "everything outside the walled garden" is fixed by the walled garden
        net_id, number = found.group(1), int(found.group(2))
        rel = f"meraki/networks/{net_id}/wireless/ssids.json"
        ssids = ctx.workspace.json(rel)
        slot = next((s for s in ssids if int(s.get("number", -1)) == number), None)
        if slot is None:
            return None
        entry = _host(blocked.server.address)
        ranges = slot.setdefault("walledGardenRanges", [])
        if entry not in ranges:
            ranges.append(entry)
        slot["walledGardenEnabled"] = True
        endpoint = f"/networks/{net_id}/wireless/ssids/{number}"
        change = ctx.change(f"PUT {endpoint}", vendor="meraki", device=blocked.hop.device, method="PUT",
                            endpoint=endpoint, file=rel)
        summary = (f"add {entry} ({blocked.server.name}) to the walled garden so VPN clients reach it before "
                   f"sign-on; alternative: PUT {endpoint}/splash/settings with blockAllTrafficBeforeSignOn false "
                   f"(lets all non-HTTP traffic through before sign-on)")
        if summary not in change.summaries:
            change.summaries.append(summary)

        def render(ws: Any, rel: str = rel, number: int = number) -> dict[str, Any]:
            current = next(s for s in ws.json(rel) if int(s.get("number", -1)) == number)
            return {"walledGardenEnabled": True, "walledGardenRanges": list(current.get("walledGardenRanges", []))}

        change.render = render
        return [change]


def _rules_body(data: dict[str, Any], mx: bool) -> dict[str, Any]:
    """A rules GET body as a PUT body: synthetic trailing rows removed (PUT rejects them)."""
    rows = data.get("rules", [])
    user = rows[:_user_end(rows)]
    body: dict[str, Any] = {"rules": user}
    if mx:
        if "syslogDefaultRule" in data:
            body["syslogDefaultRule"] = data["syslogDefaultRule"]
        return body
    allow_lan = data.get("allowLanAccess")
    if allow_lan is None:
        lan = next((r for r in rows[len(user):] if str(r.get("comment", "")).strip().lower() == SYNTHETIC[1]), None)
        allow_lan = None if lan is None else str(lan.get("policy", "")).lower() == "allow"
    if allow_lan is not None:
        body["allowLanAccess"] = allow_lan
    return body
