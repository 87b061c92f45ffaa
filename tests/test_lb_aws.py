"""AWS Network Load Balancer: elbv2 describe output, target-group stickiness, client IP preservation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.checks import AuditContext
from auditor.model import Model, VpnServer
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.aws_nlb import AwsNetworkLoadBalancer, AwsNlbAdapter
from rules.checks import snat_on_ike, split_persistence

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "aws"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    root = tmp_path_factory.mktemp("aws")
    shutil.copytree(FIXTURES, root / "aws")
    model = Model(snapshot=str(root))
    AwsNlbAdapter().load(Snapshot(root), model)
    return model


@pytest.mark.parametrize(("name", "verdict"), [
    ("aws/split-two-target-groups", "split"),
    ("aws/split-no-stickiness", "split"),
    ("aws/unknown-shared-target-group", "unknown"),
])
def test_research_rows(model: Model, name: str, verdict: str) -> None:
    device = model.devices[name]
    assert isinstance(device, AwsNetworkLoadBalancer)
    (pair,) = device.ike_pairs()
    assert pair.verdict == verdict, pair.reason
    assert pair.vip == "203.0.113.70"


def test_details_and_checks(model: Model) -> None:
    (pair,) = model.devices["aws/split-two-target-groups"].ike_pairs()  # type: ignore[attr-defined]
    assert pair.ike.persistence.table == "target group ike500" and pair.ike.snat.kind == "none"
    assert [(b.address, b.port) for b in pair.natt.backends] == [("10.80.0.11", 4500), ("10.80.0.12", 4500)]
    (pair,) = model.devices["aws/split-no-stickiness"].ike_pairs()  # type: ignore[attr-defined]
    assert pair.ike.backends[0].address is None and pair.ike.backends[0].fqdn == "i-0598c7d356eba48d7"
    (shared,) = model.devices["aws/unknown-shared-target-group"].ike_pairs()  # type: ignore[attr-defined]
    assert "target port" in shared.verify
    ctx_model = Model(snapshot="t")
    ctx_model.servers = [VpnServer("corp-vpn", "203.0.113.70", ["ikev2"])]
    ctx_model.devices["aws/nlb"] = model.devices["aws/split-no-stickiness"]
    ctx = AuditContext(ctx_model, [], {})
    (split, ) = split_persistence.run(ctx)
    assert "per target group" in split.remediation
    assert [f.evidence["source_translation"]["kind"] for f in snat_on_ike.run(ctx)] == ["snat", "snat"]
    assert not model.gaps


def test_missing_files_are_gaps_and_bad_bodies_errors(tmp_path: Path) -> None:
    (tmp_path / "aws" / "nlb").mkdir(parents=True)
    shutil.copy(FIXTURES / "split-two-target-groups" / "describe-load-balancers.json", tmp_path / "aws" / "nlb")
    model = Model(snapshot=str(tmp_path))
    AwsNlbAdapter().load(Snapshot(tmp_path), model)
    assert {g.path for g in model.gaps} == {"aws/nlb/describe-listeners.json", "aws/nlb/describe-target-groups.json"}
    (tmp_path / "aws" / "nlb" / "describe-listeners.json").write_text('{"Listeners": {"not": "a list"}}')
    with pytest.raises(SnapshotError):
        AwsNlbAdapter().load(Snapshot(tmp_path), Model(snapshot=str(tmp_path)))
