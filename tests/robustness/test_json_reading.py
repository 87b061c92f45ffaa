"""Snapshot JSON is read by orjson where it reads exactly as the standard parser, and by the standard parser
everywhere else: both must give the same value, and malformed files the same error (file, line, column)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.snapshot import Snapshot, SnapshotError

# Integers near and past the 64-bit limits (orjson reads those past it as floats), with 18 to 40 digits.
BIG_INTS = st.one_of(
    st.integers(min_value=-(2**64) - 5, max_value=-(2**63) + 5),
    st.integers(min_value=2**63 - 5, max_value=2**64 + 5),
    st.integers(min_value=10**17, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-(10**17)),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), BIG_INTS,
                    st.floats(allow_nan=False, allow_infinity=False), st.text())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(), inner, max_size=5)),
                      max_leaves=30)


def _same(a: object, b: object) -> bool:
    """Equal, and of the same types throughout (1 == 1.0 would hide an int read as a float)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    return a == b


def _read(tmp_path: Path, data: bytes) -> object:
    (tmp_path / "f.json").write_bytes(data)
    return Snapshot(tmp_path).read_json("f.json")


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(value=VALUES, indent=st.sampled_from([None, 1]))
def test_values_read_as_the_standard_parser_reads_them(tmp_path_factory: pytest.TempPathFactory, value: object,
                                                       indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    read = _read(tmp_path_factory.mktemp("j"), text.encode())
    assert _same(read, json.loads(text))


@pytest.mark.parametrize("text", [
    "18446744073709551616",                 # 2**64: a float in orjson
    "-9223372036854775809",                 # below the int64 minimum
    '{"id": 123456789012345678901234567890}',
    "[9223372036854775808, 18446744073709551615]",
    '{"a": NaN, "b": Infinity, "c": -Infinity}',  # the standard parser's extension, refused by orjson
    "[1e400, -1e400]",                      # beyond a double: inf, as the standard parser reads it
    '{"a": 1, "b": 2, "a": 3}',             # a repeated key: the last value, in the first key's place
    '"\\ud800"',                            # a lone surrogate escape
    "[0.1234567890123456789012]",           # many digits after the point
    '{"name": "L_646830000000000000000"}',  # 19 digits inside a string
    '{"id": "N_12345678901234567890123", "n": -12345678901234567890123}',  # a long id, then a long number
    '{"at": "12:1234567890123456789012"}',  # digits after a colon inside a string: read by the standard parser
    "[0.5e12345678901234567890, 1.12345678901234567890123]",  # an exponent's and a fraction's long runs
    " \r\n[1]\r",
])
def test_edge_cases_read_as_the_standard_parser_reads_them(tmp_path: Path, text: str) -> None:
    assert _same(_read(tmp_path, text.encode()), json.loads(text))


@pytest.mark.parametrize(("data", "line"), [
    (b'{\n  "a": 1,\n  "b": [1, 2,]\n}\n', 3),
    (b'{\r  "a": 1,\r  "b": }\r', 3),          # old Mac line ends still count as lines
    (b'[\r\n1,\r\n2\r\n', 4),                     # cut off
    (b'\xef\xbb\xbf{"a": 1}', 1),                # a byte-order mark
])
def test_malformed_json_names_the_line(tmp_path: Path, data: bytes, line: int) -> None:
    with pytest.raises(SnapshotError) as caught:
        _read(tmp_path, data)
    assert caught.value.path == "f.json"
    assert caught.value.line == line
    assert "malformed JSON" in caught.value.message


def test_deep_nesting_and_bad_utf8_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"nested too deeply|malformed JSON"):
        _read(tmp_path, b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(SnapshotError, match=r"not UTF-8 text \(byte 7\)"):
        _read(tmp_path, b'{"a": "\xff"}')
