"""audit.yaml, mangled: a valid audit, or exit 2 with one line naming audit.yaml and what is wrong."""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.audit import AuditResult
from auditor.cli import app
from auditor.snapshot import SnapshotError
from tests.robustness.helpers import (
    CONFUSED,
    GARBAGE,
    audit_or_error,
    deleted,
    json_paths,
    replaced,
    seed_folder,
)
from tests.robustness.meraki_base import build

pytestmark = pytest.mark.slow  # Hypothesis over whole audits

CONFIG: dict[str, Any] = {
    "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "fqdn": "vpn.example.com",
                     "protocols": ["ikev2", "l2tp", "sstp"], "path": []}],
    "scope": {"networks": ["Store", "N_2"]},
    "protocols": {"anyconnect": {"flows": ["tcp/443", "udp/443"], "windows_errors": [809]}},
    "sources": [{"name": "lab", "prefixes": ["192.168.10.0/24"], "enters": "internet"}],
}
FUZZ = settings(max_examples=60, deadline=None)


@cache
def _seed() -> Path:
    root = seed_folder("fuzz-config-")
    build(root).audit()
    return root


def _check(text: str | bytes) -> AuditResult | SnapshotError:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "snap"
        shutil.copytree(_seed(), root)
        target = root / "audit.yaml"
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
        outcome = audit_or_error(root)
        if isinstance(outcome, SnapshotError):
            assert outcome.path.endswith("audit.yaml") and outcome.message, outcome
            run = CliRunner().invoke(app, ["audit", str(root), "--format", "json"])
            assert run.exit_code == 2, run.output
            assert run.stderr.count("\n") == 1 and "audit.yaml" in run.stderr, run.stderr
            assert "Traceback" not in run.output
    return outcome


def test_seed_config_is_valid() -> None:
    assert isinstance(_check(yaml.safe_dump(CONFIG)), AuditResult)


@FUZZ
@given(st.data())
def test_type_confused_values(data: st.DataObject) -> None:
    where = data.draw(st.sampled_from(json_paths(CONFIG)), label="where")
    value = data.draw(st.sampled_from(GARBAGE + CONFUSED), label="value")
    _check(yaml.safe_dump(replaced(CONFIG, where, value)))


@FUZZ
@given(st.data())
def test_deleted_and_unknown_keys(data: st.DataObject) -> None:
    where = data.draw(st.sampled_from(json_paths(CONFIG)[1:]), label="where")
    mangled = deleted(CONFIG, where)
    if data.draw(st.booleans(), label="add unknown key"):
        mangled = replaced(mangled, (*where[:-1], "unexpected_key"), 1) if isinstance(where[-1], str) else mangled
    outcome = _check(yaml.safe_dump(mangled))
    if "unexpected_key" in str(mangled):  # reported, or another problem of the same file first
        assert isinstance(outcome, SnapshotError)


@FUZZ
@given(st.data())
def test_truncated_yaml(data: st.DataObject) -> None:
    text = yaml.safe_dump(CONFIG)
    _check(text[: data.draw(st.integers(0, len(text)), label="cut")])


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_bytes(noise: bytes | str) -> None:
    _check(noise)
