"""CRL hosts are traced, and tagged 0x80092013, for servers that offer SSTP only: Windows checks the server
certificate's revocation before an SSTP connection (KB 2980672); a review found six error findings tagged
0x80092013 (exit 1) on an IKEv2-only server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.audit import run_audit

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"


@pytest.mark.parametrize(("protocols", "traced"), [("[ikev2]", False), ("[ikev2, l2tp]", False),
                                                   ("[ikev2, sstp]", True)])
def test_crl_hosts_follow_sstp(tmp_path: Path, protocols: str, traced: bool) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    text = (snap / "audit.yaml").read_text()
    old = "    protocols: [ikev2, l2tp, sstp]\n"
    assert old in text
    text = text.replace(old, f"    protocols: {protocols}\n    crl_urls: [http://192.0.2.80/pki/issuing.crl]\n", 1)
    (snap / "audit.yaml").write_text(text)
    result = run_audit(snap)
    crl_paths = [p for p in result.paths if " CRL " in p.server.name]
    tagged = [f for f in result.findings
              if 2148081683 in (f.windows_errors if f.windows_errors is not None else f.check.windows_errors)]
    assert bool(crl_paths) is traced
    if not traced:
        assert tagged == []
