"""Incremental Meraki collection: `collect meraki --since OLD` carries over what the change log proves unchanged.

The Dashboard's change log (`GET /organizations/{orgId}/configurationChanges`, every page, `t0` = when the old
snapshot's run started on the Dashboard's clock, which its answers' `Date` placed, less `T0_MARGIN`) names the
networks whose configuration changed since. Per organisation:

- always fetched: the organisation list, the network list (it shows networks added, removed, rebound to a
  template or given other product types) and the MX uplink statuses (state, not configuration: a DHCP-assigned
  public address changes without a change-log entry);
- other org-level files (policy objects, the site-to-site VPN firewall, third-party peers, VPN exclusions) are
  carried over only when the change log holds no entry at all: where the Dashboard logs an org-wide setting
  edited from a network's page is not documented;
- a network is carried over when it is in both network lists with the same entry, was collected by the old
  run, had no failed call there, and no change-log entry names it or the configuration template it is bound to;
  otherwise it is collected in full.

The organisation is pulled in full when the old snapshot cannot vouch for it: it was not in the old run, its
network list was not collected, a network was added or removed, the change log cannot be read or does not reach
back to `t0` (365 days), an entry names an id that is neither a network nor a template a network is bound
to, or an entry names no network (an organisation-wide change: which networks' files it touches is not
documented). Everything is pulled in full when the old snapshot's manifest is unreadable, holds other than
exactly one Meraki run, was written by another tool version or base URL, was interrupted, or did not record
the Dashboard's clock.

Carried-over files go through `MerakiCollector.fetch` like fetched ones (the hook is `reuse`): the same calls in
the same order, so the product-type and SSID logic stays in one place, and a call the old snapshot does not
vouch for (no record, failed, file unreadable) is simply made. Their bodies are written again through the
writer (redacted with today's rules; redaction is idempotent), so the snapshot is byte-identical to a full pull
of an unchanged network. The manifest marks each call `origin: "fetched"` or `"carried"`, the latter with
`carried_from` (snapshot and the run that fetched it); the run's `incremental` entry says per organisation what
was fetched and why (docs/snapshot.md).
"""

from __future__ import annotations

import asyncio
import json
import math
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import meraki

import auditor
from auditor.collect.limits import LimitExceeded
from auditor.collect.writer import MANIFEST_SCHEMA, REDACTED, UnsafePathError, quote_segment
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.meraki.calls import CALL, CallStats, CollectUsageError, Fetched

if TYPE_CHECKING:
    from auditor.vendors.meraki.collect import MerakiCollector

CHANGE_LOG_LOOKBACK = timedelta(days=365)  # the endpoint's documented maximum lookback
LOOKBACK_SLACK = timedelta(days=1)  # ask only well inside it: the Dashboard's clock is not ours
T0_MARGIN = timedelta(minutes=15)  # clock skew, and entries logged late, around the old run's start
RATE_LIMIT_ROUNDS = 10
# The endpoint's largest (and default) page. Its pages are followed through `prev` links, the SDK's default
# direction for it; which way the Dashboard pages the log is not documented, so a log that fills a page or more
# may have been cut at its first page without a word: such an organisation is pulled in full.
CHANGE_LOG_PAGE = 5000
ALWAYS_FETCHED_ORG = frozenset({"networks", "appliance/uplink/statuses"})  # list and state, below organizations/ID/
SHOWN = 10  # ids named in a reason


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _named(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


@dataclass
class _Org:
    """What is known about one organisation of this run."""

    full: list[str] = field(default_factory=list)  # why it is pulled in full
    t0: str | None = None
    changes: int | None = None  # change-log entries since t0
    org_level_changes: int = 0
    carry_org_files: bool = False
    carry_networks: set[str] = field(default_factory=set)  # quoted network ids that may be carried over
    carried: set[str] = field(default_factory=set)  # those that were: a call of theirs was this run's to make
    fetched_networks: dict[str, str] = field(default_factory=dict)  # network id -> why it is fetched
    log_requests: int = 0


class Incremental:
    """The old snapshot and, per organisation, what this run may carry over from it (see module docstring)."""

    def __init__(self, since: Path, base_url: str) -> None:
        self.since = since
        self.shown = str(since.absolute())  # provenance read later, from another working directory
        self.old = Snapshot(since)
        self.full: list[str] = []  # reasons for a full pull of everything
        self.calls: dict[str, dict[str, Any]] = {}  # the old run's Meraki calls by API path
        self.run: dict[str, Any] = {}
        self.started: datetime | None = None
        self.orgs: dict[str, _Org] = {}
        self._network_org: dict[str, str] = {}  # quoted network id -> org id, from this run's lists
        self._prefetched: dict[str, Fetched] = {}
        self._load(base_url)

    @classmethod
    def open(cls, since: Path, out: Path, base_url: str) -> Incremental:
        """The old snapshot at `since`; CollectUsageError when it is not a directory or is `out` itself."""
        if not since.is_dir():
            raise CollectUsageError(f"--since {since}: not a snapshot directory")
        if out.exists() and since.resolve() == out.resolve():
            raise CollectUsageError(f"--since {since}: is the --out directory; write the new snapshot elsewhere")
        return cls(since, base_url)

    # the old snapshot ----------------------------------------------------------------------------------
    def _load(self, base_url: str) -> None:
        try:
            manifest = self.old.read_json("manifest.json")
        except SnapshotError as exc:
            manifest = None
            self.full.append(f"its manifest.json cannot be read ({exc})")
        if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
            if not self.full:
                self.full.append("it has no manifest.json written by vpn-auditor")
            return
        runs = manifest.get("runs")
        runs = [r for r in runs if isinstance(r, dict) and r.get("collector") == "meraki"] \
            if isinstance(runs, list) else []
        if len(runs) != 1:
            self.full.append(f"it holds {len(runs)} Meraki runs, not one")
            return
        run = runs[0]
        # A manifest edited by hand: fields of another type than the writer's cannot vouch for anything.
        parameters = run.get("parameters", {})
        malformed = [name for name, value, kind in (
            ("tool", run.get("tool", {}), dict), ("parameters", parameters, dict), ("orgs", run.get("orgs", []), list),
            ("parameters.networks", parameters.get("networks", []) if isinstance(parameters, dict) else [], list),
            ("calls", manifest.get("calls", []), list)) if not isinstance(value, kind)]
        if malformed:
            self.full.append(f"its manifest.json is not as vpn-auditor writes it ({', '.join(malformed)})")
            return
        self.run = run
        version = (run.get("tool") or {}).get("version")
        if version != auditor.__version__:
            self.full.append(f"it was written by vpn-auditor {version}, not {auditor.__version__}")
        if run.get("interrupted"):
            self.full.append("its run was interrupted")
        old_url = (run.get("parameters") or {}).get("base_url")
        if old_url != base_url:
            self.full.append(f"it was collected from {old_url}, not {base_url}")
        self.started = _parse_time(run.get("started_at"))
        if self.started is None:
            self.full.append("its run has no start time")
        # The change log's times are the Dashboard's clock, `started_at` this host's: placed on the Dashboard's
        # clock by the offset the old run measured, or left where it is when the Dashboard's was ahead (the
        # earlier t0 of the two: more entries, never fewer).
        offset = run.get("dashboard_clock_offset_s")
        if not isinstance(offset, (int, float)) or isinstance(offset, bool) or not math.isfinite(offset):
            self.full.append("its run did not record the Dashboard's clock (the Date of its answers), which the "
                             "change log's times are on")
        elif self.started is not None:
            try:
                self.started += timedelta(seconds=min(0.0, float(offset)))
            except OverflowError:  # a manifest edited by hand: no clock a Dashboard's `Date` could show
                self.full.append(f"its run recorded a Dashboard clock offset of {offset} s, which no clock has")
        if self.started is not None and not self.full:
            try:
                self.started - T0_MARGIN
            except OverflowError:  # edited by hand: year 1
                self.full.append(f"its run started at {run.get('started_at')}, when no Dashboard ran")
        for call in manifest.get("calls") or []:
            if isinstance(call, dict) and call.get("collector") == "meraki" and isinstance(call.get("path"), str):
                self.calls[call["path"]] = call

    def _old_json(self, rel: str) -> Any:
        call = self.calls.get(rel.removeprefix("meraki/").removesuffix(".json"))
        if call is None or call.get("outcome") != "ok" or call.get("file") != rel:
            return None
        try:
            return self.old.read_json(rel)
        except SnapshotError:
            return None

    # one organisation, before its calls -----------------------------------------------------------------
    async def prepare_org(self, collector: MerakiCollector, org_id: str) -> None:
        """Fetch the network list and the change log; decide what of the organisation is carried over."""
        state = self.orgs[org_id] = _Org()
        if self.full:
            state.full = list(self.full)
            return
        if org_id not in [str(o) for o in self.run.get("orgs") or []]:
            state.full.append("the organization is not in the old snapshot")
            return
        assert self.started is not None
        # A start after now (on the later of this host's clock and the Dashboard's) is no run's: a manifest edited
        # by hand, or a clock stepped back during the old run. Its t0 would hide every edit made since.
        now = datetime.now(UTC) + timedelta(seconds=max(0.0, collector.gate.clock_offset or 0.0))
        if self.started > now:
            state.full.append(f"its run started at {_iso(self.started)}, after now ({_iso(now)})")
            return
        t0 = self.started - T0_MARGIN
        state.t0 = _iso(t0)
        org_seg = quote_segment(org_id)
        listing, log = await asyncio.gather(
            collector.fetch(("organizations", org_id, "networks"),
                            lambda: collector.d.organizations.getOrganizationNetworks(org_id, total_pages="all")),
            self._change_log(collector, org_id, t0, state))
        self._prefetched[f"organizations/{org_seg}/networks"] = listing
        new = _by_id(listing.body) if listing.ok else None
        old = _by_id(self._old_json(f"meraki/organizations/{org_seg}/networks.json"))
        if new is None:
            state.full.append("the network list could not be fetched")
        if old is None:
            state.full.append("the old snapshot has no network list of the organization")
        if new is not None:
            for nid in new:
                self._network_org[quote_segment(nid)] = org_id
        if new is None or old is None:
            return
        if added := set(new) - set(old):
            state.full.append(f"networks added: {_named(added)}")
        if removed := set(old) - set(new):
            state.full.append(f"networks removed: {_named(removed)}")
        if isinstance(log, str):
            state.full.append(log)
        if state.full:
            return
        assert isinstance(log, list)
        self._decide(state, log, old, new)
        wanted = {str(s) for s in collector.config.networks}
        if wanted:  # --network: a network this run does not collect is not fetched, whatever changed there
            state.fetched_networks = {nid: why for nid, why in state.fetched_networks.items()
                                      if nid in wanted or (new.get(nid) or {}).get("name") in wanted}

    async def _change_log(self, collector: MerakiCollector, org_id: str, t0: datetime,
                          state: _Org) -> list[dict[str, Any]] | str:
        """Every entry since t0, or why there is no complete log."""
        if datetime.now(UTC) - t0 > CHANGE_LOG_LOOKBACK - LOOKBACK_SLACK:
            return f"the change log reaches back {CHANGE_LOG_LOOKBACK.days} days, not to {_iso(t0)}"
        stats = CallStats()
        token = CALL.set(stats)  # the gate counts this call's requests (pages, retries) here
        try:
            for round_ in range(RATE_LIMIT_ROUNDS):
                stats.new_round()  # the pagination guards count per round (meraki.py)
                try:
                    body = await collector.d.organizations.getOrganizationConfigurationChanges(
                        org_id, total_pages="all", direction="prev", t0=_iso(t0))
                    break
                except meraki.APIError as exc:
                    if exc.status == 429 and round_ + 1 < RATE_LIMIT_ROUNDS:
                        continue
                    status = f"HTTP {exc.status}" if exc.status else "no response"
                    # as any call's error (writer.error_text): secret fields redacted, credential headers scrubbed
                    return f"the change log could not be read ({status}: {collector.writer.error_text(exc.message)})"
                except Exception as exc:  # a malformed answer, a bound passed (limits.py)
                    return f"the change log could not be read ({type(exc).__name__})"
            else:  # pragma: no cover - the last round returns
                return "the change log could not be read"
        finally:
            CALL.reset(token)
            state.log_requests = stats.attempts
        if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
            return "the change log's answer is not a list of entries"
        return body

    def _decide(self, state: _Org, log: list[dict[str, Any]], old: dict[str, dict[str, Any]],
                new: dict[str, dict[str, Any]]) -> None:
        state.changes = len(log)
        if len(log) >= CHANGE_LOG_PAGE:
            state.full.append(f"the change log holds {len(log)} entries since {state.t0}, a full page or more: "
                              "whether every page was read depends on the way the Dashboard pages it, which is "
                              "not documented")
            return
        templates: dict[str, set[str]] = {}
        for nid, network in new.items():
            template = network.get("configTemplateId")
            if network.get("isBoundToConfigTemplate") or template:
                templates.setdefault(str(template), set()).add(nid)
        named: dict[str, int] = {}
        org_level: dict[str, int] = {}
        for entry in log:
            logged = entry.get("networkId")
            if logged in (None, ""):
                state.org_level_changes += 1
                what = " / ".join(str(entry.get(k)) for k in ("page", "label") if entry.get(k)) or "no page named"
                org_level[what] = org_level.get(what, 0) + 1
            else:
                named[str(logged)] = named.get(str(logged), 0) + 1
        if org_level:
            # Which networks' files an organisation-wide change touches (configuration sync, templates, cloning)
            # is not documented: none of them is proven unchanged.
            shown = ", ".join(f"{what} ({count})" if count > 1 else what
                              for what, count in sorted(org_level.items())[:SHOWN])
            more = f" and {len(org_level) - SHOWN} more" if len(org_level) > SHOWN else ""
            state.full.append(f"the change log holds {state.org_level_changes} organization-wide change(s), naming no "
                              f"network ({shown}{more}): which networks they change is not documented")
            return
        unknown = set(named) - set(new) - set(templates)
        if unknown:
            state.full.append(f"the change log names {_named(unknown)}, neither a network nor the template of one")
            return
        fetched = state.fetched_networks
        for nid, count in named.items():
            if nid in new:
                fetched.setdefault(nid, f"{count} change(s) since {state.t0}")
            for bound in templates.get(nid, ()):
                fetched.setdefault(bound, f"its configuration template {nid} changed")
        selection = [str(s) for s in (self.run.get("parameters") or {}).get("networks") or []]
        failed = {p.split("/")[1] for p, c in self.calls.items()
                  if p.startswith("networks/") and c.get("outcome") not in ("ok", "absent")}
        for nid, network in new.items():
            if old[nid] != network:
                fetched.setdefault(nid, "its entry in the network list changed")
            if selection and nid not in selection and old[nid].get("name") not in selection:
                fetched.setdefault(nid, "the old snapshot did not collect it")
            if quote_segment(nid) in failed:
                fetched.setdefault(nid, "a call failed there in the old snapshot")
        state.carry_networks = {quote_segment(nid) for nid in new if nid not in fetched}
        state.carry_org_files = not log and not any(old[n] != new[n] for n in new)

    # one call ------------------------------------------------------------------------------------------
    def reuse(self, collector: MerakiCollector, api_path: str, file: str) -> Fetched | None:
        """The call's outcome carried over from the old snapshot (file and manifest entry written), or None
        when it must be made."""
        if api_path in self._prefetched:
            return self._prefetched.pop(api_path)
        parts = api_path.split("/")
        if len(parts) > 2 and parts[0] == "organizations":
            state = self.orgs.get(urllib.parse.unquote(parts[1]))
            if state is None or state.full or not state.carry_org_files \
                    or "/".join(parts[2:]) in ALWAYS_FETCHED_ORG:
                return None
        elif len(parts) > 2 and parts[0] == "networks":
            org = self._network_org.get(parts[1])
            state = self.orgs.get(org) if org is not None else None
            if state is None or state.full or parts[1] not in state.carry_networks:
                return None
            carried = self._carry(collector, api_path, file)
            if carried is not None:
                state.carried.add(parts[1])
            return carried
        else:
            return None
        return self._carry(collector, api_path, file)

    def _carry(self, collector: MerakiCollector, api_path: str, file: str) -> Fetched | None:
        call = self.calls.get(api_path)
        if call is None or call.get("outcome") not in ("ok", "absent"):
            return None
        origin = call.get("carried_from") if call.get("origin") == "carried" else None
        if origin is not None and not isinstance(origin, dict):
            return None  # edited by hand: when it was fetched is not known
        carried_from = {"snapshot": self.shown,
                        "fetched_at": (origin or {}).get("fetched_at") or self.run.get("started_at")}
        if call["outcome"] == "absent":
            collector.writer.record_call(api_path, "absent", status=call.get("status"), error=call.get("error"),
                                         file=file, attempts=0, rate_limited=0, origin="carried",
                                         carried_from=carried_from)
            collector.progress.call(self._org_of(api_path))
            return Fetched("absent")
        if call.get("file") != file:
            return None
        try:
            body = self.old.read_json(file)
        except SnapshotError:
            return None
        if body is None:
            return None
        carried_fingerprints: list[str] = []
        if REDACTED in json.dumps(body, ensure_ascii=False):
            # A secret was redacted here (a PSK, an iPSK passphrase, a peer's key): its value is gone from OLD, so
            # this run scrubs it where else it appears (a network's notes, a rule's comment), as a full pull does,
            # through the fingerprints OLD recorded (collect/fingerprints.py). Without them, or under another API
            # key, the call is made instead.
            listed = call.get("secret_fingerprints")
            if not self._fingerprints_usable(collector) or not isinstance(listed, list):
                return None
            carried_fingerprints = listed
        try:
            collector.writer.carry_json(file, body, carried_fingerprints)
        except ValueError:  # malformed fingerprints (carry_json checks them before writing): made instead
            return None
        except (OSError, UnsafePathError, LimitExceeded):
            return None  # made instead, which records what goes wrong
        collector.writer.record_call(api_path, "ok", status=call.get("status"), file=file, written=True,
                                     attempts=0, rate_limited=0, origin="carried", carried_from=carried_from)
        collector.progress.call(self._org_of(api_path))
        return Fetched("ok", body)

    def old_bytes(self, rel: str) -> bytes | None:
        """OLD's file at `rel`, as on disk (writer.earlier); None when it has none or it cannot be read."""
        try:
            return self.old.raw_bytes(rel)
        except (SnapshotError, OSError):
            return None

    def _fingerprints_usable(self, collector: MerakiCollector) -> bool:
        check = self.run.get("secret_fingerprint_check")
        return isinstance(check, str) and check == collector.writer.key_check

    def _org_of(self, api_path: str) -> str | None:
        parts = api_path.split("/")
        if parts[0] == "organizations" and len(parts) > 1:
            return urllib.parse.unquote(parts[1])
        return self._network_org.get(parts[1]) if len(parts) > 1 else None

    # the manifest ----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The run's `incremental` entry in manifest.json."""
        orgs = []
        for org_id, state in self.orgs.items():
            entry: dict[str, Any] = {"org": org_id, "t0": state.t0, "changes": state.changes,
                                     "org_level_changes": state.org_level_changes,
                                     "change_log_requests": state.log_requests}
            if state.full:
                entry["full_pull"] = state.full
            else:
                entry["org_files"] = "carried" if state.carry_org_files else "fetched"
                entry["fetched_networks"] = dict(sorted(state.fetched_networks.items()))
                entry["carried_networks"] = len(state.carried)
            orgs.append(entry)
        return {"since": self.shown, "since_started_at": self.run.get("started_at"), "full_pull": self.full,
                "orgs": orgs}


def _by_id(networks: Any) -> dict[str, dict[str, Any]] | None:
    if not isinstance(networks, list):
        return None
    out: dict[str, dict[str, Any]] = {}
    for network in networks:
        if not isinstance(network, dict) or "id" not in network:
            return None
        out[str(network["id"])] = json.loads(json.dumps(network))  # compared as JSON values
    return out
