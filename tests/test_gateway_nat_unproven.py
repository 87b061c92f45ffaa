"""A network without an MX (bridge-mode SSID): the snapshot does not say that the gateway beyond the
APs translates, so NAT on the path is not proven and ESP must be traced too (RFC 7296 section 2.23)."""

from __future__ import annotations

from pathlib import Path

from tests.snapshot_builder import MerakiSnapshot
from tests.test_ipsec_transport import IOS_ACL_ONLY, SERVER


def test_no_mx_bridge_mode_does_not_prove_nat(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path, servers=[{"name": "vpn", "address": SERVER, "protocols": ["ikev2"],
                                              "path": ["cisco/edge"]}])
    net = snap.network(products=("wireless",))
    snap.ssid(net, 0, "Campus", useVlanTagging=False)  # Bridge mode: addresses from the site's own DHCP
    (tmp_path / "cisco").mkdir()
    (tmp_path / "cisco" / "edge.cfg").write_text(IOS_ACL_ONLY.format(esp=""))  # 500/4500/443 only, no ESP
    result = snap.audit()
    got = {str(p.trace.flow): p.verdict for p in result.paths if p.role.name == "Campus" and p.protocol == "ikev2"}
    # A bridged client with a public address is not translated: IKE finds no NAT and sends ESP, which the edge
    # drops. Nothing in the snapshot rules that out, so IKEv2 must not be reported wholly allowed.
    assert set(got.values()) != {"allowed"}, got
