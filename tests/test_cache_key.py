"""What the audit cache and the report memo are keyed on, beyond the snapshot's files: code that is not the tool's
own (a vendor added through `auditor.plugins.install`), every file of the tool (its report templates too), and
where the snapshot's links lead; and reads the audit makes outside the snapshot's reading methods (a folder test,
a folder listed for a missing device). Each case: a warm command after the change gives what a command without the
cache gives."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import shutil
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor import cache as audit_cache
from auditor.audit import run_audit
from auditor.cli import app
from auditor.plugins import Registry, install, installed
from auditor.vendors import cisco, lb, meraki
from tests.test_demo_and_cli import _copy_demo

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"

# A vendor of the user's own, in a package outside auditor/: release 1 drops every network-side hop (so no SSID or
# MX rule can block), release 2 (the same module, fixed) is the shipped adapter.
BUGGY = '''from auditor.vendors.meraki.adapter import MerakiAdapter


class Net(MerakiAdapter):
    def iter_networks(self, snapshot, model, take=None):
        for net in super().iter_networks(snapshot, model, take):
            for role in net.roles:
                for variant in role.variants:
                    variant.hops = []
            yield net
'''
FIXED = '''from auditor.vendors.meraki.adapter import MerakiAdapter


class Net(MerakiAdapter):
    pass
'''


@pytest.fixture
def own_vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package `acme_vendor` on sys.path, its module rewritten by the test; the shipped registry restored."""
    package = tmp_path / "site" / "acme_vendor"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(package.parent))
    shipped = installed()
    yield package
    install(shipped)
    for name in [n for n in sys.modules if n.startswith("acme_vendor")]:
        del sys.modules[name]


def _install_release(package: Path, source: str) -> None:
    (package / "meraki_net.py").write_text(source)
    for name in [n for n in sys.modules if n.startswith("acme_vendor")]:
        del sys.modules[name]
    module = importlib.import_module("acme_vendor.meraki_net")
    install(Registry([dataclasses.replace(meraki.VENDOR, adapters={"meraki": module.Net}), lb.VENDOR,
                      cisco.VENDOR]))


def _verdicts(cache: Path | None) -> tuple[Counter[str], tuple[int, int] | None]:
    result = run_audit(DEMO, keep_model=False, workers=1, cache_dir=cache)
    stats = (result.cache.hits, result.cache.misses) if result.cache is not None else None
    return Counter(str(p.trace.verdict) for p in result.paths), stats


def test_a_new_release_of_a_vendor_of_your_own_is_not_served_the_old_ones_results(
        own_vendor: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _install_release(own_vendor, BUGGY)
    buggy, (_, misses) = _verdicts(cache)
    assert set(buggy) == {"allowed"} and misses > 0  # nothing blocks without the network's hops
    _install_release(own_vendor, FIXED)
    fixed, (hits, _) = _verdicts(cache)
    plain, _ = _verdicts(None)
    assert fixed == plain != buggy
    assert hits == 0  # another release: another namespace
    again, (hits, misses) = _verdicts(cache)
    assert again == plain and misses == 0 and hits > 0  # the same release is served from the cache


def test_the_vendors_digest_follows_the_registry_and_its_code(own_vendor: Path) -> None:
    shipped = audit_cache.vendors_digest(installed())
    _install_release(own_vendor, FIXED)
    fixed = audit_cache.vendors_digest(installed())
    assert fixed != shipped  # another adapter class reads meraki/
    assert audit_cache.vendors_digest(installed()) == fixed  # stable within and across processes
    (own_vendor / "helpers.py").write_text("TIMEOUT = 5\n")  # any file of the package, imported or not
    assert audit_cache.vendors_digest(installed()) != fixed
    install(Registry([meraki.VENDOR, lb.VENDOR]))  # a vendor left out reads nothing: its paths change
    assert audit_cache.vendors_digest(installed()) not in (shipped, fixed)


def test_a_vendor_in_a_zip_or_with_a_partial_is_keyed_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code with no file to hash (a zip) reuses nothing; a hint given as functools.partial is named by its
    function, and does not stop the audit."""
    archive = tmp_path / "acme.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("acme_zipped/__init__.py", FIXED)
    monkeypatch.syspath_prepend(str(archive))
    shipped = installed()
    try:
        module = importlib.import_module("acme_zipped")
        zipped_registry = Registry([dataclasses.replace(meraki.VENDOR, adapters={"meraki": module.Net}), lb.VENDOR])
        assert audit_cache.vendors_digest(zipped_registry) != audit_cache.vendors_digest(zipped_registry)
        hints = meraki.VENDOR.server_hints
        assert hints is not None
        partial_registry = Registry([dataclasses.replace(meraki.VENDOR, server_hints=functools.partial(hints)),
                                     lb.VENDOR])
        assert audit_cache.vendors_digest(partial_registry) == audit_cache.vendors_digest(partial_registry)
    finally:
        install(shipped)
        sys.modules.pop("acme_zipped", None)


def test_every_file_of_the_tool_but_bytecode_is_in_the_code_digest(tmp_path: Path) -> None:
    tree = tmp_path / "pkg"
    (tree / "report" / "templates").mkdir(parents=True)
    (tree / "__pycache__").mkdir()
    (tree / "mod.py").write_text("X = 1\n")
    template = tree / "report" / "templates" / "report.html.j2"
    template.write_text("<p>{{ x }}</p>\n")
    (tree / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")

    def digest() -> str:
        value = audit_cache.hashlib.blake2b(digest_size=16)
        audit_cache._digest_tree(value, tree, tmp_path)
        return value.hexdigest()

    first = digest()
    (tree / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\1")
    assert digest() == first
    template.write_text("<p>{{ x }}!</p>\n")
    assert digest() != first
    # the installed tree holds its templates, and the key names the packages the tool runs on
    assert any(ROOT.joinpath("auditor").rglob("*.j2"))
    names = {name for name, _ in audit_cache._dependency_versions()}
    assert {"ciscoconfparse", "networkx", "pydantic", "orjson"} <= names


def _cli(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.output


def test_a_sarif_report_follows_the_snapshot_link_to_its_new_target(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A nightly job audits `current`, a link to the night's snapshot: SARIF names files by their real paths."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(DEMO, tmp_path / "snap-1")
    shutil.copytree(DEMO, tmp_path / "snap-2")
    current = tmp_path / "current"
    current.symlink_to("snap-1")
    cache = tmp_path / "cache"
    out = tmp_path / "out.sarif"
    assert _cli("audit", "current", "--format", "sarif", "--cache", str(cache), "-o", str(out))[0] == 1
    assert "snap-1/" in out.read_text()
    current.unlink()
    current.symlink_to("snap-2")
    assert _cli("audit", "current", "--format", "sarif", "--cache", str(cache), "-o", str(out))[0] == 1
    warm = out.read_text()
    plain = tmp_path / "plain.sarif"
    _cli("audit", "current", "--format", "sarif", "-o", str(plain))
    assert "snap-1/" not in warm and "snap-2/" in warm
    assert warm.count("snap-2/") == plain.read_text().count("snap-2/") > 0


def test_a_load_balancer_file_that_becomes_a_folder_is_audited(tmp_path: Path) -> None:
    snapshot = _copy_demo(tmp_path)
    entry = snapshot / "f5" / "edge-lb"
    entry.write_text("notes, not a device\n")
    cache = tmp_path / "cache"
    out, plain_out = tmp_path / "out.json", tmp_path / "plain.json"
    args = ("audit", str(snapshot), "--format", "json")
    first = _cli(*args, "-o", str(out), "--cache", str(cache))
    assert "f5/edge-lb" not in out.read_text()
    entry.unlink()
    entry.mkdir()  # now a device's REST folder, with none of its files: gaps for each
    warm = _cli(*args, "-o", str(out), "--cache", str(cache))
    plain = _cli(*args, "-o", str(plain_out))
    assert warm[0] == plain[0] and warm != first
    assert out.read_text().count("f5/edge-lb/") == plain_out.read_text().count("f5/edge-lb/") > 0


def test_a_device_file_removed_beside_a_path_entry_is_audited(tmp_path: Path) -> None:
    """`path` names cisco/dmz-fw and only cisco/dmz-fw.txt is there (a gap); once it is gone, `path` names a device
    that is not in the snapshot: exit 2, with or without the cache."""
    snapshot = _copy_demo(tmp_path)
    config = snapshot / "audit.yaml"
    text = config.read_text()
    assert "path:" in text
    config.write_text(text.replace("path: [", "path: [cisco/dmz-fw, ", 1))
    (snapshot / "cisco").mkdir(exist_ok=True)
    (snapshot / "cisco" / "dmz-fw.txt").write_text("hostname dmz-fw\n")
    cache = tmp_path / "cache"
    out = tmp_path / "out.json"
    args = ("audit", str(snapshot), "--format", "json", "-o", str(out))
    first = _cli(*args, "--cache", str(cache))
    assert first[0] in (1, 3), first[1]
    (snapshot / "cisco" / "dmz-fw.txt").unlink()
    warm = _cli(*args, "--cache", str(cache))
    plain = _cli(*args)
    assert plain[0] == 2 and "cisco/dmz-fw" in plain[1]
    assert warm == plain


def test_a_folder_that_cannot_be_listed_beside_a_path_entry_is_one_line(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate lists the folder of a `path` device that was not read (through the snapshot, for the cache): a
    folder it may not list (permissions; root here cannot make one) is a device not in the snapshot, exit 2 in
    one line, not a traceback."""
    from auditor.snapshot import Snapshot

    snapshot = _copy_demo(tmp_path)
    config = snapshot / "audit.yaml"
    config.write_text(config.read_text().replace("path: [", "path: [cisco/dmz-fw, ", 1))
    real = Snapshot.listdir

    def refusing(self: Snapshot, rel: str, suffix: str = "") -> list[str]:
        if rel == "cisco" and not suffix and self.observer is None:
            raise PermissionError(13, "Permission denied", str(self.root / rel))
        return real(self, rel, suffix)

    monkeypatch.setattr(Snapshot, "listdir", refusing)
    code, output = _cli("audit", str(snapshot), "--format", "json", "-o", str(tmp_path / "out.json"))
    assert code == 2 and "cisco/dmz-fw" in output and "internal error" not in output
