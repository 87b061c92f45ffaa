"""Where NAT on the path is unsure, a block of ESP (or NAT-T) alone leaves the path `unknown`
(docs/semantics/ipsec.md: "A block of one of them counts only if the other is blocked too"). The findings must say
the same: no error-level "blocked for part of" finding for that block, and the gate exits 3, not 1."""

from __future__ import annotations

from pathlib import Path

from auditor.gate import exit_code
from tests.snapshot_builder import allow, deny
from tests.test_ipsec_transport import SERVER, passthrough_store


def test_a_lone_block_of_esp_where_nat_is_unsure_is_not_an_error(tmp_path: Path) -> None:
    rules = [allow("udp", "500,4500", f"{SERVER}/32"), deny("any", "any", f"{SERVER}/32", comment="nothing else")]
    result = passthrough_store(tmp_path, rules).audit()
    esp = {p.protocol: p.verdict for p in result.paths if p.role.name == "Untagged" and str(p.trace.flow) == "esp"}
    assert esp == {"ikev2": "unknown", "l2tp": "unknown"}
    untagged = [f for f in result.findings if (f.role or {}).get("name") == "Untagged"]
    assert not [f for f in untagged if f.effective_severity == "error"], [f.title for f in untagged]
    assert [f.check.id for f in untagged] == ["VPN-UNKNOWN"]
    assert exit_code(result, "error", False) == 3
