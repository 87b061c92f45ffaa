"""The fleet summary: OUT/fleet-summary.json (rewritten whole as orgs finish) and the terminal table."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from auditor import __version__
from auditor.untrusted import markup

SUMMARY = "fleet-summary.json"
SCHEMA = "vpn-auditor.fleet/1"
# Worst first: an org that could not be audited (2), then findings (1: it wins over 3 as in `audit`), then
# unknown flows (3), then clean (0).
_RANK = {0: 0, 3: 1, 1: 2, 2: 3}


def worst(codes: list[int]) -> int:
    return max(codes, key=lambda c: _RANK.get(c, 3), default=0)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def summary_dict(orgs: list[dict[str, Any]], *, started_at: str, engine: str, finished: bool,
                 interrupted: bool = False) -> dict[str, Any]:
    done = [o for o in orgs if o["status"] != "pending"]
    counts = {s: sum(1 for o in orgs if o["status"] == s) for s in ("complete", "incomplete", "failed", "pending")}
    return {"schema": SCHEMA, "tool": {"name": "vpn-auditor", "version": __version__}, "started_at": started_at,
            "generated_at": now(), "engine": engine, "finished": finished, "interrupted": interrupted,
            "exit_code": worst([o["exit_code"] for o in done]) if finished else None,
            "counts": counts, "orgs": orgs}


def write_summary(out: Path, data: dict[str, Any]) -> Path:
    """Written to a temporary file and renamed: a reader sees the previous summary or this one."""
    target = out / SUMMARY
    temp = out / f".{SUMMARY}.{os.getpid()}.tmp"
    temp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temp, target)
    return target


def render_table(data: dict[str, Any], console: Console) -> None:
    table = Table(title=f"fleet: {len(data['orgs'])} orgs, exit {data['exit_code']}", title_justify="left")
    for column in ("org", "status", "exit", "paths (allowed/blocked/partial/unknown)", "findings (e/w/i)",
                   "calls (failed, carried)", "attempts", "worker", "reason"):
        table.add_column(column, overflow="fold")
    for org in data["orgs"]:
        audit = org.get("audit") or {}
        findings = audit.get("findings") or {}
        collect = org.get("collect") or {}
        table.add_row(
            markup(org["org"]), org["status"], str(org["exit_code"]),
            f"{audit['paths']} ({audit['allowed']}/{audit['blocked']}/{audit['partial']}/{audit['unknown']})"
            if audit else "-",
            f"{findings.get('error', 0)}/{findings.get('warning', 0)}/{findings.get('info', 0)}" if audit else "-",
            f"{collect['calls']} ({collect['failed']}, {collect['carried']})" if collect else "-",
            str(len(org.get("attempts") or []) or 1), markup(str(org.get("worker") or "-")),
            markup(org.get("reason") or ""))
    console.print(table)
