"""AWS Network Load Balancer: `aws/<name>/`, the JSON output of the elbv2 describe calls:

    describe-load-balancers.json                      {"LoadBalancers": [...]}
    describe-listeners.json                           {"Listeners": [...]}
    describe-target-groups.json                       {"TargetGroups": [...]}
    describe-target-group-attributes/<tg name>.json   {"Attributes": [{"Key": ..., "Value": ...}]}
    describe-target-health/<tg name>.json             {"TargetHealthDescriptions": [...]}

docs/semantics/load-balancers.md (AWS NLB): UDP flows are hashed on the 5-tuple, so without stickiness a client's two
flows are independent. Stickiness (`source_ip`) "is defined at the target group level", and a listener
forwards to its own target group, so UDP 500 and UDP 4500 on two target groups keep two tables [I]; one
target group behind both listeners is not documented to help [U].
"""

from __future__ import annotations

import ipaddress
from typing import Any

from auditor.lb_model import (
    NO_PERSIST,
    SCOPE_DEVICE,
    SCOPE_SERVICE,
    SOURCE_IP,
    Backend,
    IkePair,
    LoadBalancer,
    Monitor,
    Persistence,
    SourceTranslation,
    VirtualService,
    classify_http_monitor,
)
from auditor.model import DataGap, Model, Origin
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.common import add_gaps

PROTOCOLS = {"UDP": 17, "TCP": 6, "TLS": 6, "TCP_UDP": None}


class AwsNetworkLoadBalancer(LoadBalancer):
    vendor = "aws"

    def fix_split(self, pair: IkePair) -> str:
        return ("A Network Load Balancer keeps stickiness per target group and hashes UDP flows on the 5-tuple, so "
                "it cannot tie a client's UDP 500 and UDP 4500 together across listeners: put a single VPN server "
                "behind both listeners (one target each), or use a load balancer that shares client-IP persistence "
                "across ports (e.g. an EC2 appliance with IPVS fwmark persistence).")

    def fix_snat(self, svc: VirtualService) -> str:
        return (f"Set `preserve_client_ip.enabled=true` on the target group of {svc.name} (`aws elbv2 "
                f"modify-target-group-attributes --target-group-arn <arn> --attributes "
                f"Key=preserve_client_ip.enabled,Value=true`).")

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        if sstp:
            return ("Health-check the SSTP endpoint: HTTPS on 443 with path "
                    "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ and the matcher set to the code it answers (401).")
        return "Enable health checks on the target group (TCP on a port the VPN servers listen on, at least)."

    def fix_timeout(self, svc: VirtualService) -> str:
        return "NLB source_ip stickiness has no configurable duration; see the split-persistence finding."


def _list(body: Any, key: str, rel: str) -> list[dict[str, Any]]:
    if body is None:
        return []
    if not isinstance(body, dict) or not isinstance(body.get(key, []), list):
        raise SnapshotError(rel, f"expected an object with a '{key}' list")
    return [x for x in body.get(key, []) if isinstance(x, dict)]


def build_devices(snapshot: Snapshot, folder: str) -> tuple[list[AwsNetworkLoadBalancer], list[DataGap]]:
    gaps: list[DataGap] = []

    def read(name: str, key: str) -> tuple[str, list[dict[str, Any]]]:
        rel = f"{folder}/{name}.json"
        body = snapshot.read_json(rel)
        if body is None:
            gaps.append(DataGap(rel, snapshot.absence_reason(rel)))
        return rel, _list(body, key, rel)

    _lb_rel, lbs = read("describe-load-balancers", "LoadBalancers")
    listener_rel, listeners = read("describe-listeners", "Listeners")
    tg_rel, groups = read("describe-target-groups", "TargetGroups")
    by_arn = {tg.get("TargetGroupArn"): (i, tg) for i, tg in enumerate(groups)}
    uses: dict[str, int] = {}
    for listener in listeners:
        for arn in _target_arns(listener):
            uses[arn] = uses.get(arn, 0) + 1
    networks = [(i, lb) for i, lb in enumerate(lbs) if str(lb.get("Type", "network")).lower() == "network"]
    devices = []
    for index, lb in networks:
        name = folder if len(networks) == 1 else f"{folder}/{lb.get('LoadBalancerName', index)}"
        device = AwsNetworkLoadBalancer(name, folder)
        groups_on_lb = [str(g) for g in lb.get("SecurityGroups") or []]
        if groups_on_lb:
            device.not_modelled.append((f"security group(s) {', '.join(groups_on_lb)} on the load balancer "
                                        f"{lb.get('LoadBalancerName')}", f"{folder}/describe-load-balancers.json"))
        for extra, what in (("describe-security-groups", "security groups"),
                            ("describe-network-acls", "network ACLs")):
            if snapshot.exists(f"{folder}/{extra}.json"):
                device.not_modelled.append((what, f"{folder}/{extra}.json"))
        addresses = [a.get("IpAddress") or a.get("PrivateIPv4Address") for zone in lb.get("AvailabilityZones") or []
                     for a in zone.get("LoadBalancerAddresses") or [] if isinstance(a, dict)]
        addresses = [a for a in addresses if a]
        for li, listener in enumerate(listeners):
            if listener.get("LoadBalancerArn") not in (None, lb.get("LoadBalancerArn")):
                continue
            origin = Origin(listener_rel, index=li)
            for address in addresses or [None]:
                device.services.append(_service(snapshot, folder, listener, origin, address, by_arn, tg_rel, uses,
                                                lb, gaps))
        devices.append(device)
    return devices, gaps


def _target_arns(listener: dict[str, Any]) -> list[str]:
    arns = []
    for action in listener.get("DefaultActions") or []:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            arns.append(action["TargetGroupArn"])
        for tg in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            if tg.get("TargetGroupArn") and tg["TargetGroupArn"] not in arns:
                arns.append(tg["TargetGroupArn"])
    return arns


def _service(snapshot: Snapshot, folder: str, listener: dict[str, Any], origin: Origin, address: str | None,
             by_arn: dict[Any, tuple[int, dict[str, Any]]], tg_rel: str, uses: dict[str, int],
             lb: dict[str, Any], gaps: list[DataGap]) -> VirtualService:
    problems: list[str] = []
    protocol_text = str(listener.get("Protocol", ""))
    port = listener.get("Port")
    network = None
    if address is None:
        problems.append(f"{lb.get('LoadBalancerName')}: no fixed addresses (Elastic IPs) in the snapshot; clients "
                        f"reach it through {lb.get('DNSName')}")
    else:
        try:
            network = ipaddress.ip_network(address)
        except ValueError:
            problems.append(f"address {address!r} not understood")
    svc = VirtualService(name=f"listener {protocol_text}:{port}", kind="NLB listener", address=network,
                         protocol=PROTOCOLS.get(protocol_text), ports=((int(port), int(port)),) if port else None,
                         origin=origin, method="flow hash (5-tuple)", problems=problems,
                         persistence=Persistence(kind=NO_PERSIST))
    arns = _target_arns(listener)
    if len(arns) != 1:
        svc.problems.append("forwards to several target groups (weighted)" if arns else "no forward action")
    for arn in arns[:1]:
        if arn not in by_arn:
            svc.problems.append(f"target group {arn} not in the snapshot")
            continue
        index, tg = by_arn[arn]
        tg_name = str(tg.get("TargetGroupName", arn))
        svc.pool = f"target group {tg_name}"
        attrs_rel = f"{folder}/describe-target-group-attributes/{tg_name}.json"
        attrs = {a.get("Key"): a.get("Value") for a in _list(snapshot.read_json(attrs_rel), "Attributes", attrs_rel)}
        if not snapshot.exists(attrs_rel):
            gaps.append(DataGap(attrs_rel, snapshot.absence_reason(attrs_rel)))
        health_rel = f"{folder}/describe-target-health/{tg_name}.json"
        targets = _list(snapshot.read_json(health_rel), "TargetHealthDescriptions", health_rel)
        if not snapshot.exists(health_rel):
            gaps.append(DataGap(health_rel, snapshot.absence_reason(health_rel)))
            svc.problems.append(f"targets of {tg_name} not in the snapshot")
        ip_targets = str(tg.get("TargetType", "instance")) == "ip"
        for ti, description in enumerate(targets):
            target = description.get("Target") or {}
            ident = str(target.get("Id", ""))
            svc.backends.append(Backend(name=ident, address=ident if ip_targets else None,
                                        port=target.get("Port") or tg.get("Port"), fqdn=None if ip_targets else ident,
                                        origin=Origin(health_rel, index=ti)))
        tg_origin = Origin(tg_rel, index=index)
        sticky = str(attrs.get("stickiness.enabled", "false")).lower() == "true"
        kind = str(attrs.get("stickiness.type", "source_ip"))
        settings = {k: str(v) for k, v in attrs.items()
                    if isinstance(k, str) and k.startswith(("stickiness", "preserve_client_ip"))}
        if sticky and kind == "source_ip":
            shared = uses.get(arn, 0) > 1
            svc.persistence = Persistence(
                kind=SOURCE_IP, name=f"target group {tg_name} stickiness", vendor_type="source_ip",
                table=f"target group {tg_name}", scope=SCOPE_DEVICE if shared else SCOPE_SERVICE, settings=settings,
                origins=(tg_origin, Origin(attrs_rel)),
                uncertain=(f"target group {tg_name} serves several listeners: stickiness across listeners is not "
                           f"documented, and the group forwards every listener's traffic to its one target port")
                if shared else "")
        preserve = attrs.get("preserve_client_ip.enabled")
        if str(preserve).lower() == "true":
            svc.snat = SourceTranslation("none", "preserve_client_ip.enabled true", Origin(attrs_rel))
        elif str(preserve).lower() == "false":
            svc.snat = SourceTranslation("snat", "preserve_client_ip.enabled false: the NLB's private address",
                                         Origin(attrs_rel))
        else:
            svc.snat = SourceTranslation("unknown", "preserve_client_ip.enabled not in the snapshot", Origin(attrs_rel),
                                         verify="whether the target group preserves client addresses (the default "
                                                "depends on target type and protocol)")
        if tg.get("HealthCheckEnabled", True):
            hc_proto = str(tg.get("HealthCheckProtocol", "TCP")).lower()
            path = str(tg.get("HealthCheckPath") or "")
            mkind = classify_http_monitor(hc_proto == "https", path) if hc_proto in ("http", "https") else "tcp"
            svc.monitors = [Monitor(f"health check {tg.get('HealthCheckProtocol')}:{tg.get('HealthCheckPort')}"
                                    f"{path}", mkind, send=path, origin=tg_origin)]
    return svc


class AwsNlbAdapter:
    """Every `aws/<name>/` folder with elbv2 describe output."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        for rel in snapshot.listdir("aws"):
            if snapshot.entry_kind(rel) != "folder":
                continue
            devices, gaps = build_devices(snapshot, rel)
            model.gaps.extend(gaps)
            for device in devices:
                model.devices[device.name] = device
                add_gaps(device, model)


__all__ = ["AwsNetworkLoadBalancer", "AwsNlbAdapter", "build_devices"]
