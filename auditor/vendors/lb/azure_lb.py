"""Azure Load Balancer: `azure/<name>.json`, the body of `az network lb show` (or `list`), or an ARM
template holding `Microsoft.Network/loadBalancers` resources.

Optional companions resolve addresses the load balancer only references: `azure/<name>.public-ips.json`
(`az network public-ip list`) for public frontends, `azure/<name>.nics.json` (`az network nic list`) for
NIC-based backend pools.

Distribution (docs/semantics/load-balancers.md, Azure): `Default` is a five-tuple hash ("stickiness only within a
transport session"), `SourceIP` a two-tuple and `SourceIPProtocol` a three-tuple hash: "Traffic from the
same client IP is routed to the same backend instance". One HA-ports rule (protocol All, port 0) with
SourceIP covers both IKE ports [I]; two rules hashing over the same pool agree as long as both see the same
backends healthy, and their cross-rule consistency is not stated by Microsoft, hence `conditional`.
Inbound traffic keeps the client address (no SNAT); floating IP leaves the destination unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from auditor.lb_model import (
    NO_PERSIST,
    Backend,
    IkePair,
    LoadBalancer,
    Monitor,
    Persistence,
    SourceTranslation,
    VirtualService,
    classify_http_monitor,
)
from auditor.model import Model, Origin
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.common import add_gaps

PROTOCOLS = {"udp": 17, "tcp": 6, "all": None}
LB_TYPE = "microsoft.network/loadbalancers"


def ref_name(ref: Any) -> str:
    """The last name in a resource id or an ARM expression such as [resourceId('...', 'lb', 'fe')]."""
    text = ref.get("id", "") if isinstance(ref, dict) else str(ref or "")
    text = text.strip()
    if text.startswith("["):
        quoted = re.findall(r"'([^']*)'", text)
        text = quoted[-1] if quoted else text.strip("[]")
    return text.rstrip("/").rsplit("/", 1)[-1]


def _props(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties")
    return props if isinstance(props, dict) else obj  # `az` flattens properties in some versions


class AzureLoadBalancer(LoadBalancer):
    vendor = "azure"

    def fix_split(self, pair: IkePair) -> str:
        a, b = pair.ike, pair.natt
        if pair.same_object:
            return (f"Set loadDistribution to SourceIP on rule {a.name} (`az network lb rule update --name {a.name} "
                    f"--load-distribution SourceIP ...`).")
        return (f"Set loadDistribution to SourceIP on both rules {a.name} and {b.name} with the same frontend and "
                f"backend pool (`az network lb rule update --name <rule> --load-distribution SourceIP ...`), or, "
                f"on an internal Standard load balancer, use one HA-ports rule (protocol All, port 0) with "
                f"SourceIP.")

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        if sstp:
            return (f"Give rule {svc.name} an Https probe with requestPath "
                    f"/sra_{{BA195980-CD49-458b-9E23-C84EE0ADCD75}}/ (Azure probes accept only 200, so verify "
                    f"what the SSTP endpoint answers; otherwise probe TCP 443).")
        return f"Attach a health probe to rule {svc.name} (e.g. TCP on a port the VPN servers listen on)."


class _Builder:
    def __init__(self, lb: dict[str, Any], path: str, index: int | None, public_ips: dict[str, str],
                 nics: dict[str, str]) -> None:
        self.lb, self.path, self.index = lb, path, index
        self.props = _props(lb)
        self.public_ips, self.nics = public_ips, nics

    def origin(self, what: str, position: int) -> Origin:
        # JSON has no useful lines; the index points into the rule or pool list of this load balancer
        return Origin(f"{self.path}#{what}", index=position)

    def _named(self, key: str) -> dict[str, tuple[int, dict[str, Any]]]:
        items = self.props.get(key) or []
        return {str(item.get("name", "")): (i, item) for i, item in enumerate(items) if isinstance(item, dict)}

    def frontend_address(self, ref: Any, problems: list[str]) -> Any:
        frontends = self._named("frontendIPConfigurations")
        name = ref_name(ref)
        if name not in frontends:
            problems.append(f"frontend {name} not found")
            return None
        fe = _props(frontends[name][1])
        address = fe.get("privateIPAddress")
        public = fe.get("publicIPAddress")
        if not address and isinstance(public, dict):
            address = _props(public).get("ipAddress") or self.public_ips.get(ref_name(public))
            if not address:
                problems.append(f"frontend {name}: public IP {ref_name(public)} has no address in the snapshot")
        try:
            return ipaddress.ip_network(address) if address else None
        except ValueError:
            problems.append(f"frontend {name}: address {address!r} not understood")
            return None

    def backends(self, ref: Any, problems: list[str]) -> tuple[str, list[Backend]]:
        pools = self._named("backendAddressPools")
        name = ref_name(ref)
        if name not in pools:
            problems.append(f"backend pool {name} not found")
            return name, []
        _index, pool = pools[name]
        props = _props(pool)
        out = []
        for i, entry in enumerate(props.get("loadBalancerBackendAddresses") or []):
            ip = _props(entry).get("ipAddress") if isinstance(entry, dict) else None
            out.append(Backend(name=str(entry.get("name", ip)) if isinstance(entry, dict) else str(ip),
                               address=ip, port=None, origin=self.origin(f"backendAddressPools/{name}", i)))
        for i, config in enumerate(props.get("backendIPConfigurations") or []):
            config_id = config.get("id", "") if isinstance(config, dict) else str(config)
            ip = self.nics.get(config_id.lower())
            out.append(Backend(name=ref_name(config_id.split("/ipConfigurations/")[0]) or config_id, address=ip,
                               port=None, fqdn=None if ip else config_id,
                               origin=self.origin(f"backendAddressPools/{name}", i)))
        return name, out

    def probe(self, ref: Any) -> list[Monitor]:
        if not ref:
            return []
        probes = self._named("probes")
        name = ref_name(ref)
        if name not in probes:
            return [Monitor(name, "other")]
        index, probe = probes[name]
        props = _props(probe)
        protocol = str(props.get("protocol", "")).lower()
        path = str(props.get("requestPath") or "")
        kind = classify_http_monitor(protocol == "https", path) if protocol in ("http", "https") else "tcp"
        return [Monitor(f"probe {name} ({props.get('protocol')}:{props.get('port')}{path})", kind, send=path,
                        origin=self.origin("probes", index))]

    def services(self) -> list[VirtualService]:
        out = []
        for i, rule in enumerate(self.props.get("loadBalancingRules") or []):
            out.append(self.rule(rule, i, "loadBalancingRules", nat=False))
        for i, rule in enumerate(self.props.get("inboundNatRules") or []):
            out.append(self.rule(rule, i, "inboundNatRules", nat=True))
        return out

    def rule(self, rule: dict[str, Any], index: int, kind: str, nat: bool) -> VirtualService:
        props = _props(rule)
        problems: list[str] = []
        protocol_text = str(props.get("protocol", "")).lower()
        if protocol_text not in PROTOCOLS:
            problems.append(f"protocol {props.get('protocol')!r} not understood")
        port = props.get("frontendPort")
        ports = None if port in (0, "0", None) else ((int(port), int(port)),)
        backend_port = props.get("backendPort")
        address = self.frontend_address(props.get("frontendIPConfiguration"), problems)
        distribution = str(props.get("loadDistribution") or "Default")
        name = str(rule.get("name", f"{kind}[{index}]"))
        if nat:
            target = props.get("backendIPConfiguration")
            target_id = ref_name(target) if target else ""
            full_id = (target.get("id", "") if isinstance(target, dict) else str(target or "")).lower()
            ip = self.nics.get(full_id)
            pool, backends = "", [Backend(name=target_id or "backend", address=ip, port=None,
                                          fqdn=None if ip else full_id or target_id)]
        else:
            pool, backends = self.backends(props.get("backendAddressPool"), problems)
        if backend_port not in (None, 0, "0"):
            backends = [Backend(b.name, b.address, int(backend_port), b.weight, b.enabled, b.origin, b.fqdn)
                        for b in backends]
        floating = bool(props.get("enableFloatingIP"))
        svc = VirtualService(
            name=name, kind="inbound NAT rule" if nat else "load-balancing rule", address=address,
            protocol=PROTOCOLS.get(protocol_text), ports=ports, origin=self.origin(kind, index),
            backends=backends, pool=pool, persistence=Persistence(kind=NO_PERSIST),
            method=f"loadDistribution {distribution}",
            hash_key="client-ip" if distribution in ("SourceIP", "SourceIPProtocol") else None,
            translate_address=not floating, snat=SourceTranslation("none", "inbound: client address kept"),
            monitors=self.probe(props.get("probe")), problems=problems,
            vendor={"distribution": distribution, "frontend": ref_name(props.get("frontendIPConfiguration"))},
        )
        if svc.hash_key:
            svc.vendor["hash_note"] = ("Azure documents SourceIP as sending one client to one backend; that two "
                                       "rules agree is not stated: verify with a client behind NAT")
        return svc


def load_balancers(body: Any, path: str) -> list[tuple[str, dict[str, Any], int | None]]:
    """(name, resource, index) for each load balancer in an `az` body or ARM template."""
    items: list[tuple[int | None, Any]]
    if isinstance(body, list):
        items = [(i, x) for i, x in enumerate(body)]
    elif isinstance(body, dict) and isinstance(body.get("resources"), list):
        items = [(i, x) for i, x in enumerate(body["resources"])]
    elif isinstance(body, dict):
        items = [(None, body)]
    else:
        raise SnapshotError(path, "expected a load balancer object, a list of them, or an ARM template")
    out: list[tuple[str, dict[str, Any], int | None]] = []
    for index, item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type", LB_TYPE)).lower()
        if kind == LB_TYPE or ("loadBalancingRules" in _props(item) and "type" not in item):
            out.append((ref_name(item.get("name", "")) or f"lb{index}", item, index))
    return out


def _addresses(body: Any, key: str) -> dict[str, str]:
    """Public IP name -> address, or NIC ipConfiguration id (lower case) -> private address."""
    out: dict[str, str] = {}
    for item in body if isinstance(body, list) else []:
        if not isinstance(item, dict):
            continue
        if key == "public":
            address = _props(item).get("ipAddress")
            if address:
                out[str(item.get("name", ""))] = address
        else:
            for config in _props(item).get("ipConfigurations") or []:
                if isinstance(config, dict) and _props(config).get("privateIPAddress"):
                    out[str(config.get("id", "")).lower()] = _props(config)["privateIPAddress"]
    return out


NSG_TYPE = "microsoft.network/networksecuritygroups"


def network_security_groups(body: Any, path: str) -> list[tuple[str, str]]:
    """(what, file) for each network security group a body shows: an ARM template's NSG resources, a NIC's
    `networkSecurityGroup`. Their rules are not evaluated."""
    items = body.get("resources") if isinstance(body, dict) else body
    found: list[tuple[str, str]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if str(item.get("type", "")).lower() == NSG_TYPE:
            found.append((f"network security group {ref_name(item.get('name', ''))}", path))
        nsg = _props(item).get("networkSecurityGroup")
        if nsg:
            found.append((f"network security group {ref_name(nsg)} on NIC {item.get('name', '?')}", path))
    return found


class AzureLbAdapter:
    """Every `azure/<name>.json` (not the `.public-ips.json` / `.nics.json` companions)."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        for rel in snapshot.listdir("azure", ".json"):
            if rel.endswith((".public-ips.json", ".nics.json")):
                continue
            stem = rel[: -len(".json")]
            body = snapshot.read_json(rel)
            public_ips = _addresses(snapshot.read_json(f"{stem}.public-ips.json"), "public")
            nic_body = snapshot.read_json(f"{stem}.nics.json")
            nics = _addresses(nic_body, "nic")
            found = load_balancers(body, rel)
            nsgs = network_security_groups(body, rel) + network_security_groups(nic_body, f"{stem}.nics.json")
            for name, resource, index in found:
                device_name = stem if len(found) == 1 else f"{stem}/{name}"
                device = build_device(device_name, rel, resource, index, public_ips, nics)
                device.not_modelled.extend(nsgs)
                model.devices[device_name] = device
                add_gaps(device, model)


def build_device(name: str, path: str, resource: dict[str, Any], index: int | None = None,
                 public_ips: dict[str, str] | None = None, nics: dict[str, str] | None = None) -> AzureLoadBalancer:
    device = AzureLoadBalancer(name, path)
    device.services = _Builder(resource, path, index, public_ips or {}, nics or {}).services()
    return device


__all__ = ["AzureLbAdapter", "AzureLoadBalancer", "build_device", "load_balancers", "ref_name"]
