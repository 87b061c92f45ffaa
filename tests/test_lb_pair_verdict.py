"""evaluate_pair on hand-built services: which step decides the UDP 500 / UDP 4500 persistence verdict."""

from __future__ import annotations

import ipaddress

from auditor.lb_model import (
    SCOPE_DEVICE,
    SOURCE_IP,
    SPLIT,
    STICKY,
    UDP,
    UNKNOWN,
    Backend,
    PairVerdict,
    Persistence,
    Script,
    VirtualService,
    evaluate_pair,
)

SHARED = Persistence(SOURCE_IP, name="src", table="src", scope=SCOPE_DEVICE)


def service(name: str, port: int, nodes: tuple[str, ...] = ("10.0.0.11", "10.0.0.12"),
            **settings: object) -> VirtualService:
    return VirtualService(name, "VS", ipaddress.ip_network("203.0.113.10/32"), UDP, ((port, port),),
                          backends=[Backend(f"n{k}", node, None) for k, node in enumerate(nodes)],
                          **{"persistence": SHARED, **settings})  # type: ignore[arg-type]


def test_what_the_config_cannot_say_decides_before_the_persistence_settings() -> None:
    steered = service("ike", 500, scripts=[Script("steer", steers=True)], problems=["pool p1 is missing"])
    verdict = evaluate_pair(steered, service("natt", 4500))
    assert verdict.verdict == UNKNOWN and "steer" in verdict.reason
    assert verdict.verify.startswith("Review the script")
    unresolved = evaluate_pair(service("ike", 500, problems=["pool p1 is missing"]), service("natt", 4500))
    assert unresolved == PairVerdict(UNKNOWN, "the configuration could not be fully resolved (ike: pool p1 is "
                                              "missing)", "collect the missing configuration")
    assert evaluate_pair(service("ike", 500), service("natt", 4500)).verdict == STICKY


def test_a_shared_table_over_different_nodes_is_split_and_names_the_difference() -> None:
    verdict = evaluate_pair(service("ike", 500), service("natt", 4500, nodes=("10.0.0.11", "10.0.0.13")))
    assert verdict.verdict == SPLIT and "share one client-IP persistence table (src)" in verdict.reason
    assert verdict.backend_difference == {"only_udp_500": ["10.0.0.12"], "only_udp_4500": ["10.0.0.13"]}


def test_one_common_node_is_sticky_whatever_the_persistence() -> None:
    alone = ("10.0.0.11",)
    verdict = evaluate_pair(service("ike", 500, nodes=alone, persistence=Persistence()),
                            service("natt", 4500, nodes=alone, persistence=Persistence()))
    assert verdict == PairVerdict(STICKY, "ike and natt each have one backend, the same node (10.0.0.11)")
