"""The retail-demo perimeter (IOS edge, ASA, BIG-IP), and a variant of its ASA that never opened L2TP.

fixtures/cisco/retail-demo-hq-asa.cfg is the demo's ASA without UDP 1701 in its VPN service group: swapped
into a copy of the demo, it changes nothing for L2TP/IPsec (UDP 1701 travels inside the IPsec SA, which the
ASA passes as NAT-T), and blocks L2TP without IPsec (`l2tp-plain`) at the perimeter for every role, while
IKEv2 and SSTP keep the verdicts they have.
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
    plain = run_audit(DEMO)
    copy = tmp_path_factory.mktemp("demo") / "retail-demo"
    shutil.copytree(DEMO, copy)
    (copy / "cisco").mkdir(exist_ok=True)
    shutil.copy(ASA, copy / "cisco" / "hq-asa.cfg")
    with_asa = run_audit(copy)
    config = copy / "audit.yaml"
    config.write_text(config.read_text().replace("[ikev2, l2tp, sstp]", "[ikev2, l2tp, l2tp-plain, sstp]"))
    return plain, with_asa, run_audit(copy)


def test_l2tp_over_ipsec_is_unchanged_and_plain_l2tp_is_blocked_at_the_perimeter(audits: tuple) -> None:
    plain, with_asa, with_plain = audits
    before = {(p.role.key, p.protocol, str(p.trace.flow)): p.verdict for p in plain.paths}
    assert {(p.role.key, p.protocol, str(p.trace.flow)): p.verdict for p in with_asa.paths} == before
    changed = Counter()
    for path in with_plain.paths:
        if path.protocol != "l2tp-plain":
            assert path.verdict == before[(path.role.key, path.protocol, str(path.trace.flow))]
            continue
        # in the clear, 1701 meets the ASA's final deny: blocked for every role whose IKE gets that far
        ike = before[(path.role.key, "ikev2", "udp/500")]
        if ike == "allowed":
            assert path.verdict == "blocked"
            hop, seg = path.trace.blocked[-1]
            assert hop.device == "cisco/hq-asa" and str(seg.rule.origin) == "cisco/hq-asa.cfg:45"
            changed[path.verdict] += 1
    assert changed["blocked"] > 0


def test_ikev2_and_sstp_are_translated_to_the_dmz_server(audits: tuple) -> None:
    _plain, with_asa, _with_plain = audits
    allowed = next(p for p in with_asa.paths if p.protocol == "sstp" and p.verdict == "allowed")
    stages = [(h.hop.device, h.hop.stage, h.decision.value) for h in allowed.trace.hops
              if h.hop.device == "cisco/hq-asa"]
    assert stages == [("cisco/hq-asa", "nat", "translate"),
                      ("cisco/hq-asa", "acl-in OUTSIDE_IN (in) on outside", "permit")]
    assert not [f for f in with_asa.findings if f.check.kind == "nat-missing"]
