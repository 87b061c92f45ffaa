"""Large outputs (reports of 1.6 GB, the report memo's copies, the cache's texts) written in pieces of at most
256 KiB per system call.

Measured on this project's reference machine (a 2-CPU Linux VM, ext4): a 1.6 GB file written with calls of
512 KiB or more took 3 to 12 s, the same bytes in calls of 256 KiB 0.4 s; the kernel itself copies it in 0.9 s
(`copy_file_range`). Elsewhere pieces of that size cost nothing measurable: 6,400 calls for 1.6 GB.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any, TextIO

PIECE = 1 << 18


def write_fd(fd: int, data: bytes | bytearray | memoryview) -> None:
    """All of `data` to the file descriptor `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:PIECE]):]


def write_text(handle: IO[str], text: str) -> None:
    """All of `text` to a text file, in pieces of at most PIECE characters (a piece beyond ASCII is a few
    writes of the file's own)."""
    for start in range(0, len(text), PIECE):
        handle.write(text[start:start + PIECE])


class PiecewiseFile(io.FileIO):
    """A file whose every write is at most PIECE bytes: a BufferedWriter over it writes the rest in further
    calls, so a text file over it writes a large string in pieces whoever calls `write`."""

    def write(self, data: Any) -> int:
        return super().write(memoryview(data)[:PIECE])


def open_text(path: Path) -> TextIO:
    """`path` opened as `path.open("w", encoding="utf-8")` opens it, its writes in pieces."""
    raw = PiecewiseFile(path, "w")
    try:
        return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    except BaseException:
        raw.close()
        raise


def write_text_file(path: Path, text: str) -> None:
    """`path` holding `text`, as `path.write_text(text, encoding="utf-8")` writes it, in pieces."""
    with open_text(path) as handle:
        handle.write(text)
