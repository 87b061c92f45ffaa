"""What must hold whatever the configuration: an inner flow (UDP 1701 inside IPsec) is never more allowed than the
flows that carry it, and a protocol whose NAT-T and ESP paths are both traced (NAT unsure) is never wholly allowed
while one of them is blocked or unknown."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor.audit import run_audit
from tests.snapshot_builder import allow, deny
from tests.test_ipsec_transport import SERVER, passthrough_store

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = sorted(p for p in (ROOT / "fixtures" / "snapshots").iterdir() if (p / "audit.yaml").is_file())
RANK = {"allowed": 0, "partial": 1, "unknown": 2, "blocked": 3}  # how far from proven allowed


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name)
def test_no_inner_flow_is_more_allowed_than_its_carriers(snapshot: Path) -> None:
    result = run_audit(snapshot)
    groups: dict[tuple, dict[str, str]] = defaultdict(dict)
    inner: list[tuple[tuple, str, tuple[str, ...], str]] = []
    for path in result.paths:
        assert not (path.trace.blocked and path.verdict == "allowed"), (path.role.key, str(path.trace.flow))
        key = (path.role.key, path.server.name, path.protocol)
        groups[key][str(path.trace.flow)] = path.verdict
        if path.trace.carried_by:
            inner.append((key, str(path.trace.flow), tuple(map(str, path.trace.carried_by)), path.verdict))
    assert inner, "every shipped snapshot audits L2TP/IPsec"
    for key, flow, carriers, verdict in inner:
        present = [groups[key][c] for c in carriers]
        assert len(present) == len(carriers), (key, flow, carriers)  # each carrier has its own path
        worst = max(present, key=RANK.__getitem__)
        assert RANK[verdict] >= RANK[worst], (key, flow, verdict, dict(zip(carriers, present, strict=True)))
        if verdict == "allowed":
            assert all(v == "allowed" for v in present), (key, flow)


RULES = [allow("udp", "500", f"{SERVER}/32"), allow("udp", "500,4500", f"{SERVER}/32"), deny("udp", "4500"),
         deny("udp", "500"), deny("any", "any", f"{SERVER}/32"), allow("any", "any", f"{SERVER}/32"),
         deny("udp", "1701"), allow("udp", "1701")]


@settings(max_examples=12, deadline=None)
@given(rules=st.lists(st.sampled_from(RULES), max_size=4))
@example(rules=[RULES[1], RULES[4]])  # NAT-T allowed, ESP denied: a lone block, unknown
@example(rules=[RULES[0], RULES[4]])  # both denied: blocked
def test_where_nat_is_unsure_no_block_of_nat_t_or_esp_is_hidden(tmp_path_factory: pytest.TempPathFactory,
                                                                 rules: list[dict]) -> None:
    """An untagged SSID on a passthrough MX whose VLANs are private (translated upstream: NAT-T) and public
    (not translated: ESP): both flows are traced; whatever the SSID rules, L2TP/IPsec and IKEv2 are never wholly
    allowed while either of them is not, and UDP 1701 is never more allowed than its carriers."""
    result = passthrough_store(tmp_path_factory.mktemp("unsure"), rules).audit()
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for path in result.paths:
        # a trace that records a certain block is never reported allowed, whatever settles NAT or carriers
        assert not (path.trace.blocked and path.verdict == "allowed"), (path.protocol, str(path.trace.flow))
        if path.role.name == "Untagged":
            groups[path.protocol][str(path.trace.flow)] = path.verdict
    for protocol in ("ikev2", "l2tp"):
        flows = groups[protocol]
        assert {"udp/500", "udp/4500", "esp"} <= set(flows), flows  # NAT unsure: both ways traced
        if flows["udp/4500"] != "allowed" or flows["esp"] != "allowed":
            assert set(flows.values()) != {"allowed"}, flows
    inner = groups["l2tp"]["udp/1701"]
    worst = max((groups["l2tp"][f] for f in ("udp/500", "udp/4500", "esp")), key=RANK.__getitem__)
    assert RANK[inner] >= RANK[worst], groups["l2tp"]
