"""The VPN flows on the wire to each server: worked out once per audit and handed to every network's checks."""

from __future__ import annotations

from auditor.checks import AuditContext
from auditor.model import Model, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.protocols import load_protocols, wire_flows_to


def flow(address: str, proto: int, port: int | None = None) -> PacketSet:
    return PacketSet.flow([ANY_ADDR], [address_interval(address)], proto, port)


SERVERS = [VpnServer("corp", "198.51.100.10", ["ikev2", "l2tp", "sstp"]), VpnServer("v6", "2001:db8::1", ["ikev2"])]


def test_each_flow_once_per_server_and_no_inner_flow() -> None:
    # IKEv2 and L2TP share udp/500, udp/4500 and esp; L2TP's udp/1701 travels inside them
    assert wire_flows_to(SERVERS, load_protocols()) == (
        flow("198.51.100.10", 17, 500), flow("198.51.100.10", 17, 4500), flow("198.51.100.10", 50),
        flow("198.51.100.10", 6, 443), flow("2001:db8::1", 17, 500), flow("2001:db8::1", 17, 4500),
        flow("2001:db8::1", 50))


def test_a_context_uses_the_flows_it_is_handed_else_works_them_out() -> None:
    protocols = load_protocols()
    model = Model(snapshot="test", servers=SERVERS)
    handed = (flow("198.51.100.10", 17, 500),)
    assert AuditContext(model, [], protocols, server_flows=handed).vpn_flows() is handed
    assert AuditContext(model, [], protocols).vpn_flows() == wire_flows_to(SERVERS, protocols)
