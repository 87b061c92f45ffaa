"""Exit codes (docs/exit-codes.md, a contract) and the one place that maps the tool's errors to them.

Commands raise the error kinds of auditor/errors.py and never print-and-exit on an error; the command group
(`ExitCodes`, and the main CLI's group built on it) prints the error as one plain line on stderr, which CI
logs and scripts grep, and exits with its kind's code. An exception of no mapped kind is a bug: it keeps
its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from auditor.errors import AuditorError, BadInput, OutputError
from auditor.gate import EXIT_FINDINGS, EXIT_OK, EXIT_UNKNOWN
from auditor.untrusted import clean

# A result's codes are gate.py's (what an audit earns); usage is the command line's.
EXIT_USAGE = 2
EXIT_INCOMPLETE = EXIT_UNKNOWN  # collect: some calls failed; the snapshot is written all the same

# Each kind of error the tool raises on purpose, and the code it exits with (the first kind that matches).
_EXIT_CODES: tuple[tuple[type[AuditorError], int], ...] = (
    (BadInput, EXIT_USAGE),  # unusable input or usage: the line names the file, option or field
    (OutputError, EXIT_USAGE),  # the report, snapshot or manifest cannot be written
)


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an error of a mapped kind; None for anything else (a bug)."""
    return next((code for kind, code in _EXIT_CODES if isinstance(exc, kind)), None)


def error_line(exc: AuditorError) -> str:
    """The error as one line: its speaker, then its message with control characters shown, not obeyed (a
    message may quote the snapshot or a server)."""
    return f"{exc.speaker}: {clean(exc)}"


def exit_on(exc: AuditorError) -> NoReturn:
    """Print a mapped error's line and exit with its code; re-raise an unmapped one with its traceback."""
    code = exit_code_for(exc)
    if code is None:
        raise exc
    typer.echo(error_line(exc), err=True)
    sys.exit(code)


@contextmanager
def writing(output: Path | None) -> Iterator[None]:
    """Writing a report or listing: a failure is an OutputError naming the file (-o)."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"-o {output}: cannot write: {exc.strerror or exc}") from None


class ExitCodes(TyperGroup):
    """A command group whose commands' errors exit by kind, each as one line (`exit_on`)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except AuditorError as exc:
            if not kwargs.get("standalone_mode", True):
                raise
            exit_on(exc)


__all__ = ["EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_USAGE", "ExitCodes", "error_line",
           "exit_code_for", "exit_on", "writing"]
