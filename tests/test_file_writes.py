"""Large outputs are written in pieces of at most 256 KiB per system call (auditor/file_writes.py), byte for byte
what one call writes. The calls are counted by the kernel (/proc/self/io's `syscw`, Linux)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from auditor import file_writes

PIECE = 1 << 18  # 256 KiB, as the module says (not read from it: a slip there must fail here)

PROC_IO = Path("/proc/self/io")
needs_proc_io = pytest.mark.skipif(not PROC_IO.is_file(), reason="no /proc/self/io on this platform: the kernel's "
                                   "count of write calls is not available")
# 3 MiB and a bit, with text beyond ASCII (two and three bytes a character) across the pieces' edges
TEXT = ("path ok, r\u00e8gle \u2713 udp/4500\n" * 120_000)[:3 * (1 << 20) + 1234]


def _write_calls() -> int:
    for line in PROC_IO.read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/self/io")


@needs_proc_io
def test_a_large_text_output_is_the_plain_write_in_pieces(tmp_path: Path) -> None:
    plain, pieces = tmp_path / "plain.txt", tmp_path / "pieces.txt"
    plain.write_text(TEXT, encoding="utf-8")
    size = plain.stat().st_size
    before = _write_calls()
    with file_writes.open_text(pieces) as handle:
        handle.write(TEXT)
    calls = _write_calls() - before
    assert pieces.read_bytes() == plain.read_bytes()
    assert calls >= -(-size // PIECE)  # none larger than a piece
    before = _write_calls()
    file_writes.write_text_file(pieces, TEXT[:1000])
    assert pieces.read_text(encoding="utf-8") == TEXT[:1000] and _write_calls() - before == 1


@needs_proc_io
def test_bytes_to_a_descriptor_are_written_whole_in_pieces(tmp_path: Path) -> None:
    data = TEXT.encode()
    target = tmp_path / "out.bin"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT)
    try:
        before = _write_calls()
        file_writes.write_fd(fd, memoryview(data)[5:])
        calls = _write_calls() - before
    finally:
        os.close(fd)
    assert target.read_bytes() == data[5:]
    assert calls >= -(-(len(data) - 5) // PIECE)


def test_text_to_any_text_file_is_written_whole() -> None:
    sink = io.StringIO()
    file_writes.write_text(sink, TEXT)
    file_writes.write_text(sink, "")
    assert sink.getvalue() == TEXT
