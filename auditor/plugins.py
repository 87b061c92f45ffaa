"""How vendors plug into the core: the protocols they implement and the registry that holds them.

The core (model, trace, audit, checks, report, fix plans, diff) never imports a vendor. Each vendor package
under `auditor/vendors/` describes itself with a `Vendor` (the snapshot folders it reads and the adapter class
for each, its fix planner, its diff scope), and `auditor.vendors` installs the shipped ones here with real
class references. A registry that is incomplete or inconsistent raises `RegistryError`; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from auditor.errors import RegistryError
from auditor.model import Model, NetworkModel, VpnServer
from auditor.snapshot import Snapshot

if TYPE_CHECKING:
    from auditor.dns import DnsRecords, RoleDns


class Adapter(Protocol):
    """Reads one snapshot folder into the vendor-neutral model."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        """Add what the folder holds to `model` (networks and roles, or devices). Malformed input raises
        SnapshotError naming file and line; content that is understood only in part becomes unknown rules,
        GapHops or model.gaps, never a guess."""


@runtime_checkable
class NetworkAdapter(Adapter, Protocol):
    """An adapter whose folder holds networks with client roles (Meraki), streamed one network at a time."""

    def load_devices(self, snapshot: Snapshot, model: Model) -> None:
        """The folder's devices that can stand in front of a server, before any network is built."""

    def iter_networks(self, snapshot: Snapshot, model: Model,
                      take: Callable[[NetworkModel], bool] | None = None) -> Iterator[NetworkModel]: ...

    def count_networks(self, snapshot: Snapshot) -> int: ...

    def list_networks(self, snapshot: Snapshot) -> list[tuple[str, str, list[str]]]: ...

    def network_dns(self, snapshot: Snapshot, net: NetworkModel, servers: list[VpnServer],
                    records: dict[str, DnsRecords | None]) -> list[RoleDns]:
        """What each role of `net` resolves the servers' names to, from the resolvers its configuration gives."""


@dataclass(frozen=True)
class Vendor:
    """One vendor package as the core sees it."""

    name: str
    adapters: dict[str, type[Adapter]]  # snapshot folder -> the adapter class that reads it
    planner: type | None = None  # its fix planner (auditor.fixplan.Planner); None: it plans no edits


class Registry:
    """The vendors of this build, in the order their folders are read (the order reports list devices)."""

    def __init__(self, vendors: Iterable[Vendor]) -> None:
        self.vendors: tuple[Vendor, ...] = tuple(vendors)
        self.adapters: dict[str, type[Adapter]] = {}
        names: set[str] = set()
        for vendor in self.vendors:
            if vendor.name in names:
                raise RegistryError(f"vendor {vendor.name!r} is registered twice")
            names.add(vendor.name)
            for folder, cls in vendor.adapters.items():
                if folder in self.adapters:
                    raise RegistryError(f"snapshot folder {folder}/ is claimed by two adapters "
                                        f"({self.adapters[folder].__qualname__} and {cls.__qualname__})")
                if not callable(getattr(cls, "load", None)):
                    raise RegistryError(f"{cls.__qualname__} (folder {folder}/) has no load(snapshot, model)")
                self.adapters[folder] = cls

    @property
    def folders(self) -> list[str]:
        return list(self.adapters)

    def network_folders(self) -> list[str]:
        """Folders whose adapter yields networks with roles (the rest hold devices on the way to a server)."""
        return [folder for folder, cls in self.adapters.items() if issubclass(cls, NetworkAdapter)]

    def planners(self) -> list[type]:
        return [v.planner for v in self.vendors if v.planner is not None]

    def present(self, snapshot: Snapshot) -> list[tuple[str, Adapter]]:
        return [(folder, cls()) for folder, cls in self.adapters.items() if snapshot.path(folder).exists()]


_installed: Registry | None = None


def install(registry: Registry) -> None:
    """Make `registry` the vendors every audit uses (auditor.vendors installs the shipped ones on import)."""
    global _installed
    _installed = registry


def installed() -> Registry:
    if _installed is None:
        raise RegistryError("no vendors are installed: import auditor.vendors (the shipped vendors) or call "
                            "auditor.plugins.install() before auditing")
    return _installed


def _network_adapters(snapshot: Snapshot) -> Iterator[NetworkAdapter]:
    for _folder, adapter in installed().present(snapshot):
        if isinstance(adapter, NetworkAdapter):
            yield adapter


def load_devices(snapshot: Snapshot, model: Model) -> None:
    """Load every adapter that contributes devices (not networks): these must be in place before tracing."""
    for _folder, adapter in installed().present(snapshot):
        if isinstance(adapter, NetworkAdapter):
            adapter.load_devices(snapshot, model)  # a network vendor whose gateways can front a server (MX)
        else:
            adapter.load(snapshot, model)


def iter_networks(snapshot: Snapshot, model: Model,
                  take: Callable[[NetworkModel], bool] | None = None) -> Iterator[NetworkModel]:
    """Networks one at a time (each also appended to model.networks), so an audit can trace and release
    each before building the next. `take`, when given, is asked once per network in scope, in order, before
    the network is built (it gets the network with its networks.json identity and no roles): a network it
    declines is neither built nor yielded (another process audits it, or the audit cache has its results)."""
    for adapter in _network_adapters(snapshot):
        yield from adapter.iter_networks(snapshot, model, take)


def count_networks(snapshot: Snapshot) -> int:
    """How many networks the snapshot lists (before any scope), without building them."""
    refused = dict(snapshot.refused)
    total = sum(adapter.count_networks(snapshot) for adapter in _network_adapters(snapshot))
    snapshot.refused = refused  # an audit reads them again, and says so in its own order
    return total


def list_networks(snapshot: Snapshot) -> list[tuple[str, str, list[str]]]:
    """(id, name, product types) of every network the snapshot lists (before any scope), none built."""
    out: list[tuple[str, str, list[str]]] = []
    refused = dict(snapshot.refused)
    for adapter in _network_adapters(snapshot):
        out.extend(adapter.list_networks(snapshot))
    snapshot.refused = refused  # an audit reads them again, and says so in its own order
    return out


def network_dns(snapshot: Snapshot, net: NetworkModel, servers: list[VpnServer],
                records: dict[str, DnsRecords | None]) -> list[RoleDns]:
    """Each role's answer for each server with recorded answers, from the adapters that build networks."""
    out: list[RoleDns] = []
    for adapter in _network_adapters(snapshot):
        out.extend(adapter.network_dns(snapshot, net, servers, records))
    return out
