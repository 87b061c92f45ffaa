"""What every load-balancer adapter shares: reading a vendor folder that holds config text or REST bodies per
device, and turning problems on the services that carry VPN traffic into data gaps."""

from __future__ import annotations

from collections.abc import Callable

from auditor.lb_model import LoadBalancer
from auditor.model import Action, DataGap, Model, Origin, Rule
from auditor.packets import ALL
from auditor.snapshot import Snapshot


def load_devices(snapshot: Snapshot, model: Model, folder: str, both: str, needed: list[str],
                 from_folder: Callable[[str, str], LoadBalancer],
                 from_text: Callable[[str, str, str], LoadBalancer]) -> None:
    """Every `<folder>/<device>.conf` (config text) and `<folder>/<device>/` (REST bodies) of a snapshot
    becomes a device; shared by the vendors whose snapshots hold either form."""
    # Text files first: the text wins where it gives a device, and only then (`f5/x` sorts before `f5/x.conf`)
    # is a folder of the same name skipped; a text that reads as nothing leaves the folder in use.
    for rel in sorted(snapshot.listdir(folder), key=lambda entry: not entry.endswith(".conf")):
        stem = rel.rsplit("/", 1)[-1]
        if snapshot.entry_kind(rel) == "folder":  # told to the audit cache: a file may become a folder
            name = f"{folder}/{stem}"
            if name in model.devices:
                model.gaps.append(DataGap(rel, f"{rel}: both {both} for {name}; the .conf file was used"))
                continue
            expected = [f"{rel}/{needed_rel}" for needed_rel in needed]
            expect_files(snapshot, model, expected)
            device = from_folder(name, rel)
            unread_bodies(snapshot, model, device, rel, expected, services=expected[0])
        elif rel.endswith(".conf"):
            name = f"{folder}/{stem[: -len('.conf')]}"
            text = snapshot.read_text(rel)
            if text is None:
                continue
            device = from_text(text, rel, name)
        else:
            continue
        model.devices[name] = device
        add_gaps(device, model)


def expect_files(snapshot: Snapshot, model: Model, rels: list[str]) -> None:
    """A collection the model needs that is not in the snapshot is a data gap, unless the collector
    recorded that the device has no such resource (HTTP 404: nothing configured of that kind)."""
    for rel in rels:
        if snapshot.exists(rel):
            continue
        recorded = snapshot.outcome(rel)
        if recorded is None or recorded.outcome != "absent":
            model.gaps.append(DataGap(rel, snapshot.absence_reason(rel)))


def unread_bodies(snapshot: Snapshot, model: Model, device: LoadBalancer, folder: str, reported: list[str],
                  services: str) -> None:
    """REST bodies of the device that the manifest records as failed and that are not in the snapshot: the
    adapter read the others as the whole configuration, where a missing packet filter, firewall policy or
    virtual-address state would pass traffic the device drops. Every flow through the device is unknown (an
    uncertain filter before all others), and each missing body is a data gap. Where the body that lists its virtual
    servers (`services`) is among them, the device may front any server, and is placed in front of each."""
    prefix = f"{folder}/"
    missing = sorted({str(call["file"]) for call in snapshot.failed_calls()
                      if isinstance(call.get("file"), str) and str(call["file"]).startswith(prefix)})
    if not missing:
        return
    reasons = [snapshot.absence_reason(rel) for rel in missing]
    model.gaps.extend(DataGap(rel, why) for rel, why in zip(missing, reasons, strict=True) if rel not in reported)
    if services in missing:  # its virtual servers are not known: placed in front of every server (may_own)
        device.unread = reasons[missing.index(services)]
    for rule in device.filters:
        rule.position += 1
    device.filters.insert(0, Rule(1, Action.DENY, ALL, f"the configuration of {device.name} that was not collected",
                                  origin=Origin(folder), certain=False, reason="; ".join(reasons)))


def add_gaps(device: LoadBalancer, model: Model) -> None:
    """Problems on services that carry IKE or SSTP become data gaps (the trace reports them unknown too)."""
    vips = device.ike_vips(s.address for s in model.servers)
    for svc in device.ike_services(vips) + device.sstp_services(vips):
        for problem in svc.problems:
            model.gaps.append(DataGap(str(svc.origin or device.source), f"{device.name}: {svc.kind} {svc.name}: "
                                                                       f"{problem}"))


__all__ = ["add_gaps", "expect_files", "load_devices", "unread_bodies"]
