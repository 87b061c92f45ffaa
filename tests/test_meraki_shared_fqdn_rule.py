"""Two VPN servers with one `fqdn` (DNS round robin, or a pair behind one name): an MX rule
that names the host must match both addresses.

The Meraki adapter maps each fqdn to one address (`{s.fqdn: [address] for s in servers}`: the last server wins), so
"deny tcp Any -> vpn.contoso-retail.example:443" matches only corp-vpn-2's address, and SSTP to corp-vpn, whose
name it is too, is reported allowed through that deny. docs/semantics/meraki.md: "a rule naming that host matches
the server's address"; the MX matches an FQDN rule on the addresses the name resolves to (DNS snooping)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.audit import run_audit

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
STORE31 = "L_6468200000000003"


def test_a_rule_naming_a_shared_fqdn_matches_every_server_of_that_name(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    shutil.rmtree(snap / "dns")
    config = snap / "audit.yaml"
    config.write_text(config.read_text() + "  - name: corp-vpn-2\n    address: 198.51.100.20\n"
                      "    fqdn: vpn.contoso-retail.example\n    protocols: [sstp]\n")
    rel = snap / "meraki" / "networks" / STORE31 / "appliance" / "firewall" / "l3FirewallRules.json"
    data = json.loads(rel.read_text())
    data["rules"].insert(0, {"comment": "No SSTP to the VPN name", "policy": "deny", "protocol": "tcp",
                             "srcPort": "Any", "srcCidr": "Any", "destPort": "443",
                             "destCidr": "vpn.contoso-retail.example", "syslogEnabled": False})
    rel.write_text(json.dumps(data))

    result = run_audit(snap)
    verdicts = {p.server.name: p.verdict for p in result.paths
                if p.role.network_id == STORE31 and p.role.kind == "vlan" and p.role.name == "Staff"
                and str(p.trace.flow) == "tcp/443"}
    assert verdicts["corp-vpn-2"] == "blocked"
    assert verdicts["corp-vpn"] == "blocked", verdicts  # observed: allowed
