"""An audit.yaml `protocols` override whose key differs from the catalogue's only in case is silently
ignored, while the server's `protocols` (lower-cased) pick the catalogue entry."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.audit import run_audit
from tests.test_ipsec_transport import IOS_ACL_ONLY, SERVER


def _snapshot(tmp_path: Path, key: str) -> Path:
    (tmp_path / "cisco").mkdir(parents=True)
    # the edge permits ESP, 500 and 443 but not 4500
    acl = IOS_ACL_ONLY.replace(" permit udp any host 203.0.113.10 eq non500-isakmp\n", "")
    (tmp_path / "cisco" / "edge.cfg").write_text(acl.format(esp=" permit esp any host 203.0.113.10\n"))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        # a server that forces UDP encapsulation (strongSwan forceencaps): NAT-T always, never plain ESP
        "protocols": {key: {"flows": ["udp/500", "udp/4500"]}},
        "vpn_servers": [{"name": "vpn", "address": SERVER, "protocols": ["IKEv2"], "path": ["cisco/edge"]}],
        "sources": [{"name": "partners", "prefixes": ["198.51.100.0/24"]}]}))
    return tmp_path


def test_override_key_case_matters_no_more_than_server_protocol_case(tmp_path: Path) -> None:
    lower = {str(p.trace.flow): p.verdict for p in run_audit(_snapshot(tmp_path / "a", "ikev2")).paths}
    assert lower == {"udp/500": "allowed", "udp/4500": "blocked"}
    mixed = {str(p.trace.flow): p.verdict for p in run_audit(_snapshot(tmp_path / "b", "IKEv2")).paths}
    assert mixed == lower  # the override applies (or is an input error), never silently dropped
