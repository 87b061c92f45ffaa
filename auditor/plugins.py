"""How vendors plug into the core: the protocols they implement and the registry that holds them.

The core (model, trace, audit, checks, report, fix plans, diff, gate, init) never imports a vendor. Each vendor
package under `auditor/vendors/` describes itself with a `Vendor` (the snapshot folders it reads and the adapter
class for each, its fix planner, the layout of its network folders, its `init` hints), and `auditor.vendors`
installs the shipped ones here with real class references. A registry that is incomplete or inconsistent raises
`RegistryError`; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from auditor.errors import RegistryError
from auditor.model import Model, NetworkModel, VpnServer
from auditor.snapshot import Snapshot

if TYPE_CHECKING:
    from auditor.dns import DnsRecords, RoleDns
    from auditor.init_config import Finder


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


@runtime_checkable
class NetworkScope(Protocol):
    """Where a network vendor's folder keeps each network's files, so the core can narrow its work to some
    networks without knowing the layout: `diff` (which networks a changed file affects, the tunnels that carry
    one network's traffic through others, an overlay that restricts an audit to some networks), the fix plans'
    re-audit, and the gate (which failed files leave which networks or devices out of an audit)."""

    def network_of(self, rel: str) -> str | None:
        """The id of the network whose own files hold `rel` (snapshot-relative, or as a manifest call names
        it), else None."""

    def lists_networks(self, rel: str) -> bool:
        """Whether `rel` lists networks: unreadable, it leaves networks out of the audit, unnamed."""

    def affected(self, old: Snapshot, new: Snapshot, rels: list[str]) -> set[str] | None:
        """Ids of the networks whose verdicts the changes of `rels` (files in this folder) may change; None
        when any path may (a file of organization-wide reach, or one the layout does not place)."""

    def tunnels(self, old: Snapshot, new: Snapshot) -> dict[str, frozenset[str]]:
        """Network id -> the networks its traffic also crosses (full-tunnel hubs), in either snapshot."""

    def restrict(self, snapshot: Snapshot, networks: set[str]) -> dict[str, Any]:
        """A `Snapshot.overlaid` overlay under which the adapter builds only `networks`."""

    def path_devices(self, networks: list[tuple[str, str, list[str]]]) -> list[str]:
        """The device names audit.yaml `path` may give among these listed networks (list_networks rows)."""

    def missing_device(self, name: str, networks: list[tuple[str, str, list[str]]],
                       failed: list[tuple[str, str]]) -> tuple[str, str] | None:
        """(file, reason) when `path` device `name` of this folder is absent because one of `failed` (file, why)
        failed to be collected; None when none of them explains it."""


@dataclass(frozen=True)
class Vendor:
    """One vendor package as the core sees it."""

    name: str
    adapters: dict[str, type[Adapter]]  # snapshot folder -> the adapter class that reads it
    planner: type | None = None  # its fix planner (auditor.fixplan.Planner); None: it plans no edits
    scope: type[NetworkScope] | None = None  # its network folders' layout; None: a change there reaches every path
    # `vpn-auditor init`: adds what in this vendor's data points at a VPN server to the finder
    server_hints: Callable[[Snapshot, Model, Finder], None] | None = None
    # Entries directly inside its folder ("name/": a folder) that show a path given is that folder, not a snapshot
    inside: tuple[str, ...] = ()
    title: str = ""  # its name in messages ("every Meraki network"); default: name

    @property
    def shown(self) -> str:
        return self.title or self.name


class Registry:
    """The vendors of this build, in the order their folders are read (the order reports list devices)."""

    def __init__(self, vendors: Iterable[Vendor]) -> None:
        self.vendors: tuple[Vendor, ...] = tuple(vendors)
        self.adapters: dict[str, type[Adapter]] = {}
        self._vendor_of: dict[str, Vendor] = {}
        self._scopes: dict[str, NetworkScope] = {}
        names: set[str] = set()
        for vendor in self.vendors:
            if vendor.name in names:
                raise RegistryError(f"vendor {vendor.name!r} is registered twice")
            names.add(vendor.name)
            scope = vendor.scope() if vendor.scope is not None else None
            if scope is not None and not isinstance(scope, NetworkScope):
                raise RegistryError(f"{vendor.scope.__qualname__} (vendor {vendor.name}) is not a NetworkScope: it "
                                    "lacks some of network_of, lists_networks, affected, tunnels, restrict, "
                                    "path_devices, missing_device")
            for folder, cls in vendor.adapters.items():
                if folder in self.adapters:
                    raise RegistryError(f"snapshot folder {folder}/ is claimed by two adapters "
                                        f"({self.adapters[folder].__qualname__} and {cls.__qualname__})")
                if not callable(getattr(cls, "load", None)):
                    raise RegistryError(f"{cls.__qualname__} (folder {folder}/) has no load(snapshot, model)")
                self.adapters[folder] = cls
                self._vendor_of[folder] = vendor
                if scope is not None:
                    self._scopes[folder] = scope

    @property
    def folders(self) -> list[str]:
        return list(self.adapters)

    def network_folders(self) -> list[str]:
        """Folders whose adapter yields networks with roles (the rest hold devices on the way to a server)."""
        return [folder for folder, cls in self.adapters.items() if issubclass(cls, NetworkAdapter)]

    def planners(self) -> list[type]:
        return [v.planner for v in self.vendors if v.planner is not None]

    def vendor_of(self, folder: str) -> Vendor | None:
        return self._vendor_of.get(folder)

    def scope(self, folder: str) -> NetworkScope | None:
        """The layout of a network folder (None: a folder of devices, or no vendor's)."""
        return self._scopes.get(folder)

    def scopes(self) -> list[NetworkScope]:
        return list({id(s): s for s in self._scopes.values()}.values())

    def folder_inside(self, root: Path) -> str | None:
        """The vendor folder `root` is, judged by what it holds directly (a path given one level too deep)."""
        for vendor in self.vendors:
            for entry in vendor.inside:
                if (root / entry).is_dir() if entry.endswith("/") else (root / entry).is_file():
                    return next(iter(vendor.adapters))
        return None

    def present(self, snapshot: Snapshot) -> list[tuple[str, Adapter]]:
        return [(folder, cls()) for folder, cls in self.adapters.items() if snapshot.entry_kind(folder) != "absent"]


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


def network_of(rel: str) -> str | None:
    """The network whose own files hold `rel`, by the layout of the folder that has it; None: no network's."""
    for scope in installed().scopes():
        if (network := scope.network_of(rel)) is not None:
            return network
    return None


def tunnels(old: Snapshot, new: Snapshot) -> dict[str, frozenset[str]]:
    """Network id -> the networks its traffic also crosses, in either snapshot (every network vendor's)."""
    out: dict[str, frozenset[str]] = {}
    for scope in installed().scopes():
        for network, others in scope.tunnels(old, new).items():
            out[network] = out.get(network, frozenset()) | others
    return out


def restrict(snapshot: Snapshot, networks: set[str]) -> dict[str, Any]:
    """The overlay under which every network adapter builds only `networks`."""
    out: dict[str, Any] = {}
    for scope in installed().scopes():
        out.update(scope.restrict(snapshot, networks))
    return out
