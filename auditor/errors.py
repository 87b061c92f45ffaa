"""The tool's own exceptions: one tree, so the CLI maps each kind to an exit code in one place (the codes
are docs/exit-codes.md).

    AuditorError
    ├── BadInput              exit 2: unusable input or usage; the message names the file, option or field
    │   ├── SnapshotError       a snapshot or configuration file (and its line)
    │   │   └── InputError      an option value or a name that matches nothing (it names itself)
    │   ├── SelectionError      an option selects nothing (--flow, --phase, a Windows error code); a LookupError
    │   └── CollectUsageError   a collector cannot start as asked (credentials, --base-url, --source-address)
    ├── OutputError           exit 2: where the results go cannot be written
    ├── Refused               a collector's guard stopped a request or an answer; recorded as a failed call
    ├── Unreadable            a parser cannot read a value; the adapter makes the rule unknown, never allowed
    ├── JobFailed             a unit of work failed; its runner records why and goes on
    └── RegistryError         the build itself is broken: a bug, never mapped to an exit code

Leaves that belong to one module or vendor live there and subclass a kind here. Most also keep the
built-in class they had (ValueError, RuntimeError, OSError, LookupError), so every `except` written for it
still catches them.
"""

from __future__ import annotations

from typing import ClassVar


class AuditorError(Exception):
    """Base of every error this tool raises on purpose (not a bug)."""

    # Who says the one line on stderr: the main commands' "error", or a collector's own voice.
    speaker: ClassVar[str] = "error"


class BadInput(AuditorError):
    """Unusable input or usage (exit 2): the message says which file, option or field, and what is wrong."""


class SnapshotError(BadInput):
    """Unusable input: names the file and, where it applies, the line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class InputError(SnapshotError):
    """Unusable input that is not one file's content (a bad option value, a name that matches nothing): the
    message says itself which option or file it is about."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


class SelectionError(BadInput, LookupError):
    """An option selects nothing (a flow, phase, server, network or role of a trace; a Windows error code);
    the message names the option and the values it could take."""


class CollectUsageError(BadInput, ValueError):
    """A collector cannot start as asked (no credentials, a bad --base-url or --source-address): exit 2
    before any request; the message says what to change."""

    speaker = "vpn-auditor collect"


class OutputError(AuditorError):
    """Where the results go cannot be written (exit 2): the message names the file or folder."""


class Refused(AuditorError):
    """A collector's guard stopped something before it happened (a write request, a command outside the
    allowlist, an answer past a bound, an unknown host key): the call is recorded as failed, nothing kept."""


class Unreadable(AuditorError):
    """A configuration value or line a parser cannot read; the adapter turns it into an unknown rule with
    this message as the reason."""


class JobFailed(AuditorError):
    """A unit of work (a forked audit worker, a fleet org) failed; its runner records why."""


class RegistryError(AuditorError):
    """The vendors of this build are not installed, or two of them claim the same snapshot folder."""


__all__ = ["AuditorError", "BadInput", "CollectUsageError", "InputError", "JobFailed", "OutputError", "Refused",
           "RegistryError", "SelectionError", "SnapshotError", "Unreadable"]
