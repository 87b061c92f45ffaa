"""JUnit XML: one test case per (network, role, protocol, server), a <failure> per flow that is not allowed.

CI systems (GitLab, Jenkins, Azure DevOps, GitHub test-report actions) show JUnit natively, so a pipeline
lists exactly which role lost which VPN protocol. Pre-auth (splash) roles carry "[pre-auth]" in the test
name so the two phases of one SSID stay apart. Each failure's message is the trace's one-sentence reason and
its body the hop-by-hop trace. Findings that belong to no path (data gaps, shadowed rules, load-balancer
findings) go into an extra suite, "configuration checks", one case per finding.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

from auditor.assumptions import shown
from auditor.audit import AuditResult
from auditor.checks import Finding
from auditor.model import Decision, Role
from auditor.trace import FlowTrace, PathResult
from auditor.vocab import SEVERITY_REPORT_ORDER, Severity, Verdict
from auditor.waivers import PathWaivers

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # chars XML 1.0 cannot hold
# and those it can, but a terminal would obey (CR, C1 controls such as CSI, bidi overrides)
_CONTROLS = re.compile("[\r\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Role findings that no path carries: the name a role's clients resolve (its paths go to the audited address and
# may all pass), so each is a case of its own, as findings of no role are.
_NOT_ON_A_PATH = frozenset({"dns-mismatch", "dns-unresolved", "dns-unknown"})


def _loose(finding: Finding) -> bool:
    """A finding that no path's test case fails for: a case in "configuration checks"."""
    return finding.role is None or finding.check.kind in _NOT_ON_A_PATH


def _clean(text: str) -> str:
    """Untrusted config text (rule comments, SSID names) must not make the XML unparsable, nor drive the terminal
    the report is printed on."""
    return _NOT_XML.sub("\ufffd", _CONTROLS.sub("\ufffd", text))


def role_label(role: Role) -> str:
    label = f"{role.kind} {role.name}"
    if role.ssid and role.kind != "ssid":
        label += f" on {role.ssid}"
    if role.phase == "pre-auth":
        label += " [pre-auth]"
    return label


def protocol_groups(paths: list[PathResult]) -> dict[tuple[Role, str, str], list[PathResult]]:
    """Paths per (role, server, protocol), in audit order: a protocol works only when all its flows do."""
    groups: dict[tuple[Role, str, str], list[PathResult]] = defaultdict(list)
    for path in paths:
        groups[(path.role, path.server.name, path.protocol)].append(path)
    return groups


def trace_lines(trace: FlowTrace) -> list[str]:
    """The hop-by-hop explanation as plain text (no terminal markup)."""
    lines = [f"verdict: {trace.verdict} (path: {trace.variant})"]
    for number, record in enumerate(trace.hops, 1):
        hop = record.hop
        lines.append(f"{number}. {hop.device} [{hop.stage}]: {record.decision.value}")
        for seg in record.segments:
            rule = seg.rule
            if rule is not None:
                comment = f' "{rule.comment}"' if rule.comment else ""
                # a file line is in the label already; a JSON file is named without its list index
                origin = f" ({rule.origin.path})" if rule.origin and rule.origin.line is None else ""
                lines.append(f"   {seg.decision.value} by {rule.label}: {rule.text}{comment}{origin}")
            if seg.reason and (rule is None or seg.decision is Decision.UNKNOWN):
                lines.append(f"   {seg.decision.value}: {seg.reason}")
    return lines


def _testcase(parent: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(parent, "testcase", {"classname": _clean(classname), "name": _clean(name), "time": "0"})


def _suite(root: ET.Element, name: str, timestamp: str, assumptions: list[dict] | None = None) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", {"name": _clean(name), "timestamp": timestamp, "time": "0"})
    if assumptions:  # audit.yaml `assume:`: the verdicts below rest on these
        properties = ET.SubElement(suite, "properties")
        for item in assumptions:
            ET.SubElement(properties, "property", {"name": f"assume.{item['name']}", "value": shown(item["value"])})
    return suite


def _skip(case: ET.Element, waived: dict[str, str], what: str) -> None:
    """A failure a waiver accepts (audit --waivers) shows as skipped, saying whose and until when."""
    if case.find("failure") is None and case.find("skipped") is None:
        ET.SubElement(case, "skipped", {"message": _clean(
            f"waived by {waived['owner']} until {waived['expires']}: {waived['reason']} ({what})")})


def _close(suite: ET.Element) -> tuple[int, int]:
    cases = suite.findall("testcase")
    failed = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("failure") is None and c.find("skipped") is not None)
    suite.attrib.update({"tests": str(len(cases)), "failures": str(failed), "errors": "0",
                         "skipped": str(skipped)})
    return len(cases), failed


def junit_tree(result: AuditResult) -> ET.Element:
    root = ET.Element("testsuites", {"name": f"vpn-auditor {result.snapshot}"})
    timestamp = result.generated_at
    accepted = PathWaivers(result.findings)
    suites: dict[str, ET.Element] = {}
    for (role, server, protocol), paths in protocol_groups(result.paths).items():
        network = role.network_name or "sources"
        suite = suites.get(network)
        if suite is None:
            suite = suites[network] = _suite(root, network, timestamp, result.assumptions)
        spec = result.protocols.get(protocol)
        title = spec.title if spec else protocol
        case = _testcase(suite, network, f"{role_label(role)} / {title} to {server}")
        waived: list[tuple[PathResult, dict[str, str]]] = []
        for path in paths:
            trace = path.trace
            if trace.verdict == Verdict.ALLOWED:
                continue
            mark = accepted.waiver(path)
            if mark is not None:
                waived.append((path, mark))
                continue
            failure = ET.SubElement(case, "failure", {"type": trace.verdict, "message": _clean(trace.reason)})
            failure.text = _clean("\n".join([f"{trace.flow} {trace.verdict}: {trace.reason}", *trace_lines(trace)]))
        if waived:
            _skip(case, waived[0][1], ", ".join(f"{p.trace.flow} {p.verdict}" for p, _mark in waived))
    loose = [f for f in result.findings if _loose(f)]
    if loose:
        suite = _suite(root, "configuration checks", timestamp, result.assumptions)
        for finding in sorted(loose, key=lambda f: (-Severity.rank_of(f.effective_severity), f.check.id)):
            where = (finding.network or {}).get("name") or finding.device or "snapshot"
            case = _testcase(suite, f"checks.{finding.check.kind}", f"{finding.check.id} {where}: {finding.title}")
            if finding.waived is not None:
                _skip(case, finding.waived, finding.check.id)
            elif finding.effective_severity != Severity.INFO:
                failure = ET.SubElement(case, "failure", {"type": finding.check.id,
                                                          "message": _clean(finding.title)})
                failure.text = _clean(f"{finding.effective_severity}: {finding.title}\n"
                                      f"Remediation: {finding.remediation}")
    _finding_properties(root, result)
    tests = failures = 0
    for suite in root.findall("testsuite"):
        count, failed = _close(suite)
        tests, failures = tests + count, failures + failed
    skipped = sum(int(suite.get("skipped", "0")) for suite in root.findall("testsuite"))
    root.attrib.update({"tests": str(tests), "failures": str(failures), "errors": "0", "time": "0",
                        **({"skipped": str(skipped)} if skipped else {})})
    return root


def _finding_properties(root: ET.Element, result: AuditResult) -> None:
    """Each suite's findings by severity as <properties> (`vpn-auditor.findings.error`, ...): a role's findings
    in its network's suite, the others in "configuration checks", so the suites add up to the report's totals,
    as every format states them (role findings have no test case of their own: their paths do)."""
    per_suite: dict[str, Counter] = defaultdict(Counter)
    for finding in result.findings:
        network = (finding.network or {}).get("name") or "sources"
        suite_name = "configuration checks" if _loose(finding) else network
        per_suite[suite_name][finding.effective_severity] += 1
    for suite in root.findall("testsuite"):
        found = per_suite.get(suite.get("name", ""), Counter())
        properties = suite.find("properties")
        if properties is None:
            properties = ET.Element("properties")
            suite.insert(0, properties)
        for severity in SEVERITY_REPORT_ORDER:
            ET.SubElement(properties, "property", {"name": f"vpn-auditor.findings.{severity}",
                                                    "value": str(found[severity])})


def render(result: AuditResult) -> str:
    root = junit_tree(result)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
