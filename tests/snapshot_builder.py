"""Write small Meraki snapshots in the snapshot layout (docs/snapshot.md) for tests, in real Dashboard GET shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from auditor.audit import AuditResult, run_audit

SERVER = "198.51.100.10"
LAN_ROW = {"comment": "Wireless clients accessing LAN", "policy": "deny", "ipVer": "ipv4", "protocol": "Any",
           "destPort": "Any", "destCidr": "Local LAN"}
SSID_DEFAULT_ROW = {"comment": "Default rule", "policy": "allow", "ipVer": "ipv4", "protocol": "Any",
                    "destPort": "Any", "destCidr": "Any"}
MX_DEFAULT_ROW = {"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any",
                  "srcCidr": "Any", "destPort": "Any", "destCidr": "Any", "syslogEnabled": False}


def deny(proto: str, ports: str, dest: str = "Any", comment: str = "", **extra: Any) -> dict[str, Any]:
    return {"comment": comment, "policy": "deny", "protocol": proto, "destPort": ports, "destCidr": dest, **extra}


def allow(proto: str, ports: str, dest: str = "Any", comment: str = "", **extra: Any) -> dict[str, Any]:
    return {"comment": comment, "policy": "allow", "protocol": proto, "destPort": ports, "destCidr": dest, **extra}


class MerakiSnapshot:
    def __init__(self, root: Path, org_id: str = "1", servers: list[dict[str, Any]] | None = None) -> None:
        self.root = root
        self.org_id = org_id
        self.networks: list[dict[str, Any]] = []
        self.uplinks: list[dict[str, Any]] = []  # the org's MX uplink statuses, one public address per MX
        self.config: dict[str, Any] = {"vpn_servers": servers or [
            {"name": "vpn", "address": SERVER, "fqdn": "vpn.example.com", "protocols": ["ikev2", "l2tp", "sstp"]}]}
        self.write("meraki/organizations.json", [{"id": org_id, "name": "Org"}])
        self.write(f"meraki/organizations/{org_id}/policyObjects.json", [])
        self.write(f"meraki/organizations/{org_id}/policyObjects/groups.json", [])

    def write(self, rel: str, body: Any) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=1), encoding="utf-8")

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def network(self, net_id: str = "N_1", name: str = "Store", products: tuple[str, ...] = ("appliance", "wireless"),
                vlans: list[dict[str, Any]] | None = None, mx_rules: list[dict[str, Any]] | None = None,
                policies: list[dict[str, Any]] | None = None) -> str:
        self.networks.append({"id": net_id, "organizationId": self.org_id, "name": name,
                              "productTypes": list(products)})
        self.write(f"meraki/organizations/{self.org_id}/networks.json", self.networks)
        base = f"meraki/networks/{net_id}"
        self.write(f"{base}/groupPolicies.json", policies or [])
        self.write(f"{base}/wireless/ssids.json", [])
        if "appliance" in products:
            vlans = vlans if vlans is not None else [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"}]
            self.write(f"{base}/appliance/vlans/settings.json", {"vlansEnabled": True})
            self.write(f"{base}/appliance/vlans.json", vlans)
            self.mx_rules(net_id, mx_rules or [])
            self.write(f"{base}/appliance/firewall/l7FirewallRules.json", {"rules": []})
            self.write(f"{base}/appliance/vpn/siteToSiteVpn.json", {"mode": "none"})
            self.write(f"{base}/appliance/settings.json", {"deploymentMode": "routed"})
            # As the collector always writes it (tests that mean its absence remove it): 192.0.2.200 and up,
            # clear of the addresses tests give servers and sources.
            self.uplinks = [u for u in self.uplinks if u["networkId"] != net_id]
            self.uplinks.append({"networkId": net_id, "uplinks": [
                {"interface": "wan1", "status": "active", "publicIp": f"192.0.2.{200 + len(self.uplinks)}"}]})
            self.write(f"meraki/organizations/{self.org_id}/appliance/uplink/statuses.json", self.uplinks)
        return net_id

    def mx_rules(self, net_id: str, rules: list[dict[str, Any]]) -> None:
        rows = [{"srcCidr": "Any", "srcPort": "Any", "syslogEnabled": False, **r} for r in rules]
        self.write(f"meraki/networks/{net_id}/appliance/firewall/l3FirewallRules.json",
                   {"rules": [*rows, MX_DEFAULT_ROW]})

    def ssid(self, net_id: str, number: int, name: str, *, rules: list[dict[str, Any]] | None = None,
             allow_lan: bool = False, l7: list[dict[str, Any]] | None = None,
             splash: dict[str, Any] | None = None, ipsks: list[dict[str, Any]] | None = None,
             device_types: dict[str, Any] | None = None, **fields: Any) -> None:
        base = f"meraki/networks/{net_id}"
        ssids = json.loads((self.root / f"{base}/wireless/ssids.json").read_text())
        ssid = {"number": number, "name": name, "enabled": True, "splashPage": "None", "authMode": "psk",
                "psk": "<redacted>", "ipAssignmentMode": "Bridge mode", "useVlanTagging": True, "defaultVlanId": 10,
                **fields}
        ssids.append(ssid)
        self.write(f"{base}/wireless/ssids.json", ssids)
        lan = dict(LAN_ROW, policy="allow" if allow_lan else "deny")
        self.write(f"{base}/wireless/ssids/{number}/firewall/l3FirewallRules.json",
                   {"rules": [*(dict(r, ipVer=r.get("ipVer", "ipv4")) for r in rules or []), lan, SSID_DEFAULT_ROW],
                    "allowLanAccess": allow_lan})
        self.write(f"{base}/wireless/ssids/{number}/firewall/l7FirewallRules.json", {"rules": l7 or []})
        # As the collector writes it for every enabled SSID: by default no device type mapping
        self.write(f"{base}/wireless/ssids/{number}/deviceTypeGroupPolicies.json",
                   device_types if device_types is not None else {"enabled": False, "deviceTypePolicies": []})
        if splash is not None:
            self.write(f"{base}/wireless/ssids/{number}/splash/settings.json", {"ssidNumber": number, **splash})
        if ipsks is not None:
            self.write(f"{base}/wireless/ssids/{number}/identityPsks.json", ipsks)

    def audit(self) -> AuditResult:
        (self.root / "audit.yaml").write_text(yaml.safe_dump(self.config), encoding="utf-8")
        return run_audit(self.root)


def verdicts(result: AuditResult, role: str, *, kind: str | None = None, phase: str = "post-auth",
             network: str | None = None) -> dict[str, str]:
    """flow -> verdict for one role (flows shared by protocols appear once)."""
    out: dict[str, str] = {}
    for path in result.paths:
        r = path.role
        if r.name == role and r.phase == phase and (kind is None or r.kind == kind) and \
                (network is None or r.network_name == network):
            out[str(path.trace.flow)] = path.verdict
    if not out:
        names = sorted({p.role.name for p in result.paths})
        raise AssertionError(f"no paths for role {role!r} ({phase}); roles: {names}")
    return out


def path_for(result: AuditResult, role: str, flow: str, phase: str = "post-auth"):  # type: ignore[no-untyped-def]
    for path in result.paths:
        if path.role.name == role and str(path.trace.flow) == flow and path.role.phase == phase:
            return path
    raise AssertionError(f"no path {role} {flow} {phase}")


def finding_kinds(result: AuditResult) -> set[str]:
    return {f.check.kind for f in result.findings}
