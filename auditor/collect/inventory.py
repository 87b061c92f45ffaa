"""Fleets of devices: `collect cisco|f5|kemp|netscaler --inventory FILE` reads a Nornir SimpleInventory.

The inventory is what Nornir's SimpleInventory reads, so an existing Nornir or netmiko setup is reused as it is:
`hosts.yaml` (FILE, or FILE/hosts.yaml when FILE is a folder), and `groups.yaml` and `defaults.yaml` beside it
when they are there. A host has `hostname` (default: its name), `port`, `username`, `platform`, `groups` and
`connection_options`; an attribute a host leaves unset comes from its groups (in order, each group before the
groups it belongs to) and then from the defaults, and `connection_options.netmiko` overrides them field by field
for SSH only (`Fleet.connection`), as Nornir resolves them; REST collectors take the plain attributes.
`password` is never read from the inventory: credentials still come only from the environment or a prompt (one
password for the run); hosts or groups that hold one, or a `password` or `secret` anywhere under their
connection_options, are named in a warning (never with the values).

A host is collected by the command its platform belongs to (each collector's `Fleet`, declared in its vendor
package: netmiko and NAPALM names); hosts of
other platforms are skipped (and listed), and a host without a platform is collected by whichever command reads
the inventory (`collect cisco` then needs `--device-type`). `--group` keeps the hosts of those groups.

Devices are collected concurrently by a bounded pool of threads (`--workers`); each device's collection is the
single-device collector's, with the inventory host's name as the device name (`cisco/<name>.cfg`, `f5/<name>/`),
and writes its own run into `manifest.json` (with an `inventory` entry naming the file, host and groups). A line
per device reports its outcome as it ends. A device that fails, or cannot even be tried (no platform, no user
name, an unusable address), is a failed call in the manifest and never stops the others; the exit code is then 3.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import typer
import yaml

from auditor.collect.signals import terminate_as_interrupt
from auditor.collect.writer import SnapshotWriter, UnsafePathError, quote_segment
from auditor.errors import BadInput, CollectUsageError
from auditor.snapshot import SnapshotError, check_input_size
from auditor.untrusted import clean

HOSTS, GROUPS, DEFAULTS = "hosts.yaml", "groups.yaml", "defaults.yaml"
DEFAULT_WORKERS = 8
EXIT_OK, EXIT_INCOMPLETE = 0, 3
_ATTRS = ("hostname", "port", "username", "platform")
NOT_STARTED = "interrupted (SIGINT or SIGTERM) before the device was contacted"


@dataclass(frozen=True)
class Fleet:
    """What inventory mode knows of one collector; each vendor's collect module declares its own."""

    collector: str  # the `collect` command, and the snapshot folder its devices go to (cisco, f5, ...)
    platforms: Mapping[str, str | None]  # inventory platform names (netmiko, NAPALM) -> netmiko device type for SSH
    needs_device_type: bool = False  # SSH: a host without a platform needs --device-type
    # The connection_options entry whose settings override the plain attributes for this collector (Nornir: per
    # connection plugin): "netmiko" for SSH; None for REST, which takes the host's own attributes.
    connection: str | None = None
    file: Callable[[str], str] | None = None  # a device's snapshot file, named in a failure recorded outside it


class InventoryError(BadInput, ValueError):
    """The inventory cannot be used (exit code 2); the message names the file, and the host or line."""

    speaker = "vpn-auditor collect"


# --- reading -----------------------------------------------------------------------------------------------
@dataclass
class _Element:
    """A host, a group or the defaults, as written."""

    name: str
    attrs: dict[str, Any]
    groups: list[str]
    netmiko: dict[str, Any]  # connection_options.netmiko, the same four attributes
    password: bool


@dataclass(frozen=True)
class Device:
    """One inventory host, resolved."""

    name: str  # the inventory's name for it: the device's name in the snapshot
    hostname: str
    port: int | None
    username: str | None
    platform: str | None
    groups: tuple[str, ...]  # every group it is in, in resolution order
    # connection_options.netmiko, resolved field by field as Nornir does (_netmiko): what SSH uses
    # in place of the plain attributes. Never applied to REST collectors.
    netmiko: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def connected_by(self, connection: str | None) -> Device:
        """The host as a collector using `connection` sees it: netmiko's settings override the plain attributes
        for SSH (Nornir's netmiko plugin does the same); any other collector gets the plain ones."""
        if connection != "netmiko" or not self.netmiko:
            return self
        return replace(self, **self.netmiko, netmiko={})


@dataclass
class Inventory:
    files: list[str]
    devices: list[Device]
    # hosts, groups or "defaults" that set a password, or a password or secret under connection_options
    with_password: list[str] = field(default_factory=list)


def load_inventory(path: Path) -> Inventory:
    """Read a SimpleInventory: `path` is hosts.yaml, or a folder holding it (groups.yaml, defaults.yaml beside)."""
    hosts_file = path / HOSTS if path.is_dir() else path
    if not hosts_file.is_file():
        raise InventoryError(f"--inventory {path}: no such file" + (f" ({HOSTS} in the folder)" if path.is_dir()
                                                                      else ""))
    folder = hosts_file.parent
    hosts = _elements(hosts_file, required=True)
    groups = _elements(folder / GROUPS, required=False)
    defaults = _element(folder / DEFAULTS, "defaults", _read(folder / DEFAULTS) or {}) \
        if (folder / DEFAULTS).is_file() else _Element("defaults", {}, [], {}, False)
    files = [str(hosts_file)] + [str(folder / f) for f in (GROUPS, DEFAULTS) if (folder / f).is_file()]
    for element in [*hosts.values(), *groups.values()]:
        for group in element.groups:
            if group not in groups:
                where = f"{folder / GROUPS}" if (folder / GROUPS).is_file() else f"no {GROUPS} beside {hosts_file}"
                raise InventoryError(f"{hosts_file if element.name in hosts else folder / GROUPS}: "
                                     f"{element.name!r} is in group {group!r}, which is not defined ({where})")
    devices = [_resolve(host, groups, defaults, hosts_file) for host in hosts.values()]
    with_password = [e.name for e in [*hosts.values(), *groups.values(), defaults] if e.password]
    return Inventory(files, devices, with_password)


class DuplicateKey(BadInput):
    """A key given twice in one YAML mapping (caught in _read, which names the file)."""

    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader, except that a key given twice in one mapping (a host, a group, an attribute) is an error:
    PyYAML keeps the last one silently, which drops a host or a group without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges; the keys written here override it
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKey(key, line, seen[key])
                seen[key] = line
            except TypeError:  # an unhashable key: the constructor below says so
                continue
        return super().construct_mapping(node, deep)


def _read(path: Path) -> Any:
    try:
        check_input_size(path)
        text = path.read_text(encoding="utf-8")
    except SnapshotError as exc:
        raise InventoryError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: plain YAML types only
    except DuplicateKey as exc:
        raise InventoryError(f"{path} line {exc.line}: {exc.key!r} is defined twice (first on line {exc.first}); "
                             "YAML would keep only the last one") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise InventoryError(f"{path}{line}: malformed YAML: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise InventoryError(f"{path}: malformed YAML: nested too deeply") from None


def _elements(path: Path, *, required: bool) -> dict[str, _Element]:
    if not path.is_file() and not required:
        return {}
    raw = _read(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InventoryError(f"{path}: expected a mapping of names to their settings")
    elements: dict[str, _Element] = {}
    for name, body in raw.items():
        if str(name) in elements:  # `1:` and `"1":` are two YAML keys but one name: one would be dropped
            raise InventoryError(f"{path}: {str(name)!r} is defined twice (once as {type(name).__name__}); "
                                 "only one would be kept")
        elements[str(name)] = _element(path, str(name), body or {})
    return elements


def _element(path: Path, name: str, body: Any) -> _Element:
    if not isinstance(body, dict):
        raise InventoryError(f"{path}: {name!r}: expected a mapping (hostname, platform, groups, ...)")
    attrs = {key: _attr(path, name, key, body.get(key)) for key in _ATTRS}
    groups = body.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InventoryError(f"{path}: {name!r}: groups must be a list of group names")
    options = body.get("connection_options") or {}
    netmiko = options.get("netmiko") if isinstance(options, dict) else None
    if not isinstance(options, dict) or not isinstance(netmiko or {}, dict):
        raise InventoryError(f"{path}: {name!r}: connection_options must map a connection name to its settings")
    conn = {key: _attr(path, name, key, (netmiko or {}).get(key)) for key in _ATTRS}
    password = body.get("password") not in (None, "") or _holds_secret(options)
    return _Element(name, attrs, list(groups), conn, password)


_SECRET_KEYS = frozenset({"password", "secret"})


def _holds_secret(options: Any) -> bool:
    """Whether a `password` or `secret` with a value is anywhere under connection_options (any connection, its
    `extras`, at any depth). Only whether one is set is looked at: the value is never read further."""
    stack, seen = [options], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:  # YAML anchors can make a structure refer to itself
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and key.lower() in _SECRET_KEYS and value not in (None, ""):
                    return True
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _attr(path: Path, name: str, key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise InventoryError(f"{path}: {name!r}: port {value!r} is not a TCP port (1-65535)")
        return value
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise InventoryError(f"{path}: {name!r}: {key} must be a non-empty text")
    return str(value).strip()


def _lineage(element: _Element, groups: dict[str, _Element], path: Path, seen: tuple[str, ...] = ()) -> list[_Element]:
    """The groups an element inherits from, in Nornir's order: each group, then the groups it is in."""
    out: list[_Element] = []
    for name in element.groups:
        if name in seen:
            raise InventoryError(f"{path}: groups {' -> '.join([*seen, name])} form a cycle")
        group = groups[name]
        out.append(group)
        out.extend(_lineage(group, groups, path, (*seen, name)))
    return out


def _resolve(host: _Element, groups: dict[str, _Element], defaults: _Element, path: Path) -> Device:
    chain = [host, *_lineage(host, groups, path), defaults]

    def first(key: str, where: str) -> Any:
        for element in chain:  # the host, its groups in order, then the defaults
            value = getattr(element, where).get(key)
            if value is not None:
                return value
        return None

    names = tuple(dict.fromkeys(g.name for g in chain[1:-1]))
    netmiko = _netmiko(host, groups, defaults)
    return Device(name=host.name, hostname=first("hostname", "attrs") or host.name, port=first("port", "attrs"),
                  username=first("username", "attrs"), platform=first("platform", "attrs"), groups=names,
                  netmiko=netmiko)


def _netmiko(element: _Element, groups: dict[str, _Element], defaults: _Element) -> dict[str, Any]:
    """connection_options.netmiko as Nornir resolves it (Host._get_connection_options_recursively): the element's
    own, then each of its groups in order, each group's own followed by its parents' and then by the defaults',
    then the defaults'. (So the defaults' settings come before a second group's: the first group's resolution
    has already taken them.) Cycles were refused by _lineage before this is called."""
    resolved = {key: value for key, value in element.netmiko.items() if value is not None}
    for name in element.groups:
        for key, value in _netmiko(groups[name], groups, defaults).items():
            resolved.setdefault(key, value)
    for key, value in defaults.netmiko.items():
        if value is not None:
            resolved.setdefault(key, value)
    return resolved


# --- choosing --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    device: Device
    device_type: str | None  # netmiko's, for SSH
    problem: str | None = None  # why it cannot be tried: recorded as failed


def select(inventory: Inventory, fleet: Fleet, groups: Sequence[str] = (),
           device_type: str | None = None) -> tuple[list[Target], list[Device]]:
    """(devices this command collects, devices skipped for another platform or outside --group)."""
    chosen: list[Target] = []
    skipped: list[Device] = []
    for device in (d.connected_by(fleet.connection) for d in inventory.devices):
        if groups and not set(groups) & set(device.groups):
            skipped.append(device)
            continue
        platform = (device.platform or "").strip().lower()
        if not platform:
            if fleet.needs_device_type and device_type is None:
                chosen.append(Target(device, None, "no platform in the inventory and no --device-type"))
            else:
                chosen.append(Target(device, device_type))
            continue
        if platform not in fleet.platforms:
            skipped.append(device)
            continue
        chosen.append(Target(device, fleet.platforms[platform]))
    return chosen, skipped


# --- running ---------------------------------------------------------------------------------------------
@dataclass
class DeviceOutcome:
    name: str
    shown: str  # e.g. "cisco/hq-asa (10.0.0.1)"
    ok: bool
    detail: str
    elapsed: float = 0.0


Job = Callable[[Target], DeviceOutcome]


def run_pool(targets: list[Target], job: Job, workers: int, out: Path, fleet: Fleet, inventory_file: str,
             echo: Callable[[str], None]) -> tuple[list[DeviceOutcome], bool]:
    """Collect every target with at most `workers` at a time; (outcomes, interrupted). Each device's outcome is
    echoed as it ends. A job that raises is recorded as a failed call of that device; SIGINT or SIGTERM records
    the devices not started as failed and waits for those in progress (their own timeouts bound the wait)."""
    outcomes: list[DeviceOutcome] = []
    total = len(targets)
    collector = fleet.collector

    def report(outcome: DeviceOutcome) -> None:
        outcomes.append(outcome)
        state = "ok" if outcome.ok else "failed"
        echo(clean(f"[{len(outcomes)}/{total}] {outcome.shown}: {state}: {outcome.detail} "
                   f"({outcome.elapsed:.1f} s)"))

    def guarded(target: Target) -> DeviceOutcome:
        started = time.monotonic()
        if target.problem is not None:
            with suppress(Exception):
                record_failure(out, fleet, target, inventory_file, target.problem)
            return DeviceOutcome(target.device.name, shown(collector, target), False, target.problem)
        try:
            outcome = job(target)
        except Exception as exc:  # one device's trouble, whatever it is, is that device's
            error = f"{type(exc).__name__}: {exc}"
            with suppress(Exception):  # a manifest that cannot be written: the line below still says it
                record_failure(out, fleet, target, inventory_file, error)
            outcome = DeviceOutcome(target.device.name, shown(collector, target), False, error)
        outcome.elapsed = time.monotonic() - started
        return outcome

    interrupted = False
    reported: set[concurrent.futures.Future[DeviceOutcome]] = set()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collect")
    try:
        with _quiet_sessions():
            futures = {pool.submit(guarded, t): t for t in targets}
            try:
                for future in concurrent.futures.as_completed(futures):
                    reported.add(future)
                    report(future.result())
            except KeyboardInterrupt:
                interrupted = True
                for future in futures:
                    future.cancel()  # only those not started yet
                running = sum(1 for f in futures if not f.cancelled() and not f.done())
                echo(f"interrupted: {running} device(s) in progress finish first; the others are not contacted")
                pool.shutdown(wait=True)
                for future, target in futures.items():
                    if future.cancelled():
                        record_failure(out, fleet, target, inventory_file, NOT_STARTED, interrupted=True)
                        report(DeviceOutcome(target.device.name, shown(collector, target), False, NOT_STARTED))
                    elif future not in reported:
                        report(future.result())
    finally:
        pool.shutdown(wait=True)
    return outcomes, interrupted


@contextmanager
def _quiet_sessions() -> Any:
    """netmiko logs every byte it reads at DEBUG level, secrets included (cisco.py hides it per session). With
    sessions in several threads, one session's restore could reveal another's: keep it hidden for the pool."""
    logger = logging.getLogger("netmiko")
    level = logger.level
    logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(level)


# Up to the LAST '@' of the text: a password may hold '@', '/', '?', '#' or a space (typed unencoded, as people
# do); a hostname or base URL has no '@' of its own, so nothing of a real host is lost.
_URL_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*://)?).*@", re.S)


def public_host(hostname: str) -> str:
    """A host's address as shown and recorded: a URL's user information (`https://user:PASSWORD@lb1`, which the
    collectors refuse) left out, so the password it carries is never written or printed."""
    return _URL_USERINFO.sub(lambda m: m.group(1), hostname)


def shown(collector: str, target: Target) -> str:
    return f"{collector}/{target.device.name} ({public_host(target.device.hostname)})"


def inventory_entry(inventory_file: str, target: Target) -> dict[str, Any]:
    """The `inventory` entry of a device's run in manifest.json."""
    return {"file": inventory_file, "host": target.device.name, "groups": list(target.device.groups),
            "platform": target.device.platform}


def record_failure(out: Path, fleet: Fleet, target: Target, inventory_file: str, error: str,
                   **run_extra: Any) -> None:
    """A device that failed outside its collector (or was never tried): a failed call in its own run."""
    device = target.device
    try:
        name = quote_segment(device.name)
    except UnsafePathError:
        name = None
    collector = fleet.collector
    file = fleet.file(name) if fleet.file is not None and name else None
    host = public_host(device.hostname)
    parameters = {"host": host, "name": device.name, "inventory": inventory_entry(inventory_file, target)}
    writer = SnapshotWriter(out, collector, parameters=parameters)
    writer.discard(file)
    writer.record_call("collect", "failed", error=error, file=file, host=host)
    writer.close(device=f"{collector}/{name or device.name}", **run_extra)


# --- the commands' inventory mode ------------------------------------------------------------------------
def ask_secret(env: str, prompt: str, required: bool, missing: str = "") -> str:
    """A secret from the environment, else asked for on a terminal (never from the command line); `missing`
    begins the error when none is given and it is required."""
    value = os.environ.get(env, "")
    if not value and sys.stdin.isatty():
        value = typer.prompt(prompt, hide_input=True, default="", show_default=False)
    if not value and required:
        raise CollectUsageError(f"{missing or f'set {env}'} (stdin is not a terminal to ask for it)")
    return value


def prepare(path: Path, fleet: Fleet, groups: Sequence[str], device_type: str | None,
            workers: int) -> tuple[Inventory, list[Target]]:
    if workers < 1:
        raise InventoryError("--workers must be at least 1")
    inventory = load_inventory(path)
    targets, skipped = select(inventory, fleet, groups, device_type)
    if inventory.with_password:
        typer.echo(f"vpn-auditor collect: warning: passwords in the inventory are not read "
                   f"({name_list(inventory.with_password)}); credentials come from the environment or a prompt",
                   err=True)
    if skipped:
        typer.echo(f"vpn-auditor collect: {len(skipped)} host(s) of other platforms or groups skipped: "
                   f"{name_list(d.name for d in skipped)}", err=True)
    if not targets:
        raise InventoryError(f"--inventory {path}: no host for `collect {fleet.collector}`"
                             + (f" in group(s) {', '.join(groups)}" if groups else ""))
    return inventory, targets


def name_list(names: Iterable[str]) -> str:
    names = list(names)
    return clean(", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else ""))


def _finish(outcomes: list[DeviceOutcome], interrupted: bool, out: Path) -> int:
    failed = [o for o in outcomes if not o.ok]
    if interrupted:
        typer.echo(f"vpn-auditor collect: interrupted; the snapshot is incomplete ({out / 'manifest.json'})", err=True)
    elif failed:
        typer.echo(f"vpn-auditor collect: {len(failed)} of {len(outcomes)} devices failed; the snapshot is "
                   f"incomplete (details in {out / 'manifest.json'})", err=True)
    return EXIT_INCOMPLETE if failed or interrupted else EXIT_OK


def collect_fleet(targets: list[Target], job: Job, workers: int, out: Path, fleet: Fleet, inventory_file: str) -> int:
    """The pool as the commands run it (SIGTERM read as an interruption, a line per device on stderr); the exit
    code."""
    with terminate_as_interrupt():
        outcomes, interrupted = run_pool(targets, job, workers, out, fleet, inventory_file,
                                         lambda line: typer.echo(line, err=True))
    return _finish(outcomes, interrupted, out)
