"""Meraki behaviours a review found unmodelled: walled-garden domains, 1:1 NAT icmp-ping, disabled SSID slots
that were configured, and bridge-mode LAN isolation (each test failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.snapshot_builder import MerakiSnapshot, verdicts


@pytest.fixture
def snap(tmp_path: Path) -> MerakiSnapshot:
    return MerakiSnapshot(tmp_path)


def test_walled_garden_parent_domain_does_not_cover_the_server_host(snap: MerakiSnapshot) -> None:
    """walledGardenRanges distinguishes "domain names" from "domain wildcards" ('*.google.com'): the entry
    'example.com' is the host example.com, not vpn.example.com (audit.yaml fqdn). Before sign-on with
    blockAllTrafficBeforeSignOn true, the server is outside the walled garden: never 'allowed'."""
    net = snap.network()
    snap.ssid(net, 0, "Garden", splashPage="Click-through splash page", walledGardenEnabled=True,
              walledGardenRanges=["example.com"], splash={"blockAllTrafficBeforeSignOn": True})
    result = snap.audit()
    got = verdicts(result, "Garden", kind="ssid", phase="pre-auth")
    assert "allowed" not in got.values(), got


def test_one_to_one_nat_with_icmp_ping_allowed_inbound_is_read(tmp_path: Path) -> None:
    """The Dashboard's 1:1 NAT allowedInbound protocol is "Either of the following: 'tcp', 'udp', 'icmp-ping'
    or 'any'" (API reference, update-network-appliance-firewall-one-to-one-nat-rules). A ping entry beside the
    VPN's ports cannot change a VPN verdict, and must not make the audit fail."""
    from tests.test_mx_front import org

    rule = {"name": "RRAS", "publicIp": "203.0.113.20", "lanIp": "10.100.0.10", "uplink": "internet1",
            "allowedInbound": [{"protocol": "icmp-ping", "destinationPorts": ["any"], "allowedIps": ["any"]},
                               {"protocol": "udp", "destinationPorts": ["500", "4500"], "allowedIps": ["any"]}]}
    result = org(tmp_path, "203.0.113.20", one_to_one=[rule]).audit()
    assert verdicts(result, "Staff") == {"udp/500": "allowed", "udp/4500": "allowed", "udp/1701": "allowed",
                                         "tcp/443": "blocked"}


def test_a_disabled_configured_slot_does_not_start_with_no_rules(tmp_path: Path) -> None:
    """The collector reads an SSID's firewall, splash and identity PSK files only while it is enabled, and the
    Dashboard keeps a disabled SSID's firewall rules (they are their own resource, /ssids/{number}/firewall/...;
    the SSID PUT does not touch them). A proposal into a disabled slot that was configured ("Old-Contractors",
    not "Unconfigured SSID N") keeps those unknown rules: the result must not be 'allowed' on the assumption
    that the slot has no rules."""
    import json
    import shutil

    from auditor.vendors.meraki.check_ssid import check_ssid

    demo = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
    snap = tmp_path / "snap"
    shutil.copytree(demo, snap)
    rel = snap / "meraki/networks/L_6468200000000001/wireless/ssids.json"
    ssids = json.loads(rel.read_text())
    slot = next(s for s in ssids if s["number"] == 4)
    slot.update(name="Old-Contractors", enabled=False, authMode="psk")  # configured once, now disabled
    rel.write_text(json.dumps(ssids))
    proposal = tmp_path / "p.yaml"
    proposal.write_text("number: 4\nname: Pop-up\nenabled: true\nauthMode: open\n")
    outcome = check_ssid(snap, "Store 14", proposal)
    got = verdicts(outcome.result, "Pop-up", kind="ssid")
    assert "allowed" not in got.values(), (got, outcome.placement.notes)


def test_bridge_mode_lan_isolation_blocks_a_server_on_the_clients_vlan(snap: MerakiSnapshot) -> None:
    """Meraki, *Wireless Client Isolation* (documentation.meraki.com/MR/Firewall_and_Traffic_Shaping/
    Wireless_Client_Isolation): "With Client Isolation enabled, clients will only be able to communicate with
    the default gateway ... Any traffic bound for an address on the same VLAN as a device in client isolation
    will be denied. Traffic bound for other VLANs will be forwarded and routed normally." (API field
    `lanIsolationEnabled`, bridge mode only.) A VPN server in the VLAN the SSID bridges its clients into is
    unreachable from them; one in another VLAN is not affected."""
    snap.config["vpn_servers"][0]["address"] = "10.0.10.50"  # in VLAN 10, where the SSID puts its clients
    net = snap.network(vlans=[{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
                              {"id": 20, "name": "Other", "subnet": "10.0.20.0/24"}])
    snap.ssid(net, 0, "Isolated", allow_lan=True, lanIsolationEnabled=True)
    snap.ssid(net, 1, "Elsewhere", allow_lan=True, lanIsolationEnabled=True, defaultVlanId=20)
    result = snap.audit()
    assert set(verdicts(result, "Isolated", kind="ssid").values()) == {"blocked"}
    assert set(verdicts(result, "Elsewhere", kind="ssid").values()) == {"allowed"}
