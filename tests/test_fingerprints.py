"""collect/fingerprints.py: the scrub through fingerprints is the writer's prefix-tree regex in clear.

An incremental run scrubs the secrets it carries over by fingerprint and those it read in clear in one pass
(`Scrubber`); a full pull scrubs all of them in clear with one regex (writer.py). The incremental snapshot is
byte-identical to the full pull only if both replace the same spans: the longest secret at the leftmost place.
Small alphabets make secrets overlap, nest and repeat.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor.collect import fingerprints
from auditor.collect.writer import REDACTED, SnapshotWriter, _trie_pattern

KEY = fingerprints.derive_key("f00dfeedc0ffee0123456789abcdef0123456789")
secret = st.text(alphabet="ab\"é", min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(secrets=st.lists(st.tuples(secret, st.booleans()), min_size=1, max_size=6),
       text=st.text(alphabet="ab\"éx", max_size=30))
@example(secrets=[("ab", True), ("abab", False)], text="xababab")
@example(secrets=[("ba", False), ("ab", True)], text="aba")
def test_the_scrubber_replaces_what_the_regex_over_all_secrets_replaces(
        secrets: list[tuple[str, bool]], text: str) -> None:
    plain = [value for value, known in secrets if known]
    hidden = [value for value, known in secrets if not known]
    regex = _trie_pattern({value for value, _ in secrets})
    assert regex is not None
    by_length = fingerprints.parse([fingerprints.fingerprint(KEY, value) for value in hidden])
    assert by_length is not None
    scrubber = fingerprints.Scrubber(KEY, plain, by_length, REDACTED)
    assert scrubber.sub(text) == regex.sub(REDACTED, text)


def test_a_fingerprint_under_another_key_matches_nothing() -> None:
    other = fingerprints.derive_key("another key")
    by_length = fingerprints.parse([fingerprints.fingerprint(other, "guest-wifi-2026")])
    assert by_length is not None
    assert fingerprints.Scrubber(KEY, (), by_length, REDACTED).sub("pw guest-wifi-2026") == "pw guest-wifi-2026"
    assert fingerprints.key_check(KEY) != fingerprints.key_check(other)


@pytest.mark.parametrize("value", [None, "1:ab", ["0:" + "0" * 32], ["8:" + "0" * 31], ["8:" + "G" * 32], [8]])
def test_malformed_fingerprints_are_refused(value: object) -> None:
    assert fingerprints.parse(value) is None


def test_a_writer_without_a_key_refuses_carried_fingerprints(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, "meraki") as writer, pytest.raises(ValueError):
        writer.carry_json("meraki/x.json", {"psk": REDACTED}, [fingerprints.fingerprint(KEY, "guest-wifi")])


def test_a_carried_secret_is_scrubbed_from_fetched_files_only(tmp_path: Path) -> None:
    """The file carried over is not searched (the run that wrote it scrubbed it); a fetched one is, and the
    manifest records each call's fingerprints so the next run can carry them again."""
    psk = "guest-wifi-2026"
    with SnapshotWriter(tmp_path, "meraki", fingerprint_key=KEY) as writer:
        prints = [fingerprints.fingerprint(KEY, psk)]
        writer.carry_json("meraki/ssids.json", [{"psk": REDACTED, "name": "x"}], prints)
        writer.record_call("ssids", "ok", file="meraki/ssids.json", written=True)
        writer.write_json("meraki/networks.json", [{"notes": f"key: {psk}", "name": psk + "x"}])
        writer.record_call("networks", "ok", file="meraki/networks.json", written=True)
        writer.record_call("broken", "failed", status=500, error=f"echo {psk}")
    assert psk not in (tmp_path / "meraki/networks.json").read_text()
    assert '"key: <redacted>"' in (tmp_path / "meraki/networks.json").read_text()

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    by_path = {c["path"]: c for c in manifest["calls"]}
    assert by_path["ssids"]["secret_fingerprints"] == prints
    assert "secret_fingerprints" not in by_path["networks"]
    assert by_path["broken"]["error"] == "echo <redacted>"
    assert manifest["runs"][0]["secret_fingerprint_check"] == fingerprints.key_check(KEY)
