"""Audit synthetic orgs of growing size from a snapshot and print wall time and peak memory.

Each network: 4 SSIDs (one iPSK), 3 iPSK group policies, 30 SSID rules per SSID, 150 MX rules, 6 VLANs
(bench/synth.py). Every size runs in a fresh process so peak memory (ru_maxrss) is that audit's alone; then
the command a user runs, `vpn-auditor audit ORG --format json -o FILE`, is timed as well ('cli s').

    python bench/audit_scale.py                 # 100, 1000, 10000 networks
    python bench/audit_scale.py --sizes 100 1000
    python bench/audit_scale.py --sizes 1000 --unshared-rows   # no rule row shared between networks
    python bench/audit_scale.py --sizes 1000 10000 --cache     # and with the audit cache: cold, warm, 1 edit

With --cache, each org is then audited with an empty cache (cold: every network audited and written), again
with nothing changed (warm: every network from the cache) and after one network's MX rules changed (one
network audited); those audits write no report (it is the same report), but keep each network's JSON report
text in the cache as `--format json --cache` does. After the warm audit, the CLI is run warm as a user runs
it, with its text and then its JSON report written to a file; then the JSON command the night one network
changed and the night after, and a cold night with an empty cache and the night after it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, time
import auditor.vendors.meraki.rules as meraki_rules
if sys.argv[2] == "unshared":
    meraki_rules._ROWS_MAX = 0  # every row parsed in every network, as if no two networks shared a row
from auditor.audit import results_held, run_audit
from auditor.report.json_report import network_text, write
workers = int(sys.argv[3]) if sys.argv[3] != "auto" else None
cache = sys.argv[4] if len(sys.argv) > 4 else ""
start = time.perf_counter()
before = resource.getrusage(resource.RUSAGE_SELF)
# as `vpn-auditor audit --format json` does: the forked worker writes its networks' part of the report, and
# with the cache each network's part is kept beside its entry
result = run_audit(sys.argv[1], keep_model=False, workers=workers, cache_dir=cache or None,
                   network_text=network_text)
audited = time.perf_counter() - start
stats = result.cache
if cache:  # the report is the one above: only the audit is timed
    print(json.dumps({"audit_s": audited, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                      "hits": stats.hits, "misses": stats.misses, "paths": len(result.paths)}))
    sys.exit(0)
audit_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
worker_peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the forked worker, if any
class Count:  # the streamed report's size, without keeping it
    size = 0
    def write(self, text):
        self.size += len(text)
sink = Count()
with results_held():  # as the CLI renders: the results out of the collector's walks
    write(result, sink)
json_mb = sink.size / 1e6
total = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
own, workers_ = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
# every process's CPU from the audit's start to the report's end (this one's start-up and imports left out)
cpu_s = own.ru_utime + own.ru_stime - before.ru_utime - before.ru_stime + workers_.ru_utime + workers_.ru_stime
print(json.dumps({"audit_s": audited, "with_json_s": total, "cpu_s": cpu_s, "audit_peak_mb": audit_peak_kb / 1024,
                  "peak_mb": peak_kb / 1024, "worker_peak_mb": worker_peak_kb / 1024,
                  "by_worker": result.networks_by_worker,
                  "paths": len(result.paths), "findings": len(result.findings), "counts": result.counts(),
                  "json_mb": json_mb}))
"""


class _PssSampler:
    """Peak of the summed PSS of a process and its children, sampled from /proc (Linux only)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.available = Path(f"/proc/{pid}/smaps_rollup").exists()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.2):
            pids = [self.pid]
            try:
                for task in Path(f"/proc/{self.pid}/task").iterdir():
                    pids += [int(p) for p in (task / "children").read_text().split()]
                total = sum(_pss_kb(p) for p in pids)
            except OSError:
                continue
            self.peak_kb = max(self.peak_kb, total)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def peak_text(self) -> str:
        return f"{self.peak_kb / 1024:.0f}" if self.available and self.peak_kb else "n/a"


def _pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--unshared-rows", action="store_true",
                        help="parse every rule row in every network (the synthetic org draws rows from pools, "
                             "so networks share rows, as template-built ones do; this measures the case where "
                             "none are shared)")
    parser.add_argument("--workers", default="auto",
                        help="processes that audit networks: 1 (serial), N, or auto (one per CPU this process may "
                             "use, up to 8, on a machine that can fork)")
    parser.add_argument("--cache", action="store_true",
                        help="also audit each org with the audit cache: cold (empty), warm (nothing changed), "
                             "and after one network changed")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from synth import network_id, write_org

    # The tool's modules compiled to bytecode, as `pip install` leaves them: a checkout run with
    # PYTHONDONTWRITEBYTECODE set would otherwise compile them again in every command timed (0.4 s here)
    import auditor
    import rules

    for package in (auditor, rules):
        compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)

    # Peak memory is ru_maxrss in MiB (2^20 bytes): 1.0 GB decimal is 954 MiB, 1.0 GiB is 1,024 MiB.
    # A worker's peak is its own resident set (the largest worker's is shown), which counts the pages it shares
    # with this process at the fork again: the sum of the peaks is an upper bound of what the audit holds at
    # once. "both MiB" is the peak of all the processes' proportional set sizes (Linux PSS: shared pages
    # counted once), sampled every 0.2 s: what they hold together.
    print(f"{'networks':>9} {'audit s':>8} {'+json s':>8} {'cpu s':>7} {'audit MiB':>9} {'+json MiB':>9} "
          f"{'worker MiB':>10} {'by worker':>9} {'paths':>9} {'findings':>9} {'ms/network':>11} {'both MiB':>10} "
          f"{'cli s':>6}")
    cached: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            root = Path(tmp) / f"org{size}"
            write_org(root, size, seed=1)
            # Flush the org to disk first: otherwise the kernel writes back the 640 MB a 10,000-network org has
            # just written while the audit runs (dirty pages expire after 30 s), which the audit would pay for.
            if hasattr(os, "sync"):  # Unix
                os.sync()
            mode = "unshared" if args.unshared_rows else "shared"
            child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), mode, args.workers],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            sampler = _PssSampler(child.pid)
            stdout, stderr = child.communicate()
            sampler.stop()
            if child.returncode:
                raise SystemExit(f"audit of {size} networks failed:\n{stderr}")
            figures = json.loads(stdout.strip().splitlines()[-1])
            cli = _cli_seconds(root, Path(tmp) / "report.json", args.workers) if mode == "shared" else None
            print(f"{size:>9} {figures['audit_s']:>8.2f} {figures['with_json_s']:>8.2f} {figures['cpu_s']:>7.1f} "
                  f"{figures['audit_peak_mb']:>9.0f} {figures['peak_mb']:>9.0f} {figures['worker_peak_mb']:>10.0f} "
                  f"{figures['by_worker']:>9} {figures['paths']:>9} "
                  f"{figures['findings']:>9} {1000 * figures['audit_s'] / size:>11.2f} {sampler.peak_text():>10} "
                  f"{'n/a' if cli is None else f'{cli:.2f}':>6}", flush=True)
            if args.cache:
                cached.append(_cached_runs(root, Path(tmp) / f"cache{size}", size, figures["audit_s"], mode,
                                           args.workers, network_id(size // 2)))
    print("target (issue 24): 10,000 networks in 20 s or less with the JSON report, 1.0 GB (954 MiB) or less "
          "(this process and the workers together), time growing linearly. 'cpu s' is the CPU time of every "
          "process (user and system): on a busy host it moves less than the wall time does. 'cli s' is the "
          "command as a user runs it, `vpn-auditor audit ORG --format json -o FILE`: interpreter start, imports, "
          "the report written to a file and the exit included")
    if cached:
        print(f"\n{'networks':>9} {'no cache s':>10} {'cold s':>7} {'warm s':>7} {'warm hits':>9} {'1 edit s':>8} "
              f"{'1 edit hits':>11} {'cold MiB':>8} {'warm MiB':>8} {'cache MiB':>9} {'warm text CLI':>13} "
              f"{'again':>9} {'new name':>9} {'in place':>9} {'warm json CLI':>13} {'again':>9} {'new name':>9} "
              f"{'in place':>9} {'changed json':>13} {'next night':>10} {'cold json CLI':>13} {'next night':>10}")
        print("\n".join(cached))
        print("target (issue 24): warm, nothing changed, 10,000 networks in 3 s or less. 'warm s' is the audit "
              "alone; 'warm text CLI' and 'warm json CLI' are `vpn-auditor audit ORG --cache DIR --format text|json "
              "-o FILE` run warm, nothing changed, as a user meets it (fresh interpreter, report written to a new "
              "file): the first keeps the report's memo, 'again' is the next night's, which writes it again to a new "
              "file (the first's report removed: nothing to copy), 'new name' the night after, to another file "
              "while the one 'again' wrote is still there (a dated name: that report is copied, its copy's bytes "
              "read and found to be the report, its timestamps written), 'in place' the night after, to that "
              "same file (only its timestamps are written, once its bytes are read and found to be the report). "
              "'changed json' is the JSON command the night one more network changed (that network audited; "
              "the memo of its report kept), 'next night' the one after, nothing changed since, to a new name. "
              "'cold json CLI' is that command with an empty cache (every network audited, by the forked workers "
              "too, which send back each network's reads: the memo is kept), 'next night' the one after, nothing "
              "changed, to a new name")


def _cli_seconds(root: Path, report: Path, workers: str, fmt: str = "json", cache: Path | None = None,
                 keep: bool = False) -> float:
    """Wall time of `vpn-auditor audit ROOT --format FMT -o REPORT [--cache CACHE]` in a fresh interpreter (exit
    0 or 1: a report was written, with or without error findings). The report is removed unless `keep`."""
    command = [sys.executable, "-c", "import sys; from auditor.cli import main; sys.exit(main())", "audit",
               str(root), "--format", fmt, "-o", str(report)]
    if cache is not None:
        command += ["--cache", str(cache)]
    if workers != "auto":
        command += ["--workers", workers]
    # Reports of earlier commands flushed to disk first, as a night later they are: the kernel otherwise throttles
    # this command's writes and copies behind the gigabytes the command before left dirty (2-4 s more here)
    if hasattr(os, "sync"):
        os.sync()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not report.is_file():
        raise SystemExit(f"vpn-auditor audit of {root} failed ({done.returncode}):\n{done.stderr}")
    if not keep:
        report.unlink()
    return seconds


def _cached_runs(root: Path, cache: Path, size: int, plain_s: float, mode: str, workers: str, edited: str) -> str:
    """Cold, warm and one-edit audits of one org with the audit cache, each in a fresh process."""
    runs, clis = [], []
    for step in ("cold", "warm", "edit"):
        if step == "edit":  # one network's MX rules change: that network is audited again
            _deny(root, edited, "4500")
        if hasattr(os, "sync"):
            os.sync()
        done = subprocess.run([sys.executable, "-c", CHILD, str(root), mode, workers, str(cache)],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"cached audit ({step}) of {size} networks failed:\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if step == "warm":  # the command a user runs, warm, nothing changed: with its report, twice (the
            # first keeps the report's memo, the second writes it again: auditor/report_memo.py)
            report, dated = cache.parent / f"report{size}", cache.parent / f"report{size}-dated"
            for fmt in ("text", "json"):
                # per format: keeps the memo (its report removed), written again to a new file (left there),
                # then to a new name while that one is still there, then again to that name (in place)
                clis += [_cli_seconds(root, report, workers, fmt, cache),
                         _cli_seconds(root, report, workers, fmt, cache, keep=True),
                         _cli_seconds(root, dated, workers, fmt, cache, keep=True),
                         _cli_seconds(root, dated, workers, fmt, cache)]
                report.unlink()
    # The command a user runs the night one network changed (the JSON report to a new name; that network audited,
    # the memo of its report kept), then the night after, nothing changed since (the report to a new name again)
    _deny(root, edited, "500")
    report, dated = cache.parent / f"report{size}-changed", cache.parent / f"report{size}-after"
    clis += [_cli_seconds(root, report, workers, "json", cache, keep=True),
             _cli_seconds(root, dated, workers, "json", cache)]
    report.unlink()
    # A cold night as a user runs it (an empty cache: every network audited, by forked workers too, the memo of
    # its report kept from the reads they send back), then the night after, nothing changed, to a new name
    fresh = cache.parent / f"cache{size}-cli"
    report, dated = cache.parent / f"report{size}-cold", cache.parent / f"report{size}-cold-after"
    clis += [_cli_seconds(root, report, workers, "json", fresh, keep=True),
             _cli_seconds(root, dated, workers, "json", fresh)]
    report.unlink()
    shutil.rmtree(fresh)
    cold, warm, edit = runs
    megabytes = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / (1 << 20)
    return (f"{size:>9} {plain_s:>10.2f} {cold['audit_s']:>7.2f} {warm['audit_s']:>7.2f} {warm['hits']:>9} "
            f"{edit['audit_s']:>8.2f} {edit['hits']:>11} {max(cold['peak_mb'], cold['worker_peak_mb']):>8.0f} "
            f"{warm['peak_mb']:>8.0f} {megabytes:>9.0f} {clis[0]:>13.2f} {clis[1]:>9.2f} {clis[2]:>9.2f} "
            f"{clis[3]:>9.2f} {clis[4]:>13.2f} {clis[5]:>9.2f} {clis[6]:>9.2f} {clis[7]:>9.2f} {clis[8]:>13.2f} "
            f"{clis[9]:>10.2f} {clis[10]:>13.2f} {clis[11]:>10.2f}")


def _deny(root: Path, network: str, port: str) -> None:
    """A rule denying UDP `port` put first in the network's MX rules."""
    rules = root / "meraki" / "networks" / network / "appliance" / "firewall" / "l3FirewallRules.json"
    rules.write_text(rules.read_text().replace('"rules":[', '"rules":[{"comment": "bench edit", "policy": "deny", '
                                               f'"protocol": "udp", "srcPort": "Any", "srcCidr": "Any", "destPort": '
                                               f'"{port}", "destCidr": "Any"}},', 1))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"(bench wall time {time.perf_counter() - started:.0f} s, including snapshot generation)")
