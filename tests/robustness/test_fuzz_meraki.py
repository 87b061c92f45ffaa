"""Meraki JSON, mutated: every outcome is a model (with data-gaps and unknowns) or a SnapshotError naming the
file; a damaged rule file never makes a path `allowed` that the intact one did not allow."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.audit import AuditResult
from auditor.snapshot import SnapshotError
from tests.robustness.helpers import (
    CONFUSED,
    GARBAGE,
    assert_names_file,
    audit_or_error,
    deleted,
    json_paths,
    newly_allowed,
    replaced,
    seed_folder,
    verdicts,
)
from tests.robustness.meraki_base import build

pytestmark = pytest.mark.slow  # Hypothesis over whole audits

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _seed() -> tuple[Path, dict[str, Any], dict]:
    root = seed_folder("fuzz-meraki-")
    snap = build(root)
    result = snap.audit()
    bodies = {p.relative_to(root).as_posix(): json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))}
    return root, bodies, verdicts(result)


@contextmanager
def mutated(changes: dict[str, str | None]) -> Iterator[Path]:
    """A copy of the seed snapshot with some files rewritten (text) or removed (None)."""
    seed, _, _ = _seed()
    with tempfile.TemporaryDirectory(prefix="fuzzed-") as tmp:
        root = Path(tmp) / "snap"
        shutil.copytree(seed, root)
        for rel, text in changes.items():
            if text is None:
                (root / rel).unlink()
            else:
                (root / rel).write_text(text, encoding="utf-8")
        yield root


def _audit(root: Path) -> AuditResult | SnapshotError:
    outcome = audit_or_error(root)
    if isinstance(outcome, SnapshotError):
        assert_names_file(outcome, root)
    return outcome


FILES = sorted(_seed()[1])


@FUZZ
@given(st.data())
def test_type_confused_values_never_crash(data: st.DataObject) -> None:
    rel = data.draw(st.sampled_from(FILES), label="file")
    body = _seed()[1][rel]
    where = data.draw(st.sampled_from(json_paths(body)), label="where")
    value = data.draw(st.sampled_from(GARBAGE + CONFUSED), label="value")
    with mutated({rel: json.dumps(replaced(body, where, value))}) as root:
        _audit(root)


def _open_vocabulary(where: tuple[Any, ...], value: Any) -> bool:
    """A string where the vocabulary is open is a different valid value, not garbage: an unknown product
    type is just another product (and a network without "appliance" has no MX to filter its traffic)."""
    return isinstance(value, str) and "productTypes" in where


@FUZZ
@given(st.data())
def test_garbage_never_turns_a_path_allowed(data: st.DataObject) -> None:
    """A value no field accepts is unknown or an error: it cannot prove a path open."""
    rel = data.draw(st.sampled_from(FILES), label="file")
    body = _seed()[1][rel]
    where = data.draw(st.sampled_from(json_paths(body)[1:] or [()]), label="where")
    value = data.draw(st.sampled_from(GARBAGE), label="value")
    with mutated({rel: json.dumps(replaced(body, where, value))}) as root:
        outcome = _audit(root)
    if isinstance(outcome, AuditResult) and not _open_vocabulary(where, value):
        assert newly_allowed(_seed()[2], verdicts(outcome)) == []


VPN_SUBNETS = "meraki/networks/N_4/appliance/vpn/siteToSiteVpn.json"


@pytest.mark.parametrize("value", [*GARBAGE, {}, {"remoteSubnet": "172.31.41.0/24"}, {"enabled": "true"}, None])
def test_a_vpn_subnet_translation_not_understood_never_opens_a_path(value: Any) -> None:
    """A full-tunnel spoke's subnet whose `nat` object does not say whether translation is on (found by the fuzz
    test above: `{"unexpected": ...}` there was read as translation off, and three blocked paths came out
    allowed): an error naming the file, never a path allowed."""
    body = _seed()[1][VPN_SUBNETS]
    with mutated({VPN_SUBNETS: json.dumps(replaced(body, ("subnets", 1, "nat"), value))}) as root:
        outcome = _audit(root)
    if isinstance(outcome, AuditResult):
        assert newly_allowed(_seed()[2], verdicts(outcome)) == []
    else:
        assert "siteToSiteVpn.json" in str(outcome)


SSIDS = "meraki/networks/N_1/wireless/ssids.json"


@pytest.mark.parametrize("value", [*GARBAGE, None, "", "8021x-someday", "deleted"])
def test_an_auth_mode_not_understood_never_opens_a_path(value: Any) -> None:
    """Every SSID's authMode replaced or deleted (found by the fuzz test above: a RADIUS SSID whose authMode was
    garbage lost its RADIUS guest VLAN case, which its rules block, and came out allowed): the SSID's roles are
    unknown at its access point, never a guess at which roles and VLANs the mode gives."""
    body = _seed()[1][SSIDS]
    for number, ssid in enumerate(body):
        if not ssid.get("enabled"):
            continue
        changed = deleted(body, (number, "authMode")) if value == "deleted" else \
            replaced(body, (number, "authMode"), value)
        with mutated({SSIDS: json.dumps(changed)}) as root:
            outcome = _audit(root)
        if isinstance(outcome, AuditResult):
            assert newly_allowed(_seed()[2], verdicts(outcome)) == [], (ssid["name"], value)
            assert {p.trace.verdict for p in outcome.paths if p.role.ssid == ssid["name"]} == {"unknown"}


@FUZZ
@given(st.data())
def test_deleted_keys_and_items_never_crash(data: st.DataObject) -> None:
    rel = data.draw(st.sampled_from(FILES), label="file")
    body = _seed()[1][rel]
    where = data.draw(st.sampled_from(json_paths(body)[1:] or [()]), label="where")
    text = json.dumps(deleted(body, where)) if where else "null"
    with mutated({rel: text}) as root:
        _audit(root)


@FUZZ
@given(st.data())
def test_truncated_json_names_file_and_line(data: st.DataObject) -> None:
    rel = data.draw(st.sampled_from(FILES), label="file")
    text = json.dumps(_seed()[1][rel], indent=1)
    cut = data.draw(st.integers(0, len(text) - 1), label="cut")
    with mutated({rel: text[:cut]}) as root:
        outcome = _audit(root)
    assert isinstance(outcome, SnapshotError), "a truncated JSON body was accepted"
    assert outcome.path == rel and outcome.line is not None


def test_a_truncated_file_the_roles_do_not_need_is_still_an_error() -> None:
    """N_2 has no group policy, so its SSID's device-type mapping cannot make a role: the file is read all
    the same, and a truncated one named, not passed over."""
    rel = "meraki/networks/N_2/wireless/ssids/0/deviceTypeGroupPolicies.json"
    assert _seed()[1]["meraki/networks/N_2/groupPolicies.json"] == [] and rel in FILES
    text = json.dumps(_seed()[1][rel], indent=1)
    with mutated({rel: text[:len(text) // 2]}) as root:
        outcome = _audit(root)
    assert isinstance(outcome, SnapshotError) and outcome.path == rel and outcome.line is not None


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(FILES), min_size=1, max_size=4))
def test_deleting_files_never_turns_a_path_allowed(gone: set[str]) -> None:
    with mutated(dict.fromkeys(gone)) as root:
        outcome = _audit(root)
    if isinstance(outcome, AuditResult):
        after = verdicts(outcome)
        assert newly_allowed(_seed()[2], after) == []
        if after != _seed()[2]:  # some files are redundant (vlans/settings.json beside vlans.json)
            gaps = {g.path for g in outcome.model.gaps} | {g.path for n in outcome.model.networks for g in n.gaps}
            assert gaps & gone, "removing files changed verdicts but no data gap names them"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_bytes_in_a_file(data: st.DataObject) -> None:
    rel = data.draw(st.sampled_from(FILES), label="file")
    noise = data.draw(st.binary(max_size=200), label="bytes")
    seed, _, _ = _seed()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "snap"
        shutil.copytree(seed, root)
        (root / rel).write_bytes(noise)
        outcome = _audit(root)
    if isinstance(outcome, AuditResult):  # only valid JSON of an acceptable shape gets this far
        assert newly_allowed(_seed()[2], verdicts(outcome)) == [] or noise.strip() in (b"[]", b"{}")
