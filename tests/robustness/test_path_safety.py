"""No name from a device or an API leaves the snapshot directory when written, and no symlink in a snapshot
is followed out of it when read, for every adapter's file listing: what a link hides is a data gap or an
input error naming it, never a silent read of a file elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from auditor.audit import run_audit
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.cisco.collect import CiscoCollectConfig, collect_cisco
from auditor.vendors.lb.collect import LbCollectConfig, collect_lb
from auditor.vendors.meraki.collect import CollectorConfig, collect
from tests.fakes.cisco_ssh import FakeCiscoDevice
from tests.fakes.dashboard import FakeDashboard, build_org
from tests.fakes.lb_servers import FakeLoadBalancer
from tests.snapshot_builder import MerakiSnapshot

pytestmark = pytest.mark.timeout(120)
FIXTURES = Path(__file__).parents[2] / "fixtures"
# Every adapter folder, with a fixture it reads and the entry name that fixture gets in the snapshot.
ADAPTER_FILES = [
    ("cisco", FIXTURES / "cisco" / "asa-vpn.cfg", "edge.cfg"),
    ("f5", FIXTURES / "lb" / "f5" / "split-builtin-source-addr.conf", "lb.conf"),
    ("f5", FIXTURES / "lb" / "f5" / "rest-sticky", "lb"),
    ("kemp", FIXTURES / "lb" / "kemp" / "sticky-port-following.xml", "lb.xml"),
    ("netscaler", FIXTURES / "lb" / "netscaler" / "sticky-lb-group.conf", "lb.conf"),
    ("netscaler", FIXTURES / "lb" / "netscaler" / "nitro-sticky", "lb"),
    ("keepalived", FIXTURES / "lb" / "ipvs" / "sticky-port0.conf", "lb.conf"),
    ("ipvs", FIXTURES / "lb" / "ipvs" / "split-two-services.rules", "lb.rules"),
    ("azure", FIXTURES / "lb" / "azure" / "sticky-ha-ports.json", "lb.json"),
    ("aws", FIXTURES / "lb" / "aws" / "split-no-stickiness", "lb"),
]


def _snapshot(root: Path) -> Path:
    snap = MerakiSnapshot(root)
    snap.network("N_1", "Store", products=("wireless",))
    snap.ssid("N_1", 0, "Corp")
    (root / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [
        {"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2"]}]}))
    return root


def _place(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)


@pytest.mark.parametrize(("folder", "fixture", "entry"), ADAPTER_FILES, ids=lambda v: str(v)[-40:])
def test_adapters_read_their_fixture_inside_the_snapshot(tmp_path: Path, folder: str, fixture: Path,
                                                         entry: str) -> None:
    """The control: placed for real, each fixture is read, so the link tests below are meaningful."""
    root = _snapshot(tmp_path / "snap")
    (root / folder).mkdir()
    _place(fixture, root / folder / entry)
    assert any(name.startswith(f"{folder}/") for name in run_audit(root).model.devices)


@pytest.mark.parametrize(("folder", "fixture", "entry"), ADAPTER_FILES, ids=lambda v: str(v)[-40:])
def test_symlinked_entries_are_not_followed_out(tmp_path: Path, folder: str, fixture: Path, entry: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _place(fixture, outside / entry)
    root = _snapshot(tmp_path / "snap")
    (root / folder).mkdir()
    (root / folder / entry).symlink_to(outside / entry)
    result = run_audit(root)
    assert not any(name.startswith(f"{folder}/") for name in result.model.devices), "read through a symlink"
    gap = next(g for g in result.model.gaps if g.path == f"{folder}/{entry}")
    assert "outside the snapshot" in gap.reason
    assert any(f.check.kind == "data-gap" and f.evidence["file"] == f"{folder}/{entry}" for f in result.findings)


@pytest.mark.parametrize("folder", sorted({f for f, _, _ in ADAPTER_FILES} | {"meraki"}))
def test_a_vendor_folder_that_is_a_symlink_out_is_an_input_error(tmp_path: Path, folder: str) -> None:
    root = _snapshot(tmp_path / "snap")
    outside = tmp_path / "elsewhere"
    if folder == "meraki":
        shutil.move(root / "meraki", outside)
    else:
        outside.mkdir()
    (root / folder).symlink_to(outside, target_is_directory=True)
    with pytest.raises(SnapshotError) as err:
        run_audit(root)
    assert err.value.path == folder and "outside" in err.value.message


def test_meraki_file_symlinked_out_is_an_input_error(tmp_path: Path) -> None:
    root = _snapshot(tmp_path / "snap")
    rel = "meraki/networks/N_1/wireless/ssids/0/firewall/l3FirewallRules.json"
    (tmp_path / "rules.json").write_text((root / rel).read_text())
    (root / rel).unlink()
    (root / rel).symlink_to(tmp_path / "rules.json")
    with pytest.raises(SnapshotError) as err:
        run_audit(root)
    assert err.value.path == rel


def test_symlinks_inside_the_snapshot_are_fine(tmp_path: Path) -> None:
    root = _snapshot(tmp_path / "snap")
    (root / "cisco").mkdir()
    shutil.copy(FIXTURES / "cisco" / "asa-vpn.cfg", root / "edge.cfg.orig")
    (root / "cisco" / "edge.cfg").symlink_to(root / "edge.cfg.orig")
    assert "cisco/edge" in run_audit(root).model.devices


@pytest.mark.parametrize("rel", ["../x.json", "/etc/passwd", "meraki/../../x", "a/\x00/b", "meraki/%2e%2e/x"])
def test_snapshot_paths_are_checked_before_any_read(tmp_path: Path, rel: str) -> None:
    snap = Snapshot(_snapshot(tmp_path / "snap"))
    with contextlib.suppress(SnapshotError):  # refused, or looked up inside the snapshot and absent
        assert snap.read_text(rel) is None
    assert not (tmp_path / "x.json").exists()



def test_folder_descriptors_are_bounded_closed_with_the_snapshot_and_never_lead_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are opened relative to their folder's descriptor (snapshot.py `_plain_dir`): at most the bound stay
    open in the process, whichever snapshots read, all close with the snapshot, and a folder already open that is
    then replaced by a link out of the snapshot reads what the snapshot held, never what the link points to."""
    import gc

    import auditor.snapshot as snapshot_module

    if not snapshot_module._DIR_FDS or not os.path.isdir("/proc/self/fd"):
        pytest.skip("folder descriptors are used where os.open takes dir_fd and O_NOFOLLOW (Linux here)")
    monkeypatch.setattr(snapshot_module, "_INSIDE_DIRS_MAX", 8)
    root = tmp_path / "snap"
    for i in range(20):
        (root / f"n{i}" / "a" / "b").mkdir(parents=True)
        (root / f"n{i}" / "a" / "b" / "f.json").write_text(json.dumps({"i": i}))
    (tmp_path / "outside" / "a" / "b").mkdir(parents=True)
    (tmp_path / "outside" / "a" / "b" / "f.json").write_text(json.dumps({"i": "outside"}))
    (tmp_path / "outside" / "a" / "other.json").write_text(json.dumps({"i": "outside"}))
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    snapshot, other = Snapshot(root), Snapshot(root)
    for i in range(20):
        assert snapshot.read_json(f"n{i}/a/b/f.json") == {"i": i}
        assert other.read_json(f"n{19 - i}/a/b/f.json") == {"i": 19 - i}
        assert len(os.listdir("/proc/self/fd")) <= before + 8
    assert snapshot.read_json("n19/a/b/f.json") == {"i": 19} and not other._inside_dirs  # took them over
    del other
    (root / "n19").rename(tmp_path / "moved")  # n19's folders are open: the link cannot redirect them
    os.symlink(tmp_path / "outside", root / "n19")
    assert snapshot.read_json("n19/a/b/f.json") == {"i": 19}
    assert snapshot.read_json("n19/a/other.json") is None  # in the folder held open, not the link's
    for i in range(8):  # past the bound: n19's folders closed, so opened again and the link found
        snapshot.read_json(f"n{i}/a/b/f.json")
    with pytest.raises(SnapshotError, match="outside the snapshot"):
        snapshot.read_json("n19/a/b/f.json")
    del snapshot
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


def test_reads_through_folder_descriptors_match_reads_by_path(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind of entry reads the same (value, absence, or error naming it) whether files are opened relative
    to their folders' descriptors or by their full path, checked folder by folder."""
    import auditor.snapshot as snapshot_module

    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "s.json").write_text('{"secret": true}')
    root = tmp_path / "snap"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.json").write_text('{"f": 1}')
    (root / "a" / "file.json").write_text("[1]")
    (root / "a" / "in").symlink_to(root / "a" / "b")
    (root / "a" / "out").symlink_to(tmp_path / "secret")
    (root / "a" / "leaf.json").symlink_to(root / "a" / "file.json")
    (root / "a" / "leaf-out.json").symlink_to(tmp_path / "secret" / "s.json")
    (root / "a" / "bad.json").write_text('{"x": 1,\n}')
    os.mkfifo(root / "a" / "pipe.json")
    rels = ["a/b/f.json", "a/file.json", "a/in/f.json", "a/out/s.json", "a/leaf.json", "a/leaf-out.json",
            "a/bad.json", "a/pipe.json", "a/missing/f.json", "a/file.json/f.json", "a/b", "a/./b/f.json",
            "a//b/f.json", "a/b/../file.json", "a/in/../../secret/s.json", "missing.json", "a/b/"]

    held: list[bool] = []  # whether each reading snapshot held folder descriptors

    def outcomes() -> list[object]:
        snapshot = Snapshot(root)
        found: list[object] = []
        for rel in rels * 2:  # the second time through folders already open
            try:
                found.append(snapshot.read_json(rel))
            except SnapshotError as exc:
                found.append(str(exc))
        held.append(bool(snapshot._inside_dirs))
        return found

    by_descriptor = outcomes()
    in_thread: list[object] = []  # another thread reads by path: descriptors are the main thread's alone
    worker = threading.Thread(target=lambda: in_thread.extend(outcomes()))
    worker.start()
    worker.join()
    monkeypatch.setattr(snapshot_module, "_DIR_FDS", False)
    assert by_descriptor == outcomes() == in_thread and held == [True, False, False]
    assert by_descriptor[:4] == [{"f": 1}, [1], {"f": 1}, by_descriptor[3]] and "outside" in str(by_descriptor[3])


@pytest.mark.parametrize("rel", ["meraki/../../secret.json", "meraki/../secret.json", "meraki//../../secret.json",
                                 "meraki/out/secret.json", "meraki/link.json", "meraki/..", "meraki/", "",
                                 "meraki/sub/out/secret.json", "meraki/sub/deeper/../../../secret.json",
                                 "meraki/x\x00.json", "SECRET_ABS", "\\secret.json"])
def test_a_folder_already_read_from_opens_no_way_out(tmp_path: Path, rel: str) -> None:
    """Files in a folder already checked skip the folder's check (snapshot.py `_inside_dirs`): paths that
    share that folder's prefix but leave it, or lead out through a link, are still refused."""
    (tmp_path / "secret.json").write_text('{"secret": true}')
    root = tmp_path / "snap"
    (root / "meraki").mkdir(parents=True)
    (root / "meraki" / "a.json").write_text("{}")
    (root / "meraki" / "out").symlink_to(tmp_path)
    (root / "meraki" / "link.json").symlink_to(tmp_path / "secret.json")
    (root / "meraki" / "sub" / "deeper").mkdir(parents=True)
    (root / "meraki" / "sub" / "deeper" / "b.json").write_text("[]")
    (root / "meraki" / "sub" / "out").symlink_to(tmp_path)
    snap = Snapshot(root)
    assert snap.read_json("meraki/a.json") == {} and snap.read_json("a.json") is None  # folders now remembered
    assert snap.read_json("meraki/sub/deeper/b.json") == []
    rel = rel.replace("SECRET_ABS", str(tmp_path / "secret.json"))
    try:
        read = snap.read_text(rel)
    except SnapshotError:
        return
    assert read is None or "secret" not in read


# --- collectors: names from devices and APIs ------------------------------------------------------------
@pytest.mark.slow
def test_meraki_ids_and_ssid_numbers_with_path_syntax_stay_inside(tmp_path: Path) -> None:
    org = build_org(tmp_path / "source", "../../org", 2, network_ids=["../../net", "N_ok"])
    ssids = tmp_path / "source/meraki/networks/..%2F..%2Fnet/wireless/ssids.json"
    body = json.loads(ssids.read_text())
    body[0]["number"] = "../../../../ssid"
    ssids.write_text(json.dumps(body))
    (ssids.parent / "ssids" / "0").rename(ssids.parent / "ssids" / "..%2F..%2F..%2F..%2Fssid")  # served there
    out = tmp_path / "deep" / "snap"
    with FakeDashboard(org.root, rate=None) as fake:
        result = asyncio.run(collect(CollectorConfig(out=out, api_key="k" * 40, base_url=fake.base_url, rate=200)))
    assert result.calls > 10
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(org.root)]
    assert written and all(p.is_relative_to(out) for p in written), written
    assert result.failed == 0
    assert (out / "meraki/networks/..%2F..%2Fnet/wireless/ssids/..%2F..%2F..%2F..%2Fssid/firewall/"
                  "l3FirewallRules.json").is_file()
    # ...and the audit reads them back under the same names: the SSID's rules, not a data gap
    (out / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [
        {"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2"]}]}))
    audited = run_audit(out)
    corp = [p for p in audited.paths if p.role.network_id == "../../net" and p.role.name == "Corp"]
    assert corp and {p.verdict for p in corp if str(p.trace.flow) == "udp/500"} == {"blocked"}  # "block ike"


@pytest.mark.slow
def test_cisco_hostname_with_path_syntax_stays_inside(tmp_path: Path) -> None:
    config = (FIXTURES / "cisco" / "ios-vpn.cfg").read_text().replace("hostname br-edge-01",
                                                                      "hostname ../../../escaped")
    out = tmp_path / "deep" / "snap"
    with FakeCiscoDevice(config, hostname="r1") as device:
        result = collect_cisco(CiscoCollectConfig("127.0.0.1", "cisco_ios", "audit", "audit-pw", out,
                                                  port=device.port, secret="enable-pw", timeout=10))
    assert result.ok and result.file == "cisco/..%2F..%2F..%2Fescaped.cfg"
    assert [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(out)] == []


@pytest.mark.parametrize("vendor", ["f5", "kemp", "netscaler"])
def test_lb_collector_refuses_a_snapshot_folder_linked_out(tmp_path: Path, vendor: str) -> None:
    fixture = {"f5": "f5/rest-sticky", "kemp": "kemp/sticky-port-following.xml",
               "netscaler": "netscaler/nitro-sticky"}[vendor]
    out, elsewhere = tmp_path / "snap", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / vendor)
    with FakeLoadBalancer(vendor, FIXTURES / "lb" / fixture) as fake:
        result = collect_lb(LbCollectConfig(vendor, fake.url, out, "auditor", "s3cret-pass", name="lb1", timeout=5))
    assert list(elsewhere.iterdir()) == []
    assert result.exit_code == 3 and result.failures and "outside" in result.failures[0].error


def test_file_reads_return_whole_files_and_skip_what_is_not_a_file(tmp_path: Path) -> None:
    """Reads go to the end of a file (empty, multi-megabyte, CRLF) and leave no descriptor open; a FIFO or a
    folder where a file belongs reads as absent at once instead of hanging the audit."""
    (tmp_path / "empty.json").write_bytes(b"")
    big = ("x" * 1023 + "\n") * 3 * 1024  # 3 MiB
    (tmp_path / "big.txt").write_text(big)
    (tmp_path / "crlf.txt").write_bytes(b"a\r\nb\rc\n")
    (tmp_path / "folder.json").mkdir()
    os.mkfifo(tmp_path / "pipe.json")
    snapshot = Snapshot(tmp_path)
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(3):
        assert snapshot.read_text("empty.json") == ""
        assert snapshot.read_text("big.txt") == big
        assert snapshot.read_text("crlf.txt") == "a\nb\nc\n"
        assert snapshot.read_text("pipe.json") is None
        assert snapshot.read_text("folder.json") is None
        assert snapshot.read_text("absent.json") is None
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) == fds_before
    with pytest.raises(SnapshotError, match=r"empty\.json"):
        snapshot.read_json("empty.json")


def test_plain_folders_are_forgotten_past_a_bound_and_links_still_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folders a read found plain are kept open (one open each), up to a bound: an org of thousands of
    networks would otherwise hold a descriptor per folder for the whole audit. Past the bound a folder is
    opened again, so a link put in place of a folder read before is refused as before."""
    import auditor.snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "_INSIDE_DIRS_MAX", 8)
    root = tmp_path / "snap"
    for i in range(20):
        (root / f"n{i}" / "a").mkdir(parents=True)
        (root / f"n{i}" / "a" / "f.json").write_text(json.dumps({"i": i}))
    outside = tmp_path / "outside"
    (outside / "a").mkdir(parents=True)
    (outside / "a" / "f.json").write_text(json.dumps({"i": "outside"}))
    snapshot = Snapshot(root)
    assert [snapshot.read_json(f"n{i}/a/f.json") for i in range(20)] == [{"i": i} for i in range(20)]
    assert len(snapshot._inside_dirs) <= 8
    shutil.rmtree(root / "n0")
    os.symlink(outside, root / "n0")
    with pytest.raises(SnapshotError, match="outside the snapshot"):
        snapshot.read_json("n0/a/f.json")
    assert snapshot.read_json("n19/a/f.json") == {"i": 19}
