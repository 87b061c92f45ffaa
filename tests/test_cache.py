"""The audit cache (`audit --cache DIR`, auditor/cache.py): a report is the one an audit without the cache
writes, byte for byte, whatever changed between runs; a network is audited again exactly when something it
read changed (its own files, or an org-level file it read); a damaged or foreign entry is never trusted."""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor import cache as audit_cache
from auditor import compact
from auditor.audit import AuditResult, run_audit
from auditor.cli import app
from auditor.model import Origin, PassHop
from auditor.packets import PacketSet
from auditor.protocols import Flow
from auditor.report import FORMATS, json_report, render_format
from auditor.snapshot import SnapshotError
from auditor.vocab import Verdict
from tests.environment import needs_fork
from tests.snapshot_builder import MerakiSnapshot, deny

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
DEMO_NETWORKS = 4


def _report(result: AuditResult) -> str:
    return json_report.render(result).replace(result.generated_at, "GENERATED")


def _audit(snap: Path, cache: Path | None = None, workers: int = 1) -> AuditResult:
    return run_audit(snap, keep_model=False, workers=workers, cache_dir=cache)


def _entries(cache: Path) -> list[Path]:
    """The networks' entries (not the report memos nor their records of where their report is,
    auditor/report_memo.py)."""
    return sorted(p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".tmp-") and not p.suffix
                  and p.parent.name not in ("reports", "placed"))


def _texts(cache: Path) -> list[Path]:
    """The JSON report texts kept beside the entries (ENTRY.json)."""
    return sorted(p for p in cache.rglob("*.json") if p.is_file() and not p.name.startswith(".tmp-"))


def _synthetic(root: Path, networks: int) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from synth import network_id, write_org
    finally:
        sys.path.remove(str(ROOT / "bench"))
    write_org(root, networks, seed=5, workers=1)
    nets = root / "meraki" / "networks"
    (nets / network_id(3) / "appliance" / "firewall" / "l7FirewallRules.json").unlink()  # a data gap
    outside = root.parent / "outside"
    outside.mkdir()
    os.symlink(outside, root / "meraki" / "organizations" / "999")  # refused: it leads outside the snapshot
    return root


@pytest.mark.slow
def test_demo_report_is_the_same_cold_and_warm(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = _audit(DEMO)
    cold = _audit(DEMO, cache)
    warm = _audit(DEMO, cache)
    assert plain.cache is None
    assert cold.cache is not None and (cold.cache.hits, cold.cache.misses, cold.cache.written) == (0, 4, 4)
    assert warm.cache is not None and (warm.cache.hits, warm.cache.misses, warm.cache.written) == (4, 0, 0)
    for result in (cold, warm):
        result.generated_at = plain.generated_at
        for name in FORMATS:
            assert render_format(result, name) == render_format(plain, name), name
    assert [n.id for n in warm.model.networks] == [n.id for n in plain.model.networks]
    assert warm.model.gaps == plain.model.gaps
    assert len(_entries(cache)) == DEMO_NETWORKS


@pytest.mark.slow
def test_a_copied_snapshot_reuses_the_entries(tmp_path: Path) -> None:
    """Entries depend on content, not on where the snapshot lies (nightly snapshots are new folders)."""
    cache = tmp_path / "cache"
    _audit(DEMO, cache)
    copy = tmp_path / "copy"
    shutil.copytree(DEMO, copy)
    result = _audit(copy, cache)
    assert result.cache is not None and result.cache.hits == DEMO_NETWORKS
    assert _report(result) == _report(_audit(copy))


@pytest.mark.slow
def test_a_folder_swapped_for_a_link_to_the_same_files_is_audited_again(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Between two audits a network's SSID firewall folder moves outside the snapshot, a link to it in its place:
    every file has its old status through the link, but a read now refuses them (outside the snapshot), so the
    warm audit must not take the entry (an lstat that follows the folder link would, and report the old
    results): it audits the network again and stops as an audit without the cache does."""
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)  # the files' status stands for them (just copied)
    snap, cache = tmp_path / "snap", tmp_path / "cache"
    shutil.copytree(DEMO, snap)
    time.sleep(0.01)
    cold = _audit(snap, cache)
    assert cold.cache is not None and cold.cache.misses == DEMO_NETWORKS
    assert _audit(snap, cache).cache.hits == DEMO_NETWORKS  # type: ignore[union-attr]  # told by status
    folder = sorted(snap.glob("meraki/networks/*/wireless/ssids/0/firewall"))[0]
    moved = tmp_path / "moved"
    folder.rename(moved)
    os.symlink(moved, folder)
    with pytest.raises(SnapshotError) as plain:
        _audit(snap)
    with pytest.raises(SnapshotError) as warm:
        _audit(snap, cache)
    assert str(warm.value) == str(plain.value) and "outside the snapshot" in str(warm.value)


def _edit(rng: random.Random, net: Path) -> str:
    """One random edit of a network's files; returns what it did."""
    files = sorted(p for p in net.rglob("*.json"))
    target = rng.choice(files)
    kind = rng.choice(["deny", "delete", "reformat", "same-size"])
    rules = [p for p in files if p.name == "l3FirewallRules.json"]
    if kind == "deny":
        target = rng.choice(rules)
        body = json.loads(target.read_text())
        body["rules"].insert(0, {"policy": "deny", "protocol": "udp", "srcPort": "Any", "srcCidr": "Any",
                                 "destPort": rng.choice(["500", "4500", "500,4500"]), "destCidr": "Any",
                                 "comment": "random edit"})
        target.write_text(json.dumps(body))
        return f"deny in {target}"
    if kind == "delete":
        target.unlink()
        return f"deleted {target}"
    if kind == "reformat":  # the same JSON, other bytes: audited again, same results
        target.write_text(json.dumps(json.loads(target.read_text()), indent=2))
        return f"reformatted {target}"
    # Same size, modification time put back: only the change time (and the bytes) tell
    target = rng.choice(rules)
    status = target.stat()
    text = target.read_text()
    at = text.index('"comment": "') + len('"comment": "')
    assert text[at].isalpha()
    target.write_text(text[:at] + text[at].swapcase() + text[at + 1:])
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert target.stat().st_size == status.st_size
    return f"same-size edit of {target}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_reaudit_exactly_the_edited_networks(tmp_path: Path, seed: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Statuses are trusted at once (they are otherwise trusted 2 s after a write): the fast path is tested too
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)
    snap = _synthetic(tmp_path / "org", 16)
    cache = tmp_path / "cache"
    cold = _audit(snap, cache)
    assert cold.cache is not None and cold.cache.misses == 16
    assert _report(cold) == _report(_audit(snap))
    rng = random.Random(seed)
    for _round in range(2):
        time.sleep(0.02)  # past the file system's timestamp granularity
        nets = sorted((snap / "meraki" / "networks").iterdir())
        edited = {net.name for net in rng.sample(nets, rng.randint(1, 3))}
        done = [_edit(rng, snap / "meraki" / "networks" / name) for name in sorted(edited)]
        warm = _audit(snap, cache)
        assert warm.cache is not None
        assert set(warm.cache.missed) == edited, done
        assert warm.cache.hits == 16 - len(edited)
        assert _report(warm) == _report(_audit(snap)), done


@pytest.mark.slow
@needs_fork
@pytest.mark.parametrize("workers", [2, 3])
def test_cache_with_a_forked_worker(tmp_path: Path, workers: int) -> None:
    """Misses shared with the forked workers (each writes its own entries); hits decoded here."""
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    plain = _report(_audit(snap))
    cold = _audit(snap, cache, workers=workers)
    assert cold.networks_by_worker > 0 and _report(cold) == plain
    assert len(_entries(cache)) == 24  # both processes wrote theirs
    nets = sorted((snap / "meraki" / "networks").iterdir())
    for net in nets[::5]:  # five networks changed: audited by both processes again
        rules = net / "appliance" / "firewall" / "l3FirewallRules.json"
        body = json.loads(rules.read_text())
        body["rules"].insert(0, deny("udp", "4500"))
        rules.write_text(json.dumps(body))
    warm = _audit(snap, cache, workers=workers)
    assert warm.cache is not None and warm.cache.hits == 19 and warm.cache.misses == 5
    assert _report(warm) == _report(_audit(snap))


def _edit_five(snap: Path) -> set[str]:
    """Five networks changed, one of them by a same-size edit whose modification time is put back."""
    nets = sorted((snap / "meraki" / "networks").iterdir())
    for net in nets[:20:5]:
        rules = net / "appliance" / "firewall" / "l3FirewallRules.json"
        body = json.loads(rules.read_text())
        body["rules"].insert(0, deny("udp", "4500"))
        rules.write_text(json.dumps(body))
    _edit(random.Random(7), nets[21])
    return {net.name for net in [*nets[:20:5], nets[21]]}


@pytest.mark.slow
@needs_fork
def test_hits_files_checked_by_a_forked_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked child shares looking up the entries and checking their files (chunks of 3 here, claimed from
    a counter both share) and sends its hits to be decoded: a changed network is still audited again."""
    monkeypatch.setattr(audit_cache, "CHECK_APART_MIN", 1)
    monkeypatch.setattr(audit_cache, "CHECK_CHUNK", 3)  # the two processes share the checks in chunks of 3
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)  # statuses trusted at once: the lstat path is the one run
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    _audit(snap, cache, workers=2)
    time.sleep(0.02)  # past the file system's timestamp granularity
    edited = _edit_five(snap)
    warm = _audit(snap, cache, workers=2)
    assert warm.cache is not None
    assert set(warm.cache.missed) == edited and warm.cache.hits == 24 - len(edited)
    assert warm.cache.checked_apart <= warm.cache.hits  # the others were looked up here
    assert _report(warm) == _report(_audit(snap))
    again = _audit(snap, cache, workers=1)  # no child: this process checks the files itself
    assert again.cache is not None and again.cache.hits == 24 and again.cache.checked_apart == 0


@pytest.mark.slow
@needs_fork
def test_a_killed_file_checker_leaves_the_check_to_this_process(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that dies (here SIGKILLed, as by the OOM killer) reports nothing: this process looks up every
    entry and checks its files itself, so a changed network is never taken from the cache."""
    monkeypatch.setattr(audit_cache, "CHECK_APART_MIN", 1)
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    _audit(snap, cache, workers=2)
    time.sleep(0.02)
    edited = _edit_five(snap)
    parent = os.getpid()

    def killed(self: audit_cache.AuditCache, snapshot: object, candidates: object, send: object) -> None:
        assert os.getpid() != parent  # run in the child only
        os.kill(os.getpid(), 9)
        raise AssertionError("not reached")

    monkeypatch.setattr(audit_cache.AuditCache, "_check_apart", killed)
    warm = _audit(snap, cache, workers=2)
    assert warm.cache is not None and warm.cache.checked_apart == 0
    assert set(warm.cache.missed) == edited and warm.cache.hits == 24 - len(edited)
    assert _report(warm) == _report(_audit(snap))


@pytest.mark.slow
@needs_fork
def test_hits_checked_from_the_audits_start_are_taken_only_after_the_same_earlier_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child forked at the audit's start checks entries before this process has read what comes before the
    networks (here: an MX's 1:1 NAT that now takes the VPN server's address, in front of every network's
    traffic to it, letting in only IKE from one partner). Its hits are taken only once this process has
    compared what was read before each network: none is here, and no network keeps its cached "allowed"."""
    monkeypatch.setattr(audit_cache, "CHECK_APART_MIN", 1)
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    cold = _audit(snap, cache, workers=2)
    assert Verdict.ALLOWED in {p.trace.verdict for p in cold.paths}
    net = sorted((snap / "meraki" / "networks").iterdir())[0]
    (net / "appliance" / "firewall" / "oneToOneNatRules.json").write_text(json.dumps({"rules": [
        {"name": "vpn", "publicIp": "198.51.100.10", "lanIp": "10.0.0.5", "uplink": "internet1",
         "allowedInbound": [{"protocol": "udp", "destinationPorts": ["500"], "allowedIps": ["192.0.2.0/24"]}]}]}))
    warm, plain = _audit(snap, cache, workers=2), _audit(snap)
    assert warm.cache is not None and warm.cache.hits == 0 and warm.cache.misses == 24
    assert _report(warm) == _report(plain)
    assert Verdict.ALLOWED not in {p.trace.verdict for p in warm.paths}  # the NAT lets nobody else in
    real = audit_cache.AuditCache._checking_child

    def head_start(self: audit_cache.AuditCache, *args: Any) -> Any:
        """The child given time to claim a chunk before this process claims the rest (on a loaded host this
        process could otherwise check all 24 before the child is scheduled)."""
        child = real(self, *args)
        deadline = time.monotonic() + 30
        while child is not None and self._claims is not None and self._claims.value == 0 and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        return child
    monkeypatch.setattr(audit_cache.AuditCache, "_checking_child", head_start)
    again = _audit(snap, cache, workers=2)  # and with nothing changed, the child's checks are the hits
    assert again.cache is not None and again.cache.hits == 24 and again.cache.checked_apart > 0
    assert _report(again) == _report(plain)


@needs_fork
def test_an_audit_that_fails_before_its_hits_leaves_no_checking_child(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_cache, "CHECK_APART_MIN", 1)
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    _audit(snap, cache, workers=2)
    net = sorted((snap / "meraki" / "networks").iterdir())[0]
    (net / "appliance" / "firewall" / "oneToOneNatRules.json").write_text('{"rules": [')  # read before networks

    def children() -> set[str]:
        return {pid for task in Path("/proc/self/task").iterdir()
                for pid in (task / "children").read_text().split()}

    before = children()
    with pytest.raises(SnapshotError, match=r"oneToOneNatRules\.json"):
        _audit(snap, cache, workers=2)
    assert children() == before


@pytest.mark.slow
@needs_fork
def test_a_file_gone_since_is_never_taken_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network whose MX rules were allowed when cached and whose rules file is gone since comes out as the
    plain audit says (unknown: the data is missing), never as its cached "allowed", whichever process looked
    its entry up."""
    monkeypatch.setattr(audit_cache, "CHECK_APART_MIN", 1)
    monkeypatch.setattr(audit_cache, "CHECK_CHUNK", 2)
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    cold = _audit(snap, cache, workers=2)
    nets = sorted((snap / "meraki" / "networks").iterdir())
    gone = [net.name for net in nets[1:24:6]]
    for name in gone:
        assert all(p.trace.verdict == "allowed" for p in cold.paths if p.role.network_id == name)
        (snap / "meraki" / "networks" / name / "appliance" / "firewall" / "l3FirewallRules.json").unlink()
    for workers in (2, 1):  # each from the cold audit's entries (a warm audit rewrites the ones it missed)
        shutil.copytree(cache, tmp_path / f"cache{workers}")
        warm, plain = _audit(snap, tmp_path / f"cache{workers}", workers=workers), _audit(snap)
        assert warm.cache is not None and set(gone) <= set(warm.cache.missed)
        for name in gone:
            verdicts = {p.trace.verdict for p in warm.paths if p.role.network_id == name}
            assert "unknown" in verdicts and \
                verdicts == {p.trace.verdict for p in plain.paths if p.role.network_id == name}
        assert _report(warm) == _report(plain)


def _hub_and_spokes(root: Path) -> MerakiSnapshot:
    """Two full-tunnel spokes of one hub, and a network that is no spoke."""
    snap = MerakiSnapshot(root)
    for net_id, name in (("N_A", "Store A"), ("N_B", "Store B"), ("N_HUB", "HQ"), ("N_OTHER", "Depot")):
        snap.network(net_id, name, products=("appliance",),
                     vlans=[{"id": 10, "name": "Staff", "subnet": f"10.{len(snap.networks)}.10.0/24"}])
    for net_id in ("N_A", "N_B"):
        snap.write(f"meraki/networks/{net_id}/appliance/vpn/siteToSiteVpn.json", {
            "mode": "spoke", "hubs": [{"hubId": "N_HUB", "useDefaultRoute": True}],
            "subnets": [{"localSubnet": f"10.{1 if net_id == 'N_A' else 2}.10.0/24", "useVpn": True}]})
    snap.write("meraki/networks/N_HUB/appliance/vpn/siteToSiteVpn.json", {"mode": "hub", "hubs": [], "subnets": []})
    snap.write("meraki/organizations/1/appliance/vpn/vpnFirewallRules.json", {"rules": [
        {"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any", "srcCidr": "Any",
         "destPort": "Any", "destCidr": "Any", "syslogEnabled": False}]})
    snap.write("meraki/organizations/1/appliance/vpn/thirdPartyVPNPeers.json", {"peers": []})
    snap.audit()  # writes audit.yaml
    return snap


def test_an_org_level_file_reaudits_the_networks_that_read_it(tmp_path: Path) -> None:
    snap = _hub_and_spokes(tmp_path / "org")
    cache = tmp_path / "cache"
    _audit(snap.root, cache)
    # Every network was written, the second spoke too, whose hub files came from the adapter's per-org store
    # (Snapshot.kept, then reread): nothing changed, nothing is audited
    unchanged = _audit(snap.root, cache)
    assert unchanged.cache is not None and unchanged.cache.missed == [] and unchanged.cache.hits == 4
    # The hub's rules: read by each spoke (the second one from the adapter's per-org store) and by the hub
    snap.mx_rules("N_HUB", [deny("udp", "4500", comment="hub blocks NAT-T")])
    warm = _audit(snap.root, cache)
    assert warm.cache is not None and set(warm.cache.missed) == {"N_A", "N_B", "N_HUB"}
    plain = _audit(snap.root)
    assert _report(warm) == _report(plain)
    assert "hub blocks NAT-T" in _report(plain)  # the edit changed the spokes' verdicts
    # The org's site-to-site firewall: read by the spokes only
    snap.write("meraki/organizations/1/appliance/vpn/vpnFirewallRules.json", {"rules": [
        {"comment": "no NAT-T into the VPN", "policy": "deny", "protocol": "udp", "srcPort": "Any",
         "srcCidr": "Any", "destPort": "4500", "destCidr": "Any", "syslogEnabled": False}]})
    warm = _audit(snap.root, cache)
    assert warm.cache is not None and set(warm.cache.missed) == {"N_A", "N_B"}
    assert _report(warm) == _report(_audit(snap.root))
    # An org file every network reads (policy objects): all of them
    snap.write("meraki/organizations/1/policyObjects.json", [{"id": "1", "name": "x", "type": "cidr",
                                                              "cidr": "10.9.9.0/24"}])
    warm = _audit(snap.root, cache)
    assert warm.cache is not None and warm.cache.hits == 0
    assert _report(warm) == _report(_audit(snap.root))


GAP = "meraki/networks/L_6468200000000002/wireless/ssids/1/firewall/l3FirewallRules.json"  # Store 22 lacks it


def _manifest(snap: Path, when: str, outcome: str, error: str = "") -> None:
    (snap / "manifest.json").write_text(json.dumps({
        "generated_at": when, "runs": [{"collector": "meraki", "started_at": when, "finished_at": when}],
        "calls": [{"collector": "meraki", "path": GAP.removeprefix("meraki/").removesuffix(".json"), "file": GAP,
                   "outcome": outcome, "status": 404 if outcome == "absent" else 500, "error": error,
                   "at": when}]}))


@pytest.mark.slow
def test_audit_yaml_and_manifest(tmp_path: Path) -> None:
    """audit.yaml as loaded is in the key. The manifest counts by the outcomes the audit consults, not its
    bytes: every collection rewrites its times, and a new snapshot of unchanged networks still hits."""
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    cache = tmp_path / "cache"
    _manifest(snap, "2026-01-01T00:00:00Z", "absent")
    _audit(snap, cache)
    _manifest(snap, "2026-01-02T00:00:00Z", "absent")  # collected again, nothing changed
    result = _audit(snap, cache)
    assert result.cache is not None and result.cache.hits == DEMO_NETWORKS
    _manifest(snap, "2026-01-03T00:00:00Z", "absent", "SSID disabled")  # the gap's reason: Store 22 only
    result = _audit(snap, cache)
    assert result.cache is not None and result.cache.missed == ["L_6468200000000002"]
    assert "SSID disabled" in _report(result) and _report(result) == _report(_audit(snap))
    _manifest(snap, "2026-01-04T00:00:00Z", "failed")  # a failed call can change any verdict: all of them
    result = _audit(snap, cache)
    assert result.cache is not None and result.cache.hits == 0
    assert "collection failed" in _report(result) and _report(result) == _report(_audit(snap))
    config = snap / "audit.yaml"
    config.write_text(config.read_text() + "\n# a comment changes nothing loaded\n")
    assert _audit(snap, cache).cache.hits == DEMO_NETWORKS  # type: ignore[union-attr]
    config.write_text(config.read_text().replace("ikev2", "IKEv2", 1))
    changed = _audit(snap, cache)
    assert changed.cache is not None and changed.cache.hits == 0
    assert _report(changed) == _report(_audit(snap))


def _reshaped(data: bytes) -> bytes:
    """The entry with a valid checksum whose results do not decode (a table of the wrong shape)."""
    import hashlib

    head = len(audit_cache.MAGIC) + 1 + 16
    identity, before, deps, _head, tables, refused = pickle.loads(data[head:])
    body = pickle.dumps((identity, before, deps, pickle.dumps(([(1, 2)], [], [], [])), tables, refused))
    return data[:len(audit_cache.MAGIC) + 1] + hashlib.blake2b(body, digest_size=16).digest() + body


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "magic", "format", "garbage", "reshaped"])
def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    plain = _report(_audit(DEMO))
    _audit(DEMO, cache)
    entry = _entries(cache)[1]
    data = entry.read_bytes()
    damaged = {"truncate": data[:len(data) // 2], "flip": data[:-7] + bytes([data[-7] ^ 1]) + data[-6:],
               "empty": b"", "magic": b"x" + data[1:], "garbage": os.urandom(len(data)),
               "format": data[:len(audit_cache.MAGIC)] + b"\x63" + data[len(audit_cache.MAGIC) + 1:],
               "reshaped": _reshaped(data) if damage == "reshaped" else b""}[damage]
    entry.write_bytes(damaged)
    result = _audit(DEMO, cache)
    assert result.cache is not None and (result.cache.hits, result.cache.misses) == (DEMO_NETWORKS - 1, 1)
    assert result.cache.written == 1 and entry.read_bytes() != damaged
    assert _report(result) == plain
    again = _audit(DEMO, cache)
    assert again.cache is not None and again.cache.hits == DEMO_NETWORKS


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_an_entry_that_names_code_is_never_run(tmp_path: Path) -> None:
    """A crafted entry with a valid checksum that would call a function when loaded is refused."""
    cache = tmp_path / "cache"
    _audit(DEMO, cache)
    marker = tmp_path / "ran"
    for entry in _entries(cache):
        body = pickle.dumps(_Payload(marker))
        import hashlib

        entry.write_bytes(audit_cache.MAGIC + bytes([audit_cache.FORMAT]) +
                          hashlib.blake2b(body, digest_size=16).digest() + body)
    result = _audit(DEMO, cache)
    assert not marker.exists()
    assert result.cache is not None and result.cache.unreadable == DEMO_NETWORKS and result.cache.hits == 0
    assert _report(result) == _report(_audit(DEMO))


def test_cli_cache_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    cache = tmp_path / "cache"
    outputs = []
    for _ in range(2):
        out = tmp_path / f"report{len(outputs)}.json"
        done = runner.invoke(app, ["audit", str(DEMO), "--cache", str(cache), "--format", "json", "-o", str(out)])
        assert done.exit_code == 1, done.output  # the demo's planted findings
        report = json.loads(out.read_text())
        report.pop("generated_at", None)
        outputs.append(report)
    assert outputs[0] == outputs[1] and len(_entries(cache)) == len(_texts(cache)) == DEMO_NETWORKS
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    done = runner.invoke(app, ["audit", str(DEMO), "--cache", "auto"])
    assert done.exit_code == 1, done.output
    assert len(_entries(tmp_path / "xdg" / "vpn-auditor")) == DEMO_NETWORKS
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = runner.invoke(app, ["audit", str(DEMO), "--cache", str(blocker / "sub")])
    assert done.exit_code == 2 and "cannot use it as a cache directory" in done.output


def test_unused_namespaces_are_pruned(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _audit(DEMO, cache)
    (old,) = (cache / f"v{audit_cache.FORMAT}").iterdir()
    renamed = old.with_name("0" * 32)
    old.rename(renamed)
    long_ago = time.time() - (audit_cache.UNUSED_DAYS + 1) * 86400
    os.utime(renamed, (long_ago, long_ago))
    _audit(DEMO, cache)
    assert not renamed.exists() and len(_entries(cache)) == DEMO_NETWORKS


def test_report_stream_is_unchanged(tmp_path: Path) -> None:
    """json_report.write (streamed) is what the CLI writes: the same with cached results."""
    cache = tmp_path / "cache"
    _audit(DEMO, cache)
    cached, plain = _audit(DEMO, cache), _audit(DEMO)
    cached.generated_at = plain.generated_at
    a, b = io.StringIO(), io.StringIO()
    json_report.write(cached, a)
    json_report.write(plain, b)
    assert a.getvalue() == b.getvalue()


@pytest.mark.slow
def test_a_file_past_the_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file too large to read is absent with its own reason (its size): a change of size is a change, and
    the cap is in the key."""
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    cache = tmp_path / "cache"
    monkeypatch.setenv("VPN_AUDITOR_MAX_FILE_MB", "1")
    rules = snap / "meraki" / "networks" / "L_6468200000000003" / "appliance" / "firewall" / "l3FirewallRules.json"
    rules.write_text(rules.read_text() + " " * (3 << 20))
    first = _audit(snap, cache)
    assert "cap on snapshot files" in _report(first)
    rules.write_text(rules.read_text() + " " * (1 << 20))  # larger still: its reason names the new size
    grown = _audit(snap, cache)
    assert grown.cache is not None and grown.cache.missed == ["L_6468200000000003"]
    assert _report(grown) == _report(_audit(snap)) != _report(first)
    monkeypatch.setenv("VPN_AUDITOR_MAX_FILE_MB", "8")
    wider = _audit(snap, cache)
    assert wider.cache is not None and wider.cache.hits == 0
    assert _report(wider) == _report(_audit(snap))


def _shape(result: AuditResult) -> list[tuple]:
    """What reports may not show but later checks read: rule classes (AssumedRule), roles' assumptions."""
    out = []
    for path in result.paths:
        rules = [(type(seg.rule).__name__, getattr(seg.rule, "assumed", ""))
                 for trace in path.trace.variants or (path.trace,) for record in trace.hops
                 for seg in record.segments if seg.rule is not None]
        out.append((path.role.key, path.protocol, tuple(path.role.assumed), len(path.role.without_assumed),
                    tuple(rules)))
    return out


def test_assumptions_survive_the_cache(tmp_path: Path) -> None:
    """An `assume:` decides through AssumedRule parts and lists itself on roles: a cached result keeps both."""
    from tests.test_assumptions import _snapshot

    snap = _snapshot(tmp_path / "org")
    snap.config["assume"] = {"meraki-l7-port-matches-udp": True, "meraki-group-policy-layering": "policy-first",
                             "meraki-ap-management-vlan": 30, "meraki-splash-allows-https-before-signon": True}
    snap.audit()  # writes audit.yaml
    cache = tmp_path / "cache"
    _audit(snap.root, cache)
    warm, plain = _audit(snap.root, cache), _audit(snap.root)
    assert warm.cache is not None and warm.cache.hits == 1
    assert any(rule[0] == "AssumedRule" for shape in _shape(plain) for rule in shape[4])
    assert any(shape[2] for shape in _shape(plain))
    assert _shape(warm) == _shape(plain)
    assert _report(warm) == _report(plain)


@pytest.mark.slow
def test_a_new_collection_of_unchanged_networks_hits(tmp_path: Path) -> None:
    """What every collection rewrites but no verdict reads (uplink report times and private addresses, when
    DNS answers were recorded and how long they took) is not a dependency; what the audit reads is."""
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    cache = tmp_path / "cache"
    _audit(snap, cache)
    (statuses_file,) = snap.glob("meraki/organizations/*/appliance/uplink/statuses.json")
    (dns_file,) = snap.glob("dns/*.json")
    statuses, dns = json.loads(statuses_file.read_text()), json.loads(dns_file.read_text())
    for item in statuses:
        item["lastReportedAt"] = "2027-01-01T00:00:00Z"
        for uplink in item["uplinks"]:
            uplink["ip"] = uplink["gateway"] = None
    dns["collected_at"] = "2027-01-01T00:00:00Z"
    for resolver in dns["resolvers"]:
        for answer in resolver["answers"].values():
            answer["elapsed_ms"] = 99.9
    statuses_file.write_text(json.dumps(statuses))
    dns_file.write_text(json.dumps(dns))
    again = _audit(snap, cache)
    assert again.cache is not None and again.cache.hits == DEMO_NETWORKS
    assert _report(again) == _report(_audit(snap))
    for resolver in dns["resolvers"]:  # a TTL is in the reasons: every network again
        for answer in resolver["answers"].values():
            if answer.get("ttl") is not None:
                answer["ttl"] -= 1
    dns_file.write_text(json.dumps(dns))
    ttl = _audit(snap, cache)
    assert ttl.cache is not None and ttl.cache.hits == 0 and _report(ttl) == _report(_audit(snap))
    statuses[0]["uplinks"][0]["publicIp"] = "192.0.2.99"  # an address: every network again
    statuses_file.write_text(json.dumps(statuses))
    moved = _audit(snap, cache)
    assert moved.cache is not None and moved.cache.hits == 0 and _report(moved) == _report(_audit(snap))


@pytest.mark.slow
def test_hits_decode_their_traces_when_read(tmp_path: Path) -> None:
    """A hit's hops, rules and packets are decoded when something reads them (a report, a check that looks
    at a blocked path), not before: a warm audit whose summary needs only verdicts decodes few networks.
    Whatever reads them sees the plain audit's objects; copies are plain objects."""
    import copy

    from auditor.model import Role
    from auditor.trace import FlowTrace

    snap = _synthetic(tmp_path / "org", 16)
    cache = tmp_path / "cache"
    _audit(snap, cache)
    warm, plain = _audit(snap, cache), _audit(snap)
    pending = {id(tables) for p in warm.paths if (tables := getattr(p.trace, "_tables", None)) and not tables.filled}
    assert len(pending) >= 8  # most networks: nothing read their traces yet
    assert warm.counts() == plain.counts() and len(pending) >= 8
    first, same = warm.paths[0], plain.paths[0]
    trace = copy.copy(first.trace)
    assert type(trace) is FlowTrace and len(trace.hops) == len(same.trace.hops) and trace.reason == same.trace.reason
    role = copy.copy(first.role)
    assert type(role) is Role and [v.label for v in role.variants] == [v.label for v in same.role.variants]
    assert _report(warm) == _report(plain)
    assert all(p.trace._tables.filled for p in warm.paths if hasattr(p.trace, "_tables"))  # the report read them
    # The streamed report forgets each network's decoded tables once written: none is left decoded, and a
    # second writing decodes them again, to the same text
    warm.generated_at = plain.generated_at
    streams = []
    for result in (warm, warm, plain):
        out = io.StringIO()
        json_report.write(result, out)
        streams.append(out.getvalue())
        assert not any(p.trace._tables.filled for p in warm.paths if hasattr(p.trace, "_tables"))
    assert streams[0] == streams[1] == streams[2]


def test_org_level_gaps_of_an_audit_with_nothing_to_audit(tmp_path: Path) -> None:
    """With every network a hit no network is built; what the org's lists say is missing is still said, in
    the same order."""
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    for rel in ("policyObjects/groups.json", "appliance/vpn/thirdPartyVPNPeers.json"):
        for found in snap.glob(f"meraki/organizations/*/{rel}"):
            found.unlink()
    cache = tmp_path / "cache"
    _audit(snap, cache)
    warm, plain = _audit(snap, cache), _audit(snap)
    assert warm.cache is not None and warm.cache.misses == 0
    assert plain.model.gaps and warm.model.gaps == plain.model.gaps
    assert _report(warm) == _report(plain)


def test_view_digests_tell_apart_what_json_would_confuse() -> None:
    """A view's digest (orjson where it can) still tells apart what orjson writes alike (NaN, infinities and
    null) and what a JSON text cannot hold (int keys, sets), and a set digests alike in any order."""
    values = [[None], [float("nan")], [float("inf")], [float("-inf")], {"1": 2}, {1: 2}, [2 ** 70], [float(2 ** 70)],
              {"a": [1, 2]}, {"a": [2, 1]}, {1, 2}, [{"uplinks": None}], [{"uplinks": []}]]
    digests = [audit_cache._view_digest(v) for v in values]
    assert len(set(digests)) == len(values)
    assert audit_cache._view_digest({3, 1, 2}) == audit_cache._view_digest({2, 3, 1})


class _Reduce:
    """Pickles as a call of `function` with `args` (what a crafted entry's tables could hold)."""

    def __init__(self, function: Any, args: tuple) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple:
        return self.function, self.args


def test_entry_tables_may_call_only_compacts_builders() -> None:
    """An entry's tables name compact's builders of the results' classes (a hop from its fields, packets,
    a released rule list) and objects this process holds by index; any other function, or a builder asked
    for something else than its class, is refused."""
    box = ((0, 9), (0, 9), (17, 17), (0, 65535), (500, 500))
    built = audit_cache._load(pickle.dumps(_Reduce(compact.packets, ((box,), True))))
    assert isinstance(built, PacketSet) and built.state() == ((box,), True)
    origin = Origin("meraki/x.json", 0)
    hop = audit_cache._load(pickle.dumps(_Reduce(compact.hop, (PassHop, ("MX", "mx-l3", origin, "passes")))))
    assert isinstance(hop, PassHop) and (hop.device, hop.origin, hop.note) == ("MX", origin, "passes")
    held = object()
    assert audit_cache._load(pickle.dumps(_Reduce(compact.shared, (1,))), registry=[None, held]) is held
    with pytest.raises(pickle.UnpicklingError, match="not a hop class"):
        audit_cache._load(pickle.dumps(_Reduce(compact.hop, (Origin, ("meraki/x.json",)))))
    with pytest.raises(pickle.UnpicklingError, match="not an audit result class"):
        audit_cache._load(pickle.dumps(_Reduce(compact.forget, (None,))))


def test_an_entry_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    made: set[str] = set()
    first = tmp_path / "v2" / "ab" / "entry"
    audit_cache._write_atomic(first, b"one", made)
    assert first.read_bytes() == b"one" and str(first.parent) in made
    audit_cache._write_atomic(first, b"two", made)  # replaced in place
    assert first.read_bytes() == b"two"
    # A folder this audit made, removed since (another audit pruned it): made again, the entry written
    shutil.rmtree(first.parent)
    audit_cache._write_atomic(first, b"three", made)
    assert first.read_bytes() == b"three"
    assert sorted(p.name for p in first.parent.iterdir()) == ["entry"]  # no temporary file left
    # A folder that cannot be written: the entry is lost, the audit goes on
    if os.geteuid() != 0:  # root writes anyway
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        audit_cache._write_atomic(locked / "entry", b"x", set())
        assert list(locked.iterdir()) == []
    # Where a file stands in for the folder: nothing written, nothing raised
    (tmp_path / "file").write_bytes(b"")
    audit_cache._write_atomic(tmp_path / "file" / "entry", b"x", made)
    assert (tmp_path / "file").read_bytes() == b""


HUB_RULES = "meraki/networks/N_HUB/appliance/firewall/l3FirewallRules.json"


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("change", ["hub rules gone", "hub rule not understood"])
def test_a_cached_allowed_never_outlives_what_proved_it(tmp_path: Path, workers: int, change: str) -> None:
    """A spoke proved allowed through its hub's rules, then the hub's rules go missing or hold a rule whose
    object cannot be resolved: the warm audit says what an audit without the cache says (unknown), never the
    cached allowed. The second spoke reads the hub's rules from the adapter's per-org store (Snapshot.kept,
    then reread): the path by which an entry could lose that dependency."""
    snap = _hub_and_spokes(tmp_path / "org")
    cache = tmp_path / "cache"
    cold = _audit(snap.root, cache, workers)
    assert {p.trace.verdict for p in cold.paths} == {Verdict.ALLOWED}
    if change == "hub rules gone":
        (snap.root / HUB_RULES).unlink()
    else:
        snap.mx_rules("N_HUB", [deny("udp", "4500", dest="OBJ(999)", comment="object not collected")])
    warm = _audit(snap.root, cache, workers)
    plain = _audit(snap.root)
    assert _report(warm) == _report(plain)
    assert warm.cache is not None and warm.cache.hits >= 1  # Depot, no spoke: from the cache
    for spoke in ("Store A", "Store B"):  # NAT-T (udp/4500) crosses the hub's rules: now unknown there
        nat_t = {p.trace.verdict for p in warm.paths if p.role.network_name == spoke and p.protocol == "ikev2"
                 and p.trace.flow == Flow("udp", 4500)}
        assert nat_t == {Verdict.UNKNOWN}, (spoke, nat_t)


def test_a_kept_read_is_the_one_the_reader_holds() -> None:
    """`kept` names the file just read; said of another file, nothing is remembered, and a network handed that
    file out again depends on something unrecorded: its entry is not written (never written without it)."""
    recorder = audit_cache._Recorder()
    recorder("file", "org/hub.json", b"hub rules")
    recorder("file", "org/other.json", b"other")
    recorder("kept", "org/hub.json", None)  # not the last read: not remembered
    recorder.window = {}
    recorder("reread", "org/hub.json", None)
    assert recorder.unknown and recorder.window == {}
    recorder.window, recorder.unknown = {}, False
    recorder("file", "org/hub.json", b"hub rules")
    recorder("kept", "org/hub.json", None)
    recorder.window = {}
    recorder("reread", "org/hub.json", None)  # the next network: depends on that read, its digest and status
    assert not recorder.unknown
    assert list(recorder.window.values()) == [recorder.seen["org/hub.json"]]
    assert recorder.seen["org/hub.json"][2] == audit_cache._digest(b"hub rules")


@pytest.mark.parametrize("change", ["hub rules gone", "hub rule not understood"])
def test_the_warm_text_report_never_lists_an_unproven_role_as_passing(tmp_path: Path, change: str) -> None:
    """What a user reads: `vpn-auditor audit --cache DIR` (text report, its passing lines written by
    print_lines, rendered with the results frozen), warm after the hub's rules went missing or hold a rule not
    understood. The spokes' roles are never on an "all protocols allowed" line, the report is the uncached one
    and the exit code is not a pass."""
    snap = _hub_and_spokes(tmp_path / "org")
    cache = tmp_path / "cache"

    def audit(name: str, *more: str) -> tuple[int, str]:
        out = tmp_path / name
        done = CliRunner().invoke(app, ["audit", str(snap.root), "--format", "text", "-o", str(out), *more])
        return done.exit_code, out.read_text(encoding="utf-8")

    code, cold = audit("cold.txt", "--cache", str(cache))
    assert code == 0 and "Store A: all protocols allowed" in cold and "Store B: all protocols allowed" in cold
    if change == "hub rules gone":
        (snap.root / HUB_RULES).unlink()
    else:
        snap.mx_rules("N_HUB", [deny("udp", "4500", dest="OBJ(999)", comment="object not collected")])
    warm_code, warm = audit("warm.txt", "--cache", str(cache))
    plain_code, plain = audit("plain.txt")
    assert (warm_code, warm) == (plain_code, plain) and warm_code != 0
    assert "Store A: all protocols allowed" not in warm and "Store B: all protocols allowed" not in warm
    assert "unknown" in warm


@pytest.mark.parametrize("appears", [True, False])
def test_a_file_only_looked_for_is_checked_again_when_it_appears_or_goes(tmp_path: Path, appears: bool) -> None:
    """A read that only asks whether a file exists (a filter file an adapter looks for) is a dependency of its own:
    `_unchanged` must see the file appear or go even when nothing else read changes. Adapters today also list
    the folder or read the file beside such a check, so no audit-level test isolates it; this one does."""
    from auditor.snapshot import Snapshot

    rel = "aws/nlb/describe-network-acls.json"
    (tmp_path / "aws" / "nlb").mkdir(parents=True)
    if not appears:
        (tmp_path / rel).write_text("{}")
    snapshot = Snapshot(tmp_path)
    recorder = audit_cache._Recorder()
    recorder.window = {}
    snapshot.observer = recorder
    assert snapshot.exists(rel) is not appears
    deps = tuple(recorder.window.values())
    assert [d[:2] for d in deps] == [("exists", rel)]
    snapshot.observer = None
    assert audit_cache._unchanged(Snapshot(tmp_path), deps)  # nothing changed: the entry holds
    if appears:
        (tmp_path / rel).write_text("{}")
    else:
        (tmp_path / rel).unlink()
    assert not audit_cache._unchanged(Snapshot(tmp_path), deps)
