"""The fleet file and the options shared by every org's job (docs/fleet.md).

```yaml
orgs:
  - "549236"                    # an org id: audited with --config
  - id: "681155"
    config: acme/audit.yaml     # this org's own servers (relative to the fleet file)
```

A plain YAML list of ids (or of such entries) works too. Each audit.yaml is read and validated here, on the
machine that starts the fleet, and its text travels with the job: workers need not see the file, and a broken
one is a usage error before any request.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from auditor.config import load_config
from auditor.errors import BadInput
from auditor.snapshot import SnapshotError
from auditor.vocab import FailOn

if TYPE_CHECKING:
    from auditor.waivers import Waiver


class FleetUsageError(BadInput, ValueError):
    """An unusable fleet file or option (exit 2); the message names the file and entry."""


@dataclass(frozen=True)
class OrgEntry:
    org_id: str
    config_text: str  # audit.yaml, as read
    config_path: str  # where it was read from (for messages only)

    @property
    def folder(self) -> str:
        """The org's folder name under OUT/orgs/: the id, percent-encoded like a snapshot's path segments."""
        return urllib.parse.quote(self.org_id, safe="")


@dataclass(frozen=True)
class JobOptions:
    """What every org's job is given. Worker-host settings (--source-address, --host-rate) are defaults a
    worker's own `--preload auditor.fleet.worker` options override (auditor/fleet/worker.py)."""

    out: str
    base_url: str
    org_rate: float = 10.0
    host_rate: float = 100.0
    source_address: str | None = None
    budget_dir: str | None = None
    since: str | None = None  # an earlier fleet's OUT: each org's snapshot there is its --since
    secret_fingerprints: bool = False  # collect meraki --secret-fingerprints, for every org
    cache: str | None = None
    formats: tuple[str, ...] = ("json", "text")
    fail_on: str = FailOn.ERROR.value
    allow_unknown: bool = False
    # The collecting host's resolvers and their port, read on the driver from VPN_AUDITOR_DNS_RESOLVER and
    # VPN_AUDITOR_DNS_PORT as `audit --org` reads them: every worker asks the same ones. (): the worker's system's.
    dns_resolvers: tuple[str, ...] = ()
    dns_port: int = 53
    request_timeout: float = 60.0
    # --waivers, read and checked on the driver (as `audit` reads it) and applied to every org's audit as `audit`
    # applies it; None: no --waivers.
    waivers: tuple[Waiver, ...] | None = None


@dataclass
class FleetPlan:
    orgs: list[OrgEntry] = field(default_factory=list)


def load_plan(fleet_file: Path, default_config: Path | None) -> FleetPlan:
    """Read the fleet file; every org gets its `config:` or else `default_config`, validated now."""
    from auditor.collect.inventory import DuplicateKey, UniqueKeyLoader

    try:
        # A SafeLoader that refuses a key given twice: plain YAML keeps the last `orgs:` (or `id:`) and drops
        # the orgs of the other without a word.
        data = yaml.load(fleet_file.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except OSError as exc:
        raise FleetUsageError(f"{fleet_file}: cannot read it: {exc.strerror or exc}") from None
    except DuplicateKey as exc:
        raise FleetUsageError(f"{fleet_file} line {exc.line}: {exc.key!r} is defined twice (first on line "
                              f"{exc.first}); YAML would keep only the last one") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FleetUsageError(f"{fleet_file}: not YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise FleetUsageError(f"{fleet_file}: not YAML: nested too deeply") from None
    entries: Any = data.get("orgs") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"orgs"}:
        raise FleetUsageError(f"{fleet_file}: unknown key(s) {', '.join(sorted(map(str, set(data) - {'orgs'})))}; "
                              "expected 'orgs'")
    if not isinstance(entries, list) or not entries:
        raise FleetUsageError(f"{fleet_file}: expected a list of org ids under 'orgs'")
    texts: dict[Path, str] = {}
    plan = FleetPlan()
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{fleet_file}: orgs[{index}]"
        if isinstance(entry, dict):
            unknown = set(entry) - {"id", "config"}
            if unknown:
                raise FleetUsageError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                                      "expected 'id' and 'config'")
            org_id, config = entry.get("id"), entry.get("config")
        else:
            org_id, config = entry, None
        if isinstance(org_id, bool) or not isinstance(org_id, str | int) or not str(org_id).strip():
            raise FleetUsageError(f"{where}: an org id (a string or number) is needed")
        org_id = str(org_id).strip()
        if org_id in (".", "..") or any(c in org_id for c in "\x00\n\r"):
            raise FleetUsageError(f"{where}: {org_id!r} is not an org id")
        if org_id in seen:
            raise FleetUsageError(f"{where}: org {org_id} is listed twice")
        seen.add(org_id)
        path = (fleet_file.parent / str(config)) if config is not None else default_config
        if path is None:
            raise FleetUsageError(f"{where}: org {org_id} has no audit.yaml: give --config or its 'config:'")
        if path not in texts:
            texts[path] = _read_config(path)
        plan.orgs.append(OrgEntry(org_id, texts[path], str(path)))
    return plan


def _read_config(path: Path) -> str:
    if not path.is_file():
        raise FleetUsageError(f"{path}: audit.yaml not found")
    try:
        config = load_config(path)
    except SnapshotError as exc:
        raise FleetUsageError(str(exc)) from None
    if not config.vpn_servers:
        raise FleetUsageError(f"{path}: no vpn_servers: audit.yaml must name at least one VPN server")
    return path.read_text(encoding="utf-8")
