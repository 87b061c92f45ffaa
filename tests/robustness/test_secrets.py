"""One pull from every kind of source, seeded with known secrets, then an audit in every report format: no
secret in any file of the snapshot, any log record, anything written to stdout or stderr, any report, or any
exception message (collection failures included)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.snapshot import SnapshotError
from auditor.vendors.cisco.collect import CiscoCollectConfig, collect_cisco
from auditor.vendors.lb.collect import LbCollectConfig, collect_lb
from auditor.vendors.meraki.collect import CollectorConfig, collect
from tests.fakes.cisco_ssh import FakeCiscoDevice
from tests.fakes.dashboard import FakeDashboard, build_org
from tests.fakes.lb_servers import FakeLoadBalancer, Fault

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

API_KEY = "5ec7e7a91c0ffee5ec7e7a91c0ffee5ec7e7a91c"
SSH = {"username": "auditor-ro", "password": "Ssh-Pa55word-9f2", "secret": "Enable-S3cret-7c1"}
LB_PASSWORD = "Lb-Pa55word-4e8"
CISCO_SECRETS = {
    "enable secret 9 $9$Kq1EnableHashValue": "$9$Kq1EnableHashValue",
    "username admin privilege 15 secret 9 $9$Kq1UserHashValue": "$9$Kq1UserHashValue",
    "username vpn password 0 VpnUserPlain1": "VpnUserPlain1",
    "crypto isakmp key IsakmpPsk-8812 address 0.0.0.0 0.0.0.0": "IsakmpPsk-8812",
    "crypto keyring KR\n pre-shared-key address 203.0.113.9 key KeyringPsk-5521": "KeyringPsk-5521",
    "crypto ikev2 keyring KR2\n peer p\n  pre-shared-key local Ikev2Local-3310\n  pre-shared-key remote Ikev2Rem-3311":
        "Ikev2Local-3310 Ikev2Rem-3311",
    "radius-server host 10.0.0.5 auth-port 1812 acct-port 1813 key 7 RadiusKey7-0042": "RadiusKey7-0042",
    "radius server R1\n address ipv4 10.0.0.5\n key RadiusNew-9001": "RadiusNew-9001",
    "tacacs-server key TacacsKey-7717": "TacacsKey-7717",
    "snmp-server community SnmpComm-1234 RO": "SnmpComm-1234",
    "snmp-server host 10.0.0.7 version 2c SnmpTrap-5678": "SnmpTrap-5678",
    "ntp authentication-key 1 md5 NtpKey-2468": "NtpKey-2468",
    "line vty 0 4\n password 7 LinePass-1357": "LinePass-1357",
}
ASA_EXTRA = {
    "tunnel-group 203.0.113.9 ipsec-attributes\n ikev1 pre-shared-key AsaL2lPsk-4242": "AsaL2lPsk-4242",
    "tunnel-group 203.0.113.9 ipsec-attributes\n ikev2 remote-authentication pre-shared-key AsaRemote-1111\n"
    " ikev2 local-authentication pre-shared-key AsaLocal-2222": "AsaRemote-1111 AsaLocal-2222",
    "aaa-server RAD (inside) host 10.0.0.5\n key AsaRadius-3333": "AsaRadius-3333",
    "passwd AsaPasswd-4444 encrypted": "AsaPasswd-4444",
}
FORMATS = ["text", "json", "sarif", "junit", "html", "markdown"]
CLI = [sys.executable, "-c", "from auditor.cli import main; main()"]  # `vpn-auditor`, in its own process


def _config(base: str, extra: dict[str, str]) -> str:
    head, _, tail = base.rpartition("end")
    return head + "\n".join(extra) + "\n" + "end" + tail


def test_no_secret_escapes_collection_audit_or_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fixtures = Path(__file__).parents[2] / "fixtures"
    snap = tmp_path / "snap"
    secrets: list[str] = [API_KEY, LB_PASSWORD, SSH["password"], SSH["secret"]]  # user names are no secret
    for table in (CISCO_SECRETS, ASA_EXTRA):
        secrets += [s for value in table.values() for s in value.split()]
    errors: list[str] = []

    # Meraki: PSKs, iPSK passphrases, RADIUS secrets in the bodies; the API key in an error body too.
    org = build_org(tmp_path / "dashboard", "100", 6, seed=11)
    secrets += org.secrets
    with FakeDashboard(org.root, rate=None, api_key=API_KEY) as fake:
        fake.fail(f"networks/{org.network_ids[1]}/groupPolicies", 500,
                  body={"errors": [f"key {API_KEY} rejected; psk {org.secrets[0]}"], "psk": org.secrets[0]})
        result = asyncio.run(collect(CollectorConfig(out=snap, api_key=API_KEY, base_url=fake.base_url,
                                                     rate=200, maximum_retries=1)))
        errors += [f.error or "" for f in result.failures]
        assert fake.non_get() == []

    # Cisco: an IOS router and an ASA, every kind of secret a running-config holds.
    ios = _config((fixtures / "cisco" / "ios-vpn.cfg").read_text(), CISCO_SECRETS)
    asa = _config((fixtures / "cisco" / "asa-vpn.cfg").read_text(), ASA_EXTRA)
    for text, platform, kind, name in ((ios, "ios", "cisco_ios", "edge"), (asa, "asa", "cisco_asa", "hq-asa")):
        with FakeCiscoDevice(text, platform=platform, hostname=name, **SSH) as device:
            done = collect_cisco(CiscoCollectConfig(host="127.0.0.1", port=device.port, device_type=kind,
                                                    out=snap, name=name, timeout=10, read_timeout=20, **SSH))
            assert done.ok, done.error
            wrong = collect_cisco(CiscoCollectConfig(
                host="127.0.0.1", port=device.port, device_type=kind, out=tmp_path / "failed", timeout=5,
                read_timeout=5, username=SSH["username"], password=SSH["password"] + "-wrong",
                secret=SSH["secret"]))
            assert not wrong.ok
            errors.append(wrong.error or "")

    # F5 over iControl REST: the login password, a monitor's password in a body, the password echoed in an error.
    rest = tmp_path / "f5-rest"
    shutil.copytree(fixtures / "lb" / "f5" / "rest-sticky", rest)
    (rest / "ltm" / "monitor").mkdir()
    (rest / "ltm" / "monitor" / "http.json").write_text(json.dumps({"items": [
        {"name": "vpn_http", "send": "GET / HTTP/1.0", "username": "probe", "password": "MonitorPass-8080"}]}))
    secrets.append("MonitorPass-8080")
    with FakeLoadBalancer("f5", rest, password=LB_PASSWORD,
                          faults={"/mgmt/tm/ltm/snat": Fault(500, body=f'{{"message": "bad {LB_PASSWORD}"}}')}) as fake:
        lb = collect_lb(LbCollectConfig("f5", fake.url, snap, "auditor", LB_PASSWORD, name="bigip1", timeout=5))
        errors += [f.error for f in lb.failures]
        # the command as a user runs it, in its own process: what it prints on stderr
        env = {**os.environ, "VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": LB_PASSWORD}
        streams = [subprocess.run([*CLI, "collect", "f5", "--host", fake.url,
                                   "--out", str(tmp_path / "cli-f5"), "--timeout", "5"],
                                  capture_output=True, text=True, env=env, timeout=60)]
        assert {method for method, _, _ in fake.requests} == {"GET"}

    # Audit what was collected, in every format, to files and to stdout.
    (snap / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [
        {"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2", "l2tp", "sstp"]}]}))
    runner = CliRunner()
    outputs: list[str] = []
    for fmt in FORMATS:
        report = tmp_path / f"report.{fmt}"
        for args in (["-o", str(report)], []):
            run = runner.invoke(app, ["audit", str(snap), "--format", fmt, *args])
            assert run.exit_code in (0, 1, 3), run.output
            outputs += [run.stdout, run.stderr]
        outputs.append(report.read_text())
    for command in (["explain", "809", str(snap)], ["diff", str(snap), str(snap)],
                    ["trace", str(snap), "--network", org.networks[0]["name"], "--role", "Corp", "--flow", "udp/500"]):
        run = runner.invoke(app, command)
        outputs += [run.stdout, run.stderr]

    # An exception from damaged input carries a message that could quote the data.
    for broken in sorted(snap.rglob("*.cfg"))[:1] + sorted(snap.rglob("ssids.json"))[:1]:
        saved = broken.read_bytes()
        broken.write_bytes(saved[: len(saved) // 2] + b"\x00\xff")
        try:
            runner.invoke(app, ["audit", str(snap)], catch_exceptions=False)
        except SnapshotError as exc:  # pragma: no cover - the CLI turns it into exit 2
            errors.append(str(exc))
        run = runner.invoke(app, ["audit", str(snap)])
        outputs += [run.stdout, run.stderr]
        broken.write_bytes(saved)

    cfg = next(snap.rglob("edge.cfg"))
    cfg.write_text(cfg.read_text().replace("interface GigabitEthernet0/0", "%% GigabitEthernet0/0"))
    for fmt in ("text", "json"):
        streams.append(subprocess.run([*CLI, "audit", str(snap), "--format", fmt],
                                      capture_output=True, text=True, timeout=120))
    (snap / "audit.yaml").write_text("vpn_servers: [\n")
    streams.append(subprocess.run([*CLI, "audit", str(snap)],
                                  capture_output=True, text=True, timeout=120))
    assert streams[-1].returncode == 2 and streams[0].returncode == 3, [p.stderr for p in streams]
    haystacks = {"snapshot files": "\n".join(p.read_text(errors="replace") for p in snap.rglob("*") if p.is_file()),
                 "failed-collection files": "\n".join(p.read_text(errors="replace")
                                                      for p in (tmp_path / "failed").rglob("*") if p.is_file()),
                 "logs": caplog.text, "process stdout": "".join(p.stdout for p in streams),
                 "process stderr": "".join(p.stderr for p in streams),
                 "CLI output and reports": "\n".join(outputs), "exception messages": "\n".join(errors)}
    assert len(secrets) >= 40
    for where, text in haystacks.items():
        assert text, f"nothing captured from {where}: the check would prove nothing"
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{leaked} leaked into {where}"
    assert any(r.name.startswith(("auditor", "paramiko", "httpx", "meraki")) for r in caplog.records)
    assert "<redacted>" in haystacks["snapshot files"]
