"""`explain 868 --role R` must list the public-view DNS finding for a role that gets the public view.

Store 31's VLAN 30 'Guest' hands out `upstream_dns`: its clients get the public answer, which the audit reports
once as DNS-PUBLIC-MISMATCH (network and role null: "roles whose own resolver the snapshot does not name ... are
taken to get this answer"). With the collecting host's resolver answering another address, `explain 868` lists it,
but `explain 868 --role Guest` drops it (a finding of no role counts only through a device on the role's path) and
says the network configuration does not explain the error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.explain_errors import explain, text_lines

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"


def test_explain_for_a_role_lists_the_public_dns_finding_it_gets(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    rel = snap / "dns" / "vpn.contoso-retail.example.json"
    data = json.loads(rel.read_text())
    host = next(r for r in data["resolvers"] if r["host"])
    host["answers"]["A"]["addresses"] = ["203.0.113.99"]  # the public record points elsewhere
    rel.write_text(json.dumps(data))

    whole = explain(868, snap)
    assert any(m.finding.check.id == "DNS-PUBLIC-MISMATCH" for m in whole.matches)

    guest = explain(868, snap, network="Store 31", role="Guest")
    ids = [m.finding.check.id for m in guest.matches]
    assert "DNS-PUBLIC-MISMATCH" in ids, "\n".join(text_lines(guest))
