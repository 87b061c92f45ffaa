"""The JSON report's text kept by the audit cache beside each entry (auditor/cache.py, KeptText): a warm JSON
report copies each hit's text instead of rendering it, and is the report an audit without the cache writes,
byte for byte. A text that is missing, damaged, of another entry or of an earlier audit of the network is
never copied: the report renders the network and keeps the new text."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest

from auditor import cache as audit_cache
from auditor.audit import AuditResult, run_audit
from auditor.report import json_report
from auditor.vocab import Verdict
from tests.environment import needs_fork
from tests.snapshot_builder import MerakiSnapshot, deny
from tests.test_cache import _edit_five, _entries, _synthetic, _texts

NETWORKS = 12


def _audit(snap: Path, cache: Path | None = None, workers: int = 1, json: bool = True) -> AuditResult:
    return run_audit(snap, keep_model=False, workers=workers, cache_dir=cache,
                     network_text=json_report.network_text if json else None)


def _file_report(result: AuditResult, out: Path) -> str:
    """The report as `--format json -o FILE` writes it: to a file, whose descriptor the kept texts go to."""
    with out.open("w", encoding="utf-8") as handle:
        json_report.write(result, handle)
    return out.read_text().replace(result.generated_at, "GENERATED")


def _buffer_report(result: AuditResult) -> str:
    """The report written to a handle without a descriptor: the kept texts are read and written as text."""
    handle = io.StringIO()
    json_report.write(result, handle)
    return handle.getvalue().replace(result.generated_at, "GENERATED")


def _kept(result: AuditResult) -> int:
    return sum(isinstance(text, audit_cache.KeptText) for text, _paths in result.written.values())


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=needs_fork)])
def test_a_warm_json_report_copies_the_kept_texts(tmp_path: Path, workers: int) -> None:
    snap = _synthetic(tmp_path / "org", NETWORKS)
    cache = tmp_path / "cache"
    expected = _file_report(_audit(snap), tmp_path / "plain.json")
    cold = _audit(snap, cache, workers)
    assert len(_texts(cache)) == len(_entries(cache)) == NETWORKS
    assert _file_report(cold, tmp_path / "cold.json") == expected
    warm = _audit(snap, cache, workers)
    assert warm.cache is not None and warm.cache.hits == NETWORKS
    assert _kept(warm) == NETWORKS  # every network's text comes from the cache, none is rendered
    assert _file_report(warm, tmp_path / "warm.json") == expected
    assert _buffer_report(warm) == expected
    assert _buffer_report(cold) == expected == _buffer_report(_audit(snap))


def test_an_audit_without_the_json_report_keeps_no_text_and_the_report_keeps_them(tmp_path: Path) -> None:
    """Entries written by an audit for another report have no text: the first JSON report renders those
    networks and keeps their texts, and the next one copies them."""
    snap = _synthetic(tmp_path / "org", NETWORKS)
    cache = tmp_path / "cache"
    expected = _file_report(_audit(snap), tmp_path / "plain.json")
    _audit(snap, cache, json=False)
    assert len(_entries(cache)) == NETWORKS and _texts(cache) == []
    first = _audit(snap, cache)
    assert _file_report(first, tmp_path / "first.json") == expected
    assert len(_texts(cache)) == NETWORKS
    second = _audit(snap, cache)
    assert _file_report(second, tmp_path / "second.json") == expected


def _damage(text: Path, other: Path, how: str) -> None:
    data = text.read_bytes()
    if how == "missing":
        text.unlink()
    elif how == "flipped":  # a byte inside the compressed frame
        text.write_bytes(data[:-12] + bytes([data[-12] ^ 0x40]) + data[-11:])
    elif how == "truncated":
        text.write_bytes(data[:len(data) // 2])
    elif how == "empty":
        text.write_bytes(b"")
    elif how == "uncompressed":  # the right header, then text that is no zstd frame
        head = len(audit_cache.TEXT_MAGIC) + 1 + 16
        text.write_bytes(data[:head] + b',\n    {"verdict": "allowed"}')
    elif how == "another network's":
        shutil.copyfile(other, text)
    else:  # a link: not followed
        text.unlink()
        text.symlink_to(other)


@pytest.mark.parametrize("how", ["missing", "flipped", "truncated", "empty", "uncompressed", "another network's",
                                 "link"])
def test_a_text_that_is_not_whole_and_its_entrys_is_rendered_and_kept_again(tmp_path: Path, how: str) -> None:
    snap = _synthetic(tmp_path / "org", NETWORKS)
    cache = tmp_path / "cache"
    expected = _file_report(_audit(snap), tmp_path / "plain.json")
    _audit(snap, cache)
    texts = _texts(cache)
    damaged, other = texts[3], texts[7]
    _damage(damaged, other, how)
    warm = _audit(snap, cache)
    assert _file_report(warm, tmp_path / "warm.json") == expected
    # rendered, and kept again: whole, its entry's, and copied next time
    assert damaged.is_file() and not damaged.is_symlink()
    again = _audit(snap, cache)
    assert _kept(again) == NETWORKS
    assert _buffer_report(again) == expected


def test_a_kept_allowed_text_never_outlives_the_entry_it_was_written_for(tmp_path: Path) -> None:
    """A network's text says its paths are allowed; then its rules block IKE, and an audit for another report
    writes its new entry (and no text): the old text is still beside the entry, and a JSON report must not copy
    it. The report says blocked, as an audit without the cache does."""
    snap = MerakiSnapshot(tmp_path / "org")
    for net_id, name in (("N_A", "Store A"), ("N_B", "Store B")):
        snap.network(net_id, name, products=("appliance",),
                     vlans=[{"id": 10, "name": "Staff", "subnet": f"10.{len(snap.networks)}.10.0/24"}])
    snap.audit()  # writes audit.yaml
    cache = tmp_path / "cache"
    cold = _audit(snap.root, cache)
    assert {p.trace.verdict for p in cold.paths} == {Verdict.ALLOWED}
    _file_report(cold, tmp_path / "cold.json")
    before = {path: path.read_bytes() for path in _texts(cache)}
    assert len(before) == 2
    snap.mx_rules("N_A", [deny("udp", "500", comment="no IKE")])
    _audit(snap.root, cache, json=False)  # N_A's entry rewritten; its old text stays
    assert {path: path.read_bytes() for path in _texts(cache)} == before
    warm = _audit(snap.root, cache)
    assert warm.cache is not None and warm.cache.hits == 2
    report = _file_report(warm, tmp_path / "warm.json")
    assert report == _file_report(_audit(snap.root), tmp_path / "plain.json")
    assert "no IKE" in report and '"verdict": "blocked"' in report


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=needs_fork)])
def test_networks_audited_again_get_their_new_text_not_another(tmp_path: Path, workers: int) -> None:
    """Five networks change (a deny of NAT-T in four of them): a warm JSON audit audits them again, alone or
    with a forked worker, and each one's report text is the one rendered from its own new results (the runner
    takes the text `_store` rendered, by identity of its paths). The report says blocked where the uncached
    one does, and the texts kept then are the ones the next report copies."""
    snap = _synthetic(tmp_path / "org", 24)
    cache = tmp_path / "cache"
    _audit(snap, cache, workers)
    time.sleep(0.02)  # past the file system's timestamp granularity
    edited = _edit_five(snap)
    warm = _audit(snap, cache, workers)
    assert warm.cache is not None and set(warm.cache.missed) == edited
    expected = _file_report(_audit(snap), tmp_path / "plain.json")
    assert _file_report(warm, tmp_path / "warm.json") == expected
    assert {p.role.network_id for p in warm.paths if p.trace.verdict == Verdict.BLOCKED} >= edited - {
        sorted(edited)[-1]}  # the four denies (the fifth edit is random)
    again = _audit(snap, cache, workers)
    assert _kept(again) == 24 and _file_report(again, tmp_path / "again.json") == expected
