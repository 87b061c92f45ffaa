"""Two audited servers behind one name (DNS round robin, or a pair behind one fqdn): an answer that names the
other server sends the client to a server the audit traces too, so it is no DNS mismatch for either (a review
found four false DNS-MISMATCH errors and exit 1 on the demo with a second server added); an answer naming an
address no server has still is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.audit import run_audit

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
SECOND = """  - name: corp-vpn-2
    address: {address}
    fqdn: vpn.contoso-retail.example
    protocols: {protocols}
"""


def _dns_findings(tmp_path: Path, second: str, protocols: str = "[ikev2, l2tp, sstp]") -> list[str]:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    text = (snap / "audit.yaml").read_text()
    anchor = "    path: [cisco/hq-edge, cisco/hq-asa, f5/hq-bigip]\n"
    assert anchor in text
    (snap / "audit.yaml").write_text(text.replace(anchor, anchor + SECOND.format(address=second,
                                                                                 protocols=protocols), 1))
    result = run_audit(snap)
    return [f.title for f in result.findings if f.check.id.startswith("DNS-")]


def test_an_answer_naming_the_other_server_of_the_name_is_no_mismatch(tmp_path: Path) -> None:
    demo = [f.title for f in run_audit(DEMO).findings if f.check.id.startswith("DNS-")]
    assert any("198.51.100.20" in t for t in demo)  # alone, the demo's Back Office answer is a mismatch
    assert [t for t in _dns_findings(tmp_path, "198.51.100.20") if "198.51.100.20" in t] == []


def test_an_answer_naming_no_audited_server_still_is(tmp_path: Path) -> None:
    titles = _dns_findings(tmp_path, "198.51.100.30")
    assert any("198.51.100.20" in t for t in titles), json.dumps(titles)


def test_a_server_of_the_name_offering_fewer_protocols_is_still_a_mismatch(tmp_path: Path) -> None:
    """corp-vpn offers SSTP and L2TP, corp-vpn-2 (same name) IKEv2 only: a client sent to corp-vpn-2 for SSTP
    reaches no SSTP the audit traced, so the answer is a mismatch for corp-vpn, never silently fine."""
    titles = _dns_findings(tmp_path, "198.51.100.20", "[ikev2]")
    assert any("198.51.100.20" in t for t in titles), json.dumps(titles)
