"""Shared pieces of the robustness suite: run an audit the way the CLI does and classify what came out."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from auditor.audit import AuditResult, run_audit
from auditor.model import Decision, Rule
from auditor.snapshot import SnapshotError
from auditor.trace import PathResult

# (network, role kind, role, SSID, phase, server, protocol, flow): L2TP/IPsec and plain L2TP share udp/1701
PathKey = tuple[str | None, str, str, str, str, str, str, str]

# Values no field of any vendor format accepts: they must become unknown or an error, never a reading.
GARBAGE: list[Any] = [{"unexpected": [1, {"x": None}]}, [["nested"], 7], "%%garbage%%", "\x00\ufffd", "-1-", 1e308]
# Values of the wrong type that still look plausible somewhere (coercible numbers, empties, null).
CONFUSED: list[Any] = [None, True, False, 0, -1, 65536, "", " ", "any", [], {}, "0.0.0.0/0", "500", 2**70]


LETS_THROUGH = (Decision.PERMIT, Decision.TRANSLATE)


def seed_folder(prefix: str) -> Path:
    """A folder for a seed snapshot that lives as long as the test session (seeds are cached across examples,
    so a fixture's tmp_path cannot hold them) and is removed when it ends: runs never pile up in /tmp."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def audit_or_error(root: Path, config: Path | None = None) -> AuditResult | SnapshotError:
    """The audit, or the SnapshotError the CLI turns into exit 2. Any other exception fails the test."""
    try:
        return run_audit(root, config)
    except SnapshotError as err:
        return err


def path_key(path: PathResult) -> PathKey:
    role = path.role
    return (role.network_id, role.kind, role.name, role.ssid or "", role.phase, path.server.name, path.protocol,
            str(path.trace.flow))


def verdicts(result: AuditResult) -> dict[PathKey, str]:
    return {path_key(path): path.verdict for path in result.paths}


def newly_allowed(before: dict[PathKey, str], after: dict[PathKey, str]) -> list[tuple[PathKey, str]]:
    """Paths present in both whose verdict became `allowed` although it was not before."""
    return [(key, before[key]) for key, verdict in after.items()
            if verdict == "allowed" and key in before and before[key] != "allowed"]


def through(result: AuditResult, device: str) -> dict[PathKey, str]:
    """The verdicts of the paths that cross a hop of `device` (a device that no longer fronts the server
    leaves its paths: what they meet then is no longer that device's doing)."""
    return {path_key(path): path.verdict for path in result.paths
            if any(hop.hop.device == device for hop in path.trace.hops)}


def deciding_rules(result: AuditResult, device: str) -> list[tuple[PathKey, Rule]]:
    """The rules by which `device` lets the allowed paths through it (permits and translations)."""
    return [(path_key(path), segment.rule) for path in result.paths if path.verdict == "allowed"
            for hop in path.trace.hops if hop.hop.device == device
            for segment in hop.segments if segment.rule is not None and segment.decision in LETS_THROUGH]


def assert_names_file(err: SnapshotError, root: Path, allowed_prefixes: tuple[str, ...] = ()) -> None:
    """An input error must name a file (snapshot-relative, or the config given) and say what is wrong."""
    assert err.message and err.path, err
    rel = err.path.split(" ", 1)[0].split("[", 1)[0]
    candidates = [root / rel, Path(rel)]
    assert any(c.exists() for c in candidates) or rel.startswith(allowed_prefixes), f"no such file named: {err}"


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value (keys and list indexes), outermost first."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(json_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(json_paths(child, (*prefix, index)))
    return out


def replaced(value: Any, where: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with the location `where` set to `new` (the whole value when `where` is empty)."""
    if not where:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = new
    return copy


def deleted(value: Any, where: tuple[Any, ...]) -> Any:
    """A copy of `value` without the key or list item at `where`."""
    copy = json.loads(json.dumps(value))
    target = copy
    for step in where[:-1]:
        target = target[step]
    del target[where[-1]]
    return copy
