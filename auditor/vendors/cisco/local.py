"""What a Cisco device does with traffic addressed to itself, and how it answers for addresses, from the line tree
of its running-config: where it terminates VPNs itself (it is then the VPN server: IKE/IPsec by crypto map,
FlexVPN or an IPsec tunnel interface, SSL VPN by `webvpn`), which access-group filters traffic to it (ASA
`control-plane`), on which interfaces it does not answer ARP for translated addresses (ASA `sysopt noproxyarp`),
whether NAT-T is turned off, the security-level lines as written (ASA), and the unicast RPF checks the audit does
not model. Each is read by a small function of its own; `read_local` runs them. The semantics are in
auditor/vendors/cisco/adapter.py and docs/semantics/cisco.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auditor.packets import Interval
from auditor.vendors.cisco.common import Line, host, is_ip

EVERY = "*"  # a termination that answers on every address of the device


@dataclass(frozen=True, slots=True)
class Termination:
    """The device itself terminates VPN traffic: `ike` (IKE on UDP 500 and 4500, then ESP) or `tls` (SSL VPN,
    AnyConnect or clientless, on TCP `port`)."""

    kind: str
    line: int
    text: str
    port: int = 443

    def describe(self) -> str:
        return f"line {self.line} ({self.text})"


@dataclass(slots=True)
class LocalConfig:
    # interface label (name or ASA nameif), or EVERY, -> what the device terminates on its addresses there
    terminations: dict[str, list[Termination]] = field(default_factory=dict)
    # terminations bound to one address rather than an interface (FlexVPN `match address local A.B.C.D`)
    at_address: list[tuple[Interval, Termination]] = field(default_factory=list)
    control_plane: dict[str, tuple[str, int]] = field(default_factory=dict)  # ASA: interface -> (ACL, line)
    nat_t_off: list[tuple[int, str]] = field(default_factory=list)  # lines that turn NAT-T off
    no_proxy_arp: dict[str, int] = field(default_factory=dict)  # ASA `sysopt noproxyarp IF`: interface -> line
    # ASA `security-level` lines as written: interface label -> (line, level or None when unreadable, text)
    levels: dict[str, tuple[int, int | None, str]] = field(default_factory=dict)
    urpf: list[tuple[str, int, str]] = field(default_factory=list)  # (interface label, line, text)
    lines: set[int] = field(default_factory=set)  # every line read here

    def terminates(self, label: str, *names: str) -> list[Termination]:
        found = list(self.terminations.get(EVERY, []))
        for name in dict.fromkeys((label, *names)):
            found += self.terminations.get(name, [])
        return found


def read_local(tree: list[Line], platform: str) -> LocalConfig:
    out = LocalConfig()
    readers: tuple[Callable[[Line, LocalConfig], bool], ...] = _ASA if platform == "asa" else _IOS
    maps: dict[str, list[tuple[str, Line]]] = {}  # IOS crypto map name -> (interface, line) it is applied on
    local_address: dict[str, str] = {}  # IOS crypto map name -> interface whose address it uses
    for line in tree:
        if platform == "ios" and line.text.startswith("interface "):
            _ios_interface(line, out, maps)
            continue
        if platform == "ios" and line.text.startswith("crypto map ") and " local-address " in line.text:
            parts = line.text.split()
            if len(parts) == 5:
                local_address[parts[2]] = parts[4]
                out.lines.add(line.number)
            continue
        for reader in readers:
            if reader(line, out):
                break
    for name, applied in maps.items():
        for iface, child in applied:
            _add(out, local_address.get(name, iface), Termination("ike", child.number, child.text))
    return out


def _add(out: LocalConfig, where: str, term: Termination) -> None:
    out.terminations.setdefault(where, []).append(term)
    out.lines.add(term.line)


# --- ASA ------------------------------------------------------------------------------------------------------
def _asa_crypto(line: Line, out: LocalConfig) -> bool:
    """`crypto ikev1|ikev2 enable IF [client-services [port N]]` and `crypto map NAME interface IF` (ASA VPN
    guide, "Enabling IKE on the Outside Interface", "Applying Crypto Maps to Interfaces")."""
    parts = line.text.split()
    if parts[:1] != ["crypto"]:
        return False
    if len(parts) >= 4 and parts[1] in ("ikev1", "ikev2") and parts[2] == "enable":
        _add(out, parts[3], Termination("ike", line.number, line.text))
    elif len(parts) == 5 and parts[1] == "map" and parts[3] == "interface":
        _add(out, parts[4], Termination("ike", line.number, line.text))
    elif parts[1:3] == ["isakmp", "nat-traversal"]:
        out.lines.add(line.number)
    else:
        return False
    return True


def _asa_nat_t(line: Line, out: LocalConfig) -> bool:
    if line.text.split()[:4] == ["no", "crypto", "isakmp", "nat-traversal"]:
        out.nat_t_off.append((line.number, line.text))
        out.lines.add(line.number)
        return True
    return False


def _asa_webvpn(line: Line, out: LocalConfig) -> bool:
    """`webvpn` with `enable IF` (SSL VPN on that interface) and `port N` (its TCP port, 443 by default)."""
    if line.text != "webvpn":
        return False
    port = 443
    enabled: list[Line] = []
    for child in line.children:
        parts = child.text.split()
        if parts[:1] == ["port"] and len(parts) == 2 and parts[1].isdigit():
            port = int(parts[1])
            out.lines.add(child.number)
        elif parts[:1] == ["enable"] and len(parts) >= 2:
            enabled.append(child)
    for child in enabled:
        _add(out, child.text.split()[1], Termination("tls", child.number, child.text, port))
    out.lines.add(line.number)
    return True


def _asa_control_plane(line: Line, out: LocalConfig) -> bool:
    """`access-group NAME in interface IF control-plane`: the management access rule of IF, for traffic to the ASA
    itself (ASA firewall guide, "Access Rules": "In the CLI, these are 'control plane' access groups")."""
    parts = line.text.split()
    if len(parts) == 6 and parts[0] == "access-group" and parts[2] == "in" and parts[3] == "interface" \
            and parts[5] == "control-plane":
        out.control_plane[parts[4]] = (parts[1], line.number)
        out.lines.add(line.number)
        return True
    return False


def _asa_sysopt(line: Line, out: LocalConfig) -> bool:
    """`sysopt noproxyarp IF`: the ASA answers no ARP for NAT addresses on IF."""
    parts = line.text.split()
    if len(parts) == 3 and parts[:2] == ["sysopt", "noproxyarp"]:
        out.no_proxy_arp[parts[2]] = line.number
        out.lines.add(line.number)
        return True
    return False


def _asa_urpf(line: Line, out: LocalConfig) -> bool:
    """`ip verify reverse-path interface IF` (unicast RPF)."""
    parts = line.text.split()
    if len(parts) == 5 and parts[:4] == ["ip", "verify", "reverse-path", "interface"]:
        out.urpf.append((parts[4], line.number, line.text))
        out.lines.add(line.number)
        return True
    return False


def _asa_levels(line: Line, out: LocalConfig) -> bool:
    """An interface's `security-level` line as written: a level 0-100, or unreadable (None)."""
    if not line.text.startswith("interface "):
        return False
    label = line.text.split(" ", 1)[1].strip()
    level: tuple[int, int | None, str] | None = None
    for child in line.children:
        parts = child.text.split()
        if parts[0] == "nameif" and len(parts) == 2:
            label = parts[1]
        elif parts[0] == "security-level":
            ok = len(parts) == 2 and parts[1].isdigit() and int(parts[1]) <= 100
            level = (child.number, int(parts[1]) if ok else None, child.text)
    if level is not None:
        out.levels[label] = level
    return True


_ASA = (_asa_crypto, _asa_nat_t, _asa_webvpn, _asa_control_plane, _asa_sysopt, _asa_urpf, _asa_levels)


# --- IOS ------------------------------------------------------------------------------------------------------
def _ios_interface(line: Line, out: LocalConfig, maps: dict[str, list[tuple[str, Line]]]) -> None:
    """An interface's `crypto map NAME` (IKE terminates on its address, or on the crypto map's local-address),
    an IPsec tunnel (`tunnel protection ipsec profile` or `tunnel mode ipsec`: IKE terminates on the tunnel
    source) and unicast RPF (`ip verify unicast ...`, `ipv6 verify unicast ...`)."""
    name = line.text.split(" ", 1)[1].strip() if " " in line.text else ""
    source: Line | None = None
    protection: Line | None = None
    for child in line.children:
        parts = child.text.split()
        if parts[:2] == ["crypto", "map"] and len(parts) >= 3:
            maps.setdefault(parts[2], []).append((name, child))
        elif parts[:2] == ["tunnel", "source"] and len(parts) == 3:
            source = child
            out.lines.add(child.number)
        elif parts[:3] in (["tunnel", "protection", "ipsec"], ["tunnel", "mode", "ipsec"]):
            protection = protection or child
            out.lines.add(child.number)
        elif parts[1:3] == ["verify", "unicast"] and parts[0] in ("ip", "ipv6"):
            out.urpf.append((name, child.number, child.text))
            out.lines.add(child.number)
    if protection is not None and source is not None and not name.lower().startswith("virtual-template"):
        where = source.text.split()[2]
        term = Termination("ike", protection.number, protection.text)
        out.lines.add(source.number)
        if is_ip(where):
            out.at_address.append((host(where), term))
            out.lines.add(term.line)
        else:
            _add(out, where, term)


def _ios_ikev2_profile(line: Line, out: LocalConfig) -> bool:
    """A FlexVPN server: `crypto ikev2 profile` (or IKEv1 `crypto isakmp profile`) with `virtual-template N`
    terminates IKE on the addresses its `match address local` lines name, or on every address without one."""
    parts = line.text.split()
    if not (parts[:3] in (["crypto", "ikev2", "profile"], ["crypto", "isakmp", "profile"]) and len(parts) == 4):
        return False
    out.lines.add(line.number)
    template = next((c for c in line.children if c.text.startswith("virtual-template ")), None)
    if template is None:
        return True  # a profile that crypto maps or tunnels use: those say where IKE terminates
    term = Termination("ike", template.number, f"{line.text}: {template.text}")
    local = [c for c in line.children if c.text.startswith("match address local ")]
    if not local:
        _add(out, EVERY, term)
    for child in local:
        words = child.text.split()
        out.lines.add(child.number)
        if words[3:4] == ["interface"] and len(words) == 5:
            _add(out, words[4], term)
        elif len(words) == 4 and is_ip(words[3]):
            out.at_address.append((host(words[3]), term))
        else:
            _add(out, EVERY, term)  # not read: it may be any address
    out.lines.add(line.number)
    return True


def _ios_nat_t(line: Line, out: LocalConfig) -> bool:
    if line.text.startswith("no crypto ipsec nat-transparency "):
        out.nat_t_off.append((line.number, line.text))
        out.lines.add(line.number)
        return True
    return False


def _ios_webvpn(line: Line, out: LocalConfig) -> bool:
    """`webvpn gateway NAME` with `ip interface IF [port N]` or `ip address A [port N]`, in service."""
    if not line.text.startswith("webvpn gateway "):
        return False
    out.lines.add(line.number)
    if not any(c.text == "inservice" for c in line.children):
        return True
    for child in line.children:
        parts = child.text.split()
        port = int(parts[parts.index("port") + 1]) if "port" in parts[:-1] and \
            parts[parts.index("port") + 1].isdigit() else 443
        if parts[:2] == ["ip", "interface"] and len(parts) >= 3:
            _add(out, parts[2], Termination("tls", child.number, child.text, port))
        elif parts[:2] == ["ip", "address"] and len(parts) >= 3 and is_ip(parts[2]):
            out.at_address.append((host(parts[2]), Termination("tls", child.number, child.text, port)))
            out.lines.add(child.number)
    return True


_IOS = (_ios_ikev2_profile, _ios_nat_t, _ios_webvpn)
