"""`vpn-auditor init SNAPSHOT`: a commented audit.yaml guessed from the snapshot, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import load_config
from tests.snapshot_builder import MerakiSnapshot

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
runner = CliRunner()


def _demo_without_config(tmp_path: Path) -> Path:
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    (snap / "audit.yaml").unlink()
    return snap


def _meraki(tmp_path: Path, *, uplink: str | None = "192.0.2.50") -> MerakiSnapshot:
    snap = MerakiSnapshot(tmp_path / "snap")
    snap.network("N_1", "Store")
    if uplink is not None:
        snap.write("meraki/organizations/1/appliance/uplink/statuses.json", [
            {"networkId": "N_1", "serial": "Q2XX-0001", "uplinks": [
                {"interface": "wan1", "status": "active", "publicIp": uplink}]}])
    base = "meraki/networks/N_1/appliance/firewall"
    for kind in ("portForwardingRules", "oneToOneNatRules", "oneToManyNatRules"):
        snap.write(f"{base}/{kind}.json", {"rules": []})
    return snap


def _servers(path: Path) -> list[tuple[str, list[str]]]:
    return [(s.address, s.protocols) for s in load_config(path).vpn_servers]


def test_demo_guess_loads_names_its_evidence_and_audits_like_the_shipped_config(tmp_path: Path) -> None:
    snap = _demo_without_config(tmp_path)
    run = runner.invoke(app, ["init", str(snap)])
    assert run.exit_code == 0, run.output
    written = snap / "audit.yaml"
    assert "1 candidate VPN server" in run.stderr
    # The server behind the edge ACL, the ASA's static NAT and the BIG-IP's VIPs (172.20.0.10, carried to
    # its public address through the NAT), with the protocols their ports show.
    assert _servers(written) == [("198.51.100.10", ["ikev2", "l2tp", "sstp"])]
    text = written.read_text(encoding="utf-8")
    assert "# REVIEW: guessed from cisco/hq-edge.cfg:30 (" in text  # file:line of `20 permit udp ... isakmp`
    assert "cisco/hq-asa.cfg:56 (object network CORP-VPN: nat (dmz,outside) static 198.51.100.10" in text
    assert "f5/hq-bigip.conf:76 (ltm virtual /Common/corp_vpn_ike500" in text
    # Weak candidates are there for a person to see, but commented out: the HQ 1:1 NAT of TCP 443 (a web
    # server) and each MX uplink (Client VPN, whose settings are not collected).
    assert "  # - name: vpn-203-0-113-20" in text
    assert "oneToOneNatRules.json[0] (HQ: 1:1 NAT Visitor badge server allows tcp 443): tcp/443" in text
    assert "  #   address: 192.0.2.131" in text
    assert "protocols: [l2tp]   # Meraki Client VPN is L2TP/IPsec" in text

    ours = runner.invoke(app, ["audit", str(snap), "--format", "json"])
    shipped = runner.invoke(app, ["audit", str(DEMO), "--format", "json"])
    assert ours.exit_code == shipped.exit_code == 1, ours.output
    paths = {k: json.loads(ours.stdout)["summary"][k] for k in ("paths", "allowed", "blocked", "unknown")}
    assert paths == {k: json.loads(shipped.stdout)["summary"][k] for k in paths}


def test_refuses_to_overwrite_unless_forced_and_writes_elsewhere_with_o(tmp_path: Path) -> None:
    snap = _demo_without_config(tmp_path)
    (snap / "audit.yaml").write_text("vpn_servers: []\n", encoding="utf-8")
    run = runner.invoke(app, ["init", str(snap)])
    assert run.exit_code == 2
    assert "audit.yaml: exists; give --force" in run.stderr and "\n" not in run.stderr.strip()
    assert (snap / "audit.yaml").read_text(encoding="utf-8") == "vpn_servers: []\n"

    other = tmp_path / "elsewhere.yaml"
    assert runner.invoke(app, ["init", str(snap), "-o", str(other)]).exit_code == 0
    assert _servers(other) == [("198.51.100.10", ["ikev2", "l2tp", "sstp"])]
    assert (snap / "audit.yaml").read_text(encoding="utf-8") == "vpn_servers: []\n"
    assert runner.invoke(app, ["init", str(snap), "-o", str(other)]).exit_code == 2

    assert runner.invoke(app, ["init", str(snap), "--force"]).exit_code == 0
    assert _servers(snap / "audit.yaml") == [("198.51.100.10", ["ikev2", "l2tp", "sstp"])]


def test_port_forward_of_ike_on_an_mx_uplink_is_a_server_at_the_uplink_address(tmp_path: Path) -> None:
    snap = _meraki(tmp_path)
    snap.write("meraki/networks/N_1/appliance/firewall/portForwardingRules.json", {"rules": [
        {"name": "RRAS IKE", "lanIp": "10.0.10.5", "protocol": "udp", "publicPort": "500", "localPort": "500",
         "uplink": "both", "allowedIps": ["any"]},
        {"name": "RRAS NAT-T", "lanIp": "10.0.10.5", "protocol": "udp", "publicPort": "4500", "localPort": "4500",
         "uplink": "internet1", "allowedIps": ["any"]}]})
    run = runner.invoke(app, ["init", str(snap.root)])
    assert run.exit_code == 0, run.output
    text = (snap.root / "audit.yaml").read_text(encoding="utf-8")
    assert _servers(snap.root / "audit.yaml") == [("192.0.2.50", ["ikev2"])]
    assert "portForwardingRules.json[0] (Store: port forward RRAS IKE (udp 500 -> 10.0.10.5:500)): udp/500" in text


def test_one_to_one_nat_of_every_protocol_says_nothing_about_vpn(tmp_path: Path) -> None:
    # A 1:1 NAT that lets in any protocol on any port is no hint of a VPN server; nor is a permit of all UDP.
    snap = _meraki(tmp_path)
    snap.write("meraki/networks/N_1/appliance/firewall/oneToOneNatRules.json", {"rules": [
        {"name": "DMZ host", "publicIp": "192.0.2.60", "lanIp": "10.0.10.6", "uplink": "internet1",
         "allowedInbound": [{"protocol": "any", "destinationPorts": ["any"], "allowedIps": ["any"]}]}]})
    assert runner.invoke(app, ["init", str(snap.root)]).exit_code == 0
    assert _servers(snap.root / "audit.yaml") == []


def test_nothing_found_writes_a_template_that_loads_and_says_so(tmp_path: Path) -> None:
    snap = _meraki(tmp_path, uplink=None)
    run = runner.invoke(app, ["init", str(snap.root)])
    assert run.exit_code == 0, run.output
    assert "no VPN server found in the snapshot" in run.stderr
    written = snap.root / "audit.yaml"
    assert load_config(written).vpn_servers == []
    text = written.read_text(encoding="utf-8")
    assert "#   address: 192.0.2.1       # placeholder" in text
    # The commented example is valid audit.yaml once uncommented.
    lines = text.splitlines()
    start = lines.index("  # - name: corp-vpn")
    example = tmp_path / "example.yaml"
    example.write_text("vpn_servers:\n" + "\n".join(line.replace("# ", "", 1) for line in lines[start:start + 3]),
                       encoding="utf-8")
    assert _servers(example) == [("192.0.2.1", ["ikev2", "sstp"])]


def test_private_vip_that_no_nat_maps_is_commented_out(tmp_path: Path) -> None:
    snap = tmp_path / "lb"
    (snap / "f5").mkdir(parents=True)
    (snap / "f5" / "lb1.conf").write_text(
        "ltm pool /Common/rras {\n    members {\n        /Common/10.1.1.11:500 {\n"
        "            address 10.1.1.11\n        }\n    }\n}\n"
        "ltm virtual /Common/ike {\n    destination /Common/10.1.1.10:500\n    ip-protocol udp\n"
        "    pool /Common/rras\n}\n", encoding="utf-8")
    run = runner.invoke(app, ["init", str(snap)])
    assert run.exit_code == 0, run.output
    text = (snap / "audit.yaml").read_text(encoding="utf-8")
    assert _servers(snap / "audit.yaml") == []
    assert "  #   address: 10.1.1.10" in text
    assert "f5/lb1.conf:8 (ltm virtual /Common/ike udp 10.1.1.10:500" in text


def test_not_a_snapshot_and_unwritable_output_are_one_line_input_errors(tmp_path: Path) -> None:
    snap = _meraki(tmp_path)
    run = runner.invoke(app, ["init", str(snap.root / "meraki")])  # one level too deep
    assert run.exit_code == 2
    assert "is the meraki/ folder of a snapshot, not a snapshot: pass its parent folder" in run.stderr
    assert "Traceback" not in run.output
    (tmp_path / "empty").mkdir()
    run = runner.invoke(app, ["init", str(tmp_path / "empty")])
    assert run.exit_code == 2 and "not a snapshot: it holds none of the folders meraki/" in run.stderr
    run = runner.invoke(app, ["init", str(snap.root), "-o", str(tmp_path / "missing" / "audit.yaml")])
    assert run.exit_code == 2
    assert "cannot write" in run.stderr and "Traceback" not in run.output
    assert runner.invoke(app, ["init", str(tmp_path / "nope")]).exit_code == 2


def test_ios_port_forwards_on_the_outside_interface_name_its_address(tmp_path: Path) -> None:
    # `ip nat inside source static udp ... interface GigabitEthernet0/0 500`: clients dial the interface's own
    # address; `30 permit tcp ... eq 443 established` never lets a connection in, but the static NAT of 443 does.
    snap = tmp_path / "branch"
    (snap / "cisco").mkdir(parents=True)
    shutil.copy(DEMO.parents[1] / "cisco" / "ios-vpn.cfg", snap / "cisco" / "br-edge-01.cfg")
    run = runner.invoke(app, ["init", str(snap)])
    assert run.exit_code == 0, run.output
    text = (snap / "audit.yaml").read_text(encoding="utf-8")
    assert _servers(snap / "audit.yaml") == [("203.0.113.2", ["ikev2", "sstp"])]
    assert "cisco/br-edge-01.cfg:33 (ip nat inside source static udp 192.168.50.10 500 interface " \
           "GigabitEthernet0/0 500): udp/500" in text
    assert "cisco/br-edge-01.cfg:43 (access-list WAN-IN in on GigabitEthernet0/0: 10 permit udp any host " \
           "203.0.113.2 eq isakmp): udp/500" in text
