"""The CRL host of a VPN server's certificate as one more destination to trace (audit.yaml
`vpn_servers[].crl_urls`).

Before an SSTP connection Windows checks whether the server's TLS certificate is revoked, at the CRL
distribution point written in it; when that host cannot be reached the connection fails with 0x80092013
(CRYPT_E_REVOCATION_OFFLINE, Microsoft KB 2980672). A guest SSID, or a splash page's walled garden, that lets
the VPN through but not the CRL host therefore still breaks the VPN. Each CRL host becomes a destination of its
own, `<server> CRL <host>`, with the protocol `crl` (TCP on the URL's port), traced from every role like a VPN
server: blocks are ordinary findings, tagged 0x80092013 by the protocol catalogue entry added here. A host name
needs an address: the only DNS data is the servers' `fqdn` in audit.yaml, so any other name is left unknown,
saying so (`unresolved`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from auditor.config import AuditConfig, ProtocolOverride, ServerConfig, parse_crl_url

CODES = (0x80092013,)  # CRYPT_E_REVOCATION_OFFLINE
PROTOCOL = "crl"


def protocol_name(port: int) -> str:
    return PROTOCOL if port == 80 else f"{PROTOCOL}-{port}"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A CRL host given by name, with no address in the snapshot: its reachability is unknown."""

    server: str
    url: str
    host: str
    port: int

    def text(self) -> str:
        return (f"CRL host {self.host} of '{self.server}' ({self.url}): a name with no address in the snapshot "
                f"(the only DNS data is the servers' fqdn in audit.yaml), so whether roles reach it on "
                f"tcp/{self.port} is unknown. Give its address: write the URL with the IP address it resolves to.")

    def to_json(self) -> dict[str, Any]:
        return {"server": self.server, "url": self.url, "host": self.host, "port": self.port, "reason": self.text()}


def _address(host: str, config: AuditConfig) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    for server in config.vpn_servers:
        if server.fqdn and server.fqdn.strip().rstrip(".").lower() == host.rstrip("."):
            return server.address
    return None


def _hosts(config: AuditConfig) -> list[tuple[ServerConfig, str, str, int, str | None]]:
    """The CRL hosts of servers that offer SSTP: Windows checks revocation before an SSTP connection (KB
    2980672); no source says an IKEv2 or L2TP client fetches the CRL first, so other servers' URLs are not
    traced (nor tagged 0x80092013)."""
    out = []
    for server in config.vpn_servers:
        if "sstp" not in {p.strip().lower() for p in server.protocols}:
            continue
        for url in server.crl_urls:
            crl = parse_crl_url(url)
            out.append((server, url, crl.host, crl.port, _address(crl.host, config)))
    return out


def unresolved(config: AuditConfig) -> list[Unresolved]:
    return [Unresolved(server.name, url, host, port) for server, url, host, port, address in _hosts(config)
            if address is None]


def expand(config: AuditConfig) -> AuditConfig:
    """The config with one destination per CRL host that has an address, and the `crl` protocols they use
    (an audit.yaml `protocols` entry of that name wins). The same config when no server lists a CRL URL;
    expanding twice adds nothing."""
    hosts = [h for h in _hosts(config) if h[4] is not None]
    if not hosts:
        return config
    out = config.model_copy(deep=True)
    names = {s.name.strip().lower() for s in out.vpn_servers}
    for server, _url, host, port, address in hosts:
        assert address is not None
        name = f"{server.name} CRL {host}" + (f":{port}" if port != 80 else "")
        protocol = protocol_name(port)
        if protocol not in out.protocols:
            out.protocols[protocol] = ProtocolOverride(
                flows=[f"tcp/{port}"], title="CRL download" + (f" (tcp/{port})" if port != 80 else ""),
                windows_errors=list(CODES))
        if name.lower() in names:
            continue  # already expanded, or the same host under two URLs
        names.add(name.lower())
        out.vpn_servers.append(ServerConfig(name=name, address=address, protocols=[protocol]))
    return out


def gaps(config: AuditConfig) -> list[tuple[str, str]]:
    """(file, reason) of each CRL host the audit cannot trace, for the audit's data-gap findings."""
    return [("audit.yaml", item.text()) for item in unresolved(config)]
