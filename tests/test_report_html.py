"""`--format html`: the page's content (summary, matrix, path pictures, findings), its safety with hostile
configuration text, and its behaviour in a real browser (headless Chromium) with the filters applied."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.cli import app
from auditor.model import (
    Action,
    Device,
    FilterHop,
    Model,
    NetworkModel,
    Origin,
    Role,
    Rule,
    RuleList,
    Variant,
    VpnServer,
)
from auditor.packets import ALL, ANY_ADDR, PROTO_NUMBERS, PacketSet, address_interval
from auditor.protocols import Flow, load_protocols
from auditor.report import render_format
from auditor.report.html import build_pictures
from auditor.trace import PathResult, trace_role

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
NET = {"Store 14": "L_6468200000000001", "Store 22": "L_6468200000000002", "Store 31": "L_6468200000000003",
       "HQ": "L_6468200000000004"}
HQ = "meraki/networks/L_6468200000000004"
PWN = "document.body.dataset.pwned=1"
HOSTILE_COMMENT = f'Retired extranet <img src=x onerror="{PWN}"> </script><script>{PWN}</script>'
HOSTILE_SSID = f"HQ-Guest<svg onload=\"{PWN}\">"


# ---------------------------------------------------------------------------------------------------------
# a small DOM, enough to query the report (ours or Chromium's serialisation of it)

class El:
    def __init__(self, tag: str, attrs: dict[str, str], parent: El | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[El | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else " " if c.tag == "br" else c.text() for c in self.children)

    def iter(self) -> Iterator[El]:
        for child in self.children:
            if isinstance(child, El):
                yield child
                yield from child.iter()

    def all(self, tag: str | None = None, **attrs: str) -> list[El]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter() if (tag is None or e.tag == tag)
                and all(e.attrs.get(k) == v for k, v in want.items())]

    def one(self, tag: str | None = None, **attrs: str) -> El:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{tag} {attrs}: {len(found)} matches"
        return found[0]

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def hidden(self) -> bool:
        return "hidden" in self.attrs


class _Builder(HTMLParser):
    VOID: ClassVar[set[str]] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                                "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = El("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = El(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in self.VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(El(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: El | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(text: str) -> El:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


def squash(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return run_audit(DEMO)


@pytest.fixture(scope="module")
def page(demo: AuditResult) -> str:
    return render_format(demo, "html")


@pytest.fixture(scope="module")
def dom(page: str) -> El:
    return parse(page)


def edit_snapshot(root: Path, name: str, edit: Callable[[Path], None]) -> Path:
    snap = root / name
    shutil.copytree(DEMO, snap)
    edit(snap)
    return snap


def _edit_json(path: Path, change: Callable[[object], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def hostile(snap: Path) -> None:
    """A rule comment and an SSID name written by an attacker: both are free text in the Dashboard."""
    _edit_json(snap / HQ / "wireless/ssids/1/firewall/l3FirewallRules.json",
               lambda d: d["rules"][1].__setitem__("comment", HOSTILE_COMMENT))  # type: ignore[index]
    _edit_json(snap / HQ / "wireless/ssids.json", lambda d: d[1].__setitem__("name", HOSTILE_SSID))  # type: ignore[index]


def fixed_hq(snap: Path) -> None:
    """HQ without the planted SSTP block and without its splash page (whose HTTPS reading is unknown)."""
    _edit_json(snap / HQ / "wireless/ssids/1/firewall/l3FirewallRules.json",
               lambda d: d["rules"].pop(1))  # type: ignore[index]
    _edit_json(snap / HQ / "wireless/ssids.json", lambda d: d[1].__setitem__("splashPage", "None"))  # type: ignore[index]


# ---------------------------------------------------------------------------------------------------------
# content

def test_page_is_self_contained(page: str, dom: El) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not dom.all("link") and not dom.all("img") and not dom.all("iframe")
    for element in dom.iter():
        for attr in ("src", "href", "xlink:href", "action"):
            value = element.attrs.get(attr, "")
            assert not value or value.startswith("#"), f"external reference {element.tag} {attr}={value}"
    assert all("src" not in s.attrs for s in dom.all("script"))
    assert not re.search(r"url\((?!#)", page), "CSS or SVG fetching something"


def test_csp_allows_exactly_our_inline_style_and_script(page: str, dom: El) -> None:
    csp = next(m.attrs["content"] for m in dom.all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        (element,) = dom.all(tag)
        body = element.text()
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_summary_counts(dom: El, demo: AuditResult) -> None:
    cards = {c.attrs["data-count"]: squash(c.text()) for c in dom.iter() if "data-count" in c.attrs}
    assert cards["paths"] == "366 paths (61 roles)"
    assert cards["allowed"].startswith("324 ") and cards["blocked"].startswith("27 ")
    assert cards["partial"].startswith("0 ") and cards["unknown"].startswith("15 ")
    n = Counter(f.effective_severity for f in demo.findings)
    assert cards["error"] == f"{n['error']} error findings" and cards["warning"] == f"{n['warning']} warning findings"
    assert cards["info"] == f"{n['info']} info finding{'' if n['info'] == 1 else 's'}"


def matrix(dom: El) -> dict[tuple[str, str], list[str]]:
    """(network id, role label) -> verdict per column."""
    out: dict[tuple[str, str], list[str]] = {}
    table = dom.one("table", **{"class": "matrix"})
    for group in table.all("tbody"):
        for row in group.all("tr", **{"class": "role"}):
            cells = [td for td in row.all("td")]
            out[(group.attrs["data-network"], squash(cells[0].text()))] = [
                td.attrs.get("data-verdict", "-") for td in cells[1:]]
    return out


def test_matrix_network_role_protocol(dom: El) -> None:
    heads = [squash(th.text()) for th in dom.one("table", **{"class": "matrix"}).one("thead").all("th")]
    assert heads == ["Role", "IKEv2 corp-vpn", "L2TP/IPsec corp-vpn", "SSTP corp-vpn"]
    cells = matrix(dom)
    assert len(cells) == 61
    assert cells[(NET["Store 14"], "ssid Store-Guest [pre-auth]")] == ["blocked", "blocked", "blocked"]
    assert cells[(NET["Store 14"], "ssid Store-Guest")] == ["allowed", "allowed", "allowed"]
    assert cells[(NET["Store 14"], "ssid Store-Mobile")] == ["unknown", "unknown", "allowed"]
    assert cells[(NET["Store 22"], "group_policy Contractors on Store-Staff")] == ["blocked", "blocked", "allowed"]
    assert cells[(NET["Store 22"], "ipsk Northwind Facilities on Store-Devices")] == ["blocked", "blocked", "allowed"]
    assert cells[(NET["Store 22"], "ssid Store-Guest")] == ["unknown", "unknown", "unknown"]
    assert cells[(NET["Store 31"], "vlan Guest")] == ["blocked", "blocked", "allowed"]
    assert cells[(NET["Store 31"], "vlan Staff")] == ["allowed", "allowed", "allowed"]
    assert cells[(NET["HQ"], "ssid HQ-Guest")] == ["allowed", "allowed", "blocked"]
    flat = [v for row in cells.values() for v in row]
    assert flat.count("blocked") == 15 and flat.count("unknown") == 8  # 23 failing (role, protocol), as in markdown
    # a failing cell links to its path picture, and its tooltip names the rule
    row = next(r for r in dom.all("tr", **{"class": "role"}) if squash(r.all("td")[0].text()) == "ssid HQ-Guest")
    sstp = row.all("td")[3]
    assert sstp.one("a").attrs["href"].startswith("#path-")
    assert 'deny tcp -> 198.51.100.0/24:443 "Retired extranet portal"' in sstp.attrs["title"]


def pictures(dom: El) -> list[El]:
    return dom.all("figure", **{"class": "picture"})


def picture_for(dom: El, role: str, network: str) -> El:
    found = [p for p in pictures(dom) if p.attrs["data-network"] == NET[network]
             and role in squash(p.one("div", **{"class": "roles"}).text()).removeprefix("Roles: ").split(" · ")]
    assert len(found) == 1, [squash(p.text())[:80] for p in found]
    return found[0]


def nodes(figure: El) -> list[tuple[str, str, str, str]]:
    """(kind, state, mark, first line) of each node of the path picture, left to right."""
    out = []
    for g in figure.one("svg").all("g"):
        if "node" not in g.classes():
            continue
        lines = [squash(t.text()) for t in g.all("tspan")]
        out.append((g.attrs["data-kind"], g.attrs["data-state"], g.attrs.get("data-mark", ""), " ".join(lines)))
    return out


def test_one_picture_per_distinct_failing_path(dom: El) -> None:
    figures = pictures(dom)
    assert len(figures) == 11
    assert len({f.attrs["id"] for f in figures}) == 11
    verdicts = [f.attrs["data-verdict"] for f in figures]
    assert verdicts.count("blocked") == 8 and verdicts.count("unknown") == 3


def test_picture_marks_the_blocking_group_policy_rule(dom: El) -> None:
    figure = picture_for(dom, "group_policy Contractors on Store-Staff", "Store 22")
    drawn = nodes(figure)
    kinds = [n[0] for n in drawn]
    # SSID L3 + policy, SSID L7, MX L3, MX L7, the MX's uplink NAT; then the internet
    assert kinds[:7] == ["role", "hop", "hop", "hop", "hop", "hop", "internet"] and kinds[-1] == "server"
    assert set(kinds[7:-1]) <= {"hop", "lb"}  # perimeter and load balancer, when the snapshot places any
    assert drawn[0][3] == "group policy Contractors on Store-Staff"
    assert drawn[1][1:3] == ("deny", "blocks here")
    assert drawn[1][3] == "Store 22 / SSID 0 (Store-Staff) ssid-l3+group-policy"
    assert drawn[5][3] == "Store 22 / MX uplink-nat"
    assert [n[1] for n in drawn[2:6]] == ["unreached"] * 4 and {n[1] for n in drawn[7:]} == {"unreached"}
    box = next(g for g in figure.one("svg").all("g") if "callout" in g.classes())
    callout = " ".join(squash(t.text()) for t in box.all("tspan"))
    assert "rule 1: group policy 'Contractors' rule 1: deny udp -> any:500,4500" in callout
    assert "“block personal VPNs”" in callout
    rule = squash(figure.one("div", **{"class": "rule"}).text())
    assert rule.startswith("Deciding: Store 22 / SSID 0 (Store-Staff) (ssid-l3+group-policy), rule 1:")
    assert rule.endswith("in meraki/networks/L_6468200000000002/groupPolicies.json")  # no 0-based [1] beside "rule 1"
    caption = squash(figure.one("figcaption").text())
    assert "IKEv2, L2TP/IPsec" in caption and "udp/500, udp/4500" in caption


def test_picture_groups_roles_with_the_same_path(dom: El) -> None:
    figure = picture_for(dom, "ipsk Northwind Facilities on Store-Devices", "Store 22")
    roles = squash(figure.one("div", **{"class": "roles"}).text())
    assert roles == "Roles: ipsk Northwind Facilities on Store-Devices"


def test_picture_of_the_shadowing_mx_rule(dom: El) -> None:
    vlan = nodes(picture_for(dom, "vlan Guest", "Store 31"))
    assert [(n[0], n[1], n[2]) for n in vlan[:5]] == [("role", "role", ""), ("hop", "deny", "blocks here"),
                                                      ("hop", "unreached", ""), ("hop", "unreached", ""),
                                                      ("internet", "internet", "")]
    assert vlan[-1][:2] == ("server", "unreached")
    assert vlan[1][3] == "Store 31 / MX mx-l3"
    figure = picture_for(dom, "ssid Store-Guest", "Store 31")
    drawn = nodes(figure)
    assert [n[2] for n in drawn].index("blocks here") == 3  # after SSID L3 and L7, which let it through
    assert drawn[1][1] == drawn[2][1] == "permit"
    assert "deny udp VLAN(30).*:Any -> Any:4500" in squash(figure.text())
    preauth = nodes(picture_for(dom, "ssid Store-Guest [pre-auth]", "Store 31"))
    assert preauth[1][3].endswith("splash") and preauth[1][1] == "permit"  # VPN server is in the walled garden


def test_unknown_picture_says_why(dom: El) -> None:
    figure = picture_for(dom, "ssid Store-Mobile", "Store 14")
    marked = [n for n in nodes(figure) if n[2]]
    assert marked == [("hop", "unknown", "unknown here", "Store 14 / SSID 3 (Store-Mobile) ssid-l7")]
    assert "how it treats UDP is not documented" in squash(figure.one("p", **{"class": "why"}).text())
    gap = picture_for(dom, "ssid Store-Guest", "Store 22")
    assert "l3FirewallRules.json is not in the snapshot" in squash(gap.text())


def findings(dom: El) -> list[El]:
    return dom.all("article")


def test_findings_with_windows_errors_and_remediation(dom: El, demo: AuditResult) -> None:
    items = findings(dom)
    assert len(items) == len(demo.findings)
    severities = [f.attrs["data-severity"] for f in items]
    n = Counter(f.effective_severity for f in demo.findings)
    assert severities == ["error"] * n["error"] + ["warning"] * n["warning"] + ["info"] * n["info"]
    ids = [f.attrs["data-id"] for f in items]
    # one finding per cause: a rule that blocks IKEv2 and L2TP is one finding
    assert ids.count("VPN-BLOCKED") == 5 and ids.count("DATA-GAP") == 1 and ids.count("VPN-SHADOWED-RULE") == 1
    hq = next(f for f in items if f.attrs["data-network"] == NET["HQ"])
    text = squash(hq.text())
    assert "#7 error VPN-BLOCKED" in text and "SSTP blocked for HQ ssid 'HQ-Guest': tcp/443 at ssid-l3 rule 2" in text
    assert "809 The remote server is not responding — A rule on the path drops IKE (UDP 500)" in text
    remediation = squash(hq.one("dd", **{"class": "remediation"}).text())
    assert remediation.startswith("At HQ / SSID 1 (HQ-Guest) (ssid-l3), rule 2")
    ids_on_page = {e.attrs["id"] for e in dom.iter() if "id" in e.attrs}
    links = [a.attrs["href"][1:] for f in items for a in f.all("a")]
    assert links and all(link in ids_on_page for link in links)  # every "path picture" link lands
    gap = next(f for f in items if f.attrs["data-id"] == "DATA-GAP")
    assert gap.attrs["data-network"] == NET["Store 22"]
    assert '"file": "meraki/networks/L_6468200000000002/wireless/ssids/1/firewall/l3FirewallRules.json"' in gap.text()


def test_filters_cover_every_network(dom: El) -> None:
    options = [(o.attrs["value"], squash(o.text())) for o in dom.one("select").all("option")]
    assert options[0] == ("", "All networks (4)")
    assert sorted(options[1:]) == sorted((v, k) for k, v in NET.items())
    assert [o[1] for o in options[1:]] == ["HQ", "Store 14", "Store 22", "Store 31"]
    assert [i.attrs["value"] for i in dom.all("input", **{"class": "f-severity"})] == ["error", "warning", "info"]


def test_hostile_configuration_text_is_escaped(tmp_path: Path) -> None:
    page = render_format(run_audit(edit_snapshot(tmp_path, "hostile", hostile)), "html")
    assert "<img" not in page and "<svg onload" not in page and page.count("<script>") == 1
    assert "&lt;img src=x onerror=" in page and "&lt;/script&gt;&lt;script&gt;" in page
    dom = parse(page)
    assert not dom.all("img") and len(dom.all("script")) == 1
    labels = [squash(r.all("td")[0].text()) for r in dom.all("tr", **{"class": "role"})]
    assert f'ssid HQ-Guest<svg onload="{PWN}">' in labels


def test_fully_allowed_network_is_one_compact_row(tmp_path: Path) -> None:
    result = run_audit(edit_snapshot(tmp_path, "fixed", fixed_hq))
    dom = parse(render_format(result, "html"))
    group = dom.one("tbody", data_network=NET["HQ"])
    assert group.attrs["data-worst"] == "allowed"
    assert not group.all("tr", **{"class": "role"})
    compact = group.one("tr", **{"class": "compact"})
    text = squash(compact.text())
    roles = {p.role.key for p in result.paths if p.role.network_id == NET["HQ"]}
    assert text.startswith(f"✓ all {len(roles)} roles allowed")
    assert "ssid HQ-Guest" in text and "vlan Servers" in text and "group_policy Lab Devices on HQ-Corp" in text
    assert not [p for p in pictures(dom) if p.attrs["data-network"] == NET["HQ"]]


def test_roles_from_audit_yaml_sources_get_their_own_filter_entry(tmp_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - {name: corp-vpn, address: 198.51.100.10, protocols: [ikev2, sstp]}\n"
                      "sources:\n  - {name: branch-lan, prefixes: [192.168.10.0/24]}\n", encoding="utf-8")
    dom = parse(render_format(run_audit(DEMO, config), "html"))
    group = dom.one("tbody", data_network="_sources")
    assert "source branch-lan" in squash(group.text()) and group.attrs["data-worst"] == "allowed"
    assert ("_sources", "sources (audit.yaml)") in [(o.attrs["value"], squash(o.text())) for o in dom.all("option")]
    heads = [squash(th.text()) for th in dom.one("thead").all("th")]
    assert heads == ["Role", "IKEv2 corp-vpn", "SSTP corp-vpn"]


def test_cli_html(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    run = CliRunner().invoke(app, ["audit", str(DEMO), "--format", "html", "-o", str(out)])
    assert run.exit_code == 1, run.output
    assert len(pictures(parse(out.read_text(encoding="utf-8")))) == 11


# ---------------------------------------------------------------------------------------------------------
# server side: perimeter and load balancer in the picture (no vendor adapter needed)

class _FakeBalancer(Device):
    name = "f5/bigip1"
    tier = 2

    def __init__(self, hop: FilterHop) -> None:
        self.hop = hop

    def owns(self, server: VpnServer) -> bool:
        return True

    def hops(self, server: VpnServer) -> list:
        return [self.hop]


def _deny(position: int, proto: str, port: int, text: str, origin: Origin, source: str | None = None) -> Rule:
    server = [address_interval("198.51.100.10")]
    sources = [address_interval(source)] if source else [ANY_ADDR]
    return Rule(position, Action.DENY, PacketSet.flow(sources, server, PROTO_NUMBERS[proto], port), text, "", origin)


def test_picture_shows_internet_and_load_balancer() -> None:
    server = VpnServer("corp-vpn", "198.51.100.10", ["ikev2"])
    ssid_rules = RuleList("ssid", [_deny(1, "udp", 4500, "deny udp any -> any:4500", Origin("ssid.json", 0))],
                          Rule(2, Action.PERMIT, ALL, "default rule: allow any", synthetic=True))
    ssid = FilterHop("Lab / SSID 1 (Lab)", "ssid-l3", Origin("ssid.json"), ssid_rules)
    lb_rules = RuleList("lb", [_deny(1, "udp", 500, "no virtual service on f5/bigip1 for udp/500",
                                     Origin("f5/bigip1.conf", None, 12))],
                        Rule(2, Action.PERMIT, ALL, "virtual vs_ike", synthetic=True))
    balancer = _FakeBalancer(FilterHop("f5/bigip1", "load-balancer", Origin("f5/bigip1.conf"), lb_rules))
    role = Role("ssid", "Lab", "N_1", "Lab net", "Lab",
                variants=[Variant("VLAN 5", [address_interval("10.5.0.0/24")], [ssid])])
    model = Model(snapshot="lab", networks=[NetworkModel("N_1", "Lab net", None, roles=[role])], servers=[server],
                  devices={balancer.name: balancer})
    paths = [PathResult(role, server, "ikev2", trace_role(role, server, Flow.parse(f), [balancer.hop]))
             for f in ("udp/500", "udp/4500")]
    result = AuditResult("lab", "2025-01-01T00:00:00+00:00", model, paths, [], load_protocols())
    drawn, _anchors = build_pictures(result)
    assert len(drawn) == 2
    at_lb, at_ssid = drawn
    kinds = [(n.kind, n.state, n.mark) for n in at_lb.nodes]
    assert kinds == [("role", "role", ""), ("hop", "permit", ""), ("internet", "internet", ""),
                     ("lb", "deny", "blocks here"), ("server", "unreached", "")]
    assert at_lb.rule is not None and at_lb.rule.label == "line 12 of f5/bigip1.conf"
    assert at_lb.callout is not None and "no virtual service on f5/bigip1" in " ".join(at_lb.callout.lines)
    assert [(n.kind, n.state) for n in at_ssid.nodes][1:] == [("hop", "deny"), ("internet", "internet"),
                                                             ("lb", "unreached"), ("server", "unreached")]
    assert [e.cut for e in at_ssid.edges] == [False, True, True, True]
    dom = parse(render_format(result, "html"))
    assert len(pictures(dom)) == 2
    assert dom.all("g", data_kind="lb", data_state="deny", data_mark="blocks here")


def test_partial_picture_marks_the_hop_and_keeps_the_path_going() -> None:
    """Blocked for some sources only: the hop is marked, and the allowed part still reaches the server."""
    server = VpnServer("corp-vpn", "198.51.100.10", ["sstp"])
    rules = RuleList("mx", [_deny(4, "tcp", 443, "deny tcp 10.9.0.0/25 -> any:443", Origin("mx.json", 3),
                                  source="10.9.0.0/25")],
                     Rule(5, Action.PERMIT, ALL, "default rule: allow any", synthetic=True))
    mx = FilterHop("Branch / MX", "mx-l3", Origin("mx.json"), rules)
    role = Role("vlan", "Users", "N_9", "Branch", None,
                variants=[Variant("VLAN 9", [address_interval("10.9.0.0/24")], [mx])])
    model = Model(snapshot="b", networks=[NetworkModel("N_9", "Branch", None, roles=[role])], servers=[server])
    path = PathResult(role, server, "sstp", trace_role(role, server, Flow.parse("tcp/443"), []))
    assert path.verdict == "partial"
    result = AuditResult("b", "2025-01-01T00:00:00+00:00", model, [path], [], load_protocols())
    (picture,) = build_pictures(result)[0]
    assert [(n.kind, n.state, n.mark) for n in picture.nodes] == [
        ("role", "role", ""), ("hop", "partial", "partly blocks"), ("internet", "internet", ""),
        ("server", "server", "")]
    assert [e.cut for e in picture.edges] == [False, False, False]
    assert "10.9.0.0/25" in picture.why and picture.rule is not None and picture.rule.label == "rule 4"
    dom = parse(render_format(result, "html"))
    (figure,) = pictures(dom)
    assert figure.attrs["data-verdict"] == "partial"
    assert "◐ partial" in squash(figure.one("figcaption").text())


# ---------------------------------------------------------------------------------------------------------
# packaging: the templates ship in the wheel and render from an installed copy

@pytest.mark.slow
def test_templates_ship_in_the_wheel_and_render_from_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for package in ("auditor", "rules"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
                            str(src)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and re.search(r"(?i)no matching distribution|could not find a version|connection",
                                           build.stderr):
        pytest.skip(f"cannot fetch build requirements: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("report.html.j2", "_style.css.j2", "_script.js.j2"):
        assert f"auditor/report/templates/{template}" in names
    target = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(target)
    code = ("import auditor, sys, auditor.vendors; from auditor.audit import run_audit; "
            "from auditor.report import render_format; "
            "assert auditor.__file__.startswith(sys.argv[1]), auditor.__file__; "
            "print(render_format(run_audit(sys.argv[2]), 'html').count('<figure class=\"picture\"'))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", code, str(target), str(DEMO)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "11"


# ---------------------------------------------------------------------------------------------------------
# in a real browser

def chromium() -> str | None:
    return os.environ.get("VPN_AUDITOR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed "
                                    "(Debian: apt-get install -y chromium; or set VPN_AUDITOR_CHROMIUM)")


def run_chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    browser = chromium()
    assert browser is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def browser_dom(tmp_path: Path, html_file: Path, fragment: str = "") -> El:
    done = run_chromium(tmp_path, html_file.as_uri() + fragment, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert dom.one("body").attrs.get("data-ready") == "1", "the report's script did not run"
    return dom


def artifacts_dir(tmp_path: Path) -> Path:
    """Screenshots go to $VPN_AUDITOR_ARTIFACTS when set (CI keeps them), else the pytest tmp dir."""
    target = Path(os.environ.get("VPN_AUDITOR_ARTIFACTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="module")
def demo_file(page: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "retail-demo.html"
    path.write_text(page, encoding="utf-8")
    return path


def expected(demo: AuditResult, network: str | None, severity: str) -> list[str]:
    """Finding ids a filter should show: the network's, plus org-wide ones (no network), at that severity."""
    return sorted(f.check.id for f in demo.findings if f.effective_severity == severity
                  and (network is None or f.network is None or f.network["id"] == network))


@pytest.mark.slow
@needs_chromium
def test_browser_renders_everything_unfiltered(tmp_path: Path, demo_file: Path, demo: AuditResult) -> None:
    dom = browser_dom(tmp_path, demo_file)
    body = dom.one("body")
    assert body.attrs["data-filter-network"] == "all"
    assert body.attrs["data-filter-severity"] == "error,warning,info"
    total = len(demo.findings)
    assert body.attrs["data-visible-findings"] == str(total)
    assert squash(dom.one(id="f-status").text()) == f"Showing {total} of {total} findings, 11 of 11 path pictures"
    assert not [f for f in findings(dom) if f.hidden]
    cells = matrix(dom)
    assert cells[(NET["Store 22"], "group_policy Contractors on Store-Staff")] == ["blocked", "blocked", "allowed"]
    assert cells[(NET["HQ"], "ssid HQ-Guest")] == ["allowed", "allowed", "blocked"]


@pytest.mark.slow
@needs_chromium
def test_browser_applies_network_and_severity_filter_from_the_hash(tmp_path: Path, demo_file: Path,
                                                                   demo: AuditResult) -> None:
    dom = browser_dom(tmp_path, demo_file, "#network=HQ&severity=error")
    body = dom.one("body")
    assert body.attrs["data-filter-network"] == NET["HQ"] and body.attrs["data-filter-severity"] == "error"
    visible = [f for f in findings(dom) if not f.hidden]
    assert sorted(f.attrs["data-id"] for f in visible) == expected(demo, NET["HQ"], "error")
    assert {f.attrs["data-network"] for f in visible} <= {NET["HQ"], "*"}
    (hq,) = [f for f in visible if f.attrs["data-network"] == NET["HQ"]]
    assert hq.attrs["data-id"] == "VPN-BLOCKED" and "SSTP blocked for HQ ssid 'HQ-Guest'" in squash(hq.text())
    shown = [p for p in pictures(dom) if not p.hidden]
    assert len(shown) == 2 and {p.attrs["data-network"] for p in shown} == {NET["HQ"]}
    groups = {g.attrs["data-network"]: g.hidden for g in dom.one("table", **{"class": "matrix"}).all("tbody")}
    assert groups == {NET["Store 14"]: True, NET["Store 22"]: True, NET["Store 31"]: True, NET["HQ"]: False}
    assert squash(dom.one(id="f-status").text()) == (f"Showing {len(visible)} of {len(demo.findings)} findings, "
                                                     "2 of 11 path pictures")
    warnings = browser_dom(tmp_path, demo_file, "#network=L_6468200000000002&severity=warning")
    ids = sorted(f.attrs["data-id"] for f in findings(warnings) if not f.hidden)
    assert ids == expected(demo, NET["Store 22"], "warning")
    assert ids.count("DATA-GAP") == 1 and ids.count("VPN-UNKNOWN") == 2  # one per cause: pre- and post-auth


@pytest.mark.slow
@needs_chromium
def test_browser_only_problems_hides_allowed_rows(tmp_path: Path, demo_file: Path) -> None:
    dom = browser_dom(tmp_path, demo_file, "#problems=1")
    rows = dom.one("table", **{"class": "matrix"}).all("tr", **{"class": "role"})
    shown = [squash(r.all("td")[0].text()) for r in rows if not r.hidden]
    assert len(shown) == 11  # the (network, role) rows with a failing protocol
    assert "ssid Store-Mobile" in shown and "vlan Staff" not in shown


@pytest.mark.slow
@needs_chromium
def test_browser_hostile_text_does_not_execute(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(render_format(run_audit(edit_snapshot(tmp_path, "hostile", hostile)), "html"), encoding="utf-8")
    dom = browser_dom(tmp_path, page)
    assert "data-pwned" not in dom.one("body").attrs
    assert not dom.all("img")
    assert HOSTILE_COMMENT in squash(dom.text())  # shown as text, verbatim


@pytest.mark.slow
@needs_chromium
def test_browser_screenshot_artifact(tmp_path: Path, demo_file: Path) -> None:
    shot = artifacts_dir(tmp_path) / "report-retail-demo.png"
    shot.unlink(missing_ok=True)
    done = run_chromium(tmp_path, demo_file.as_uri() + "#problems=1", f"--screenshot={shot}",
                        "--window-size=1400,2200", "--hide-scrollbars")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 2200)
    assert len(data) > 60_000  # a blank or error page compresses to a few kB
