"""Adapters: one per vendor folder of a snapshot, each turning raw files into the vendor-neutral model.

Like netmiko's dispatcher, this is one table from a snapshot folder to the class that reads it. Adding a
vendor is adding an entry here and a module beside this one; nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Protocol

from auditor.model import Model, NetworkModel
from auditor.snapshot import Snapshot


class Adapter(Protocol):
    def load(self, snapshot: Snapshot, model: Model) -> None:
        """Add what the folder holds to `model` (networks and roles, or devices). Malformed input raises
        SnapshotError naming file and line; content that is understood only in part becomes unknown rules,
        GapHops or model.gaps, never a guess."""


# snapshot folder -> "module:Class"; imported only when the folder exists in the snapshot.
ADAPTERS: dict[str, str] = {
    "meraki": "auditor.adapters.meraki:MerakiAdapter",
    "f5": "auditor.adapters.f5:F5Adapter",
    "kemp": "auditor.adapters.kemp:KempAdapter",
    "netscaler": "auditor.adapters.netscaler:NetScalerAdapter",
    "keepalived": "auditor.adapters.ipvs:KeepalivedAdapter",
    "ipvs": "auditor.adapters.ipvs:IpvsadmAdapter",
    "azure": "auditor.adapters.azure_lb:AzureLbAdapter",
    "aws": "auditor.adapters.aws_nlb:AwsNlbAdapter",
    "cisco": "auditor.adapters.cisco:CiscoAdapter",
}


def adapter_for(folder: str) -> Adapter:
    module_name, class_name = ADAPTERS[folder].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def _present(snapshot: Snapshot) -> list[tuple[str, Adapter]]:
    return [(folder, adapter_for(folder)) for folder in ADAPTERS if snapshot.path(folder).exists()]


def load_devices(snapshot: Snapshot, model: Model) -> None:
    """Load every adapter that contributes devices (not networks): these must be in place before tracing."""
    for _folder, adapter in _present(snapshot):
        if not hasattr(adapter, "iter_networks"):
            adapter.load(snapshot, model)
        elif hasattr(adapter, "load_devices"):  # a network vendor whose gateways can front a server (MX)
            adapter.load_devices(snapshot, model)


def iter_networks(snapshot: Snapshot, model: Model,
                  take: Callable[[NetworkModel], bool] | None = None) -> Iterator[NetworkModel]:
    """Networks one at a time (each also appended to model.networks), so an audit can trace and release
    each before building the next. `take`, when given, is asked once per network in scope, in order, before
    the network is built (it gets the network with its networks.json identity and no roles): a network it
    declines is neither built nor yielded (another process audits it, or the audit cache has its results)."""
    for _folder, adapter in _present(snapshot):
        stream = getattr(adapter, "iter_networks", None)
        if stream is not None:
            yield from stream(snapshot, model, take)


def count_networks(snapshot: Snapshot) -> int:
    """How many networks the snapshot lists (before any scope), without building them."""
    total = 0
    refused = dict(snapshot.refused)
    for _folder, adapter in _present(snapshot):
        count = getattr(adapter, "count_networks", None)
        if count is not None:
            total += count(snapshot)
    snapshot.refused = refused  # an audit reads them again, and says so in its own order
    return total


def list_networks(snapshot: Snapshot) -> list[tuple[str, str, list[str]]]:
    """(id, name, product types) of every network the snapshot lists (before any scope), none built."""
    out: list[tuple[str, str, list[str]]] = []
    refused = dict(snapshot.refused)
    for _folder, adapter in _present(snapshot):
        listing = getattr(adapter, "list_networks", None)
        if listing is not None:
            out.extend(listing(snapshot))
    snapshot.refused = refused  # an audit reads them again, and says so in its own order
    return out
