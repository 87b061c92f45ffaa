"""The layout's promises, checked on the source (issue 23): the core imports no vendor, no module imports
itself back through others, nothing is looked up by a "module:name" string, and only the packet engine reads a
packet set's boxes.

The import graph is read with `ast` from every module of auditor/ and rules/: imports at module level and inside
functions alike (both run), and those under `if TYPE_CHECKING:` kept apart (they never run, so they cannot close
a circle at run time, but a core module that names a vendor's type still knows the vendor).
Each detector is also run on a small planted tree, so a detector that stopped finding anything fails here too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("auditor", "rules")
VENDORS = "auditor.vendors"
# The wiring: the CLI modules, and the `fleet` command's package (it runs the Meraki collector on Dask workers,
# as `collect meraki` does in cli_collect.py). They may import vendors; nothing else outside auditor/vendors/ may.
WIRING = ("auditor.cli", "auditor.cli_collect", "auditor.cli_fleet", "auditor.fleet")
# The check catalogue is the one place that imports by name: every module of rules/checks, found on disk.
CATALOGUE_LOADER = "auditor.checks"
REGISTRY_STRING = re.compile(r"^(auditor|rules)(\.\w+)+:\w+$")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a name imported from a package is that submodule when it is one)
    line: int
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the packages under `root`."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(root: Path) -> list[Import]:
    """Every import between the modules under `root`."""
    known = modules(root)
    out: list[Import] = []

    def resolve(name: str) -> str | None:
        while name not in known and "." in name:
            name = name.rpartition(".")[0]
        return name if name in known else None

    for source, path in known.items():
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]

        def visit(node: ast.AST, in_function: bool, type_only: bool, source: str = source,
                  package: str = package) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _type_checking(child):
                    for stmt in child.body:
                        visit_one(stmt, in_function, True, source, package)
                    for stmt in child.orelse:
                        visit_one(stmt, in_function, type_only, source, package)
                else:
                    visit_one(child, in_function, type_only, source, package)

        def visit_one(node: ast.AST, in_function: bool, type_only: bool, source: str, package: str) -> None:
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, one level up per extra dot
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*parts, base] if base else parts)
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for name in names:
                target = resolve(name)
                if target is not None and target != source:
                    out.append(Import(source, target, getattr(node, "lineno", 0), in_function, type_only))
            inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(node, inner, type_only)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False, False)
    return out


def _wiring(module: str) -> bool:
    return any(module == w or module.startswith(f"{w}.") or module.startswith(f"{w}_") for w in WIRING)


def vendor_imports(root: Path, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Imports of a vendor module from outside auditor/vendors/ and the wiring (TYPE_CHECKING ones included)."""
    return sorted({f"{i.source}:{i.line} imports {i.target}" for i in imports(root)
                   if (i.target == VENDORS or i.target.startswith(f"{VENDORS}."))
                   and not i.source.startswith(VENDORS) and not _wiring(i.source) and i.source not in allowed})


def import_cycles(root: Path) -> list[list[str]]:
    """Circles of imports that run (module level or in a function), each with the line of every step."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    for i in imports(root):
        if not i.type_only:
            graph.add_edge(i.source, i.target, line=i.line)
    out = []
    for cycle in nx.simple_cycles(graph):
        first = cycle.index(min(cycle))  # each circle from its first module by name: a stable report
        cycle = cycle[first:] + cycle[:first]
        out.append([f"{a}:{graph.edges[a, b]['line']}" for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True)])
    return sorted(out)


def type_only_cycles(root: Path) -> list[list[str]]:
    """Circles that close only through `if TYPE_CHECKING:` imports: harmless at run time, listed for the record."""
    graph: nx.DiGraph[str] = nx.DiGraph([(i.source, i.target) for i in imports(root)])
    return sorted(sorted(c) for c in nx.simple_cycles(graph)) if graph else []


def string_registries(root: Path) -> list[str]:
    """Lookups by name: importlib.import_module / __import__ outside the check catalogue's loader, and
    "package.module:name" strings anywhere."""
    found: list[str] = []
    for module, path in modules(root).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if called in ("import_module", "__import__") and module != CATALOGUE_LOADER:
                    found.append(f"{module}:{node.lineno} calls {called}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and REGISTRY_STRING.match(node.value):
                found.append(f"{module}:{node.lineno} names {node.value!r}")
    return found


# A packet set's representation, which only the engine reads: its speed tricks live behind methods there.
ENGINE = "auditor.packets"
REPRESENTATION = frozenset({"boxes", "_by_source"})


def representation_reads(root: Path) -> list[str]:
    """Reads of a PacketSet's boxes (`.boxes`, `._by_source`) outside auditor/packets.py."""
    found: list[str] = []
    for module, path in modules(root).items():
        if module == ENGINE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in REPRESENTATION:
                found.append(f"{module}:{node.lineno} reads .{node.attr}")
    return sorted(found)


# --- the shipped code ------------------------------------------------------------------------------------------
def test_the_core_imports_no_vendor() -> None:
    assert vendor_imports(ROOT) == []


def test_no_module_imports_itself_back() -> None:
    assert import_cycles(ROOT) == []


def test_nothing_is_registered_by_name() -> None:
    assert string_registries(ROOT) == []


def test_only_the_engine_reads_a_packet_sets_boxes() -> None:
    assert representation_reads(ROOT) == []


def test_the_vendors_are_wired_in_by_the_cli_only() -> None:
    """What installs the vendors is the wiring: a core module that installed them would make the core depend on
    them after all (tests/conftest.py installs them for the tests, as the CLI does)."""
    installers = {i.source for i in imports(ROOT) if i.target == VENDORS and not i.source.startswith(VENDORS)}
    assert installers and all(_wiring(m) for m in installers), installers


# --- the detectors, on a planted tree --------------------------------------------------------------------------
def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PLANTED = {
    "auditor/__init__.py": "",
    "auditor/checks.py": "import importlib\n\ndef load():\n    return importlib.import_module('rules.checks.x')\n",
    "auditor/a.py": "from auditor import b\n",
    "auditor/b.py": "def late():\n    from auditor.a import thing\n",  # a circle through a function
    "auditor/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from auditor.d import D\n",
    "auditor/d.py": "from auditor.c import C\n",  # a circle that only type checking closes
    "auditor/core.py": "def f():\n    from auditor.vendors.acme.adapter import AcmeDevice\n",
    "auditor/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from auditor.vendors.acme import x\n",
    "auditor/cli.py": "import auditor.vendors\nfrom auditor.vendors.acme import adapter\n",
    "auditor/registry.py": "import importlib\nTABLE = {'x': 'auditor.report.json:render'}\n"
                           "def get():\n    return importlib.import_module('auditor.a')\n",
    "auditor/vendors/__init__.py": "from auditor.vendors import acme\n",
    "auditor/vendors/acme/__init__.py": "from auditor.vendors.acme.adapter import AcmeDevice\n",
    "auditor/vendors/acme/adapter.py": "from auditor.a import thing\nclass AcmeDevice: ...\n",
    "auditor/vendors/acme/x.py": "",
    "rules/__init__.py": "",
    "rules/checks/__init__.py": "",
    "rules/checks/acme_check.py": "from auditor.vendors.acme.adapter import AcmeDevice\n",
    "auditor/packets.py": "class PacketSet:\n    def empty(self):\n        return not self.boxes\n",
    "auditor/reader.py": "def empty(packets):\n    return not packets.boxes\n",
}


def test_the_detectors_find_what_was_planted(tmp_path: Path) -> None:
    root = _plant(tmp_path, PLANTED)
    assert vendor_imports(root) == [
        "auditor.core:2 imports auditor.vendors.acme.adapter",
        "auditor.typed:3 imports auditor.vendors.acme.x",
        "rules.checks.acme_check:1 imports auditor.vendors.acme.adapter"]
    assert vendor_imports(root, frozenset({"rules.checks.acme_check"})) == vendor_imports(root)[:2]
    assert import_cycles(root) == [["auditor.a:1", "auditor.b:2"]]
    assert ["auditor.c", "auditor.d"] in type_only_cycles(root)
    assert string_registries(root) == ["auditor.registry:2 names 'auditor.report.json:render'",
                                       "auditor.registry:4 calls import_module"]
    assert representation_reads(root) == ["auditor.reader:2 reads .boxes"]
