"""Item 5 of issue 20: the Cisco forms that were written verbatim are redacted.

An IOS router and an ASA, collected over SSH (the real netmiko against the fake device), hold an SNMP host
community that looks like an address, WCCP, MSDP and RSVP passwords, an SNMP MIB community map, passwords in
URLs (archive path, DDNS, ASA enrollment url) and ASA inline `aaa-server ... host ADDR KEY`. No spelling of any
reaches the snapshot, the manifest, the logs, stderr or any report, and the lines themselves stay (the
audit cites lines by number).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auditor.vendors.cisco.collect import CiscoCollectConfig, collect_cisco, redact_config
from tests.fakes.cisco_ssh import FakeCiscoDevice
from tests.robustness.leaks import assert_absent, forms, report_outputs, snapshot_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cisco"
CLI = [sys.executable, "-c", "from auditor.cli import main; main()"]
SSH = {"username": "auditor-ro", "password": "Ssh-Pa55word-9f2", "secret": "Enable-S3cret-7c1"}
IOS_LINES = {
    "snmp-server host 10.0.0.7 10.99.99.99": "10.99.99.99",
    "snmp-server host 10.0.0.8 version 2c 172.16.55.5 udp-port 162": "172.16.55.5",
    "snmp-server host nms.example.com informs version 2c SnmpHostComm-71": "SnmpHostComm-71",
    "ip wccp web-cache password 0 WccpPw-1234": "WccpPw-1234",
    "ip wccp 61 redirect-list R password 7 WccpPw-5678": "WccpPw-5678",
    "ip msdp password peer 192.0.2.1 0 MsdpPw-3141": "MsdpPw-3141",
    "ip msdp vrf V password peer 192.0.2.2 MsdpPw-2718": "MsdpPw-2718",
    "ip rsvp authentication key RsvpKey-1618": "RsvpKey-1618",
    "snmp mib community-map MibComm-1414 context C": "MibComm-1414",
    "archive\n path ftp://backup:ArchPw-1732@10.0.0.9/$h-$t": "ArchPw-1732",
    "ip ddns update method DYN\n HTTP\n  add http://dyn:DdnsPw-2236@members.example.com/nic/update?h=<h>&a=<a>":
        "DdnsPw-2236",
}
ASA_LINES = {
    "aaa-server RAD (inside) host 10.0.0.5 AaaInline-2645 timeout 5": "AaaInline-2645",
    "aaa-server RAD host 10.0.0.6 AaaInline-3162": "AaaInline-3162",
    "crypto ca trustpoint TP\n enrollment url http://ra:EnrollPw-4472@ca.example.com/certsrv/mscep/mscep.dll":
        "EnrollPw-4472",
    "snmp-server host inside 10.0.0.7 community AsaComm-5477 version 2c": "AsaComm-5477",
}


def _with(base: str, lines: dict[str, str]) -> str:
    head, _, tail = base.rpartition("\nend")
    return head + "\n" + "\n".join(lines) + "\nend" + tail


def test_cisco_forms_once_written_verbatim_are_redacted_everywhere(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    snap = tmp_path / "snap"
    ios = _with((FIXTURES / "ios-vpn.cfg").read_text(), IOS_LINES)
    asa = _with((FIXTURES / "asa-vpn.cfg").read_text(), ASA_LINES)
    stderr = []
    for text, platform, kind, name in ((ios, "ios", "cisco_ios", "edge"), (asa, "asa", "cisco_asa", "hq-asa")):
        with FakeCiscoDevice(text, platform=platform, hostname=name, **SSH) as device:
            done = collect_cisco(CiscoCollectConfig(host="127.0.0.1", port=device.port, device_type=kind, out=snap,
                                                    name=name, timeout=10, read_timeout=20, **SSH))
            assert done.ok, done.error
            env = {**os.environ, "VPN_AUDITOR_SSH_PASSWORD": SSH["password"], "VPN_AUDITOR_SSH_SECRET": SSH["secret"]}
            run = subprocess.run([*CLI, "collect", "cisco", "--host", "127.0.0.1", "--port", str(device.port),
                                  "--device-type", kind, "--username", SSH["username"], "--name", name,
                                  "--out", str(tmp_path / "cli")], capture_output=True, text=True, env=env, timeout=120)
            assert run.returncode == 0, run.stderr
            stderr.append(run.stderr)
    saved = {name: (snap / "cisco" / f"{name}.cfg").read_text() for name in ("edge", "hq-asa")}
    for name, original in (("edge", ios), ("hq-asa", asa)):  # every line kept, at its number
        lines = original.splitlines()
        while not lines[0].strip() or lines[0].startswith(("Building", "Current configuration")):
            lines.pop(0)  # the preamble IOS prints before the configuration
        assert len(saved[name].splitlines()) == len(lines)
    assert "snmp-server host 10.0.0.7 <redacted>" in saved["edge"]
    assert "ip msdp password peer 192.0.2.1 0 <redacted>" in saved["edge"]
    assert " path ftp://backup:<redacted>@10.0.0.9/$h-$t" in saved["edge"]
    assert "aaa-server RAD (inside) host 10.0.0.5 <redacted> timeout 5" in saved["hq-asa"]
    assert "snmp-server host inside 10.0.0.7 community <redacted> version 2c" in saved["hq-asa"]
    (snap / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2", "sstp"],
                         "path": ["cisco/edge", "cisco/hq-asa"]}],
        "sources": [{"name": "home-workers", "prefixes": ["0.0.0.0/0"]}]}))
    haystacks = {"snapshot files": snapshot_text(snap), "CLI snapshot": snapshot_text(tmp_path / "cli"),
                 "logs": caplog.text, "collector stderr": "".join(stderr), **report_outputs(snap, tmp_path)}
    secrets = {f"{name}: {line.splitlines()[-1].strip()[:40]}": forms(value)
               for table, name in ((IOS_LINES, "IOS"), (ASA_LINES, "ASA")) for line, value in table.items()}
    assert_absent(secrets, haystacks)


def test_an_asa_snmp_host_keeps_its_address_and_an_ios_one_loses_its_community() -> None:
    asa = "ASA Version 9.12(4)\nsnmp-server host inside 10.0.0.8 poll\n"
    assert redact_config(asa) == (asa, 0)
    found: set[str] = set()
    text, count = redact_config("version 15.7\nsnmp-server host 10.0.0.7 10.99.99.99 ipsec\n", found)
    assert text == "version 15.7\nsnmp-server host 10.0.0.7 <redacted> ipsec\n" and count == 1
    assert found == {"10.99.99.99"}
