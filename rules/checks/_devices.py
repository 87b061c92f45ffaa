"""Helpers for the checks that ask server-side devices about themselves through `auditor.model.Device` (not a
check itself: it defines no CHECK). A device without the thing asked about answers with the defaults of
`Device`, and the check passes it by."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.graph import devices_in_front
from auditor.model import Device, Model, VpnServer
from auditor.packets import Interval, address_interval


def in_front(model: Model, server: VpnServer) -> list[Device]:
    """The devices the graph places in front of a server (audit.yaml path, else address ownership)."""
    return devices_in_front(model, server).devices


def fronts(model: Model) -> Iterator[tuple[VpnServer, Device, Interval]]:
    """Each server with its public address, and each device in front of it (checks that expose or translate the
    server ask this)."""
    for server in model.servers:
        try:
            public = address_interval(server.address)
        except ValueError:
            continue  # the config loader reports a bad address; nothing to check here
        for device in in_front(model, server):
            yield server, device, public
