"""ASA and IOS running-configs, mangled the way the field mangles them (cut-off sessions, typos, odd tokens):
the audit models them or refuses them with file and line, never a traceback, and a line it cannot read never
makes a path `allowed` that the intact configuration did not allow."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.audit import AuditResult
from auditor.snapshot import SnapshotError
from tests.robustness.helpers import PathKey, assert_names_file, audit_or_error, newly_allowed, verdicts

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cisco"
# (fixture, server's public address): the ASA statically NATs it, the IOS router port-forwards it.
DEVICES = {"asa": ("asa-vpn.cfg", "198.51.100.10"), "ios": ("ios-vpn.cfg", "203.0.113.2")}
FUZZ = settings(max_examples=80, deadline=None)
# Tokens no Cisco grammar accepts where a keyword, address, port or name belongs. None is a word that could
# be a command: a typo that makes another valid-looking command is indistinguishable from the many commands
# that do not matter to VPN paths, and the parsers rightly skip those.
BAD_TOKENS = ["%%", "300.1.1.1", "10.0.0.0/33", "99999999", "\u00e9t\u00e9", "0x1f", "host\tany", "-", "(x"]


@cache
def _seed(kind: str) -> tuple[Path, str, dict[PathKey, str]]:
    fixture, address = DEVICES[kind]
    root = Path(tempfile.mkdtemp(prefix=f"fuzz-{kind}-"))
    (root / "cisco").mkdir()
    text = (FIXTURES / fixture).read_text()
    (root / "cisco" / "edge.cfg").write_text(text)
    # l2tp-plain: UDP 1701 in the clear, which the intact configs block (L2TP/IPsec carries it inside IPsec)
    config = {"vpn_servers": [{"name": "vpn", "address": address,
                               "protocols": ["ikev2", "l2tp", "l2tp-plain", "sstp"]}],
              "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]},
                          {"name": "partner", "prefixes": ["192.0.2.0/24"]}]}
    (root / "audit.yaml").write_text(yaml.safe_dump(config))
    result = audit_or_error(root)
    assert isinstance(result, AuditResult)
    return root, text, verdicts(result)


@contextmanager
def _with_config(kind: str, text: str) -> Iterator[Path]:
    seed, _, _ = _seed(kind)
    with tempfile.TemporaryDirectory(prefix="fuzzed-") as tmp:
        root = Path(tmp) / "snap"
        shutil.copytree(seed, root)
        (root / "cisco" / "edge.cfg").write_text(text, encoding="utf-8")
        yield root


def _audit(kind: str, text: str) -> AuditResult | SnapshotError:
    with _with_config(kind, text) as root:
        outcome = audit_or_error(root)
        if isinstance(outcome, SnapshotError):
            assert_names_file(outcome, root)
            assert outcome.path == "cisco/edge.cfg"
    return outcome


def test_seeds_have_every_verdict_kind() -> None:
    """The properties below only mean something if the intact configs allow some flows and block others."""
    for kind in DEVICES:
        assert {"allowed", "blocked"} <= set(_seed(kind)[2].values()), kind


@FUZZ
@given(kind=st.sampled_from(sorted(DEVICES)), data=st.data())
def test_one_unreadable_token_never_opens_a_path(kind: str, data: st.DataObject) -> None:
    _, text, before = _seed(kind)
    lines = text.splitlines()
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    tokens = lines[index].split(" ")
    at = data.draw(st.integers(0, len(tokens) - 1), label="token")
    tokens[at] = data.draw(st.sampled_from(BAD_TOKENS), label="bad")
    lines[index] = " ".join(tokens)
    outcome = _audit(kind, "\n".join(lines) + "\n")
    if isinstance(outcome, AuditResult):
        assert newly_allowed(before, verdicts(outcome)) == [], lines[index]


@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_mangled_access_list_name_never_opens_a_path(bad: str) -> None:
    """Every IOS list header with its name mangled (found by the fuzz test above: a header IOS would refuse
    left the list undefined, and IOS filters nothing through an undefined list)."""
    _, text, before = _seed("ios")
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("ip access-list ")]
    assert headers
    for index in headers:
        words = lines[index].split(" ")
        mangled = [*lines[:index], " ".join([*words[:3], bad, *words[4:]]), *lines[index + 1:]]
        outcome = _audit("ios", "\n".join(mangled) + "\n")
        if isinstance(outcome, AuditResult):
            assert newly_allowed(before, verdicts(outcome)) == [], mangled[index]


@FUZZ
@given(kind=st.sampled_from(sorted(DEVICES)), data=st.data())
def test_cut_off_session_never_opens_a_path(kind: str, data: st.DataObject) -> None:
    """A transfer that stopped early: the config ends anywhere, even mid-line, without its final `end`."""
    _, text, before = _seed(kind)
    cut = data.draw(st.integers(0, len(text) - 1), label="cut")
    outcome = _audit(kind, text[:cut])
    if isinstance(outcome, AuditResult):
        assert newly_allowed(before, verdicts(outcome)) == []


@FUZZ
@given(kind=st.sampled_from(sorted(DEVICES)), data=st.data())
def test_lines_shuffled_deleted_or_duplicated_never_crash(kind: str, data: st.DataObject) -> None:
    lines = _seed(kind)[1].splitlines()
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        i = data.draw(st.integers(0, len(lines) - 1))
        j = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["swap", "delete", "duplicate", "indent", "dedent", "cut"]))
        if op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        elif op == "indent":
            lines[i] = " " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        else:
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
    _audit(kind, "\n".join(lines) + "\n")


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(DEVICES)), noise=st.text(max_size=300))
def test_arbitrary_text_never_crashes(kind: str, noise: str) -> None:
    _audit(kind, noise)
    _audit(kind, _seed(kind)[1] + noise)


@pytest.mark.parametrize("kind", sorted(DEVICES))
def test_binary_garbage_is_a_data_gap_for_that_device(kind: str) -> None:
    """Issue 22 item 6: a file that cannot be read makes that device a data gap; the rest still audits (it was
    exit 2 for the whole snapshot)."""
    seed, _, _ = _seed(kind)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "snap"
        shutil.copytree(seed, root)
        (root / "cisco" / "edge.cfg").write_bytes(b"\xff\xfe\x00binary" * 50)
        outcome = audit_or_error(root)
    assert isinstance(outcome, AuditResult)
    gaps = [g for g in outcome.model.gaps if g.path == "cisco/edge.cfg"]
    assert gaps and re.search(r"cisco/edge\.cfg: (binary data|not a Cisco running-config)", gaps[0].reason)
    assert set(verdicts(outcome).values()) == {"unknown"}  # the device may front the server: nothing decided
