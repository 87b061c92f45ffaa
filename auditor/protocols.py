"""The VPN protocol catalogue: each protocol's flows, as `rules/protocols.yaml` and audit.yaml `protocols` give them.

The trace follows these flows and the checks read them; both import this module, so neither reaches the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from auditor.packets import ANY_ADDR, PROTO_NUMBERS, PacketSet, address_interval

if TYPE_CHECKING:
    from auditor.model import VpnServer


@dataclass(frozen=True, slots=True)
class Flow:
    ip_protocol: str  # udp | tcp | esp | ...
    dst_port: int | None

    @classmethod
    def parse(cls, text: str) -> Flow:
        """'udp/4500', 'tcp/443', 'esp'."""
        proto, _, port = text.strip().lower().partition("/")
        if proto not in {"udp", "tcp", "esp", "gre", "ah", "icmp", "sctp"}:
            raise ValueError(f"unknown protocol in flow {text!r}")
        if port:
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"bad port in flow {text!r}")
            return cls(proto, int(port))
        if proto in {"udp", "tcp", "sctp"}:
            raise ValueError(f"flow {text!r} needs a port")
        return cls(proto, None)

    def __str__(self) -> str:
        return self.ip_protocol if self.dst_port is None else f"{self.ip_protocol}/{self.dst_port}"


# A flow's condition on the path (`when` in rules/protocols.yaml): NAT-T (udp/4500) is used once IKE detects
# that something translates addresses between the ends, ESP (IP 50) when nothing does (RFC 7296 section 2.23,
# RFC 3947/3948 for IKEv1).
WHEN_NAT, WHEN_NO_NAT = "nat", "no-nat"


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    title: str
    flows: tuple[Flow, ...]  # every flow, in catalogue order: on the wire, conditional and inner
    windows_errors: tuple[int, ...] = ()
    notes: str = ""
    when: tuple[tuple[Flow, str], ...] = ()  # conditional flows: (flow, WHEN_NAT | WHEN_NO_NAT)
    inside: tuple[tuple[Flow, tuple[Flow, ...]], ...] = ()  # inner flows and the flows that carry them

    def condition(self, flow: Flow) -> str | None:
        for conditional, when in self.when:
            if conditional == flow:
                return when
        return None

    def carriers(self, flow: Flow) -> tuple[Flow, ...] | None:
        """The flows that carry an inner flow (None: the flow crosses the path in the clear)."""
        for inner, carriers in self.inside:
            if inner == flow:
                return carriers
        return None

    @property
    def wire_flows(self) -> tuple[Flow, ...]:
        """The flows middle boxes see (inner flows left out), whatever NAT there is."""
        inner = {flow for flow, _ in self.inside}
        return tuple(f for f in self.flows if f not in inner)

    @property
    def nat_flows(self) -> tuple[Flow, ...]:
        """The flows middle boxes see when something on the path translates (NAT-T rather than ESP)."""
        return tuple(f for f in self.wire_flows if self.condition(f) != WHEN_NO_NAT)


def _protocol(name: str, spec: dict[str, Any]) -> Protocol:
    """One catalogue entry. A flow is `udp/500`, or a mapping: `{flow: udp/4500, when: nat}` (used only when
    something on the path translates), `{flow: udp/1701, inside: [udp/500, udp/4500, esp]}` (carried inside
    those flows, so no middle box sees it)."""
    flows: list[Flow] = []
    when: list[tuple[Flow, str]] = []
    inside: list[tuple[Flow, tuple[Flow, ...]]] = []
    entries = spec["flows"]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{name}: flows must be a non-empty list")
    for entry in entries:
        if isinstance(entry, str):
            flows.append(Flow.parse(entry))
            continue
        if not isinstance(entry, dict) or "flow" not in entry or set(entry) - {"flow", "when", "inside"}:
            raise ValueError(f"{name}: a flow is 'udp/500' or a mapping with `flow` and `when` or `inside`, "
                             f"not {entry!r}")
        flow = Flow.parse(str(entry["flow"]))
        flows.append(flow)
        if "when" in entry:
            if entry["when"] not in (WHEN_NAT, WHEN_NO_NAT):
                raise ValueError(f"{name}: `when` of {flow} must be '{WHEN_NAT}' or '{WHEN_NO_NAT}'")
            when.append((flow, entry["when"]))
        if "inside" in entry:
            carriers = entry["inside"]
            if not isinstance(carriers, list) or not carriers:
                raise ValueError(f"{name}: `inside` of {flow} must list the flows that carry it")
            inside.append((flow, tuple(Flow.parse(str(c)) for c in carriers)))
    if len(set(flows)) != len(flows):
        raise ValueError(f"{name}: a flow is listed twice")
    for inner, carriers in inside:
        if inner in {flow for flow, _ in when}:
            raise ValueError(f"{name}: inner flow {inner} cannot have a `when`")
        for carrier in carriers:
            if carrier not in flows or carrier in {f for f, _ in inside}:
                raise ValueError(f"{name}: {inner} is carried by {carrier}, which is not one of its flows on "
                                 "the wire")
    return Protocol(name=name, title=str(spec.get("title", name)), flows=tuple(flows),
                    windows_errors=tuple(int(e) for e in spec.get("windows_errors", [])),
                    notes=str(spec.get("notes", "")), when=tuple(when), inside=tuple(inside))


def load_protocols(overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Protocol]:
    """The protocol catalogue from rules/protocols.yaml, with audit.yaml `protocols` merged on top."""
    raw = yaml.safe_load(resources.files("rules").joinpath("protocols.yaml").read_text(encoding="utf-8"))
    merged: dict[str, dict[str, Any]] = dict(raw["protocols"])
    for name, spec in (overrides or {}).items():
        name = name.lower()  # servers name protocols case-insensitively (audit.py lower-cases them)
        merged[name] = {**merged.get(name, {}), **spec}
    return {name: _protocol(name, spec) for name, spec in merged.items()}


def wire_flows_to(servers: Iterable[VpnServer], protocols: dict[str, Protocol]) -> tuple[PacketSet, ...]:
    """Each distinct VPN flow on the wire to each server, from any source (protocols share flows: udp/500 for
    IKEv2 and L2TP; inner flows never meet a middle box's rules)."""
    flows: dict[PacketSet, None] = {}
    for server in servers:
        for name in server.protocols:
            for flow in protocols[name].wire_flows:
                flows[PacketSet.flow([ANY_ADDR], [address_interval(server.address)],
                                     PROTO_NUMBERS[flow.ip_protocol], flow.dst_port)] = None
    return tuple(flows)
