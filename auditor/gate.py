"""What lets an audit serve as a gate: every name it is given exists, it audited something, and what
collection failed to read is in the result (unknown, or an input error), never a silence that passes.

A CI gate that exits 0 after auditing nothing is worse than no gate, so an audit of no path is an input
error saying why (`nothing_audited`), a role list that could not be read makes the audit incomplete
(`unaudited`), and a device named in audit.yaml `path` is either in the snapshot, a hop whose decision is
`unknown` (its collection is recorded as failed), or an input error naming the closest device names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.model import DataGap, Model, UnknownDevice
from auditor.plugins import installed, list_networks
from auditor.snapshot import InputError, Snapshot, SnapshotError, too_large_reason
from auditor.vocab import Severity, Verdict
from auditor.waivers import PathWaivers, gate_findings

if TYPE_CHECKING:
    from auditor.audit import AuditResult

EXIT_OK, EXIT_FINDINGS, EXIT_UNKNOWN = 0, 1, 3  # `audit`'s exit codes for a result (2, usage, is the CLI's)

def _server_side() -> list[str]:
    """Folders of devices in front of servers: one device per file (`cisco/x.cfg`) or per folder (`f5/x/`)."""
    registry = installed()
    networks = registry.network_folders()
    return [folder for folder in registry.folders if folder not in networks]


def closest(word: str, candidates: Iterable[str], what: str = "names") -> str:
    """"closest: a, b" (difflib), else the first few candidates, for a name that matches nothing."""
    pool = sorted(dict.fromkeys(c for c in candidates if c))
    if not pool:
        return f"no {what} at all"
    folded = {c.lower(): c for c in pool}
    near = [folded[c] for c in difflib.get_close_matches(word.lower(), list(folded), n=3, cutoff=0.5)]
    if near:
        return "closest: " + ", ".join(near)
    shown = ", ".join(pool[:8]) + (f", ... ({len(pool)} in all)" if len(pool) > 8 else "")
    return f"{what}: {shown}"


# --- the snapshot folder ---------------------------------------------------------------------------------
def _vendor_folders(root: Path) -> list[str]:
    return [folder for folder in installed().folders if (root / folder).is_dir()]


def wrong_level(root: Path) -> str:
    """Why `root` is not a snapshot folder but one level below or above one ("" when it may be one)."""
    if not root.is_dir() or _vendor_folders(root):
        return ""
    name = root.name.lower()
    folders = installed().folders
    inside = installed().folder_inside(root)
    if name in folders or inside is not None:
        folder = name if name in folders else inside
        parent = root.resolve().parent
        return (f"{root} is the {folder}/ folder of a snapshot, not a snapshot: pass its parent folder "
                f"{parent}")
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return ""
    below = [p for p in children if _vendor_folders(p) or (p / "manifest.json").is_file()]
    if below:
        return f"{root} holds no snapshot folder (meraki/, cisco/, f5/ ...); it holds snapshot " \
               f"{', '.join(str(p) for p in below[:3])}: pass that folder"
    return ""


# --- names given on the command line or in audit.yaml --------------------------------------------------------
def unmatched_networks(snapshot: Snapshot, model: Model, names: list[str], option: str) -> None:
    """Raise an input error for a network name or id that matched no network of the snapshot. Names are
    not judged when an organization's network list could not be read: the network may be in it, and that
    gap makes the audit incomplete (exit 3) or empty (exit 2) by itself."""
    scopes = installed().scopes()
    if not names or any(scope.lists_networks(g.path) for g in model.gaps for scope in scopes):
        return
    audited = {n.id.lower() for n in model.networks} | {n.name.lower() for n in model.networks}
    missing = [name for name in names if name.lower() not in audited]
    if not missing:
        return
    listed = list_networks(snapshot)
    known = {i.lower() for i, _, _ in listed} | {n.lower() for _, n, _ in listed}
    missing = [name for name in missing if name.lower() not in known]
    if missing:
        name = missing[0]
        more = f" (and {', '.join(repr(m) for m in missing[1:])})" if len(missing) > 1 else ""
        raise InputError(f"{option}: no network named '{name}'{more} in {snapshot.root} "
                         f"({closest(name, [n for _, n, _ in listed], 'networks')})")


def filter_roles(result: AuditResult, roles: list[str]) -> None:
    """Keep only the paths of roles with these names (case-insensitive), and the findings about them or
    about no role in particular (devices, data gaps). A name that matches no role is an input error."""
    if not roles:
        return
    wanted = {r.lower() for r in roles}
    names = {p.role.name for p in result.paths}
    present = {n.lower() for n in names}
    for role in roles:
        if role.lower() not in present:
            raise InputError(f"--role: no role named '{role}' in the audited networks "
                             f"({closest(role, names, 'roles')})")
    result.paths = [p for p in result.paths if p.role.name.lower() in wanted]
    result.findings = [f for f in result.findings
                       if f.role is None or str(f.role.get("name", "")).lower() in wanted]


# --- devices named in audit.yaml `path` --------------------------------------------------------------------
class AbsentDevice(UnknownDevice):
    """A server-side device whose configuration collection failed (manifest): every flow through it is
    unknown."""

    def __init__(self, name: str, rel: str, reason: str) -> None:
        super().__init__(name, rel, reason, "not collected")


def _device_of(rel: str) -> str | None:
    """"cisco/hq-asa" for cisco/hq-asa.cfg, "f5/bigip1" for f5/bigip1/ltm/virtual.json; None elsewhere."""
    parts = rel.split("/")
    if len(parts) < 2 or parts[0] not in _server_side():
        return None
    leaf = parts[1].rsplit(".", 1)[0] if len(parts) == 2 else parts[1]
    return f"{parts[0]}/{leaf}"


def _failure(call: dict[str, Any]) -> str:
    status = f"HTTP {call['status']}" if call.get("status") else "no response"
    error = " ".join(str(call.get("error") or "").split())[:160]
    return f"{status}{': ' + error if error else ''}"


def fail_closed(snapshot: Snapshot, model: Model, source: str = "audit.yaml") -> None:
    """After the adapters have loaded the devices, before any path is traced: what collection failed to read
    is in the model. A device whose collection the manifest records as failed becomes an AbsentDevice
    (unknown, a data gap); a device named in audit.yaml `path` that is neither in the snapshot nor recorded
    as failed is a typo or was never collected: an input error naming the closest device names. Calls of a
    network vendor (Meraki) that failed where its folder was not written at all (no adapter reads it) are gaps
    that leave every role of that vendor unaudited."""
    registry = installed()
    failed: dict[str, tuple[str, str]] = {}  # device -> (file or command, why)
    network_failed: dict[str, list[tuple[str, str]]] = {}  # network folder -> (file, why) of its failed calls
    server_side = _server_side()
    network_folders = registry.network_folders()
    name: str | None  # the device a failed call or an oversized file belongs to
    for call in snapshot.failed_calls():
        rel = call.get("file")
        collector = str(call.get("collector") or "")
        if rel is None and collector in server_side:  # collected without --name: the host names it
            name = f"{collector}/{call.get('host') or 'unnamed'}"
            failed.setdefault(name, (str(call.get("path")), f"collecting {collector} device "
                                                            f"{call.get('host') or '(unnamed)'} failed"))
        elif rel is not None and (name := _device_of(rel)) is not None:
            failed.setdefault(name, (rel, f"{rel}: collection failed ({_failure(call)})"))
        elif rel is not None and (folder := rel.split("/", 1)[0]) in network_folders:
            network_failed.setdefault(folder, []).append((rel, f"{rel}: collection failed ({_failure(call)})"))
    for rel, size in snapshot.oversized.items():  # past the file cap: read as absent, never as empty
        why = too_large_reason(rel, size, snapshot.max_file_bytes)
        name = _device_of(rel)
        if name is not None:
            failed.setdefault(name, (rel, why))
        elif not any(g.path == rel for g in [*model.gaps, *(g for n in model.networks for g in n.gaps)]):
            model.gaps.append(DataGap(rel, f"{why}: what it decides is unknown"))
    for run in snapshot.interrupted_runs():  # what the collector had not read is in no file and no call
        collector = str(run.get("collector") or "a collector")
        model.gaps.append(DataGap("manifest.json", f"collection by {collector} was interrupted (SIGINT or SIGTERM, "
                                                   f"{run.get('finished_at') or 'time unknown'}): what it had not "
                                                   "read yet is not in the snapshot",
                                  unaudited=f"what {collector} had not collected when it was interrupted"))
    for folder, calls in network_failed.items():
        vendor = registry.vendor_of(folder)
        if vendor is not None and snapshot.entry_kind(folder) != "folder":
            model.gaps.extend(DataGap(rel, why, unaudited=f"every {vendor.shown} network and its roles")
                              for rel, why in calls[:3])
    for name, (rel, why) in failed.items():
        if name in model.devices:
            continue  # what was read stands; the device's adapter reports its own missing parts
        reason = f"{why}: the configuration of {name} is not in the snapshot, so what it does to VPN traffic " \
                 "is unknown"
        model.devices[name] = AbsentDevice(name, rel, reason)
        model.gaps.append(DataGap(rel, reason))
    networks: list[tuple[str, str, list[str]]] | None = None
    for server in model.servers:
        for name in server.path:
            if name in model.devices:
                continue
            if networks is None:
                networks = list_networks(snapshot)
            gap = _network_gap(name, networks, network_failed)
            if gap is not None:
                model.devices[name] = AbsentDevice(name, *gap)
                model.gaps.append(DataGap(*gap))
                continue
            present = _present_unread(snapshot, name)
            if present:
                reason = f"{present} is in the snapshot but holds no device the adapters could read, so what " \
                         f"{name} does to VPN traffic is unknown"
                model.devices[name] = AbsentDevice(name, present, reason)
                model.gaps.append(DataGap(present, reason))
                continue
            candidates = list(model.devices) + [d for scope in registry.scopes() for d in scope.path_devices(networks)]
            raise SnapshotError(source, f"vpn_servers '{server.name}' path names device '{name}', which "
                                              f"is not in the snapshot ({closest(name, candidates, 'devices')}): "
                                              "correct `path`, or collect the device into the snapshot")


def _network_gap(name: str, networks: list[tuple[str, str, list[str]]],
                 failed: dict[str, list[tuple[str, str]]]) -> tuple[str, str] | None:
    """(file, reason) when a `path` entry of a network folder (`meraki/<network>`) is missing because a call of
    that folder failed: its layout says which failures can explain it."""
    folder = name.split("/", 1)[0]
    scope = installed().scope(folder)
    if scope is None or not failed.get(folder) or "/" not in name:
        return None
    return scope.missing_device(name, networks, failed[folder])


def _present_unread(snapshot: Snapshot, name: str) -> str:
    """The snapshot file or folder of a device that is there but was not read as a device ("" if none)."""
    folder, _, leaf = name.partition("/")
    if folder not in _server_side() or not leaf:
        return ""
    try:  # listed through the snapshot, so the audit cache and report memo see a file come or go here
        found = snapshot.listdir(folder)
    except (SnapshotError, OSError):  # outside the snapshot, or unreadable: nothing found there
        return ""
    outside = [rel for rel in snapshot.refused if rel.rpartition("/")[0] == folder]  # links it would not follow
    for rel in sorted({*found, *outside}):
        entry = rel.rpartition("/")[2]
        if entry == leaf or entry.rsplit(".", 1)[0] == leaf:
            return rel
    return ""


# --- the outcome ---------------------------------------------------------------------------------------------
def exit_code(result: AuditResult, fail_on: str, allow_unknown: bool) -> int:
    """`audit`'s exit code for a result: 1 for a finding no waiver accepts at or above `fail_on` ("never": none
    counts), else 3 for a path left unknown (or roles left unaudited) unless `allow_unknown`, else 0."""
    if any(Severity.fails_at(f.effective_severity, fail_on) for f in gate_findings(result.findings)):
        return EXIT_FINDINGS
    accepted = PathWaivers(result.findings)
    # Roles whose list could not be read are in no path: as undecided as an unknown one (no waiver covers it).
    if not allow_unknown and (any(p.verdict == Verdict.UNKNOWN and accepted.waiver(p) is None for p in result.paths)
                              or unaudited(result)):
        return EXIT_UNKNOWN
    return EXIT_OK


def unaudited(result: AuditResult) -> list[str]:
    """Roles left out of the audit because the data that lists them is missing (exit 3 unless allowed)."""
    return [str(f.evidence["unaudited"]) for f in result.findings
            if f.check.kind == "data-gap" and f.evidence.get("unaudited") and f.waived is None]


def nothing_audited(result: AuditResult) -> str:
    """Why an audit of no path audited nothing, as the input error a gate reports."""
    root = Path(result.snapshot)
    level = wrong_level(root)
    if level:
        return f"nothing to audit: {level}"
    model = result.model
    lists = list(dict.fromkeys(g.reason for g in [*model.gaps, *(g for n in model.networks for g in n.gaps)]
                               if g.unaudited))
    if lists:
        shown = "; ".join(lists[:2]) + (f"; and {len(lists) - 2} more" if len(lists) > 2 else "")
        return f"nothing to audit: the data that lists the roles could not be read ({shown})"
    if not model.servers:
        return "nothing to audit: audit.yaml names no vpn_servers"
    if not model.networks and not model.extra_roles:
        if model.scope:
            return "nothing to audit: the scope matched no network"
        data = ", ".join(f"{folder}/" for folder in installed().network_folders())
        return f"nothing to audit: no networks in {root} (no {data} data) and no audit.yaml sources"
    roles = sum(len(n.roles) for n in model.networks) + len(model.extra_roles)
    if not roles:
        return (f"nothing to audit: the {len(model.networks)} network(s) in scope have no role (no enabled SSID, "
                "no MX VLAN) and audit.yaml has no sources")
    if not any(s.protocols for s in model.servers):
        return "nothing to audit: no VPN server in audit.yaml has protocols"
    return "nothing to audit: no path was traced"
