"""A source-addr persistence profile with `hash-algorithm carp` (F5's bigip_profile_persistence_
src_addr: "Specifies the algorithm the system uses for hash persistence load balancing ... When carp, specifies the
system uses the Cache Array Routing Protocol (CARP) to obtain the hash result") picks the node by hashing over the
pool's own members; that match-across-services then ties the UDP 500 pool to the UDP 4500 pool is not documented.
The pair was reported sticky exactly as with records shared across services."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.vendors.lb.f5 import load_tmsh

FIXTURE = Path(__file__).parent.parent / "fixtures" / "lb" / "f5" / "sticky-match-across-services.conf"


@pytest.mark.parametrize(("algorithm", "expected"), [("default", "sticky"), ("carp", "unknown")])
def test_carp_hash_persistence_is_not_read_as_shared_records(algorithm: str, expected: str) -> None:
    text = FIXTURE.read_text().replace("    match-across-services enabled\n",
                                       f"    hash-algorithm {algorithm}\n    match-across-services enabled\n")
    (pair,) = load_tmsh(text, "f5/x.conf", "f5/x").ike_pairs()
    assert pair.verdict == expected, pair.reason
