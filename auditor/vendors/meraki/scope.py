"""Where the Meraki folder keeps each network's files, for the core's `NetworkScope` (auditor/plugins.py): which
networks a changed file affects (`diff`), the AutoVPN full tunnels that carry a spoke's traffic through its hubs,
the overlay of `networks.json` that restricts an audit to some networks (`diff`, the fix plans' re-audit), and
which failed Dashboard calls leave which networks or MXs out of an audit (the gate).

The layout (docs/snapshot.md): `meraki/organizations.json`, `meraki/organizations/<org>/networks.json` and the
org's objects beside it, `meraki/networks/<network>/...` per network; folder names are percent-encoded ids.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from auditor.snapshot import Snapshot, SnapshotError, api_segment

_NETWORK_FILE = re.compile(r"^meraki/networks/([^/]+)/")
_ORG_FILE = re.compile(r"^meraki/organizations/([^/]+)/")


def _org_networks(snapshot: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """Org id -> the networks its networks.json lists (an unreadable list lists none)."""
    orgs = snapshot.read_json("meraki/organizations.json") or []
    org_ids = [str(o.get("id")) for o in orgs if isinstance(o, dict)]
    org_ids += [org for f in snapshot.listdir("meraki/organizations")  # folder names are percent-encoded
                if (org := urllib.parse.unquote(f.rsplit("/", 1)[1])) not in org_ids]
    out: dict[str, list[dict[str, Any]]] = {}
    for org_id in org_ids:
        networks = snapshot.read_json(f"meraki/organizations/{api_segment(org_id)}/networks.json")
        if isinstance(networks, list):
            out[org_id] = [n for n in networks if isinstance(n, dict)]
    return out


def _tunnel_hubs(snapshot: Snapshot, orgs: dict[str, list[dict[str, Any]]]) -> dict[str, frozenset[str]]:
    """Spoke network id -> the hubs it sends internet traffic to (AutoVPN default route). A file that is
    absent or not understood names none here; the audit itself reports it."""
    out: dict[str, frozenset[str]] = {}
    for networks in orgs.values():
        for network in networks:
            net_id = str(network.get("id"))
            try:
                data = snapshot.read_json(f"meraki/networks/{api_segment(net_id)}/appliance/vpn/siteToSiteVpn.json")
            except SnapshotError:
                continue
            if not isinstance(data, dict) or str(data.get("mode", "")).lower() != "spoke":
                continue
            hubs = frozenset(str(h.get("hubId")) for h in data.get("hubs") or []
                             if isinstance(h, dict) and h.get("useDefaultRoute") is True)
            if hubs:
                out[net_id] = hubs
    return out


class MerakiScope:
    """The Meraki folder's `NetworkScope`."""

    def network_of(self, rel: str) -> str | None:
        # A manifest entry may name its file without the folder (the collector's own view): read it as one.
        found = _NETWORK_FILE.match(rel if rel.startswith("meraki/") else f"meraki/{rel}")
        return urllib.parse.unquote(found.group(1)) if found else None

    def lists_networks(self, rel: str) -> bool:
        return rel == "meraki/organizations.json" or (rel.startswith("meraki/organizations/")
                                                      and rel.endswith("/networks.json"))

    def affected(self, old: Snapshot, new: Snapshot, rels: list[str]) -> set[str] | None:
        old_orgs, new_orgs = _org_networks(old), _org_networks(new)
        affected: set[str] = set()
        for rel in rels:
            if found := _NETWORK_FILE.match(rel):  # file names hold percent-encoded ids
                affected.add(urllib.parse.unquote(found.group(1)))
            elif found := _ORG_FILE.match(rel):
                org_id = urllib.parse.unquote(found.group(1))
                if rel == f"meraki/organizations/{found.group(1)}/networks.json":
                    before = {str(n.get("id")): n for n in old_orgs.get(org_id, [])}
                    after = {str(n.get("id")): n for n in new_orgs.get(org_id, [])}
                    affected.update(i for i in before.keys() | after.keys() if before.get(i) != after.get(i))
                else:  # policy objects and the like: every network of the organization
                    affected.update(str(n.get("id")) for n in old_orgs.get(org_id, []) + new_orgs.get(org_id, []))
            else:
                return None  # organizations.json, a file the layout does not place
        return affected

    def tunnels(self, old: Snapshot, new: Snapshot) -> dict[str, frozenset[str]]:
        """Spoke network id -> the hubs it sends internet traffic to in either snapshot."""
        out = _tunnel_hubs(old, _org_networks(old))
        for spoke, hubs in _tunnel_hubs(new, _org_networks(new)).items():
            out[spoke] = out.get(spoke, frozenset()) | hubs
        return out

    def restrict(self, snapshot: Snapshot, networks: set[str]) -> dict[str, Any]:
        """networks.json of every organization cut down to `networks` (order kept)."""
        return {f"meraki/organizations/{api_segment(org_id)}/networks.json":
                [n for n in listed if str(n.get("id")) in networks]
                for org_id, listed in _org_networks(snapshot).items()}

    def path_devices(self, networks: list[tuple[str, str, list[str]]]) -> list[str]:
        """`meraki/<network name>` of each network with an MX: what audit.yaml `path` may name."""
        return [f"meraki/{name}" for _, name, products in networks if "appliance" in products]

    def missing_device(self, name: str, networks: list[tuple[str, str, list[str]]],
                       failed: list[tuple[str, str]]) -> tuple[str, str] | None:
        """(file, reason) when a `meraki/<network>` path entry is missing because a Meraki call failed: the
        network's own files, or a network list that could have named it."""
        wanted = name.split("/", 1)[1].lower()
        ids = {i for i, n, _ in networks if wanted in (i.lower(), n.lower())}
        for rel, why in failed:
            if (self.lists_networks(rel) and not ids) or self.network_of(rel) in ids:
                return rel, f"{why}: the MX of {name} cannot be placed in front of the server, so what it does " \
                            "to VPN traffic is unknown"
        return None
