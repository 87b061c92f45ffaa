"""Text from configuration or from a remote server, made safe to print on a terminal.

A rule comment, a network name or an error body is data, never terminal control: an escape sequence in it
(ESC[2J clears the screen, ESC[8m hides what follows, OSC 0 retitles the window), a carriage return that
overwrites a printed verdict, or a bidirectional override that reorders it, is shown as a visible escape
(`\\x1b`, `\\r`, `\\u202e`) instead. Rich markup in it (`[/]`, `[bold red]`) is escaped where the line is
markup. Leaf module: the collectors and every report use it.
"""

from __future__ import annotations

import re

from rich.markup import escape as _escape_markup

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text (bidi embeddings,
# overrides and isolates, marks, zero-width joiners are harmless and kept).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object) -> str:
    """One value as one printable line: every control character (newlines too) as a visible escape."""
    return _CONTROLS.sub(_visible, str(value))


def clean_lines(text: str) -> str:
    """Text of our own making that embeds values: control characters escaped, line breaks and tabs kept."""
    return _LINE_CONTROLS.sub(_visible, text)


def markup(value: object) -> str:
    """A value to embed in a line of rich markup: controls escaped, then markup escaped."""
    return _escape_markup(clean(value))


__all__ = ["clean", "clean_lines", "markup"]
