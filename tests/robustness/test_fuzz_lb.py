"""Load-balancer configurations (bigip.conf, iControl REST JSON, ns.conf, NITRO JSON, KEMP XML) mangled and
audited end to end: a model, data gaps and unknowns, or a SnapshotError naming the file; never a traceback,
and an unreadable token never makes a path `allowed` that the intact configuration did not allow."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.audit import AuditResult
from auditor.snapshot import SnapshotError
from tests.robustness.helpers import (
    GARBAGE,
    PathKey,
    assert_names_file,
    audit_or_error,
    json_paths,
    newly_allowed,
    replaced,
    verdicts,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lb"
# name -> (fixture, VIP the VPN server is published on)
SEEDS = {
    "f5/lb1.conf": ("f5/split-builtin-source-addr.conf", "203.0.113.10"),
    "f5/lb1": ("f5/rest-sticky", "203.0.113.20"),
    "netscaler/lb1.conf": ("netscaler/sticky-lb-group.conf", "203.0.113.40"),
    "netscaler/lb1": ("netscaler/nitro-sticky", "203.0.113.41"),
    "kemp/lb1.xml": ("kemp/sticky-port-following.xml", "203.0.113.30"),
}
TEXT_SEEDS = sorted(k for k in SEEDS if k.endswith((".conf", ".xml")))
JSON_SEEDS = sorted(k for k in SEEDS if not k.endswith((".conf", ".xml")))
FUZZ = settings(max_examples=60, deadline=None)
BAD_TOKENS = ["%%", "300.1.1.1", "1.2.3.4:99999", "{", "}", "\"", "<", "&", "\u00e9t\u00e9", "-", "::::", "0x"]


@cache
def _seed(name: str) -> tuple[Path, dict[PathKey, str]]:
    fixture, vip = SEEDS[name]
    root = Path(tempfile.mkdtemp(prefix="fuzz-lb-"))
    source = FIXTURES / fixture
    (root / name).parent.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, root / name)
    else:
        shutil.copy(source, root / name)
    config = {"vpn_servers": [{"name": "vpn", "address": vip, "protocols": ["ikev2", "l2tp", "sstp"]}],
              "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}
    (root / "audit.yaml").write_text(yaml.safe_dump(config))
    result = audit_or_error(root)
    assert isinstance(result, AuditResult), result
    assert "allowed" in verdicts(result).values(), f"{name}: the seed must publish IKE on {vip}"
    return root, verdicts(result)


@contextmanager
def _copy(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzzed-") as tmp:
        root = Path(tmp) / "snap"
        shutil.copytree(_seed(name)[0], root)
        yield root


def _audit(root: Path, name: str) -> AuditResult | SnapshotError:
    outcome = audit_or_error(root)
    if isinstance(outcome, SnapshotError):
        assert_names_file(outcome, root)
        assert outcome.path.startswith(name), outcome
    return outcome


def _text_files(name: str) -> list[str]:
    return [name]


@FUZZ
@given(name=st.sampled_from(TEXT_SEEDS), data=st.data())
def test_one_unreadable_token_never_opens_a_path(name: str, data: st.DataObject) -> None:
    with _copy(name) as root:
        text = (root / name).read_text()
        tokens = re.split(r"(\s+|(?<=>)|(?=<))", text)  # keep separators; split XML tags from values
        words = [i for i, t in enumerate(tokens) if t and not t.isspace()]
        at = data.draw(st.sampled_from(words), label="token")
        tokens[at] = data.draw(st.sampled_from(BAD_TOKENS), label="bad")
        (root / name).write_text("".join(tokens))
        outcome = _audit(root, name)
    if isinstance(outcome, AuditResult):
        assert newly_allowed(_seed(name)[1], verdicts(outcome)) == []


@FUZZ
@given(name=st.sampled_from(TEXT_SEEDS), data=st.data())
def test_cut_off_file_never_crashes(name: str, data: st.DataObject) -> None:
    with _copy(name) as root:
        text = (root / name).read_text()
        (root / name).write_text(text[: data.draw(st.integers(0, len(text) - 1), label="cut")])
        _audit(root, name)


@FUZZ
@given(name=st.sampled_from(JSON_SEEDS), data=st.data())
def test_type_confused_rest_bodies_never_crash_or_open_a_path(name: str, data: st.DataObject) -> None:
    with _copy(name) as root:
        files = sorted(p.relative_to(root).as_posix() for p in (root / name).rglob("*.json"))
        rel = data.draw(st.sampled_from(files), label="file")
        body = json.loads((root / rel).read_text())
        where = data.draw(st.sampled_from(json_paths(body)), label="where")
        value = data.draw(st.sampled_from(GARBAGE), label="value")
        (root / rel).write_text(json.dumps(replaced(body, where, value)))
        outcome = _audit(root, name)
    if isinstance(outcome, AuditResult):
        assert newly_allowed(_seed(name)[1], verdicts(outcome)) == []


@FUZZ
@given(name=st.sampled_from(JSON_SEEDS), data=st.data())
def test_truncated_rest_bodies_name_file_and_line(name: str, data: st.DataObject) -> None:
    with _copy(name) as root:
        files = sorted(p.relative_to(root).as_posix() for p in (root / name).rglob("*.json"))
        rel = data.draw(st.sampled_from(files), label="file")
        text = (root / rel).read_text()
        (root / rel).write_text(text[: data.draw(st.integers(0, len(text) - 2), label="cut")])
        outcome = _audit(root, name)
    assert isinstance(outcome, SnapshotError) and outcome.path == rel and outcome.line is not None
