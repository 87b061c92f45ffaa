"""Keyed fingerprints of secrets, so an incremental run can scrub a secret it carries over without reading it.

A snapshot holds no secret's value (writer.py). An incremental run (`collect meraki --since OLD`) carries an SSID
list over with its PSK redacted, so it never learns the PSK, yet a file it fetches (another network's notes, a
rule's comment) may quote it, and a full pull would scrub it there. Each call whose body had a secret therefore
records, in the manifest, one fingerprint per spelling of each secret (`secret_forms`): its length in characters
and a 128-bit keyed BLAKE2b of it. The key is derived from the credential that can read the secrets anyway (the
Dashboard API key), so:

- whoever holds the snapshot without that key cannot test a guess of a PSK offline (a keyed BLAKE2b is a
  pseudo-random function; an unkeyed hash would allow exactly that), but sees each spelling's length: the
  secret's length, and whether and how much JSON, URL or HTML escaping changes it. That is why it is opt-in
  (`--secret-fingerprints`);
- whoever holds the key can test guesses, and can read every PSK from the Dashboard with it in any case;
- a run with another key (rotated, another administrator's) cannot use them: OLD's key check differs
  (`key_check`) and the calls are made again, as before fingerprints existed.

`Scrubber` replaces, in one left-to-right pass, the longest secret starting at each place, whether known in clear
or by fingerprint: the same result as the writer's prefix-tree regex over all of them in clear, which is what a
full pull applies (tests/test_fingerprints.py checks this against the regex on generated texts).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

# The opt-in, as `collect meraki`, `audit --org` and `fleet` take it (docs/snapshot.md, *Secret fingerprints*)
SECRET_FINGERPRINTS_ENV = "VPN_AUDITOR_SECRET_FINGERPRINTS"
SECRET_FINGERPRINTS_HELP = ("Record keyed fingerprints of the secrets redacted, so that a later --since run carries "
                            "SSID and iPSK lists instead of reading them again. They reveal each secret's length and "
                            "which escapings change it to whoever holds the snapshot (docs/snapshot.md).")
KEY_LABEL = b"vpn-path-auditor secret fingerprints v1"
_CHECK_LABEL = b"key check"
_DIGEST_BYTES = 16
FINGERPRINT = re.compile(r"([1-9][0-9]{0,4}):([0-9a-f]{32})")


def derive_key(credential: str) -> bytes:
    """The fingerprint key for a credential (HMAC-SHA256 of a fixed label): the credential itself never keys a
    hash whose output is written."""
    return hmac.new(credential.encode("utf-8"), KEY_LABEL, hashlib.sha256).digest()


def key_check(key: bytes) -> str:
    """A value written beside the fingerprints that tells whether a later run holds the same key (it reveals
    nothing of the key)."""
    return hashlib.blake2b(_CHECK_LABEL, key=key, digest_size=_DIGEST_BYTES).hexdigest()


def _digest(key: bytes, text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=key, digest_size=_DIGEST_BYTES).digest()


def fingerprint(key: bytes, form: str) -> str:
    """`LENGTH:HEX` of one spelling of a secret."""
    return f"{len(form)}:{_digest(key, form).hex()}"


def parse(values: object) -> dict[int, set[bytes]] | None:
    """Fingerprints read from a manifest, by length; None when the value is not a list of well-formed ones
    (a hand-edited or foreign manifest: the call is then made, not carried)."""
    if not isinstance(values, list):
        return None
    out: dict[int, set[bytes]] = {}
    for value in values:
        match = FINGERPRINT.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            return None
        out.setdefault(int(match.group(1)), set()).add(bytes.fromhex(match.group(2)))
    return out


class Scrubber:
    """Replaces secrets known in clear (`plain`, every spelling) and secrets known only by fingerprint
    (`by_length`) with `replacement`: at each place from the left, the longest one that starts there."""

    def __init__(self, key: bytes, plain: Iterable[str], by_length: dict[int, set[bytes]],
                 replacement: str) -> None:
        self.key = key
        self.plain = {form for form in plain if form}
        self.by_length = {length: digests for length, digests in by_length.items() if digests}
        self.lengths = sorted({len(form) for form in self.plain} | set(self.by_length), reverse=True)
        self.shortest = self.lengths[-1] if self.lengths else 0
        self.replacement = replacement

    def _matches(self, window: str) -> bool:
        if window in self.plain:
            return True
        digests = self.by_length.get(len(window))
        return digests is not None and _digest(self.key, window) in digests

    def sub(self, text: str) -> str:
        if not self.lengths or len(text) < self.shortest:
            return text
        size = len(text)
        pieces: list[str] = []
        start = position = 0
        while position + self.shortest <= size:
            for length in self.lengths:
                end = position + length
                if end <= size and self._matches(text[position:end]):
                    pieces += (text[start:position], self.replacement)
                    start = position = end
                    break
            else:
                position += 1
        if not pieces:
            return text
        pieces.append(text[start:])
        return "".join(pieces)
