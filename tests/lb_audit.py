"""Audit one load-balancer configuration end to end (run_audit), as the CLI does: the device file, an audit.yaml
publishing a VPN server on its VIP, and clients anywhere on the internet. Returns each flow's path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from auditor.audit import AuditResult, run_audit
from auditor.trace import PathResult


def write_snapshot(root: Path, files: dict[str, str | dict[str, Any] | list[Any]], vip: str,
                   protocols: tuple[str, ...] = ("ikev2", "sstp"), **config: Any) -> Path:
    """`files`: snapshot-relative path -> text (a .conf / .xml) or JSON body."""
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body if isinstance(body, str) else json.dumps(body, indent=1))
    audit = {"vpn_servers": [{"name": "vpn", "address": vip, "protocols": list(protocols)}],
             "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}], **config}
    (root / "audit.yaml").write_text(yaml.safe_dump(audit))
    return root


def audit(root: Path) -> AuditResult:
    return run_audit(root)


def flows(result: AuditResult) -> dict[str, PathResult]:
    """The internet source's path per flow ("udp/500", "udp/4500", "tcp/443")."""
    return {str(p.trace.flow): p for p in result.paths if p.role.name == "internet"}


def audit_flows(root: Path, files: dict[str, str | dict[str, Any] | list[Any]], vip: str,
                protocols: tuple[str, ...] = ("ikev2", "sstp"), **config: Any) -> dict[str, PathResult]:
    return flows(audit(write_snapshot(root, files, vip, protocols, **config)))


def why(path: PathResult) -> str:
    """Every reason the trace gives: its own, and each hop segment's."""
    parts = [path.trace.reason]
    for hop in path.trace.hops:
        parts.extend(seg.reason for seg in hop.segments)
    return " | ".join(p for p in parts if p)
