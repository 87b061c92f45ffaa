"""Item 6 of issue 20: once a value is known to be a secret, it is scrubbed wherever it appears.

A Dashboard whose SSID PSK (with a backslash, a quote, a space and a non-ASCII letter) is also a network's name
and part of another's, and sits in a firewall rule comment; an iPSK named as its passphrase; a RADIUS secret as a
group policy's name; a site-to-site peer's pre-shared key as a policy object's name; and an error body that
quotes the PSK. The files holding those copies are written before the SSID list that tells the PSK is a
secret. No spelling of any reaches the snapshot, the manifest, the logs, stderr or any report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auditor.collect.writer import SnapshotWriter
from auditor.vendors.meraki.collect import CollectorConfig, collect
from tests.fakes.dashboard import FakeDashboard, build_org, segment
from tests.robustness.leaks import assert_absent, forms, report_outputs, snapshot_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

API_KEY = "5ec7e7a91c0ffee5ec7e7a91c0ffee5ec7e7a91c"
CLI = [sys.executable, "-c", "from auditor.cli import main; main()"]
PSK = 'Summer\\Guest"2024 \u00fc'
IPSK = "Ipsk-Named-As-Itself-31"


def _json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _plant(root: Path, org_id: str) -> dict[str, str]:
    """Copy secrets into ordinary fields of the fake org; returns name -> secret."""
    meraki = root / "meraki"
    networks_file = meraki / "organizations" / org_id / "networks.json"
    networks = _json(networks_file)
    n0 = networks[0]["id"]
    ssids_file = meraki / "networks" / segment(n0) / "wireless" / "ssids.json"
    ssids = _json(ssids_file)
    ssids[0]["psk"] = PSK
    radius = ssids[3]["radiusServers"][0]["secret"]
    ssids_file.write_text(json.dumps(ssids))
    networks[0]["name"] = f"Store {PSK}"
    networks[1]["name"] = PSK
    networks_file.write_text(json.dumps(networks))
    rules_file = meraki / "networks" / segment(n0) / "appliance" / "firewall" / "l3FirewallRules.json"
    rules = _json(rules_file)
    rules["rules"][0]["comment"] = f"guest wifi key is {PSK} (do not share)"
    rules_file.write_text(json.dumps(rules))
    policies_file = meraki / "networks" / segment(n0) / "groupPolicies.json"
    policies = _json(policies_file)
    policies[1]["name"] = radius
    policies_file.write_text(json.dumps(policies))
    ipsk_file = next(meraki.glob("networks/*/wireless/ssids/1/identityPsks.json"))
    ipsks = _json(ipsk_file)
    ipsks[0].update(name=IPSK, passphrase=IPSK)
    ipsk_file.write_text(json.dumps(ipsks))
    peers = _json(meraki / "organizations" / org_id / "appliance" / "vpn" / "thirdPartyVPNPeers.json")
    peer_psk = peers["peers"][0]["secret"]
    objects_file = meraki / "organizations" / org_id / "policyObjects.json"
    objects = _json(objects_file)
    objects[0]["name"] = f"peer-{peer_psk}"
    objects_file.write_text(json.dumps(objects))
    return {"PSK": PSK, "iPSK passphrase": IPSK, "RADIUS secret": radius, "peer pre-shared key": peer_psk}


def test_a_known_secret_is_scrubbed_wherever_it_was_copied(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    org = build_org(tmp_path / "dashboard", "100", 3, seed=5)
    secrets = _plant(tmp_path / "dashboard", "100")
    snap = tmp_path / "snap"
    with FakeDashboard(org.root, rate=None, api_key=API_KEY) as fake:
        fake.fail(f"networks/{org.network_ids[2]}/groupPolicies", 500, body={"errors": [f"psk {PSK} refused"]})
        result = asyncio.run(collect(CollectorConfig(out=snap, api_key=API_KEY, base_url=fake.base_url,
                                                     rate=200, maximum_retries=1)))
        assert result.failed == 1 and result.ok > 20
        env = {**os.environ, "MERAKI_DASHBOARD_API_KEY": API_KEY}
        run = subprocess.run([*CLI, "collect", "meraki", "--out", str(tmp_path / "cli"), "--base-url", fake.base_url,
                              "--rate", "200", "--retries", "1"], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 3, run.stderr
    networks = _json(snap / "meraki" / "organizations" / "100" / "networks.json")
    assert [n["name"] for n in networks[:2]] == ["Store <redacted>", "<redacted>"]  # the rest of the data stays
    ipsk = _json(next(snap.glob("meraki/networks/*/wireless/ssids/1/identityPsks.json")))
    assert ipsk[0]["name"] == ipsk[0]["passphrase"] == "<redacted>" and ipsk[1]["name"] == "device-1"
    (snap / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [
        {"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2", "l2tp", "sstp"]}]}))
    extra = [["trace", str(snap), "--network", org.network_ids[0], "--role", "Corp", "--flow", "udp/500"],
             ["explain", "809", str(snap)], ["fix-plan", str(snap)], ["diff", str(snap), str(tmp_path / "cli")]]
    haystacks = {"snapshot files": snapshot_text(snap), "CLI snapshot": snapshot_text(tmp_path / "cli"),
                 "logs": caplog.text, "collector stderr": run.stderr, **report_outputs(snap, tmp_path, extra)}
    assert "refused" in haystacks["collector stderr"]  # the failed call was printed, without the PSK
    assert_absent({name: forms(value) for name, value in secrets.items()}, haystacks)


def test_only_secrets_shaped_like_secrets_are_learned(tmp_path: Path) -> None:
    """An address or a number under a secret key (an SNMP community that is an address) is redacted where it
    stands, but not scrubbed from the rest of the data, where it is an address."""
    with SnapshotWriter(tmp_path, "test") as writer:
        writer.write_json("a.json", {"secret": "10.99.99.99", "key": 12345678, "psk": "Guest-Pass-77"})
        writer.write_json("b.json", {"route": "10.99.99.99", "vlan": 12345678, "name": "Guest-Pass-77 lobby"})
    assert _json(tmp_path / "b.json") == {"route": "10.99.99.99", "vlan": 12345678, "name": "<redacted> lobby"}


def test_a_proposals_secrets_copied_into_other_fields_are_not_printed(tmp_path: Path) -> None:
    """check-ssid: an SSID named as its PSK, a rule comment quoting it, an iPSK named as its passphrase."""
    from typer.testing import CliRunner

    from auditor.cli import app

    demo = Path(__file__).parents[2] / "fixtures" / "snapshots" / "retail-demo"
    psk, ipsk = "Pop-Up-Key-2024!", "Ipsk-Self-Named-77"
    proposals = {
        "psk.yaml": {"name": psk, "authMode": "psk", "encryptionMode": "wpa", "wpaEncryptionMode": "WPA2 only",
                     "psk": psk, "l3FirewallRules": [{"comment": f"key {psk}", "policy": "deny", "protocol": "udp",
                                                      "destPort": "500", "destCidr": "any"}]},
        "ipsk.yaml": {"name": "Staff-Pop-Up", "authMode": "ipsk-without-radius", "identityPsks": [
            {"name": ipsk, "passphrase": ipsk, "groupPolicyId": "101"}]}}
    runner = CliRunner()
    outputs = []
    for name, body in proposals.items():
        (tmp_path / name).write_text(yaml.safe_dump(body))
        for fmt in ("text", "json", "markdown", "html", "junit", "sarif"):
            run = runner.invoke(app, ["check-ssid", str(demo), "--network", "Store 14", "--proposed",
                                      str(tmp_path / name), "--format", fmt])
            assert run.exit_code in (0, 1, 3), run.output
            outputs.append(run.stdout + run.stderr)
    text = "\n".join(outputs)
    assert "<redacted>" in text
    assert_absent({"PSK": forms(psk), "iPSK": forms(ipsk)}, {"check-ssid outputs": text})
