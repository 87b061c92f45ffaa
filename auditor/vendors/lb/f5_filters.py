"""BIG-IP settings that decide whether traffic reaches a virtual at all: VLAN-limited listeners, virtual-address
state, AFM firewall policies and packet filters (docs/semantics/load-balancers.md, F5 listeners and filters).

A virtual enabled on some VLANs only (`vlans-enabled` / `vlans-disabled` with a `vlans { }` list) listens for
clients on those VLANs; which VLAN clients arrive on is not in a BIG-IP configuration, so it comes from audit.yaml
(`devices: {f5/NAME: {ingress_vlan: /Common/external}}`), else the virtual's traffic is unknown. Firewall policies
and packet filters are not evaluated: where one may drop, the traffic is unknown, never passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor.lb_model import Gate, LoadBalancer, VirtualService
from auditor.model import Action, Decision, Origin, Rule
from auditor.packets import ALL, EMPTY, address_interval

if TYPE_CHECKING:
    from auditor.vendors.lb.f5 import Block, F5Config, F5Object

# Virtual settings that attach a policy able to drop what the virtual would take (fw-staged-policy only logs).
_VIRTUAL_POLICIES = {"fw-enforced-policy": "AFM firewall policy", "fw-rules": "AFM firewall rules",
                     "ip-intelligence-policy": "IP intelligence policy"}


def apply(config: F5Config, device: LoadBalancer, settings: dict[str, Any]) -> None:
    """Add what decides traffic before the pools: per virtual, then the device-wide filters."""
    objects = config.of_kind("ltm", "virtual")
    addresses = _virtual_addresses(config)
    ingress = _ingress(settings)
    for svc in device.services:
        obj = objects.get(svc.name)
        if obj is None:
            continue
        _vlans(obj, svc, ingress, device.name)
        _virtual_address(svc, addresses)
        for key, what in _VIRTUAL_POLICIES.items():
            value = obj.block.get(key)
            if value and value != "none":
                svc.gates.append(Gate(Decision.UNKNOWN, f"{what} {value} is enforced on it and is not evaluated",
                                      origin=_origin(obj, key)))
    device.filters = _device_filters(config)
    device.filter_stage = "firewall"
    device.filter_default = "no packet filter or firewall policy drops it: on to the virtual servers"


def _origin(obj: F5Object, key: str | None = None) -> Origin:
    line = obj.block.lines.get(key) if key else None
    return Origin(obj.origin.path, line=line) if line is not None and obj.origin.line is not None else obj.origin


def _name(text: str) -> str:
    text = text.strip()
    return text if text.startswith("/") else f"/Common/{text}"


def _ingress(settings: dict[str, Any]) -> set[str] | None:
    value = settings.get("ingress_vlan")
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    return {_name(str(v)) for v in values}


def _vlans(obj: F5Object, svc: VirtualService, ingress: set[str] | None, device: str) -> None:
    """`vlans-enabled` with a list: listens on those VLANs only; `vlans-disabled` with a list: on all others."""
    block = obj.block
    listed = _vlan_list(block)
    enabled = "vlans-enabled" in block.flags or (block.get("vlans-enabled") or "") == "enabled"
    disabled = "vlans-disabled" in block.flags or (block.get("vlans-disabled") or "") == "enabled"
    if not listed:
        if enabled:  # enabled on no VLAN at all
            svc.listen = EMPTY
            svc.vendor["vlans"] = "vlans-enabled with no VLAN: listens nowhere"
        return
    names = ", ".join(sorted(listed))
    if enabled == disabled:
        svc.gates.append(Gate(Decision.UNKNOWN, f"VLAN list {names} with neither vlans-enabled nor vlans-disabled "
                                                f"(or both): where it listens is not known",
                              origin=_origin(obj, "vlans")))
        return
    where = f"only on VLAN(s) {names}" if enabled else f"on every VLAN except {names}"
    svc.vendor["vlans"] = f"listens {where}"
    if ingress is None:
        svc.gates.append(Gate(Decision.UNKNOWN, f"listens {where}; the VLAN clients arrive on is not in the snapshot "
                                                f"(audit.yaml `devices: {{{device}: {{ingress_vlan: NAME}}}}` says it)",
                                origin=_origin(obj, "vlans")))
        return
    listens = bool(ingress & listed) if enabled else not ingress <= listed
    if not listens:
        svc.listen = EMPTY  # not a listener for these clients: a less specific virtual, or none, takes them


def _vlan_list(block: Block) -> set[str]:
    sub = block.entry("vlans")
    if sub is not None and sub.entries:
        return {_name(n) for n in sub.entries}
    text = block.get("vlans") or ""
    return {_name(w) for w in text.replace("{", " ").replace("}", " ").split() if w}


def _virtual_addresses(config: F5Config) -> dict[tuple[int, int], F5Object]:
    found: dict[tuple[int, int], F5Object] = {}
    for obj in config.of_kind("ltm", "virtual-address").values():
        text = (obj.block.get("address") or obj.name.rsplit("/", 1)[-1]).split("%", 1)[0]
        try:
            found[address_interval(text)] = obj
        except ValueError:
            continue
    return found


def _virtual_address(svc: VirtualService, addresses: dict[tuple[int, int], F5Object]) -> None:
    """A disabled virtual address takes no traffic for any virtual on it; with ARP disabled the BIG-IP does not
    answer for it, so traffic arrives only where a route points it at the BIG-IP."""
    if svc.address is None or svc.address.prefixlen != svc.address.max_prefixlen:
        return
    obj = addresses.get(address_interval(str(svc.address.network_address)))
    if obj is None:
        return
    if (obj.block.get("enabled") or "yes").lower() in ("no", "false", "disabled"):
        svc.enabled = False
        svc.state_reason = (f"is on virtual address {obj.name}, which is disabled (enabled no): the BIG-IP takes no "
                            f"traffic for it")
        return
    if (obj.block.get("arp") or "enabled").lower() == "disabled":
        svc.gates.append(Gate(Decision.UNKNOWN, f"virtual address {obj.name} has ARP disabled: traffic reaches it "
                                                f"only where a route sends it to the BIG-IP, which the snapshot does "
                                                f"not show", origin=obj.origin))


def _db(config: F5Config, name: str) -> tuple[str | None, Origin | None]:
    """A `sys db` variable's value (tmsh `sys db NAME { value V }`, REST `sys/db/NAME.json`)."""
    for kind in (("sys", "db"), ("sys", "db", name)):
        obj = config.of_kind(*kind).get(f"/Common/{name}")
        if obj is not None:
            return (obj.block.get("value") or "").strip('"').lower() or None, obj.origin
    return None, None


def _device_filters(config: F5Config) -> list[Rule]:
    """Packet filters and AFM policies that apply to every virtual: uncertain denies (not evaluated)."""
    rules: list[Rule] = []

    def may_drop(text: str, origin: Origin, reason: str) -> None:
        rules.append(Rule(len(rules) + 1, Action.DENY, ALL, text, origin=origin, certain=False, reason=reason))

    enabled, _ = _db(config, "packetfilter")
    default, default_origin = _db(config, "packetfilter.defaultaction")
    dropping = [o for o in config.of_kind("net", "packet-filter").values()
                if (o.block.get("action") or "").lower() in ("discard", "reject")]
    if enabled != "disabled":
        state = "packet filtering is enabled (sys db packetfilter)" if enabled == "enabled" else \
            "packet filtering may be enabled (sys db packetfilter is not in the snapshot)"
        for obj in dropping:
            rule = (obj.block.get("rule") or "").strip('"')
            may_drop(f"net packet-filter {obj.name} action {obj.block.get('action')} rule {rule!r}", obj.origin,
                     f"{state}, and its expression is not evaluated")
        if default in ("discard", "reject"):
            may_drop(f"sys db packetfilter.defaultaction {default}", default_origin or Origin(config.path),
                     f"{state}, and packets no filter accepts are dropped by default")
    global_rules = (config.of_kind("security", "firewall").get("/Common/global-rules")
                    or next(iter(config.of_kind("security", "firewall", "global-rules").values()), None))
    if global_rules is not None and (policy := global_rules.block.get("enforced-policy")) not in (None, "", "none"):
        may_drop(f"security firewall global-rules enforced-policy {policy}", global_rules.origin,
                 "the global AFM firewall policy is not evaluated")
    for obj in config.of_kind("net", "route-domain").values():
        policy = obj.block.get("fw-enforced-policy")
        if policy and policy != "none":
            may_drop(f"net route-domain {obj.name} fw-enforced-policy {policy}", obj.origin,
                     "the route domain's AFM firewall policy is not evaluated")
    fw_default, fw_origin = _db(config, "tm.fw.defaultaction")
    if fw_default in ("drop", "reject"):
        may_drop(f"sys db tm.fw.defaultaction {fw_default}", fw_origin or Origin(config.path),
                 "AFM in firewall mode drops what no firewall rule accepts, and the rules are not evaluated")
    return rules


__all__ = ["apply"]
