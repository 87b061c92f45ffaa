"""Read access to a snapshot directory (CONTRACT section 2).

`audit` reads only through this class. It refuses paths that leave the snapshot (including through
symlinks), turns malformed files into `SnapshotError` naming the file and line, and tells a file that was
never collected (None) from one that is present. The manifest, when a collector wrote one, says why a file
is absent (feature absent vs. call failed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SnapshotError(Exception):
    """Unusable input: names the file and, where it applies, the line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class CallOutcome:
    outcome: str  # ok | absent | failed
    status: int | None
    error: str


class Snapshot:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SnapshotError(str(root), "snapshot directory not found")
        self._real_root = self.root.resolve()
        self._manifest: dict[str, CallOutcome] | None = None

    def __str__(self) -> str:
        return str(self.root)

    # paths ---------------------------------------------------------------------------------------------
    def path(self, rel: str) -> Path:
        """The file for a snapshot-relative path; refuses anything that resolves outside the snapshot."""
        if rel.startswith(("/", "\\")) or ".." in Path(rel).parts:
            raise SnapshotError(rel, "path leaves the snapshot directory")
        candidate = self.root / rel
        real = candidate.resolve()
        if real != self._real_root and self._real_root not in real.parents:
            raise SnapshotError(rel, "path resolves outside the snapshot directory (symlink?)")
        return candidate

    def exists(self, rel: str) -> bool:
        return self.path(rel).is_file()

    def listdir(self, rel: str, suffix: str = "") -> list[str]:
        """Snapshot-relative names of the entries of a folder (files and folders), sorted."""
        folder = self.path(rel)
        if not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix))
        return [f"{rel}/{name}" for name in names if self._inside(f"{rel}/{name}")]

    def _inside(self, rel: str) -> bool:
        try:
            self.path(rel)
        except SnapshotError:
            return False
        return True

    # content -------------------------------------------------------------------------------------------
    def read_text(self, rel: str) -> str | None:
        path = self.path(rel)
        if not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SnapshotError(rel, f"not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise SnapshotError(rel, f"cannot read: {exc.strerror}") from None

    def read_json(self, rel: str) -> Any | None:
        """Parsed JSON, or None when the file is absent. Malformed JSON raises SnapshotError with the line."""
        text = self.read_text(rel)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SnapshotError(rel, f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None

    # manifest ------------------------------------------------------------------------------------------
    def outcome(self, rel: str) -> CallOutcome | None:
        """What the collector recorded for the call behind a file, if a manifest exists."""
        if self._manifest is None:
            self._manifest = self._load_manifest()
        return self._manifest.get(rel)

    def _load_manifest(self) -> dict[str, CallOutcome]:
        data = self.read_json("manifest.json")
        calls: dict[str, CallOutcome] = {}
        if not isinstance(data, dict):
            return calls
        for call in data.get("calls", []) or []:
            if not isinstance(call, dict):
                continue
            rel = call.get("file") or call.get("path")
            if not isinstance(rel, str):
                continue
            rel = rel if rel.endswith((".json", ".cfg", ".conf", ".xml")) else f"meraki/{rel.strip('/')}.json"
            calls[rel] = CallOutcome(str(call.get("outcome", "")), call.get("status"),
                                     str(call.get("error", "") or ""))
        return calls

    def absence_reason(self, rel: str) -> str:
        """Why a file is absent, in words, for data-gap findings."""
        recorded = self.outcome(rel)
        if recorded is None:
            return f"{rel} is not in the snapshot (not collected)"
        if recorded.outcome == "absent":
            return f"{rel}: the feature is absent on this network ({recorded.error or recorded.status})"
        status = f"HTTP {recorded.status}" if recorded.status else "no response"
        return f"{rel}: collection failed ({status}{': ' + recorded.error if recorded.error else ''})"
