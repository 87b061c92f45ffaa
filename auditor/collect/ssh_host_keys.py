"""SSH host keys for `collect cisco`: the device proves who it is before the password is sent.

netmiko's default accepts any host key it has not seen (paramiko's AutoAddPolicy): whoever answers on the
address receives the SSH password and the enable secret. Here the device's key must be in a known_hosts file
(`--known-hosts FILE`, else `VPN_AUDITOR_SSH_KNOWN_HOSTS`, else `~/.ssh/known_hosts`), in OpenSSH's format
and with its `[host]:port` names for ports other than 22:

- a known key that matches: the session goes on, and the manifest names the key;
- a key that differs from the one known for the host (of any type): refused, nothing is sent;
- a host not in the file: refused, unless `--accept-new-host-key` was given (OpenSSH's
  StrictHostKeyChecking=accept-new): the key is then added to the file and the manifest says it was
  accepted on first contact, with its fingerprint, for someone to compare with the device's.

Host key checking happens in the SSH handshake, before authentication: a refused key means no password left.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.ssh_exception import BadHostKeyException, SSHException

from auditor.errors import Refused

KNOWN_HOSTS_ENV = "VPN_AUDITOR_SSH_KNOWN_HOSTS"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class HostKeyRefused(Refused, SSHException):
    """The device's host key is unknown (and first contact was not allowed) or differs from the known one."""


def fingerprint(key: paramiko.PKey) -> str:
    """`ssh-ed25519 SHA256:...` as `ssh-keygen -lf` and OpenSSH's prompts show it."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def known_hosts_path(given: str | Path | None = None) -> Path:
    """The file to verify against: the one given, else $VPN_AUDITOR_SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts."""
    return Path(os.path.expanduser(str(given or os.environ.get(KNOWN_HOSTS_ENV) or DEFAULT_KNOWN_HOSTS)))


@dataclass
class HostKeyCheck:
    """How one connection checks the device's key, and what it found (for the manifest)."""

    known_hosts: Path
    accept_new: bool = False
    verified: str | None = None  # the fingerprint of the key the session ran with
    accepted: bool = False  # the key was unknown and was added (--accept-new-host-key)

    def client(self) -> paramiko.SSHClient:
        """An SSH client that knows the file's keys and refuses any other."""
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_FirstContact(self))
        return client

    def record(self) -> str:
        """What the manifest says about the key."""
        if self.verified is None:
            return f"not verified (checked against {self.known_hosts})"
        if self.accepted:
            return f"accepted on first contact (--accept-new-host-key), added to {self.known_hosts}: {self.verified}"
        return f"verified against {self.known_hosts}: {self.verified}"

    def add(self, hostname: str, key: paramiko.PKey) -> None:
        folder = self.known_hosts.parent
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
        fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class _FirstContact(paramiko.MissingHostKeyPolicy):
    """Called by paramiko for a key it does not know for the host: refuse, or add it on first contact."""

    def __init__(self, check: HostKeyCheck) -> None:
        self.check = check

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        seen = fingerprint(key)
        if client.get_host_keys().lookup(hostname):
            # the host is known with a key of another type: as suspect as a changed key
            raise HostKeyRefused(f"the host key of {hostname} ({seen}) is not the one {self.check.known_hosts} "
                                 "holds for it: possibly a man in the middle; nothing was sent (if the device's key "
                                 "really changed, replace its line after checking the new one)")
        if not self.check.accept_new:
            raise HostKeyRefused(f"the host key of {hostname} ({seen}) is not in {self.check.known_hosts}: check the "
                                 "fingerprint with the device, then add it (ssh-keyscan) or run once with "
                                 "--accept-new-host-key; no password was sent")
        self.check.add(hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.check.accepted = True


def describe(exc: BaseException) -> str | None:
    """One line for a refused host key, or None for any other error."""
    if isinstance(exc, HostKeyRefused):
        return str(exc)
    if isinstance(exc, BadHostKeyException):
        return (f"the host key of {exc.hostname} ({fingerprint(exc.key)}) differs from the known one "
                f"({fingerprint(exc.expected_key)}): possibly a man in the middle; nothing was sent (if the "
                "device's key really changed, replace its line after checking the new one)")
    return None


__all__ = ["DEFAULT_KNOWN_HOSTS", "KNOWN_HOSTS_ENV", "HostKeyCheck", "HostKeyRefused", "describe", "fingerprint",
           "known_hosts_path"]
