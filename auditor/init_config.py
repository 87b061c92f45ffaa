"""`vpn-auditor init`: a first, commented audit.yaml for a freshly collected snapshot.

The snapshot does not say which host is the VPN server; its configuration holds hints. Each hint is read
from what the adapters already build (no parsing of its own here): an inbound translation or an interface
ACL permit for IKE (UDP 500, 4500) or SSTP (TCP 443) to one host, a load-balancer virtual server on those
ports, an MX uplink that may terminate Client VPN. A hint on a private address is carried to the public
address that a translation in the snapshot maps to it (clients dial the public one). Every guess is written
with the file and line (or rule) behind it and marked `REVIEW`: the file is a start for a person to
correct, never an answer.

Strong candidates (a hint for UDP 500 or 4500) are written as servers. Weak ones (TCP 443 only, which any
web server has; a translation of every port; an MX uplink) are written commented out. With none at all the
server list is empty and a commented example shows the shape, so `audit` refuses the file until a person
fills it in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auditor import __version__
from auditor.model import Model, Origin
from auditor.packets import ANY_ADDR, PUBLIC_SOURCES, V4_BASE, Interval, PacketSet, format_address_interval
from auditor.plugins import installed, load_devices
from auditor.snapshot import Snapshot, SnapshotError

# The flows that point at a VPN server (docs/report-json.md lists each protocol's flows). UDP 1701 only adds
# L2TP to a host that already shows IKE.
HINT_FLOWS: dict[str, tuple[int, int]] = {"udp/500": (17, 500), "udp/4500": (17, 4500), "udp/1701": (17, 1701),
                                         "tcp/443": (6, 443)}
IKE_FLOWS = frozenset({"udp/500", "udp/4500"})
MAX_EVIDENCE = 10  # lines of evidence written per candidate; the rest are counted
PLACEHOLDER = "192.0.2.1"  # RFC 5737 documentation address, in the commented example only


@dataclass(slots=True)
class Evidence:
    where: str  # file:line or file[index], as the model's origins print
    what: str  # the rule or object, in the vendor's words
    flows: frozenset[str]  # HINT_FLOWS names it lets in; empty: every port (it says nothing about VPN)
    device: str = ""  # the snapshot device that holds it (cisco/hq-asa), a hint for `path`
    tier: int = 0  # the device's tier (nearer the internet first), to order the `path` hint

    def line(self) -> str:
        ports = ", ".join(f for f in HINT_FLOWS if f in self.flows)
        return f"REVIEW: guessed from {self.where} ({_one_line(self.what)})" + (f": {ports}" if ports else "")

    def key(self) -> tuple[str, int]:
        file, _, line = self.where.partition(":")
        return file, int(line) if line.isdigit() else 0


@dataclass(slots=True)
class Candidate:
    address: Interval
    evidence: list[Evidence] = field(default_factory=list)
    client_vpn: bool = False  # an MX uplink: a Client VPN server when that MX runs one

    @property
    def flows(self) -> frozenset[str]:
        return frozenset(f for e in self.evidence for f in e.flows)

    @property
    def strong(self) -> bool:
        return bool(self.flows & IKE_FLOWS)

    @property
    def text(self) -> str:
        return format_address_interval(self.address)

    def protocols(self) -> list[str]:
        flows = self.flows
        out = []
        if flows & IKE_FLOWS:
            out.append("ikev2")
            if "udp/1701" in flows:
                out.append("l2tp")
        if "tcp/443" in flows:
            out.append("sstp")
        if not out and self.client_vpn:
            out.append("l2tp")  # Meraki Client VPN is L2TP over IPsec
        return out or ["ikev2", "sstp"]

    def devices(self) -> list[str]:
        ordered = sorted((e for e in self.evidence if e.device), key=lambda e: (e.tier, e.device))
        return list(dict.fromkeys(e.device for e in ordered))


@dataclass(slots=True)
class InitResult:
    path: Path
    candidates: list[Candidate]  # strong and weak, by address
    unplaced: list[Evidence]  # hints whose public address the snapshot does not have
    messages: list[str]  # for stderr, one line each


# -- hints from the model -------------------------------------------------------------------------------------
def flows_of(match: PacketSet, address: Interval = ANY_ADDR) -> frozenset[str]:
    """The hint flows `match` takes to `address`. A protocol whose every port it takes (the first and the
    last) gives no hint: "permit udp any host X" says nothing about VPN."""
    found = set()
    for name, (proto, port) in HINT_FLOWS.items():
        def takes(p: int, proto: int = proto) -> bool:
            return match.intersects(PacketSet.of(dst=[address], proto=[(proto, proto)], dport=[(p, p)]))
        if takes(port) and not (takes(1) and takes(65535)):
            found.add(name)
    return frozenset(found)


def _public(address: Interval) -> bool:
    return any(lo <= address[0] <= hi for lo, hi in PUBLIC_SOURCES)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def origin_text(origin: Origin | None, fallback: str) -> str:
    """Where a hint is written: the rule's origin, else the device or file it came from."""
    return str(origin) if origin is not None else fallback


def hosts(intervals: Iterable[Interval]) -> list[Interval]:
    """The single addresses among `intervals` (a range or any address names no server)."""
    return [iv for iv in intervals if iv[0] == iv[1] and iv != ANY_ADDR]


class Finder:
    """Collects hints per address and the translations that carry a private address to a public one. Vendors'
    `server_hints` (plugins.Vendor) add theirs with `add`, `translation` and `unplaced`."""

    def __init__(self) -> None:
        self.found: dict[Interval, Candidate] = {}
        self.unplaced: list[Evidence] = []
        # (real range, public range, the translation as evidence); ranges of equal size map offset by offset
        self.inbound: list[tuple[Interval, Interval, Evidence]] = []

    def add(self, address: Interval, evidence: Evidence, client_vpn: bool = False) -> None:
        candidate = self.found.setdefault(address, Candidate(address))
        candidate.evidence.append(evidence)
        candidate.client_vpn |= client_vpn

    def translation(self, real: Interval, public: Interval, evidence: Evidence) -> None:
        if real[1] - real[0] == public[1] - public[0] and real != public:
            self.inbound.append((real, public, evidence))

    def _outward(self, address: Interval) -> tuple[Interval, Evidence] | None:
        for real, public, evidence in self.inbound:
            if real[0] <= address[0] <= real[1]:
                moved = public[0] + address[0] - real[0]
                return (moved, moved), evidence
        return None

    def candidates(self) -> list[Candidate]:
        """Candidates by public address: a private one is carried through the translations (a perimeter
        firewall's static NAT in front of a load balancer's VIP: a few steps at most); one no translation
        reaches stays on its private address, and is written commented out."""
        out: dict[Interval, Candidate] = {}
        for address, candidate in self.found.items():
            target, carried = address, list(candidate.evidence)
            for _step in range(4):
                step = None if _public(target) else self._outward(target)
                if step is None:
                    break
                target, translation = step
                if translation not in carried:
                    carried.append(translation)
            merged = out.setdefault(target, Candidate(target))
            merged.evidence.extend(e for e in carried if e not in merged.evidence)
            merged.client_vpn |= candidate.client_vpn
        for candidate in out.values():
            candidate.evidence.sort(key=Evidence.key)
        return sorted(out.values(), key=lambda c: c.address)


def _balancers(model: Model, finder: Finder) -> None:
    from auditor.lb_model import LoadBalancer

    for device in model.devices.values():
        if not isinstance(device, LoadBalancer):
            continue
        for svc in device.services:
            if svc.address is None or not svc.enabled or svc.action != "balance":
                continue
            if svc.address.prefixlen != svc.address.max_prefixlen:
                continue
            base = V4_BASE if svc.address.version == 4 else 0
            host = (base + int(svc.address.network_address),) * 2
            flows = flows_of(svc.match(), host)
            if flows:
                finder.add(host, Evidence(origin_text(svc.origin, device.source), svc.text(), flows, device.name,
                                          device.tier))


def find_candidates(snapshot: Snapshot) -> tuple[list[Candidate], list[Evidence]]:
    """Every candidate VPN server address with its evidence, and the hints that name no address."""
    model = Model(snapshot=str(snapshot.root))  # no servers: the adapters load every device as it is
    load_devices(snapshot, model)
    finder = Finder()
    for vendor in installed().vendors:  # hints from each vendor's own data (MX forwards, ASA/IOS NAT and ACLs)
        if vendor.server_hints is not None and any(snapshot.path(f).is_dir() for f in vendor.adapters):
            vendor.server_hints(snapshot, model, finder)
    _balancers(model, finder)  # load balancers are in the model: no vendor knowledge needed
    return finder.candidates(), finder.unplaced


# -- the file ---------------------------------------------------------------------------------------------------
def _name(candidate: Candidate, taken: set[str]) -> str:
    name = "vpn-" + candidate.text.replace(".", "-").replace(":", "-")
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _entry(candidate: Candidate, name: str, commented: bool) -> list[str]:
    lines = [f"  # {e.line()}" for e in candidate.evidence[:MAX_EVIDENCE]]
    if len(candidate.evidence) > MAX_EVIDENCE:
        lines.append(f"  # ... and {len(candidate.evidence) - MAX_EVIDENCE} more")
    seen = ", ".join(f for f in HINT_FLOWS if f in candidate.flows)
    why = f"from the ports seen: {seen}" if seen else \
        "Meraki Client VPN is L2TP/IPsec" if candidate.client_vpn else "no VPN port seen: the default protocols"
    body = [f"- name: {name}", f"  address: {candidate.text}",
            f"  protocols: [{', '.join(candidate.protocols())}]   # {why}"]
    if commented:
        return lines + [f"  # {line}" for line in body]
    devices = candidate.devices()
    body.insert(2, "  # fqdn: vpn.example.com   # the name clients dial, if they dial one")
    if devices:
        body.append(f"  # path: [{', '.join(devices)}]   # REVIEW: devices with evidence, outermost first? "
                    "Without path only those that own the address (NAT, VIP) are placed; one that only filters "
                    "(an ACL) is placed only by path")
    return lines + [f"  {line}" for line in body]


def render(snapshot: Snapshot, candidates: list[Candidate], unplaced: list[Evidence]) -> str:
    """The commented YAML text (loads with auditor.config.load_config)."""
    strong = [c for c in candidates if c.strong and _public(c.address)]
    weak = [c for c in candidates if c not in strong]
    taken: set[str] = set()
    out = [
        f"# audit.yaml for the snapshot {snapshot.root.name}, written by vpn-auditor {__version__} init.",
        "# Every server here is a guess from the snapshot's configuration (NAT, ACLs, virtual servers, MX uplinks).",
        "# Check each line marked REVIEW, remove what is not a VPN server clients dial, then delete the REVIEW",
        "# comments. Every key is described in docs/audit-yaml.md.",
        "",
    ]
    if strong:
        out.append("vpn_servers:")
        for candidate in strong:
            out += _entry(candidate, _name(candidate, taken), commented=False)
    else:
        out += ["vpn_servers: []",
                "  # REVIEW: nothing in the snapshot shows a VPN server (no translation, permit or virtual server",
                "  # for UDP 500 or 4500 to one host). Write yours in place of the [] above, for example:",
                "  # - name: corp-vpn",
                f"  #   address: {PLACEHOLDER}       # placeholder: the public address clients dial",
                "  #   protocols: [ikev2, sstp]"]
    if weak:
        out += ["",
                "  # Weaker candidates, commented out (TCP 443 only, which any web server has; a translation of",
                "  # every port; a private address; an MX uplink, which is a server only if Client VPN is on):",
                "  # uncomment the ones that are VPN servers."]
        for candidate in weak:
            out += _entry(candidate, _name(candidate, taken), commented=True)
    for evidence in unplaced:
        out.append(f"  # {evidence.line()}")
    out += [
        "",
        "# scope:                          # which networks to audit (names or ids); default: all of them",
        "#   networks: [\"Store 14\"]",
        "",
        "# protocols:                      # extra or changed protocol requirements, by name",
        "#   anyconnect: {flows: [tcp/443, udp/443]}",
        "",
        "# sources:                        # roles that are not in the Meraki data (Cisco-only sites, labs)",
        "#   - name: branch-lan",
        "#     prefixes: [192.168.10.0/24]",
        "#     enters: cisco/br-edge-01:GigabitEthernet0/1   # device:interface where it enters; default: the internet",
        "",
    ]
    return "\n".join(out)


def write_config(snapshot_dir: Path, output: Path | None = None, force: bool = False) -> InitResult:
    """Guess the servers and write the file (SNAPSHOT/audit.yaml unless `output`); an existing file is
    replaced only with `force`. Unusable input or an unwritable file raise SnapshotError."""
    snapshot = Snapshot(snapshot_dir)
    known = installed().folders
    folders = [f for f in known if snapshot.path(f).is_dir()]
    if not folders:
        from auditor.gate import wrong_level

        raise SnapshotError(str(snapshot_dir), wrong_level(Path(snapshot_dir)) or "not a snapshot: it holds none "
                            f"of the folders {', '.join(f + '/' for f in known)} (point at the folder that "
                            "collect wrote)")
    path = output if output is not None else snapshot.root / "audit.yaml"
    if path.exists() and not force:
        raise SnapshotError(str(path), "exists; give --force to replace it, or -o FILE to write elsewhere")
    candidates, unplaced = find_candidates(snapshot)
    text = render(snapshot, candidates, unplaced)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SnapshotError(str(path), f"cannot write: {exc.strerror}") from None
    strong = [c for c in candidates if c.strong and _public(c.address)]
    messages = [f"wrote {path}: {len(strong)} candidate VPN server(s), {len(candidates) - len(strong)} weaker "
                "one(s) commented out; review every line marked REVIEW"]
    if not strong:
        messages.append(f"{path}: no VPN server found in the snapshot; vpn_servers is empty (a commented "
                        "placeholder shows the shape): fill it in before running audit")
    return InitResult(path, candidates, unplaced, messages)


__all__ = ["Candidate", "Evidence", "Finder", "InitResult", "find_candidates", "flows_of", "hosts", "origin_text",
           "render", "write_config"]
