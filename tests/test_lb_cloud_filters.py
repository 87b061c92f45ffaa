"""AWS security groups and network ACLs, Azure network security groups: not evaluated, so where the snapshot shows
them the audit says so (issue 27, Also), and the verdicts stay what the load balancer decides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.audit import AuditResult
from tests.lb_audit import audit, flows, write_snapshot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb"


def not_modelled(result: AuditResult) -> list[str]:
    return [f.title for f in result.findings if f.check.kind == "unmodelled-filter"]


def aws(root: Path, security_groups: list[str] | None, nacls: bool = False) -> AuditResult:
    folder = root / "aws" / "nlb"
    shutil.copytree(FIXTURES / "aws" / "split-two-target-groups", folder)
    body = json.loads((folder / "describe-load-balancers.json").read_text())
    if security_groups is not None:
        body["LoadBalancers"][0]["SecurityGroups"] = security_groups
    (folder / "describe-load-balancers.json").write_text(json.dumps(body))
    if nacls:
        (folder / "describe-network-acls.json").write_text(json.dumps({"NetworkAcls": []}))
    return audit(write_snapshot(root, {}, "203.0.113.70", protocols=("ikev2",)))


def test_aws_security_groups_and_nacls_are_reported_not_evaluated(tmp_path: Path) -> None:
    plain = aws(tmp_path / "a", None)
    assert not_modelled(plain) == []
    with_groups = aws(tmp_path / "b", ["sg-0123456789abcdef0"], nacls=True)
    (title,) = not_modelled(with_groups)
    assert "sg-0123456789abcdef0" in title and "network ACLs" in title and "not evaluated" in title
    # the verdicts are the load balancer's, unchanged: the report says what they do not cover
    assert {f: p.verdict for f, p in flows(with_groups).items()} == {f: p.verdict for f, p in flows(plain).items()}


def azure(root: Path, nsg_on_nic: bool) -> AuditResult:
    folder = root / "azure"
    folder.mkdir(parents=True)
    for suffix in ("", ".public-ips", ".nics"):
        shutil.copy(FIXTURES / "azure" / f"sticky-nat-rules-nics{suffix}.json", folder / f"lb{suffix}.json")
    if nsg_on_nic:
        nics = json.loads((folder / "lb.nics.json").read_text())
        nics[0]["properties"]["networkSecurityGroup"] = {
            "id": "/subscriptions/0/resourceGroups/vpn-rg/providers/Microsoft.Network/networkSecurityGroups/rras-nsg"}
        (folder / "lb.nics.json").write_text(json.dumps(nics))
    return audit(write_snapshot(root, {}, "203.0.113.60", protocols=("ikev2",)))


def test_azure_network_security_groups_are_reported_not_evaluated(tmp_path: Path) -> None:
    assert not_modelled(azure(tmp_path / "a", False)) == []
    (title,) = not_modelled(azure(tmp_path / "b", True))
    assert "network security group rras-nsg on NIC rras1-nic" in title


def test_an_arm_template_with_an_nsg_resource(tmp_path: Path) -> None:
    template = json.loads((FIXTURES / "azure" / "arm-template.json").read_text())
    template["resources"].append({"type": "Microsoft.Network/networkSecurityGroups", "name": "vpn-nsg",
                                  "properties": {"securityRules": []}})
    result = audit(write_snapshot(tmp_path, {"azure/lb.json": template}, "10.70.0.10", protocols=("ikev2",)))
    assert any("network security group vpn-nsg" in t for t in not_modelled(result))


def test_a_filter_file_that_appears_is_seen_through_the_cache_and_the_memo(tmp_path: Path) -> None:
    """The NLB's network ACLs are only looked for (`exists`), never read: the cache and the report memo must still
    see the file appear (a cache blind to those reads replays the report that says nothing of them)."""
    from tests.test_report_memo import Run, _stamped

    aws(tmp_path / "snap", None)
    snapshot = tmp_path / "snap"
    run = Run(tmp_path, snapshot, tmp_path / "cache")
    for _ in range(2):  # cold, then warm (the memo kept)
        before = run("--format", "json")
    assert "network ACLs" not in before[1]
    (snapshot / "aws" / "nlb" / "describe-network-acls.json").write_text(json.dumps({"NetworkAcls": []}))
    got, plain = run("--format", "json"), run("--format", "json", cache=False)
    assert "network ACLs" in plain[1]
    assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
