"""Hostile servers, devices and snapshots against the CLI: time, peak memory and outcome of each attack.

Each attack runs `vpn-auditor` in a fresh child process against a hostile peer (tests/fakes/hostile_http.py,
tests/fakes/cisco_ssh.py) or a hostile snapshot, and is stopped from outside when it passes a time or memory
budget (so an unbounded run is measured without taking the machine down). Peak memory is the child's
ru_maxrss. `--code DIR` runs another checkout's `auditor` (a before/after table).

    python bench/bounded_attacks.py [--code DIR] [--only NAME ...] [--seconds 40] [--memory-mb 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from tests.fakes.hostile_http import (  # noqa: E402
    Drip,
    Endless,
    HostileServer,
    Huge,
    Reply,
    Request,
    gzip_bomb,
)

API_KEY = "0123456789abcdef0123456789abcdef01234567"
CHILD = "import sys; from auditor.cli import main; sys.argv[0] = 'vpn-auditor'; main()"
SERVER_YAML = ("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n    protocols: [ikev2, sstp]\n"
               "sources:\n  - name: branch-lan\n    prefixes: [192.0.2.0/24]\n")


Setup = Callable[[Path, ExitStack], tuple[list[str], dict[str, str]]]  # (CLI arguments, environment)


@dataclass
class Attack:
    name: str
    what: str
    setup: Setup
    signal_after: Callable[[], bool] | None = None  # SIGINT the child once this turns true
    extra: dict[str, object] = field(default_factory=dict)


# --- peers ----------------------------------------------------------------------------------------------------
def _meraki(script: Callable[[Request], object]) -> Setup:
    def setup(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
        server = stack.enter_context(HostileServer(script))  # type: ignore[arg-type]
        return (["collect", "meraki", "--out", str(tmp / "snap"), "--base-url", f"{server.url}/api/v1",
                 "--timeout", "5", "--retries", "2"], {"MERAKI_DASHBOARD_API_KEY": API_KEY})
    return setup


def _f5(script: Callable[[Request], object], *extra: str) -> Setup:
    def setup(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
        server = stack.enter_context(HostileServer(script))  # type: ignore[arg-type]
        return (["collect", "f5", "--host", server.url, "--out", str(tmp / "snap"), "--timeout", "5", *extra],
                {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"})
    return setup


def _on(path: str, action: object, other: object = None) -> Callable[[Request], object]:
    fallback = other if other is not None else Reply(404, '{"code": 404, "message": "not found"}')
    return lambda request: action if request.path == path else fallback


ORGS = "/api/v1/organizations"
VIRTUAL = "/mgmt/tm/ltm/virtual"


def _self_link(request: Request) -> Reply:
    return Reply(200, "[]", {"Link": "</organizations>; rel=next"}) if request.path == ORGS else Reply(404, "{}")


def _redirect_loop(request: Request) -> Reply:
    return Reply(302, "", {"Location": f"http://{request.headers.get('Host')}{request.path}"})


def _f5_next_loop(request: Request) -> Reply:
    if request.path == VIRTUAL:
        return Reply(200, json.dumps({"items": [{"name": "vs1", "destination": "/Common/198.51.100.10:443"}],
                                      "nextLink": "https://localhost/mgmt/tm/ltm/virtual?$skip=0"}))
    return Reply(404, '{"code": 404}')


def _f5_page_not_object(request: Request) -> Reply:
    if request.path == VIRTUAL and "$skip" in request.query:
        return Reply(200, "[1, 2, 3]")
    if request.path == VIRTUAL:
        return Reply(200, json.dumps({"items": [], "nextLink": "https://localhost/mgmt/tm/ltm/virtual?$skip=1"}))
    return Reply(404, '{"code": 404}')


def _deep(depth: int) -> Callable[[Request], Reply]:
    body = "[" * depth + "]" * depth
    return lambda request: Reply(200, body) if request.path == ORGS else Reply(404, "{}")


class _Interruptible:
    """A Dashboard of one network whose calls after the network list hang: SIGINT arrives mid-collection."""

    def __init__(self) -> None:
        self.listed = threading.Event()

    def __call__(self, request: Request) -> Reply:
        if request.path == ORGS:
            return Reply(200, '[{"id": "1", "name": "Org"}]')
        if request.path == "/api/v1/organizations/1/networks":
            self.listed.set()
            return Reply(200, json.dumps([{"id": "N_1", "name": "Store", "productTypes": ["appliance", "wireless"]}]))
        if request.path.startswith("/api/v1/organizations/1/"):
            return Reply(200, "[]")
        time.sleep(3)
        return Reply(200, "[]")


def _cisco(config: Callable[[], Iterator[str]], *extra: str) -> Setup:
    def setup(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
        from tests.fakes.cisco_ssh import FakeCiscoDevice
        device = stack.enter_context(FakeCiscoDevice(config, start_privileged=True))
        return (["collect", "cisco", "--host", "127.0.0.1", "--port", str(device.port), "--device-type",
                 "cisco_ios", "--username", "audit", "--out", str(tmp / "snap"),
                 "--known-hosts", str(tmp / "known_hosts"), "--accept-new-host-key", *extra],  # host keys: item 7
                {"VPN_AUDITOR_SSH_PASSWORD": "audit-pw", "VPN_AUDITOR_SSH_SECRET": "enable-pw"})
    return setup


def _endless_config() -> Iterator[str]:
    line = "interface GigabitEthernet0/0\n description " + "x" * 60 + "\n"
    block = line * 2000
    while True:
        yield block


def _slow_config() -> Iterator[str]:
    yield "hostname rtr1\n"
    while True:
        time.sleep(1)
        yield "!\n"


# --- hostile snapshots -----------------------------------------------------------------------------------------
def _sparse(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
    snap = tmp / "snap"
    shutil.copytree(HERE.parent / "fixtures" / "snapshots" / "retail-demo", snap)
    victim = next(snap.glob("meraki/networks/*/appliance/firewall/l3FirewallRules.json"))
    with victim.open("r+b") as handle:
        handle.truncate(2 << 30)  # 2 GB of holes: nothing on disk
    return ["audit", str(snap), "--fail-on", "never", "--allow-unknown", "-o", str(tmp / "report.txt")], {}


def _asa_chain(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
    snap = tmp / "snap"
    (snap / "cisco").mkdir(parents=True)
    text = (HERE.parent / "fixtures" / "cisco" / "asa-vpn.cfg").read_text()
    chain = "".join(f"object-group network CHAIN{i}\n group-object CHAIN{i + 1}\n" for i in range(800))
    chain += "object-group network CHAIN800\n network-object object VPN-SERVER\n"
    anchor = "access-list OUTSIDE_IN remark == SSTP fallback =="
    text = text.replace(anchor, chain + anchor, 1)
    text = text.replace("object-group VPN-HOSTS object-group SSTP", "object-group CHAIN0 object-group SSTP")
    (snap / "cisco" / "hq-asa.cfg").write_text(text)
    (snap / "audit.yaml").write_text(SERVER_YAML)
    return ["audit", str(snap), "--fail-on", "never", "--allow-unknown", "-o", str(tmp / "report.txt")], {}


def _mount(tmp: Path, stack: ExitStack, options: str) -> Path:
    target = tmp / "mnt"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], check=True)
    stack.callback(subprocess.run, ["umount", "-l", str(target)], check=False)
    return target


def _f5_fixture(request: Request) -> Reply:
    return Reply(200, json.dumps({"items": [{"name": f"vs{i}", "description": "x" * 2000} for i in range(40)]}))


def _read_only_out(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
    target = _mount(tmp, stack, "ro,size=1m")
    argv, env = _f5(_f5_fixture)(tmp, stack)
    argv[argv.index("--out") + 1] = str(target / "snap")
    return argv, env


def _enospc(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
    target = _mount(tmp, stack, "size=64k")
    filler = Reply(200, json.dumps({"items": [{"name": "vs1", "description": "x" * 54_000}]}))
    argv, env = _f5(_on(VIRTUAL, filler))(tmp, stack)  # the one body fills the disk; the manifest finds it full
    argv[argv.index("--out") + 1] = str(target / "snap")
    return argv, env


def _missing_ca(tmp: Path, stack: ExitStack) -> tuple[list[str], dict[str, str]]:
    argv, env = _f5(_f5_fixture)(tmp, stack)
    return [*argv, "--ca-bundle", str(tmp / "no-such-ca.pem")], env


_interrupt = _Interruptible()

ATTACKS = [
    Attack("meraki-drip", "Dashboard sends 1 byte/s (--timeout 5)", _meraki(_on(ORGS, Drip(1.0)))),
    Attack("meraki-endless", "Dashboard sends an endless chunked body", _meraki(_on(ORGS, Endless()))),
    Attack("meraki-400mb", "Dashboard sends a 400 MB body", _meraki(_on(ORGS, Huge(400 << 20)))),
    Attack("meraki-gzip-bomb", "Dashboard sends 1 MB of gzip that inflates to 1 GB",
           _meraki(lambda r: _BOMB if r.path == ORGS else Reply(404, "{}"))),
    Attack("meraki-link-self", "Link rel=next to itself", _meraki(_self_link)),
    Attack("meraki-302-loop", "302 to the same URL", _meraki(_redirect_loop)),
    Attack("meraki-retry-after", "429 with Retry-After: 1000000000",
           _meraki(lambda r: Reply(429, '{"errors": ["slow down"]}', {"Retry-After": "1000000000"}))),
    Attack("meraki-deep-json", "organizations is 500-deep JSON", _meraki(_deep(500))),
    Attack("meraki-sigint", "SIGINT right after networks.json", _meraki(_interrupt),
           signal_after=_interrupt.listed.is_set),
    Attack("f5-drip", "F5 sends 1 byte/s (--timeout 5)", _f5(_on(VIRTUAL, Drip(1.0)))),
    Attack("f5-endless", "F5 sends an endless chunked body", _f5(_on(VIRTUAL, Endless()))),
    Attack("f5-400mb", "F5 sends a 400 MB body", _f5(_on(VIRTUAL, Huge(400 << 20)))),
    Attack("f5-nextlink-loop", "F5 nextLink to the same page", _f5(_f5_next_loop)),
    Attack("f5-page-not-object", "F5 second page is a JSON list", _f5(_f5_page_not_object)),
    Attack("f5-read-only-out", "--out on a read-only file system", _read_only_out),
    Attack("f5-enospc", "--out on a 64 kB file system (ENOSPC)", _enospc),
    Attack("f5-missing-ca", "--ca-bundle that does not exist", _missing_ca),
    Attack("cisco-endless", "endless show running-config", _cisco(_endless_config)),
    Attack("cisco-slow", "show running-config never ends, 2 bytes/s (ReadTimeout)", _cisco(_slow_config)),
    Attack("offline-sparse-2gb", "a 2 GB sparse file in the snapshot", _sparse),
    Attack("asa-group-chain-800", "ASA group-object chain 800 deep", _asa_chain),
]
_BOMB: Reply | None = None


# --- running one ---------------------------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(attack: Attack, code: Path, seconds: float, memory_mb: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"attack-{attack.name}-") as tmp, ExitStack() as stack:
        argv, env = attack.setup(Path(tmp), stack)
        child_env = {**os.environ, **env, "PYTHONPATH": str(code), "COLUMNS": "200"}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, *argv], env=child_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=tmp)
        stopped, signalled, status, usage = "", False, 0, None
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(p, b), daemon=True)
                   for p, b in ((proc.stdout, out), (proc.stderr, err))]
        for reader in readers:
            reader.start()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.monotonic() - started
            if attack.signal_after is not None and not signalled and attack.signal_after():
                time.sleep(0.3)
                proc.send_signal(signal.SIGINT)
                signalled = True
            if not stopped and elapsed > seconds:
                stopped = f"killed after {seconds:.0f} s"
                proc.kill()
            elif not stopped and _rss_mb(proc.pid) > memory_mb:
                stopped = f"killed at {memory_mb:.0f} MB RSS after {elapsed:.1f} s"
                proc.kill()
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        for reader in readers:
            reader.join(timeout=5)
        stderr = b"".join(err).decode(errors="replace").strip().splitlines()
        manifest_path = Path(tmp) / "snap" / "manifest.json"
        manifest = None
        if manifest_path.is_file():
            try:
                data = json.loads(manifest_path.read_text())
                runs = data.get("runs", [])
                manifest = {"summary": runs[-1].get("summary") if runs else None,
                            "interrupted": runs[-1].get("interrupted") if runs else None,
                            "failed": [f"{c['path']}: {c.get('error')}"[:160] for c in data.get("calls", [])
                                       if c.get("outcome") == "failed"][:3]}
            except ValueError:
                manifest = "unreadable"
        return {"attack": attack.name, "what": attack.what, "seconds": round(elapsed, 1),
                "peak_mb": round((usage.ru_maxrss if usage else 0) / 1024), "exit": proc.returncode,
                "stopped": stopped, "traceback": any("Traceback" in line for line in stderr),
                "stderr_last": stderr[-1][:200] if stderr else "", "manifest": manifest}


def main() -> None:
    global _BOMB
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=HERE.parent, help="checkout whose auditor/ to run")
    parser.add_argument("--only", nargs="*", help="attack names")
    parser.add_argument("--seconds", type=float, default=40.0, help="time budget per attack")
    parser.add_argument("--memory-mb", type=float, default=2048.0, help="memory budget per attack (RSS)")
    args = parser.parse_args()
    chosen = [a for a in ATTACKS if not args.only or a.name in args.only]
    if any(a.name == "meraki-gzip-bomb" for a in chosen):
        _BOMB = gzip_bomb(1 << 30)
    for attack in chosen:
        print(json.dumps(run(attack, args.code.resolve(), args.seconds, args.memory_mb)), flush=True)


if __name__ == "__main__":
    main()
