"""Linux IPVS: keepalived.conf (`keepalived/<device>.conf`) and `ipvsadm-save -n` (`ipvs/<device>.rules`).

Firewall-mark services cover whatever the packet filter marks; their listeners come from an
`iptables-save` dump next to the file (`<device>.iptables`, mangle-table `-j MARK` rules). Without it a
fwmark service's listeners are unknown (a data gap).

Persistence (docs/semantics/load-balancers.md, IPVS): IPVS persistence is per virtual service and keyed on the
client address; a fwmark service groups "what would otherwise be multiple virtual services" into one, and a
port-0 persistent service accepts every port. `virtual_server group` entries are one IPVS service each,
unless keepalived runs with `nftables_ipvs`, which gives the whole group one fwmark [I].
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex
from dataclasses import dataclass, field

from auditor.lb_model import (
    NO_PERSIST,
    SCOPE_DEVICE,
    SCOPE_SERVICE,
    SOURCE_IP,
    Backend,
    IkePair,
    LoadBalancer,
    Monitor,
    ParseIssue,
    Persistence,
    SourceTranslation,
    VirtualService,
)
from auditor.model import DataGap, Model, Origin
from auditor.packets import PROTO_NUMBERS
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.common import add_gaps
from auditor.vendors.lb.iptables import host_filter

KEEPALIVED_DEFAULT_PERSISTENCE = 360  # keepalived.conf(5): persistence_timeout "default 6 minutes"
IPVSADM_DEFAULT_PERSISTENCE = 300  # ipvsadm(8): -p "default of 300 seconds"
CHECKS = {"TCP_CHECK": "tcp", "UDP_CHECK": "udp", "HTTP_GET": "http", "SSL_GET": "https", "MISC_CHECK": "script",
          "SMTP_CHECK": "other", "DNS_CHECK": "other", "BFD_CHECK": "other", "PING_CHECK": "icmp",
          "FILE_CHECK": "other"}


# ---------------------------------------------------------------------------------------------------
# iptables-save: which packets get which firewall mark


@dataclass(frozen=True, slots=True)
class MarkRule:
    mark: int
    destination: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    protocol: int | None
    ports: tuple[tuple[int, int], ...] | None
    origin: Origin


def parse_iptables(text: str, path: str) -> list[MarkRule]:
    rules: list[MarkRule] = []
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "mangle" or not line.startswith("-A "):
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise SnapshotError(path, f"cannot split the rule: {exc}", number) from None
        opts = _iptables_options(words)
        mark_text = (opts.get("--set-mark") or opts.get("--set-xmark") or "").split("/")[0]
        if opts.get("-j") != "MARK" or not mark_text:
            continue
        try:
            mark = int(mark_text, 0)
            dest = ipaddress.ip_network(opts["-d"], strict=False) if "-d" in opts else None
        except ValueError:
            continue
        proto = opts.get("-p")
        protocol = PROTO_NUMBERS.get(proto) if proto else None
        ports_text = opts.get("--dport") or opts.get("--dports") or opts.get("--destination-port")
        ports = _port_list(ports_text) if ports_text else None
        rules.append(MarkRule(mark, dest, protocol, ports, Origin(path, line=number)))
    return rules


def _iptables_options(words: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    for i, word in enumerate(words):
        if word.startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            opts[word] = words[i + 1]
    return opts


def _port_list(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out.append((int(lo), int(hi or lo)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# A neutral description of IPVS services, filled from keepalived.conf or ipvsadm-save


@dataclass(slots=True)
class RealServer:
    address: str | None
    port: int | None
    weight: int | None
    checks: list[str]
    origin: Origin


@dataclass(slots=True)
class IpvsService:
    name: str
    origin: Origin
    address: str | None = None  # None for fwmark services
    port: int | None = None
    fwmark: int | None = None
    protocol: int | None = 6
    scheduler: str = "wlc"
    method: str = "NAT"  # NAT | DR | TUN
    persistence: int | None = None  # seconds; None = not persistent
    persistence_origin: Origin | None = None
    granularity: str = ""
    ops: bool = False
    sched_flags: set[str] = field(default_factory=set)  # ipvsadm -b / keepalived sh-port, flag-2, ...
    reals: list[RealServer] = field(default_factory=list)

    @property
    def hashes_client_ip(self) -> bool:
        """`sh` hashes the source address only; with sh-port (flag-2) it adds the source port (ipvsadm(8))."""
        return self.scheduler == "sh" and not self.sched_flags & {"sh-port", "flag-2"}
    group: str = ""  # keepalived virtual_server group


class IpvsLoadBalancer(LoadBalancer):
    vendor = "ipvs"

    def fix_split(self, pair: IkePair) -> str:
        vip = str(pair.ike.address.network_address) if pair.ike.address is not None else "<VIP>"
        return (f"Serve UDP 500 and UDP 4500 of {vip} from one persistent IPVS service: mark both with the same "
                f"firewall mark (`iptables -t mangle -A PREROUTING -d {vip} -p udp -m multiport --dports "
                f"500,4500 -j MARK --set-mark 50`) and use `virtual_server fwmark 50 {{ protocol UDP; "
                f"persistence_timeout 3600; ... }}` (ipvsadm: `-A -f 50 -s wlc -p 3600`), or one persistent "
                f"port-0 service (`virtual_server {vip} 0 {{ persistence_timeout 3600; protocol UDP ... }}`).")

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        if sstp:
            return ("Give each real_server an SSL_GET check of the SSTP endpoint (`url { path "
                    "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ status_code 401 }`).")
        return "Give each real_server a health check (UDP_CHECK or MISC_CHECK testing the VPN service)."

    def fix_timeout(self, svc: VirtualService) -> str:
        return "Set `persistence_timeout 3600` (ipvsadm `-p 3600`) on the IKE service."


def _net(text: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not text:
        return None
    try:
        return ipaddress.ip_network(text.split("%", 1)[0])
    except ValueError:
        return None


def build_device(name: str, path: str, services: list[IpvsService], marks: list[MarkRule] | None,
                 shared_groups: set[str]) -> IpvsLoadBalancer:
    device = IpvsLoadBalancer(name, path)
    for ipvs in services:
        listeners: list[tuple[object, tuple[tuple[int, int], ...] | None, int | None, Origin]] = []
        problems: list[str] = []
        if ipvs.fwmark is not None:
            found = [m for m in (marks or []) if m.mark == ipvs.fwmark]
            if marks is None:
                problems.append(f"fwmark {ipvs.fwmark}: the packet filter rules that set it are not in the snapshot")
            elif not found:
                problems.append(f"fwmark {ipvs.fwmark}: no mangle rule sets this mark")
            by_dest: dict[object, list[MarkRule]] = {}
            for rule in found:
                by_dest.setdefault(rule.destination, []).append(rule)
            for dest, rules in by_dest.items():
                ports: tuple[tuple[int, int], ...] | None = ()
                for rule in rules:
                    ports = None if ports is None or rule.ports is None else ports + rule.ports
                protos = {r.protocol for r in rules}
                listeners.append((dest, ports, protos.pop() if len(protos) == 1 else None, rules[0].origin))
            if not listeners:
                listeners.append((None, None, ipvs.protocol, ipvs.origin))
        else:
            port = None if not ipvs.port else ((ipvs.port, ipvs.port),)
            if not ipvs.port and ipvs.persistence is None:
                problems.append("port 0 is only valid on a persistent service (ipvsadm -p)")
            listeners.append((_net(ipvs.address), port, ipvs.protocol, ipvs.origin))
        if ipvs.fwmark is not None:
            table, scope = f"fwmark {ipvs.fwmark}", SCOPE_DEVICE
        elif ipvs.group and ipvs.group in shared_groups:
            table, scope = f"virtual_server_group {ipvs.group} (nftables_ipvs: one fwmark)", SCOPE_DEVICE
        else:
            table, scope = f"service {ipvs.name}", SCOPE_SERVICE
        persistence = Persistence(kind=NO_PERSIST)
        if ipvs.persistence is not None:
            settings = {"persistence_timeout": str(ipvs.persistence), "scheduler": ipvs.scheduler}
            if ipvs.granularity:
                settings["persistence_granularity"] = ipvs.granularity
            persistence = Persistence(kind=SOURCE_IP, name=f"persistent {table}", vendor_type="ipvs persistence",
                                      table=table, scope=scope, timeout=ipvs.persistence, settings=settings,
                                      origins=tuple(o for o in (ipvs.persistence_origin,) if o is not None))
        # ipvsadm(8): "A quiescent server [weight 0] will receive no new jobs but still serve the existing jobs"
        backends = [Backend(name=f"{r.address}:{r.port}" if r.port else str(r.address), address=r.address,
                            port=r.port or None, weight=r.weight, origin=r.origin, enabled=r.weight != 0,
                            state="weight 0 (quiescent): receives no new connections" if r.weight == 0 else "")
                    for r in ipvs.reals]
        monitors = [Monitor(c, CHECKS.get(c, "other"), origin=r.origin) for r in ipvs.reals for c in r.checks]
        unique_monitors = list({m.name: m for m in monitors}.values())
        for address, ports, protocol, origin in listeners:
            svc = VirtualService(
                name=ipvs.name, kind="virtual_server", address=address, protocol=protocol, ports=ports,  # type: ignore[arg-type]
                origin=ipvs.origin, backends=list(backends), persistence=persistence, method=ipvs.scheduler,
                hash_key="client-ip" if ipvs.hashes_client_ip else None, per_datagram=ipvs.ops,
                translate_address=ipvs.method == "NAT", translate_port=ipvs.method == "NAT",
                snat=SourceTranslation("none", f"lb_kind {ipvs.method}"), monitors=unique_monitors,
                problems=list(problems), pool=ipvs.name, vendor={"fwmark_origin": str(origin)})
            if svc.hash_key:
                svc.vendor["hash_note"] = "IPVS source hashing maps over each service's own real-server table"
            device.services.append(svc)
        for problem in problems:
            device.issues.append(ParseIssue(ipvs.origin, ipvs.name, problem))
    return device


# ---------------------------------------------------------------------------------------------------
# keepalived.conf


@dataclass(slots=True)
class _Block:
    words: list[str]
    line: int
    children: list[_Block] = field(default_factory=list)
    is_block: bool = False


def parse_keepalived(text: str, path: str) -> list[_Block]:
    tokens: list[tuple[str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"[#!]", raw, maxsplit=1)[0]
        for word in line.replace("{", " { ").replace("}", " } ").split():
            tokens.append((word, number))
        tokens.append(("\n", number))
    root = _Block([], 0, is_block=True)
    stack = [root]
    words: list[str] = []
    start = 0
    for word, number in tokens:
        if word == "\n":
            if words:
                stack[-1].children.append(_Block(words, start))
            words = []
        elif word == "{":
            block = _Block(words, start if words else number, is_block=True)
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif word == "}":
            if words:
                stack[-1].children.append(_Block(words, start))
                words = []
            if len(stack) == 1:
                raise SnapshotError(path, "unexpected '}' (no block is open)", number)
            stack.pop()
        else:
            if not words:
                start = number
            words.append(word)
    if len(stack) > 1:
        raise SnapshotError(path, "unbalanced braces: block never closed", stack[-1].line)
    return root.children


def services_from_keepalived(text: str, path: str) -> tuple[list[IpvsService], set[str], list[ParseIssue]]:
    blocks = parse_keepalived(text, path)
    issues: list[ParseIssue] = []
    nft = any(child.words and child.words[0] in ("nftables_ipvs", "nftables") for b in blocks
              if b.words[:1] == ["global_defs"] for child in b.children)
    groups: dict[str, list[tuple[str, int | None, int | None]]] = {}
    for block in blocks:
        if block.words[:1] == ["include"]:
            issues.append(ParseIssue(Origin(path, line=block.line), " ".join(block.words),
                                     "included files are not in the snapshot"))
        if block.words[:1] == ["virtual_server_group"] and len(block.words) > 1:
            entries: list[tuple[str, int | None, int | None]] = []
            for child in block.children:
                if child.words[:1] == ["fwmark"] and len(child.words) > 1 and child.words[1].isdigit():
                    entries.append(("", None, int(child.words[1])))
                elif child.words:
                    port_text = child.words[1] if len(child.words) > 1 else "0"
                    entries.append((child.words[0], int(port_text) if port_text.isdigit() else None, None))
            groups[block.words[1]] = entries
    services: list[IpvsService] = []
    shared: set[str] = set()
    for block in blocks:
        if block.words[:1] != ["virtual_server"] or not block.is_block:
            continue
        origin = Origin(path, line=block.line)
        args = block.words[1:]
        template = IpvsService(name=" ".join(block.words), origin=origin)
        _keepalived_settings(template, block, path)
        if args[:1] == ["fwmark"] and len(args) > 1 and args[1].isdigit():
            template.fwmark = int(args[1])
            services.append(template)
        elif args[:1] == ["group"] and len(args) > 1:
            members = groups.get(args[1])
            if members is None:
                issues.append(ParseIssue(origin, " ".join(block.words), f"virtual_server_group {args[1]} not defined"))
                continue
            if nft:
                shared.add(args[1])
            for address, port, mark in members:
                service = dataclasses.replace(template, reals=list(template.reals))
                service.group, service.address, service.port, service.fwmark = args[1], address or None, port, mark
                service.name = f"virtual_server group {args[1]} ({address or 'fwmark'} {port or mark})"
                services.append(service)
        elif args:
            template.address = args[0]
            template.port = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
            services.append(template)
    return services, shared, issues


def _keepalived_settings(service: IpvsService, block: _Block, path: str) -> None:
    for child in block.children:
        key = child.words[0] if child.words else ""
        value = child.words[1] if len(child.words) > 1 else ""
        if key == "protocol":
            service.protocol = PROTO_NUMBERS.get(value.lower())
        elif key in ("lb_algo", "lvs_sched"):
            service.scheduler = value
        elif key in ("lb_kind", "lvs_method"):
            service.method = value.upper()
        elif key == "persistence_timeout":
            service.persistence = int(value) if value.isdigit() else KEEPALIVED_DEFAULT_PERSISTENCE
            service.persistence_origin = Origin(path, line=child.line)
        elif key == "persistence_granularity":
            service.granularity = value
        elif key == "ops":
            service.ops = True
        elif key in ("sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3"):
            service.sched_flags.add(key)
        elif key == "real_server" and len(child.words) > 1:
            address = child.words[1] if _net(child.words[1]) else None
            port = int(child.words[2]) if len(child.words) > 2 and child.words[2].isdigit() else None
            weight = next((int(c.words[1]) for c in child.children if c.words[:1] == ["weight"]
                           and len(c.words) > 1 and c.words[1].isdigit()), None)
            checks = [c.words[0] for c in child.children if c.is_block and c.words and c.words[0] in CHECKS]
            service.reals.append(RealServer(address, port, weight, checks, Origin(path, line=child.line)))


# ---------------------------------------------------------------------------------------------------
# ipvsadm-save -n


def services_from_ipvsadm(text: str, path: str) -> list[IpvsService]:
    services: dict[str, IpvsService] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise SnapshotError(path, f"cannot split the line: {exc}", number) from None
        origin = Origin(path, line=number)
        key, protocol, target = _ipvs_service_key(words)
        if key is None:
            continue
        if words[0] in ("-A", "--add-service"):
            service = IpvsService(name=f"{'fwmark' if protocol is None else _PROTO_FLAG[protocol]} {target}",
                                  origin=origin, protocol=protocol if protocol is not None else None)
            if protocol is None:
                service.fwmark = int(target, 0) if target.isdigit() or target.startswith("0x") else None
            else:
                address, port = _split_hostport(target)
                service.address, service.port = address, port
            opts = _flags(words)
            service.scheduler = opts.get("-s") or opts.get("--scheduler") or "wlc"
            if "-p" in opts or "--persistent" in opts:
                value = opts.get("-p") or opts.get("--persistent") or ""
                service.persistence = int(value) if value.isdigit() else IPVSADM_DEFAULT_PERSISTENCE
                service.persistence_origin = origin
            if "-M" in opts or "--netmask" in opts:
                service.granularity = opts.get("-M") or opts.get("--netmask") or ""
            service.ops = "-o" in words or "--ops" in words
            flags = opts.get("-b") or opts.get("--sched-flags") or ""
            service.sched_flags = {f.strip() for f in flags.split(",") if f.strip()}
            services[key] = service
        elif words[0] in ("-a", "--add-server") and key in services:
            opts = _flags(words)
            real = opts.get("-r") or opts.get("--real-server") or ""
            address, port = _split_hostport(real)
            weight = opts.get("-w") or opts.get("--weight") or ""
            method = "DR" if "-g" in words or "--gatewaying" in words else "TUN" if "-i" in words else "NAT"
            services[key].method = method
            services[key].reals.append(RealServer(address, port, int(weight) if weight.isdigit() else None, [],
                                                  origin))
    return list(services.values())


_PROTO_FLAG = {6: "-t", 17: "-u", 132: "--sctp-service"}


def _ipvs_service_key(words: list[str]) -> tuple[str | None, int | None, str]:
    for i, word in enumerate(words[:-1]):
        if word in ("-t", "--tcp-service"):
            return f"tcp {words[i + 1]}", 6, words[i + 1]
        if word in ("-u", "--udp-service"):
            return f"udp {words[i + 1]}", 17, words[i + 1]
        if word in ("-f", "--fwmark-service"):
            return f"fwmark {words[i + 1]}", None, words[i + 1]
    return None, None, ""


def _flags(words: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, word in enumerate(words):
        if word.startswith("-"):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            out[word] = "" if nxt.startswith("-") else nxt
    return out


def _split_hostport(text: str) -> tuple[str | None, int | None]:
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    host = host if _net(host) else ""
    return host or None, int(port) if port.isdigit() else None


# ---------------------------------------------------------------------------------------------------


def load_keepalived(text: str, path: str, name: str, iptables: str | None = None,
                    iptables_path: str = "") -> IpvsLoadBalancer:
    services, shared, issues = services_from_keepalived(text, path)
    marks = parse_iptables(iptables, iptables_path) if iptables is not None else None
    device = build_device(name, path, services, marks, shared)
    device.issues.extend(issues)
    if iptables is not None:
        device.filters, device.filter_stage = host_filter(iptables, iptables_path), "packet filter"
    return device


def load_ipvsadm(text: str, path: str, name: str, iptables: str | None = None,
                 iptables_path: str = "") -> IpvsLoadBalancer:
    marks = parse_iptables(iptables, iptables_path) if iptables is not None else None
    device = build_device(name, path, services_from_ipvsadm(text, path), marks, set())
    if iptables is not None:
        device.filters, device.filter_stage = host_filter(iptables, iptables_path), "packet filter"
    return device


class _FolderAdapter:
    folder = ""
    suffix = ""

    def build(self, text: str, path: str, name: str, iptables: str | None, iptables_path: str) -> IpvsLoadBalancer:
        raise NotImplementedError

    def load(self, snapshot: Snapshot, model: Model) -> None:
        for rel in snapshot.listdir(self.folder, self.suffix):
            text = snapshot.read_text(rel)
            if text is None:
                continue
            stem = rel.rsplit("/", 1)[-1][: -len(self.suffix)]
            iptables_rel = f"{self.folder}/{stem}.iptables"
            iptables = snapshot.read_text(iptables_rel)
            device = self.build(text, rel, f"{self.folder}/{stem}", iptables, iptables_rel)
            model.devices[device.name] = device
            for svc in device.services:
                if svc.address is None and any("fwmark" in p for p in svc.problems):
                    model.gaps.append(DataGap(iptables_rel, f"{device.name}: {'; '.join(svc.problems)}"))
            add_gaps(device, model)


class KeepalivedAdapter(_FolderAdapter):
    """`keepalived/<device>.conf` (+ optional `keepalived/<device>.iptables`)."""

    folder, suffix = "keepalived", ".conf"

    def build(self, text: str, path: str, name: str, iptables: str | None, iptables_path: str) -> IpvsLoadBalancer:
        return load_keepalived(text, path, name, iptables, iptables_path)


class IpvsadmAdapter(_FolderAdapter):
    """`ipvs/<device>.rules` (`ipvsadm-save -n`, + optional `ipvs/<device>.iptables`)."""

    folder, suffix = "ipvs", ".rules"

    def build(self, text: str, path: str, name: str, iptables: str | None, iptables_path: str) -> IpvsLoadBalancer:
        return load_ipvsadm(text, path, name, iptables, iptables_path)


__all__ = ["IpvsLoadBalancer", "IpvsadmAdapter", "KeepalivedAdapter", "load_ipvsadm", "load_keepalived",
           "parse_iptables", "parse_keepalived"]
