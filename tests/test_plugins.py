"""The vendor registry (auditor/plugins.py): what it refuses, and what the core learns from it about a vendor's
folder without naming the vendor."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import RegistryError
from auditor.plugins import NetworkScope, Registry, Vendor, installed
from auditor.snapshot import Snapshot
from auditor.vendors import REGISTRY, cisco, lb, meraki
from auditor.vendors.cisco.adapter import CiscoAdapter
from auditor.vendors.meraki.adapter import MerakiAdapter
from auditor.vendors.meraki.scope import MerakiScope

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"


class _HalfScope:
    """Knows which network a file belongs to, and nothing else a NetworkScope must answer."""

    def network_of(self, rel: str) -> str | None:
        return None


def test_the_shipped_registry_is_the_installed_one_with_a_scope_for_the_network_folder_only() -> None:
    assert installed() is REGISTRY
    assert isinstance(REGISTRY.scope("meraki"), MerakiScope)
    assert [REGISTRY.scope(folder) for folder in REGISTRY.folders if folder != "meraki"] == \
        [None] * (len(REGISTRY.folders) - 1)
    assert REGISTRY.vendor_of("f5") is lb.VENDOR and REGISTRY.vendor_of("nowhere") is None
    assert [type(s) for s in REGISTRY.scopes()] == [MerakiScope]


def test_a_scope_that_falls_short_of_the_protocol_is_refused_when_the_registry_is_built() -> None:
    assert not isinstance(_HalfScope(), NetworkScope)
    half = Vendor(name="acme", adapters={"acme": MerakiAdapter}, scope=_HalfScope)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match=r"_HalfScope \(vendor acme\) is not a NetworkScope"):
        Registry([half])


def test_a_folder_claimed_twice_and_a_vendor_registered_twice_are_refused() -> None:
    with pytest.raises(RegistryError, match="cisco/ is claimed by two adapters"):
        Registry([cisco.VENDOR, Vendor(name="other", adapters={"cisco": CiscoAdapter})])
    with pytest.raises(RegistryError, match="'meraki' is registered twice"):
        Registry([meraki.VENDOR, meraki.VENDOR])


def test_a_folder_is_recognised_from_inside_by_its_vendor_markers_folders_and_files_apart(tmp_path: Path) -> None:
    assert REGISTRY.folder_inside(DEMO / "meraki") == "meraki"
    assert REGISTRY.folder_inside(DEMO) is None
    (tmp_path / "organizations").write_text("")  # a file where the marker is a folder: not Meraki's inside
    assert REGISTRY.folder_inside(tmp_path) is None
    (tmp_path / "organizations.json").write_text("[]")
    assert REGISTRY.folder_inside(tmp_path) == "meraki"


def test_the_meraki_scope_places_files_and_restricts_the_network_lists_of_the_demo() -> None:
    scope, snapshot = MerakiScope(), Snapshot(DEMO)
    networks = {i for i, _, _ in MerakiAdapter().list_networks(snapshot)}
    some = sorted(networks)[:1]
    assert scope.network_of(f"meraki/networks/{some[0]}/appliance/vlans.json") == some[0]
    assert scope.network_of(f"networks/{some[0]}/appliance/vlans.json") == some[0]  # a manifest's own view
    assert scope.network_of("cisco/hq-asa.cfg") is None
    assert scope.lists_networks("meraki/organizations.json")
    assert not scope.lists_networks(f"meraki/networks/{some[0]}/appliance/vlans.json")
    overlay = scope.restrict(snapshot, set(some))
    assert overlay and all(rel.endswith("/networks.json") for rel in overlay)
    assert {str(n["id"]) for listed in overlay.values() for n in listed} == set(some)
    assert scope.affected(snapshot, snapshot, [f"meraki/networks/{some[0]}/wireless/ssids.json"]) == set(some)
    assert scope.affected(snapshot, snapshot, ["meraki/organizations.json"]) is None
