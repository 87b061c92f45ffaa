"""The tool's own exceptions: one tree, so the CLI maps each kind to an exit code in one place."""

from __future__ import annotations


class AuditorError(Exception):
    """Base of every error this tool raises on purpose (not a bug)."""


class RegistryError(AuditorError):
    """The vendors of this build are not installed, or two of them claim the same snapshot folder."""
