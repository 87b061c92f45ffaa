"""The path graph: roles -> client-side enforcement points -> internet -> server-side devices -> servers.

A `networkx.DiGraph` whose nodes are role variants, hops, the internet and servers; edges follow the order
of traversal. Hops shared by several roles (an SSID's L3 list, a network's MX) are one node, so the graph
shows which roles depend on which enforcement point. The trace follows each role's own hop sequence; the
graph answers the questions graphs are good at: which devices stand in front of a server, in which order,
and which roles cross a given hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from auditor.model import Device, Hop, Model, Role, VpnServer

INTERNET = "internet"


def server_node(server: VpnServer) -> str:
    return f"server:{server.name}"


def role_node(role: Role, variant_label: str) -> str:
    return f"role:{role.key}|{variant_label}"


def hop_node(hop: Hop) -> str:
    return f"hop:{id(hop)}"


@dataclass(frozen=True, slots=True)
class FrontDevices:
    """The devices in front of a server, outermost first, and why a device audit.yaml `path` names is not
    among them (each a data gap of the audit)."""

    devices: list[Device]
    problems: list[str]


def devices_in_front(model: Model, server: VpnServer) -> FrontDevices:
    """The server-side devices on a server's path, outermost first, and problems placing them.

    audit.yaml `path` wins; without it, every device that owns the server's address is placed, ordered by
    tier (perimeter before load balancer). A device whose configuration cannot rule it out (truncated,
    unreadable lines) is placed too: leaving it out would report its server reachable on no evidence.
    """
    problems: list[str] = []
    if server.path:
        chosen = []
        for name in server.path:
            device = model.devices.get(name)
            if device is None:
                problems.append(f"audit.yaml path of '{server.name}' names '{name}', which is not in the snapshot")
            else:
                chosen.append(device)
        return FrontDevices(chosen, problems)
    owners = [d for d in model.devices.values() if d.owns(server) or d.may_own(server)]
    return FrontDevices(sorted(owners, key=lambda d: (d.tier, d.name)), problems)


def build_graph(model: Model) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_node(INTERNET, kind="internet")
    for server in model.servers:
        graph.add_node(server_node(server), kind="server", server=server)
        previous = INTERNET
        for device in devices_in_front(model, server).devices:
            for hop in device.hops(server):
                node = hop_node(hop)
                graph.add_node(node, kind="hop", hop=hop, device=device.name)
                graph.add_edge(previous, node)
                previous = node
        graph.add_edge(previous, server_node(server))
    add_roles(graph, [role for net in model.networks for role in net.roles] + model.extra_roles)
    return graph


def add_roles(graph: nx.DiGraph[str], roles: list[Role]) -> None:
    """Role variants and their client-side hops, joined to the internet node."""
    for role in roles:
        for variant in role.variants:
            start = role_node(role, variant.label)
            graph.add_node(start, kind="role", role=role, variant=variant)
            previous = start
            for hop in variant.hops:
                node = hop_node(hop)
                graph.add_node(node, kind="hop", hop=hop)
                graph.add_edge(previous, node)
                previous = node
            graph.add_edge(previous, INTERNET)


def server_side_hops(graph: nx.DiGraph[str], server: VpnServer) -> list[list[Hop]]:
    """Every hop sequence from the internet to the server (one per branch)."""
    return [[graph.nodes[n]["hop"] for n in path[1:-1]]
            for path in nx.all_simple_paths(graph, INTERNET, server_node(server))]
