"""KEMP / Progress LoadMaster: `kemp/<device>.xml`, the body of `GET /access/listvs`.

The XML is device output, so it is parsed with defusedxml (no DTDs, entities or external references),
through SAX to keep each element's line for the evidence.

Port following (docs/semantics/load-balancers.md, KEMP): two virtual services share persistence records when
each follows the other (`FollowVSID` = the other's `Index`; `PortFollow` = the other's port), they are on
the same IP, use the same persistence options, and have the same real servers. Set on one side only,
Kemp's documentation says it must be set on both; what one-sided following does is not documented.
"""

from __future__ import annotations

import ipaddress
import xml.sax
from dataclasses import dataclass, field

import defusedxml
import defusedxml.sax

from auditor.lb_model import (
    NO_PERSIST,
    OTHER,
    SCOPE_ADDRESS,
    SCOPE_SERVICE,
    SOURCE_IP,
    SSTP_PROBE_PATH,
    Backend,
    IkePair,
    LoadBalancer,
    Monitor,
    Persistence,
    SourceTranslation,
    VirtualService,
    classify_http_monitor,
)
from auditor.model import Model, Origin
from auditor.packets import PROTO_NUMBERS
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.common import add_gaps


@dataclass(slots=True)
class Element:
    tag: str
    line: int
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find(self, tag: str) -> Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Element]:
        return [c for c in self.children if c.tag == tag]

    def value(self, tag: str, default: str = "") -> str:
        child = self.find(tag)
        return child.text.strip() if child is not None else default

    def line_of(self, tag: str) -> int:
        child = self.find(tag)
        return child.line if child is not None else self.line


class _TreeBuilder(xml.sax.handler.ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.locator: xml.sax.xmlreader.Locator | None = None
        self.stack: list[Element] = []
        self.root: Element | None = None

    def setDocumentLocator(self, locator: xml.sax.xmlreader.Locator) -> None:  # SAX callback names
        self.locator = locator

    def startElement(self, name: str, attrs: xml.sax.xmlreader.AttributesImpl) -> None:
        line = (self.locator.getLineNumber() or 0) if self.locator is not None else 0
        element = Element(name, line)
        for key, value in attrs.items():
            element.children.append(Element(f"@{key}", line, value))
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)

    def endElement(self, name: str) -> None:
        self.stack.pop()

    def characters(self, content: str) -> None:
        if self.stack:
            self.stack[-1].text += content


def parse_xml(text: str, path: str) -> Element:
    """The element tree of untrusted XML, or SnapshotError naming the file and line."""
    handler = _TreeBuilder()
    try:
        defusedxml.sax.parseString(text.encode("utf-8"), handler, forbid_dtd=True)
    except xml.sax.SAXParseException as exc:
        raise SnapshotError(path, f"malformed XML: {exc.getMessage()}", exc.getLineNumber()) from None
    except defusedxml.DefusedXmlException as exc:
        raise SnapshotError(path, f"refused XML construct ({type(exc).__name__}): untrusted input") from None
    if handler.root is None:
        raise SnapshotError(path, "empty XML document")
    return handler.root


class KempLoadBalancer(LoadBalancer):
    vendor = "kemp"

    def _ref(self, svc: VirtualService) -> str:
        return f"VS {svc.vendor.get('index')} ({svc.listener()}{', ' + svc.name if svc.name else ''})"

    def fix_split(self, pair: IkePair) -> str:
        a, b = pair.ike, pair.natt
        if pair.same_object:
            return (f"On {self._ref(a)} set Persistence Mode to Source IP Address (Persist=src) with a timeout of "
                    f"at least 3600 s.")
        text = (f"On {self._ref(a)} and {self._ref(b)}: set Persistence Mode to Source IP Address (Persist=src) "
                f"with the same Persistence Timeout (e.g. 3600), and under Advanced Properties set Port Following "
                f"on each to the other (API: `/access/modvs?vs={_vip(a)}&port={_port(a)}&prot=udp&persist=src&"
                f"persisttimeout=3600&followvsid={b.vendor.get('index')}` and `/access/modvs?vs={_vip(b)}&"
                f"port={_port(b)}&prot=udp&persist=src&persisttimeout=3600&followvsid={a.vendor.get('index')}`).")
        if a.address != b.address:
            text += " Port following needs both virtual services on the same IP address."
        if pair.backend_difference:
            text += " Both must have the same real servers (port following requires it)."
        return text

    def fix_snat(self, svc: VirtualService) -> str:
        return (f"On {self._ref(svc)} enable Transparency (Transparent=Y) so the real servers see client "
                f"addresses, with the LoadMaster as the real servers' default gateway.")

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        if sstp:
            return (f"On {self._ref(svc)} set the real server check to HTTPS (HTTP if TLS is offloaded) with URL "
                    f"{SSTP_PROBE_PATH}, method HEAD, expecting the server's answer (commonly 401): a plain "
                    f"HTTPS or TCP check does not test the SSTP listener.")
        return (f"On {self._ref(svc)} set a real server check (CheckType icmp at least; a check of the VPN "
                f"service on the same servers is better).")

    def fix_timeout(self, svc: VirtualService) -> str:
        return f"On {self._ref(svc)} set Persistence Timeout (PersistTimeout) to 3600 on both IKE services."


def _vip(svc: VirtualService) -> str:
    return str(svc.address.network_address) if svc.address is not None else "?"


def _port(svc: VirtualService) -> str:
    return str(svc.ports[0][0]) if svc.ports else "0"


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _ports(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out.append((int(lo), int(hi or lo)))
    return out


def build_device(name: str, root: Element, path: str) -> KempLoadBalancer:
    device = KempLoadBalancer(name, path)
    if root.tag != "Response":
        raise SnapshotError(path, f"expected a LoadMaster <Response>, found <{root.tag}>", root.line)
    if root.find("Success") is None:
        error = root.find("Error")
        message = error.text.strip() if error is not None else "no <Success> element"
        raise SnapshotError(path, f"the LoadMaster answered with an error: {message}", root.line)
    data = root.find("Success")
    data = data.find("Data") if data is not None else None
    vss = data.findall("VS") if data is not None else []
    by_index: dict[int, tuple[Element, VirtualService]] = {}
    for vs in vss:
        svc = _service(vs, path)
        if svc is None:
            continue
        device.services.append(svc)
        index = svc.vendor.get("index")
        if isinstance(index, int):
            by_index[index] = (vs, svc)
    _port_following(device, by_index, path)
    return device


def _service(vs: Element, path: str) -> VirtualService | None:
    origin = Origin(path, line=vs.line)
    if (_int(vs.value("MasterVSID", "0")) or 0) > 0:
        return None  # a SubVS: no listener of its own; its parent's address receives the traffic
    index = _int(vs.value("Index"))
    problems: list[str] = []
    address = None
    try:
        address = ipaddress.ip_network(vs.value("VSAddress").split("%", 1)[0])
    except ValueError:
        problems.append(f"VSAddress {vs.value('VSAddress')!r} not understood")
    port_text = vs.value("VSPort")
    ports: tuple[tuple[int, int], ...] | None
    caveats: list[str] = []
    if port_text in ("*", "0", ""):
        ports = None
    elif port_text.isdigit():
        ports = ((int(port_text), int(port_text)),)
        extra = _ports(vs.value("ExtraPorts"))
        if extra:
            ports = ports + tuple(extra)
            covers = {p for p in (500, 4500) if any(lo <= p <= hi for lo, hi in ports)}
            if vs.value("Protocol").lower() == "udp" and covers == {500, 4500}:
                caveats.append(f"ExtraPorts {vs.value('ExtraPorts')} on a UDP virtual service is not verified "
                               f"to share one persistence table (docs/semantics/load-balancers.md)")
    else:
        ports = None
        problems.append(f"VSPort {port_text!r} not understood")
    proto_text = vs.value("Protocol", "tcp").lower()
    protocol = PROTO_NUMBERS.get(proto_text)
    schedule = vs.value("Schedule")
    svc = VirtualService(
        name=vs.value("NickName"), kind="VS", address=address, protocol=protocol, ports=ports, origin=origin,
        enabled=vs.value("Enable", "Y").upper() != "N", method=schedule,
        hash_key="client-ip" if schedule == "sh" else None, problems=problems, caveats=caveats,
        vendor={"index": index, "follow": _int(vs.value("FollowVSID", "0")) or 0,
                "port_follow": _int(vs.value("PortFollow", "0")) or 0},
    )
    if schedule == "sh":
        svc.vendor["hash_note"] = ("the LoadMaster's source-IP hash (Schedule=sh) is not verified to map a client "
                                   "to the same real server across virtual services")
    svc.pool = f"VS {index}" if index is not None else svc.name
    for rs in vs.findall("Rs"):
        addr = rs.value("Addr").split("%", 1)[0]
        try:
            ipaddress.ip_address(addr)
            ip: str | None = addr
        except ValueError:
            ip = None
        port = _int(rs.value("Port"))
        svc.backends.append(Backend(
            name=f"RS {rs.value('RsIndex') or addr}", address=ip, port=port or None,
            weight=_int(rs.value("Weight")), enabled=rs.value("Enable", "Y").upper() != "N",
            origin=Origin(path, line=rs.line), fqdn=None if ip else addr or None))
    svc.persistence = _persistence(vs, path)
    svc.snat = _snat(vs, svc, path)
    svc.monitors = _monitors(vs, path)
    if vs.findall("SubVS") and not svc.backends:
        svc.problems.append("SubVS content switching is not modelled")
    return svc


def _persistence(vs: Element, path: str) -> Persistence:
    persist = vs.value("Persist", "none").lower() or "none"
    timeout = _int(vs.value("PersistTimeout"))
    origins = (Origin(path, line=vs.line_of("Persist")), Origin(path, line=vs.line_of("PersistTimeout")))
    settings = {"PersistTimeout": str(timeout) if timeout is not None else "unset"}
    if persist == "none":
        return Persistence(kind=NO_PERSIST, vendor_type="none", settings=settings, origins=origins[:1])
    if persist == "src":
        return Persistence(kind=SOURCE_IP, name="Persist=src", vendor_type="src", timeout=timeout,
                           settings=settings, origins=origins, scope=SCOPE_SERVICE,
                           table=f"VS {vs.value('Index')}")
    return Persistence(kind=OTHER, name=f"Persist={persist}", vendor_type=persist, timeout=timeout,
                       settings=settings, origins=origins)


def _snat(vs: Element, svc: VirtualService, path: str) -> SourceTranslation:
    transparent = vs.value("Transparent", "").upper()
    origin = Origin(path, line=vs.line_of("Transparent"))
    if transparent == "Y":
        return SourceTranslation("none", "Transparent=Y", origin)
    if transparent == "N":
        if vs.value("ForceL7", "").upper() == "Y" or vs.value("Protocol").lower() == "tcp":
            return SourceTranslation("snat", "Transparent=N (the LoadMaster's address)", origin)
        return SourceTranslation(
            "unknown", "Transparent=N on a Layer-4 UDP service", origin,
            verify="whether the real servers see client addresses: at Layer 4 the LoadMaster is generally "
                   "transparent, but this is not verified (docs/semantics/load-balancers.md)")
    return SourceTranslation("none", "", None)


def _monitors(vs: Element, path: str) -> list[Monitor]:
    check = vs.value("CheckType", "").lower()
    origin = Origin(path, line=vs.line_of("CheckType"))
    if check in ("", "none"):
        return []
    url = vs.value("CheckUrl")
    port = vs.value("CheckPort")
    name = f"CheckType={check}" + (f" CheckPort={port}" if port and port != "0" else "") + \
        (f" CheckUrl={url}" if url else "")
    if check in ("http", "https"):
        kind = classify_http_monitor(check == "https", url)
    elif check in ("icmp", "tcp"):
        kind = check
    else:
        kind = "other"
    return [Monitor(name, kind, send=url, origin=origin)]


def _port_following(device: KempLoadBalancer, by_index: dict[int, tuple[Element, VirtualService]],
                    path: str) -> None:
    """Link services that follow each other into one shared persistence table (docs/semantics/load-balancers.md)."""
    def target(svc: VirtualService) -> VirtualService | None:
        follow = svc.vendor.get("follow") or 0
        if follow and follow in by_index:
            return by_index[follow][1]
        port = svc.vendor.get("port_follow") or 0
        if port:
            for other in device.services:
                if other is not svc and other.address == svc.address and other.protocol == svc.protocol \
                        and other.ports is not None and other.ports[0] == (port, port):
                    return other
        return None

    for svc in device.services:
        other = target(svc)
        if (svc.vendor.get("follow") or svc.vendor.get("port_follow")) and other is None:
            svc.problems.append(f"port following names VS {svc.vendor.get('follow') or svc.vendor.get('port_follow')}, "
                                f"which is not in the listing")
            continue
        if other is None or svc.persistence.kind != SOURCE_IP:
            continue
        vs, _ = by_index.get(svc.vendor.get("index") or -1, (None, None))
        follow_origin = Origin(path, line=vs.line_of("FollowVSID") if vs is not None else svc.origin.line
                               if svc.origin else None)
        p = svc.persistence
        settings = {**p.settings, "FollowVSID": str(other.vendor.get("index"))}
        note = (f"follows VS {other.vendor.get('index')} on {other.listener()}, another IP address: port "
                f"following needs both on the same IP" if other.address != svc.address else p.note)
        if target(other) is svc:
            lo, hi = sorted([svc.vendor.get("index") or 0, other.vendor.get("index") or 0])
            svc.persistence = Persistence(
                kind=p.kind, name=p.name, vendor_type=p.vendor_type, table=f"port following VS {lo} <-> VS {hi}",
                scope=SCOPE_ADDRESS, timeout=p.timeout, settings=settings, origins=(*p.origins, follow_origin),
                require_identical=True, note=note)
        else:
            svc.persistence = Persistence(
                kind=p.kind, name=p.name, vendor_type=p.vendor_type, table=p.table, scope=SCOPE_SERVICE,
                timeout=p.timeout, settings=settings, origins=(*p.origins, follow_origin), note=note,
                uncertain=f"port following is set on VS {svc.vendor.get('index')} only (to VS "
                          f"{other.vendor.get('index')}); Kemp says to set it on both, and what one-sided "
                          f"following does is not documented")


def load_xml(text: str, path: str, name: str) -> KempLoadBalancer:
    return build_device(name, parse_xml(text, path), path)


class KempAdapter:
    """Every `kemp/<device>.xml` of a snapshot becomes a `KempLoadBalancer`."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        for rel in snapshot.listdir("kemp", ".xml"):
            text = snapshot.read_text(rel)
            if text is None:
                continue
            name = "kemp/" + rel.rsplit("/", 1)[-1][: -len(".xml")]
            device = load_xml(text, rel, name)
            model.devices[name] = device
            add_gaps(device, model)


__all__ = ["Element", "KempAdapter", "KempLoadBalancer", "build_device", "load_xml", "parse_xml"]
