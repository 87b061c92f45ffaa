"""docs/snapshot.md: "A device given both as a text file and as a REST folder is read from the text
file, and the audit says so." The folder sorts before its .conf (`f5/edge` < `f5/edge.conf`), so the folder is
loaded first and then silently replaced: no word said, and the folder's failed calls (unread_bodies) and missing
files leave data gaps about a folder the audit did not use."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from auditor.audit import run_audit
from auditor.snapshot import Snapshot

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_conf_and_rest_folder_the_audit_says_so(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    (snap / "f5").mkdir(parents=True)
    shutil.copy(FIXTURES / "lb/f5/sticky-match-across-services.conf", snap / "f5/edge.conf")
    shutil.copytree(FIXTURES / "lb/f5/rest-sticky", snap / "f5/edge")
    (snap / "manifest.json").write_text(json.dumps({
        "schema": "vpn-auditor.manifest/1", "runs": [{"collector": "f5", "started_at": "2024-01-01T00:00:00Z"}],
        "calls": [{"collector": "f5", "path": "/mgmt/tm/net/packet-filter", "outcome": "failed", "status": 500,
                   "error": "boom", "file": "f5/edge/net/packet-filter.json"}]}))
    (snap / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": "203.0.113.10", "protocols": ["ikev2"], "path": ["f5/edge"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    result = run_audit(snap)
    model = result.model
    gaps = [g.reason for g in model.gaps]
    print("device source:", model.devices["f5/edge"].source)
    print("gaps:", gaps)
    print("verdicts:", {str(p.trace.flow): p.verdict for p in result.paths})
    assert model.devices["f5/edge"].source == "f5/edge.conf"  # the text file is read ...
    assert any("both" in g for g in gaps), gaps                 # ... and the audit says so
    assert not any("f5/edge/" in g for g in gaps), gaps         # nothing about the folder it did not use


def test_a_conf_that_gives_no_text_leaves_the_folder_in_use(tmp_path: Path) -> None:
    """The text file wins only when it gives a device: a `.conf` listed beside the folder that reads as nothing (here
    an overlay that removes it, as a file gone between the listing and the read would) must not drop the folder
    too, or nothing places the device in front of its VIP and the path is reported reachable past it. The
    folder's VIP is disabled: blocked, never allowed."""
    snap = tmp_path / "snap"
    (snap / "f5").mkdir(parents=True)
    shutil.copytree(FIXTURES / "lb/f5/rest-sticky", snap / "f5/edge")
    vip = "203.0.113.20"
    (snap / "f5/edge/ltm/virtual-address.json").write_text(json.dumps({"items": [
        {"name": vip, "partition": "Common", "address": vip, "arp": "enabled", "enabled": "no"}]}))
    shutil.copy(FIXTURES / "lb/f5/sticky-match-across-services.conf", snap / "f5/edge.conf")
    (snap / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": vip, "protocols": ["ikev2"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    with Snapshot.overlaid(snap, {"f5/edge.conf": None}):
        result = run_audit(snap)
    assert {p.verdict.value for p in result.paths} == {"blocked"}
    assert result.model.devices["f5/edge"].source == "f5/edge"
