"""Adapters: one per vendor folder of a snapshot, each turning raw files into the vendor-neutral model.

Like netmiko's dispatcher, this is one table from a snapshot folder to the class that reads it. Adding a
vendor is adding an entry here and a module beside this one; nothing else changes.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from auditor.model import Model
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
    "cisco": "auditor.adapters.cisco:CiscoAdapter",
}


def adapter_for(folder: str) -> Adapter:
    module_name, class_name = ADAPTERS[folder].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def load_devices_and_networks(snapshot: Snapshot, model: Model) -> None:
    for folder in ADAPTERS:
        if snapshot.path(folder).exists():
            adapter_for(folder).load(snapshot, model)
