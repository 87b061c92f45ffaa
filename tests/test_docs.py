"""The documentation ships with the project: README links every page, every link resolves inside the
repository, nothing refers to notes outside it, and the examples in the references load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.vendors.meraki.check_ssid import load_proposal

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / target).resolve() for target in LINK.findall(readme) if not target.startswith(("http", "#"))}
    assert [p.relative_to(ROOT) for p in DOCS if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        resolved = (page.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{page.relative_to(ROOT)}: {target}"


def test_nothing_refers_to_notes_outside_the_repository() -> None:
    pattern = re.compile(r"DESIGN|CONTRACT|shared/research")
    found = []
    for top in ("README.md", "docs", "auditor", "rules", "fixtures"):
        base = ROOT / top
        for path in [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            found += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                      if pattern.search(line)]
    assert found == []


def _block(page: str, heading: str, lang: str) -> str:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    return section.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_audit_yaml_reference_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(_block("audit-yaml.md", "## A complete example", "yaml"), encoding="utf-8")
    config = load_config(path)
    assert [s.name for s in config.vpn_servers] == ["corp-vpn", "backup-vpn"]
    assert config.sources[0].enters == "cisco/br-edge-01:GigabitEthernet0/1"


def test_proposed_ssid_examples_load(tmp_path: Path) -> None:
    yaml_path, json_path = tmp_path / "p.yaml", tmp_path / "p.json"
    yaml_path.write_text(_block("proposed-ssid.md", "## A complete example", "yaml"), encoding="utf-8")
    json_path.write_text(_block("proposed-ssid.md", "### `groupPolicies`", "json"), encoding="utf-8")
    assert load_proposal(yaml_path).ssid.name == "Store-Visitors"
    assert load_proposal(json_path).ssid.groupPolicies[0].name == "Vendors"
