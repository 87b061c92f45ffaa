"""Issue 20 item 11: an ASA group-object chain 800 deep ended in RecursionError. Nesting past
cisco_asa.MAX_GROUP_DEPTH (a bound of the tool) makes the group unknown, whatever kind it is; nesting within it
is read as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.audit import run_audit
from auditor.vendors.cisco.asa import MAX_GROUP_DEPTH

ROOT = Path(__file__).resolve().parents[2]
AUDIT_YAML = ("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n    protocols: [sstp]\n"
              "sources:\n  - name: branch-lan\n    prefixes: [192.0.2.0/24]\n")
ANCHOR = "access-list OUTSIDE_IN remark == SSTP fallback =="


def _chain(kind: str, depth: int) -> tuple[str, str]:
    """(object-group lines, the ACE's replacement for `object-group VPN-HOSTS object-group SSTP`)."""
    if kind == "network":
        head = "object-group network"
        leaf = " network-object object VPN-SERVER"
        ace = "object-group G0 object-group SSTP"
    elif kind == "port":
        head = "object-group service"
        leaf = " port-object eq https"
        ace = "object-group VPN-HOSTS object-group G0"
    else:  # a typeless service group in the protocol position
        head = "object-group service"
        leaf = " service-object tcp destination eq https"
        ace = "object-group VPN-HOSTS"
    suffix = " tcp" if kind == "port" else ""
    lines = [f"{head} G{i}{suffix}\n group-object G{i + 1}\n" for i in range(depth)]
    lines.append(f"{head} G{depth}{suffix}\n{leaf}\n")
    return "".join(lines), ace


def _audit(tmp_path: Path, kind: str, depth: int) -> str:
    groups, ace = _chain(kind, depth)
    text = (ROOT / "fixtures" / "cisco" / "asa-vpn.cfg").read_text().replace(ANCHOR, groups + ANCHOR, 1)
    old = "access-list OUTSIDE_IN extended permit tcp any object-group VPN-HOSTS object-group SSTP log"
    new = ("access-list OUTSIDE_IN extended permit object-group G0 any object-group VPN-HOSTS log" if kind == "service"
           else f"access-list OUTSIDE_IN extended permit tcp any {ace} log")
    assert old in text
    snap = tmp_path / f"{kind}-{depth}"
    (snap / "cisco").mkdir(parents=True)
    (snap / "cisco" / "hq-asa.cfg").write_text(text.replace(old, new))
    (snap / "audit.yaml").write_text(AUDIT_YAML)
    result = run_audit(snap)
    (path,) = [p for p in result.paths if str(p.trace.flow) == "tcp/443"]
    return f"{path.verdict}: {path.trace.reason}"


@pytest.mark.parametrize("kind", ["network", "port", "service"])
def test_an_800_deep_group_chain_is_unknown_not_a_crash(tmp_path: Path, kind: str) -> None:
    outcome = _audit(tmp_path, kind, 800)
    assert outcome.startswith("unknown") and f"nested more than {MAX_GROUP_DEPTH} groups deep" in outcome, outcome


@pytest.mark.parametrize("kind", ["network", "port", "service"])
def test_nesting_within_the_bound_is_read(tmp_path: Path, kind: str) -> None:
    assert _audit(tmp_path, kind, MAX_GROUP_DEPTH - 2).startswith("allowed")
