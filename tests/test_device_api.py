"""The device checks ask devices through `auditor.model.Device`, not a vendor's classes: a firewall of a vendor
the tool does not ship, plugged in through the registry, gets the same findings from the same logic as a Cisco
device (shadowed permits, nothing exposing the server, clients' addresses translated on IKE, fragments dropped,
unicast RPF where VPN traffic arrives, lines not modelled)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.audit import AuditResult, run_audit
from auditor.checks import Finding
from auditor.model import (
    Action,
    Decision,
    Device,
    Exposure,
    FilterHop,
    FragmentView,
    Hop,
    InterfaceLine,
    Model,
    Origin,
    ReachedList,
    Rule,
    RuleList,
    Segment,
    UnmodelledLines,
    VpnServer,
)
from auditor.packets import ALL, ANY_ADDR, PROTO_NUMBERS, PacketSet, address_interval
from auditor.plugins import Registry, Vendor, install, installed
from auditor.snapshot import Snapshot


def _flow(text: str, dst: str, src: str = "any") -> PacketSet:
    """'udp/500' or 'esp' to `dst` from `src`."""
    proto, _, port = text.partition("/")
    return PacketSet.flow([ANY_ADDR if src == "any" else address_interval(src)], [address_interval(dst)],
                          PROTO_NUMBERS[proto], int(port) if port else None)


@dataclass(slots=True)
class ToyForward:
    """A port forward of the toy firewall (`model.Translation`)."""

    rule: Rule
    certain: bool = True
    hides: str = ""

    def keeping_clients(self) -> str:
        return f"`{self.rule.text} keep-source`"


class ToyNat:
    """The toy's port forwards (`model.InboundNat`): what none forwards is dropped, as on a port-forwarding
    router."""

    def __init__(self, forwards: list[ToyForward]) -> None:
        self.translations = forwards

    def classify(self, packets: PacketSet) -> list[tuple[Segment, Exposure]]:
        out = []
        remaining = packets
        for forward in self.translations:
            hit = remaining & forward.rule.match
            if hit:
                remaining = remaining - forward.rule.match
                out.append((Segment(hit, Decision.TRANSLATE, forward.rule, "forwarded"), Exposure.TRANSLATED))
        if remaining:
            out.append((Segment(remaining, Decision.DENY, None, "only port-forwarded"), Exposure.PORT_ONLY))
        return out


class ToyFirewall(Device):
    """`toyfw/<name>.json`: a public address, an access list (lines 'permit|deny FLOW SOURCE', first match,
    numbered 10, 20, ... by the toy's own command line), port forwards, strict RPF on its outside interface
    and a banner it does not model."""

    def __init__(self, name: str, rel: str, spec: dict) -> None:
        self.name = name
        self.rel = rel
        self.public: str = spec["public"]
        origin = Origin(rel)
        rules = []
        for i, line in enumerate(spec["acl"]):
            action, flow, src = line.split()
            rules.append(Rule(i + 1, Action(action), _flow(flow, self.public, src), line,
                              origin=Origin(rel, None, i + 1)))
        self.acl = RuleList("acl", rules, Rule(len(rules) + 1, Action.DENY, ALL, "implicit deny", origin=origin,
                                               synthetic=True), origin)
        self.forwards = [ToyForward(Rule(k + 1, Action.PERMIT, _flow(flow, self.public), f"forward {flow}",
                                         origin=Origin(rel, None, 80 + k)), hides=hides)
                         for k, (flow, hides) in enumerate(spec["forwards"])]
        self._hops: list[Hop] = [FilterHop(name, "acl-in outside", origin, self.acl)]

    def owns(self, server: VpnServer) -> bool:
        return server.address == self.public

    def hops(self, server: VpnServer) -> list[Hop]:
        return self._hops

    def access_lists(self, server: VpnServer, packets: PacketSet) -> list[ReachedList]:
        return [met for hop in self._hops for met in hop.lists_reached(packets)]

    def entry_number(self, rule: Rule) -> int | None:
        return rule.position * 10

    def inbound_nat(self, server: VpnServer) -> ToyNat:
        return ToyNat(self.forwards)

    def fragment_views(self, server: VpnServer) -> list[FragmentView]:
        drop = Rule(1, Action.DENY, ALL, "fragments drop", origin=Origin(self.rel, None, 91))
        fragments = FilterHop(self.name, "fragments on outside", Origin(self.rel), RuleList(
            "fragments", [drop], Rule(2, Action.PERMIT, ALL, "whole packets", synthetic=True)))
        return [FragmentView(self._hops[0], fragments, lambda rule, dropped: "Let fragments in.")]

    def arrival_label(self, server: VpnServer) -> str | None:
        return "outside"

    def unicast_rpf(self) -> list[InterfaceLine]:
        return [InterfaceLine("outside", Origin(self.rel, None, 90), "rpf strict outside")]

    def unmodelled_lines(self) -> UnmodelledLines:
        return UnmodelledLines(self.rel, 100, {"banner": [95, 96]})


class ToyAdapter:
    def load(self, snapshot: Snapshot, model: Model) -> None:
        for rel in snapshot.listdir("toyfw", ".json"):
            name = "toyfw/" + rel.rsplit("/", 1)[-1].removesuffix(".json")
            model.devices[name] = self.device(ToyFirewall(name, rel, snapshot.read_json(rel) or {}))

    def device(self, toy: ToyFirewall) -> Device:
        return toy


class PlainFirewall(Device):
    """The toy's hops, and nothing else told: every question of the checks gets `Device`'s default answer."""

    def __init__(self, toy: ToyFirewall) -> None:
        self.name = toy.name
        self.toy = toy

    def owns(self, server: VpnServer) -> bool:
        return self.toy.owns(server)

    def hops(self, server: VpnServer) -> list[Hop]:
        return self.toy.hops(server)


class PlainAdapter(ToyAdapter):
    def device(self, toy: ToyFirewall) -> Device:
        return PlainFirewall(toy)


@pytest.fixture
def plug() -> Iterator[Callable[[type], None]]:
    """Install the shipped vendors and a toy one read by the adapter given; the shipped ones alone afterwards."""
    shipped = installed()
    yield lambda adapter: install(Registry([*shipped.vendors, Vendor("toyfw", {"toyfw": adapter})]))
    install(shipped)


SPEC = {
    "public": "198.51.100.10",
    "acl": ["deny udp/500 203.0.113.0/24", "permit udp/500 any", "permit udp/4500 any", "permit udp/500 any",
            "permit esp any"],
    "forwards": [["udp/500", "the firewall's own address"]],  # nothing forwards udp/4500 or ESP
}
AUDIT_YAML = """vpn_servers:
  - name: corp-vpn
    address: 198.51.100.10
    protocols: [ikev2, ipsec-native]
sources:
  - name: branch-lan
    prefixes: [192.0.2.0/24]
protocols:
  ipsec-native:
    flows: [udp/500, esp]
"""


def audit(tmp_path: Path, spec: dict) -> tuple[AuditResult, dict[str, list[Finding]]]:
    (tmp_path / "toyfw").mkdir(parents=True)
    (tmp_path / "toyfw" / "edge.json").write_text(json.dumps(spec))
    (tmp_path / "audit.yaml").write_text(AUDIT_YAML)
    result = run_audit(tmp_path)
    found: dict[str, list[Finding]] = {}
    for finding in result.findings:
        found.setdefault(finding.check.id, []).append(finding)
    return result, found


def test_a_firewall_of_another_vendor_gets_the_device_checks_findings(tmp_path: Path,
                                                                     plug: Callable[[type], None]) -> None:
    plug(ToyAdapter)
    _result, found = audit(tmp_path, SPEC)

    # Line 4 repeats what lines 1 (a deny of one network) and 2 (a permit of the rest) decide first.
    (shadowed,) = found["CISCO-SHADOWED-ACE"]
    assert shadowed.device == "toyfw/edge" and shadowed.effective_severity == "warning"
    assert shadowed.title == ("line 4 of toyfw/edge.json (seq 40) never permits VPN traffic to 'corp-vpn': "
                              "line 1 (seq 10) and line 2 (seq 20) decide it first")
    assert [(s["line"], s["seq"], s["decision"]) for s in shadowed.evidence["shadowed_by"]] == \
        [(1, 10, "deny"), (2, 20, "permit")]
    assert shadowed.evidence["list"] == "acl-in outside"

    (missing,) = found["VPN-NAT-MISSING"]
    assert missing.title == ("toyfw/edge only port-forwards 198.51.100.10 to 'corp-vpn': ESP cannot pass a port "
                             "forward (esp, udp/4500 not exposed)")
    assert missing.evidence["missing"] == {"ikev2": ["udp/4500"], "ipsec-native": ["esp"]}
    assert missing.evidence["nat_rules"] == ["forward udp/500"]

    (hidden,) = found["CISCO-SNAT-ON-IKE"]
    assert hidden.evidence["flows"] == ["udp/500"]
    assert hidden.evidence["source_translation"] == "the firewall's own address"
    assert "with a NAT that keeps the clients' addresses: `forward udp/500 keep-source`." in hidden.remediation

    # what the traced IKE flows bring: udp/500 (nothing on the branch's way translates, so no NAT-T)
    (fragments,) = found["IKE-FRAGMENT-DROP"]
    assert fragments.title.startswith("toyfw/edge (fragments on outside): toyfw/edge.json:91 (fragments drop) "
                                      "drops the non-initial fragments of IKE (udp/500) to 'corp-vpn'")
    assert fragments.evidence["sources"] == "192.0.2.0/24"
    assert fragments.remediation.startswith("Let fragments in. ")

    (rpf,) = found["CISCO-FILTER-NOT-MODELLED"]
    assert rpf.title == ("toyfw/edge: unicast RPF on outside (line 90: rpf strict outside) is not evaluated (the "
                         "verdicts do not cover it)")
    assert rpf.evidence == {"file": "toyfw/edge.json", "filters": [
        {"interface": "outside", "line": 90, "text": "rpf strict outside", "traffic": ["server 'corp-vpn'"]}]}

    (unread,) = found["CISCO-NOT-MODELLED"]
    assert unread.title == "toyfw/edge: 2 of 100 lines not modelled, cannot affect the VPN path (banner)"


def test_a_device_that_answers_nothing_is_passed_by(tmp_path: Path, plug: Callable[[type], None]) -> None:
    plug(PlainAdapter)
    result, found = audit(tmp_path, SPEC)
    assert not {"CISCO-SHADOWED-ACE", "VPN-NAT-MISSING", "CISCO-SNAT-ON-IKE", "IKE-FRAGMENT-DROP",
                "CISCO-FILTER-NOT-MODELLED", "CISCO-NOT-MODELLED"} & set(found)
    # and not because the device was left out: its access list decides the paths
    (ike,) = [p for p in result.paths if str(p.trace.flow) == "udp/500" and p.protocol == "ikev2"]
    hop, seg = next((r.hop, s) for r in ike.trace.hops for s in r.segments if r.hop.device == "toyfw/edge")
    assert hop.stage == "acl-in outside" and seg.rule is not None and seg.rule.text == "permit udp/500 any"
