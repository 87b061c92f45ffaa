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

import pytest
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
    seed_folder,
    through,
    verdicts,
)

pytestmark = pytest.mark.slow  # Hypothesis over whole audits

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lb"
# name -> (fixture, VIP the VPN server is published on)
SEEDS = {
    "f5/lb1.conf": ("f5/split-builtin-source-addr.conf", "203.0.113.10"),
    "f5/lb1": ("f5/rest-sticky", "203.0.113.20"),
    "netscaler/lb1.conf": ("netscaler/sticky-lb-group.conf", "203.0.113.40"),
    "netscaler/lb1": ("netscaler/nitro-sticky", "203.0.113.41"),
    "kemp/lb1.xml": ("kemp/sticky-port-following.xml", "203.0.113.30"),
    # seeds whose blocked paths are blocked by device state (forced-offline members, an SSL vserver without a
    # certificate, an applied ACL), for the device-state fuzzer
    "f5/states.conf": ("f5/fuzz-states.conf", "203.0.113.10"),
    "netscaler/states.conf": ("netscaler/fuzz-states.conf", "203.0.113.40"),
}
TEXT_SEEDS = sorted(k for k in SEEDS if k.endswith((".conf", ".xml")) and "/states." not in k)
JSON_SEEDS = sorted(k for k in SEEDS if not k.endswith((".conf", ".xml")))
FUZZ = settings(max_examples=60, deadline=None)
BAD_TOKENS = ["%%", "300.1.1.1", "1.2.3.4:99999", "{", "}", "\"", "<", "&", "\u00e9t\u00e9", "-", "::::", "0x"]


@cache
def _seed(name: str) -> tuple[Path, dict[PathKey, str]]:
    fixture, vip = SEEDS[name]
    root = seed_folder("fuzz-lb-")
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


def _device(name: str) -> str:
    """The device a seed file or folder becomes: f5/lb1.conf -> f5/lb1."""
    return name.rsplit(".", 1)[0] if name.endswith((".conf", ".xml")) else name


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
def test_cut_off_file_never_crashes_nor_opens_a_path_through_it(name: str, data: st.DataObject) -> None:
    """A transfer that stopped early. These seeds hold listeners and nothing that refuses (no filter, reject
    or disabled object a cut could drop), so what a cut leaves listens on less: no path through the device is
    allowed that the whole file did not allow. (A cut that drops every listener on the VIP takes the device
    off those paths: what they meet then is not this device's doing, and is not compared.)"""
    with _copy(name) as root:
        text = (root / name).read_text()
        (root / name).write_text(text[: data.draw(st.integers(0, len(text) - 1), label="cut")])
        outcome = _audit(root, name)
    if isinstance(outcome, AuditResult):
        assert newly_allowed(_seed(name)[1], through(outcome, _device(name))) == []


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


# -- random device states (issue 27): whatever is disabled, filtered or limited, no blocked path opens -------------
# Each entry: (where it goes, lines). F5: inside the first line's block of that kind; NetScaler: appended to a
# command line of that kind, or a new line.
F5_STATES: list[tuple[str, str]] = [
    ("member", "session user-disabled"), ("member", "session user-disabled\nstate user-down"),
    ("node", "session user-disabled"), ("node", "state user-down"),
    ("virtual", "disabled"), ("virtual", "reject"), ("virtual", "vlans {\n/Common/internal\n}\nvlans-enabled"),
    ("virtual", "vlans {\n/Common/external\n}\nvlans-disabled"), ("virtual", "vlans {\n/Common/external\n}"),
    ("virtual", "fw-enforced-policy /Common/afm"), ("virtual", "fw-staged-policy /Common/afm"),
    ("virtual", "rules {\n/Common/r_drop\n}"), ("virtual", "source 198.51.100.0%1/24"),
    ("virtual", "translate-port disabled"), ("virtual", "ip-intelligence-policy /Common/ipi"),
    ("address", "enabled no"), ("address", "arp disabled"),
    ("top", 'net packet-filter /Common/pf {\naction discard\norder 5\nrule "udp"\n}'),
    ("top", 'sys db packetfilter {\nvalue "enabled"\n}'),
    ("top", "security firewall global-rules {\nenforced-policy /Common/g\n}"),
    ("top", "net route-domain /Common/0 {\nid 0\nfw-enforced-policy /Common/rd\n}"),
    ("top", "ltm rule /Common/r_drop {\nwhen CLIENT_ACCEPTED { if { [IP::client_addr] eq \"198.51.100.9\" } "
            "{ UDP::drop } }\n}"),
]
NS_STATES: list[tuple[str, str]] = [
    ("add server", " -state DISABLED"), ("add serviceGroup", " -state DISABLED"),
    ("add lb vserver", " -state DISABLED"), ("add lb vserver", ' -Listenpolicy "CLIENT.UDP.DSTPORT.EQ(4500)"'),
    ("add lb vserver", " -Listenpolicy CLIENT.IP.SRC.IN_SUBNET(198.51.100.0/24)"),
    ("add lb vserver", " -sessionless ENABLED"),
    ("line", "disable server vpn1"), ("line", "disable serviceGroup sg_ike4500"),
    ("line", "add ns acl a_{n} DENY -protocol UDP -destPort = {port} -priority {n}{applied}"),
    ("line", "add ns acl b_{n} DENY -srcIP = 198.51.100.0-198.51.100.255 -priority {n} -kernelstate SFAPPLIED61"),
    ("line", "add ns acl c_{n} ALLOW -protocol UDP -priority {n}00{applied}"),  # after the seed's DENY
    ("line", "add ns acl d_{n} BRIDGE -priority {n}{applied}"),
    ("line", "add ns acl e_{n} DENY -destIP = 203.0.113.40 -vlan 7 -priority {n}{applied}"),
    ("line", "add ns simpleacl s_{n} DENY -srcIP 198.51.100.{n}"), ("line", "apply ns acls"),
    ("line", "disable ns acl a_{n}"),
]
STATE_SEEDS = {"f5/states.conf": F5_STATES, "netscaler/states.conf": NS_STATES}


def _with_f5_states(text: str, picks: list[tuple[str, str, int]]) -> str:
    lines = text.splitlines()
    openers = {"virtual": r"^ltm virtual /", "address": r"^ltm virtual-address ", "node": r"^ltm node ",
               "member": r"^\s+/Common/\S+:\S+ \{$"}
    top: list[str] = []
    for where, snippet, which in picks:
        if where == "top":
            top.append(snippet)
            continue
        found = [i for i, line in enumerate(lines) if re.match(openers[where], line)]
        at = found[which % len(found)]
        lines[at + 1:at + 1] = snippet.splitlines()
    return "\n".join(lines + top) + "\n"


def _with_ns_states(text: str, picks: list[tuple[str, str, int]]) -> str:
    lines = text.splitlines()
    for n, (where, snippet, which) in enumerate(picks, start=1):
        if where == "line":
            applied = " -kernelstate SFAPPLIED61" if which % 2 else ""
            lines.append(snippet.format(n=n, port=(500, 4500, 443)[which % 3], applied=applied))
            continue
        found = [i for i, line in enumerate(lines) if line.lower().startswith(where.lower())]
        at = found[which % len(found)]
        lines[at] += snippet
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(STATE_SEEDS)), data=st.data())
def test_random_device_states_never_open_a_blocked_path(name: str, data: st.DataObject) -> None:
    catalogue = STATE_SEEDS[name]
    picks = data.draw(st.lists(st.tuples(st.sampled_from(catalogue), st.integers(0, 7)), min_size=1, max_size=6),
                      label="states")
    flat = [(where, snippet, which) for (where, snippet), which in picks]
    ingress = data.draw(st.sampled_from([None, "/Common/external", "/Common/internal"]), label="ingress_vlan")
    with _copy(name) as root:
        text = (root / name).read_text()
        changed = _with_f5_states(text, flat) if name.startswith("f5/") else _with_ns_states(text, flat)
        (root / name).write_text(changed)
        if ingress is not None:
            config = yaml.safe_load((root / "audit.yaml").read_text())
            config["devices"] = {name.rsplit(".", 1)[0]: {"ingress_vlan": ingress}}
            (root / "audit.yaml").write_text(yaml.safe_dump(config))
        outcome = _audit(root, name)
    assert isinstance(outcome, AuditResult), outcome  # these are valid configurations
    seed = _seed(name)[1]
    assert {k[-1] for k, v in seed.items() if v == "blocked"} >= {"tcp/443"}, "the seed's state-blocked paths"
    assert newly_allowed(seed, verdicts(outcome)) == [], changed
