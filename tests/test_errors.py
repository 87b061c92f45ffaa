"""One exception tree (auditor/errors.py) and one map from its kinds to exit codes (auditor/cli_exits.py,
docs/exit-codes.md): checked on every exception class the tool defines, found by reading the source, so a new
class outside the tree, or two classes of one name, fail here."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.cli_exits import EXIT_USAGE, exit_code_for
from auditor.errors import (
    AuditorError,
    BadInput,
    CollectUsageError,
    InputError,
    JobFailed,
    OutputError,
    Refused,
    RegistryError,
    SelectionError,
    SnapshotError,
    Unreadable,
)

ROOT = Path(__file__).resolve().parents[1]


def exception_classes() -> list[type[BaseException]]:
    """Every class defined at module level in auditor/ and rules/ that is an exception."""
    found: list[type[BaseException]] = []
    for path in sorted([*ROOT.joinpath("auditor").rglob("*.py"), *ROOT.joinpath("rules").rglob("*.py")]):
        names = [node.name for node in ast.parse(path.read_text(encoding="utf-8")).body
                 if isinstance(node, ast.ClassDef)]
        if not names:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(
            ".__init__"))
        found += [cls for name in names if isinstance(cls := getattr(module, name), type)
                  and issubclass(cls, BaseException) and cls.__module__ == module.__name__]
    return found


def test_every_exception_the_tool_defines_is_in_the_tree_once_by_name() -> None:
    classes = exception_classes()
    assert len(classes) > 20  # the reader found them (snapshot, collectors, vendors, fleet)
    assert [c.__qualname__ for c in classes if not issubclass(c, AuditorError)] == []
    names = [c.__name__ for c in classes]
    assert sorted({n for n in names if names.count(n) > 1}) == []
    assert [n for n in names if hasattr(builtins, n)] == []  # e.g. WindowsError, a builtin on Windows


def test_each_kind_exits_as_docs_exit_codes_says() -> None:
    for usage in (SnapshotError("audit.yaml", "bad", 3), InputError("--role: no role"), SelectionError("--flow"),
                  CollectUsageError("no key"), OutputError("-o x: not writable"), BadInput("x")):
        assert exit_code_for(usage) == EXIT_USAGE, usage
    # Caught where they happen (a failed call, an unknown rule, a failed org) or a bug: never an exit code.
    for other in (Refused("GET only"), Unreadable("token"), JobFailed("worker"), RegistryError("two vendors"),
                  ValueError("a bug"), KeyError("a bug")):
        assert exit_code_for(other) is None, other


def test_kinds_keep_the_builtin_classes_older_code_catches() -> None:
    from auditor.collect.writer import ManifestNotWritten, UnsafePathError
    from auditor.vendors.cisco.common import Unparsed

    assert issubclass(SelectionError, LookupError) and issubclass(CollectUsageError, ValueError)
    assert issubclass(ManifestNotWritten, OSError) and issubclass(UnsafePathError, ValueError)
    assert issubclass(Unparsed, ValueError)


@pytest.mark.parametrize(("args", "line"), [
    (["audit", "/nonexistent-snapshot"], "error: /nonexistent-snapshot: snapshot directory not found"),
    (["collect", "cisco", "--out", "/nonexistent-out"],
     "vpn-auditor collect: give --host, --device-type and --username (or --inventory)"),
])
def test_the_cli_says_a_mapped_error_in_one_line_with_its_speaker(args: list[str], line: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_USAGE
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert result.output.strip().splitlines() == [line]
