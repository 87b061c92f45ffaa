"""The retail-demo perimeter (IOS edge, ASA, BIG-IP), and a variant of its ASA that never opened L2TP.

fixtures/cisco/retail-demo-hq-asa.cfg is the demo's ASA without UDP 1701 in its VPN service group: swapped
into a copy of the demo, it blocks L2TP at the perimeter for every role, while IKEv2 and SSTP keep the
verdicts they have.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from auditor.audit import run_audit

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
ASA = ROOT / "fixtures" / "cisco" / "retail-demo-hq-asa.cfg"


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    if not DEMO.is_dir():
        pytest.skip("retail-demo snapshot not present")
    plain = run_audit(DEMO)
    copy = tmp_path_factory.mktemp("demo") / "retail-demo"
    shutil.copytree(DEMO, copy)
    (copy / "cisco").mkdir(exist_ok=True)
    shutil.copy(ASA, copy / "cisco" / "hq-asa.cfg")
    return plain, run_audit(copy)


def test_l2tp_is_blocked_at_the_perimeter_for_every_role(audits: tuple) -> None:
    plain, with_asa = audits
    before = {(p.role.key, p.protocol, str(p.trace.flow)): p for p in plain.paths}
    changed = Counter()
    for path in with_asa.paths:
        old = before[(path.role.key, path.protocol, str(path.trace.flow))]
        flow = str(path.trace.flow)
        if flow == "udp/1701" and old.verdict != "blocked":
            # allowed before; or unknown before, and now certainly denied whichever way that resolves
            assert path.verdict == "blocked"
            hop, seg = path.trace.blocked[-1]
            assert hop.device == "cisco/hq-asa" and str(seg.rule.origin) == "cisco/hq-asa.cfg:45"
            changed[old.verdict] += 1
        else:
            assert path.verdict == old.verdict, (path.role.key, flow)
    assert changed["allowed"] > 0


def test_ikev2_and_sstp_are_translated_to_the_dmz_server(audits: tuple) -> None:
    _plain, with_asa = audits
    allowed = next(p for p in with_asa.paths if p.protocol == "sstp" and p.verdict == "allowed")
    stages = [(h.hop.device, h.hop.stage, h.decision.value) for h in allowed.trace.hops
              if h.hop.device == "cisco/hq-asa"]
    assert stages == [("cisco/hq-asa", "nat", "translate"),
                      ("cisco/hq-asa", "acl-in OUTSIDE_IN (in) on outside", "permit")]
    assert not [f for f in with_asa.findings if f.check.kind == "nat-missing"]
