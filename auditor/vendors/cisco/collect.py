"""Collect `show running-config` from a Cisco ASA, IOS or IOS-XE device over SSH (netmiko), read-only.

Read-only is enforced in this process, before anything reaches the device: netmiko's channel writes go
through a guard that lets pass only the allowlisted `show` commands, the few session commands netmiko
itself needs (pager off, enable, exit) and the credentials it types at a prompt. Anything else raises
`CommandNotAllowed`. netmiko's ASA session setup enters configuration mode to set the terminal width;
ours skips that step, since a read-only collector has no business in configuration mode.

Passwords, secrets, keys, pre-shared keys and SNMP communities are replaced by `<redacted>` in the saved
file (the secret token only: the line stays, so the file still parses and says a secret is set).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from auditor.collect.inventory import (
    DeviceOutcome,
    Fleet,
    Target,
    ask_secret,
    collect_fleet,
    inventory_entry,
    prepare,
    public_host,
    shown,
)
from auditor.collect.limits import DEFAULT_MAX_BODY_MB, MAX_BODY_ENV, LimitExceeded, mb_bytes, too_large
from auditor.collect.limits import max_body_mb as body_cap_mb
from auditor.collect.signals import INTERRUPTED, terminate_as_interrupt
from auditor.collect.ssh_host_keys import (
    DEFAULT_KNOWN_HOSTS,
    KNOWN_HOSTS_ENV,
    HostKeyCheck,
    HostKeyRefused,
    fingerprint,
    known_hosts_path,
)
from auditor.collect.ssh_host_keys import describe as describe_host_key
from auditor.collect.writer import (
    REDACTED,
    SnapshotWriter,
    check_out,
    quote_segment,
    redact_patterns,
)
from auditor.errors import CollectUsageError, Refused
from auditor.untrusted import clean

PASSWORD_ENV = "VPN_AUDITOR_SSH_PASSWORD"
SECRET_ENV = "VPN_AUDITOR_SSH_SECRET"
DEVICE_TYPES = ("cisco_asa", "cisco_ios", "cisco_xe")
# `collect cisco --inventory`: inventory platform names (netmiko device types, NAPALM driver names, common
# spellings) -> netmiko's device type; a host without one needs --device-type.
FLEET = Fleet("cisco", {
    "cisco_asa": "cisco_asa", "cisco_asa_ssh": "cisco_asa", "asa": "cisco_asa",
    "cisco_ios": "cisco_ios", "cisco_ios_ssh": "cisco_ios", "ios": "cisco_ios",
    "cisco_xe": "cisco_xe", "cisco_xe_ssh": "cisco_xe", "iosxe": "cisco_xe", "ios-xe": "cisco_xe", "ios_xe": "cisco_xe",
}, needs_device_type=True, file=lambda name: f"cisco/{name}.cfg", connection="netmiko")

# The commands a collector may send. Nothing outside this set leaves the process.
ALLOWED_COMMANDS = frozenset({"show running-config", "show version"})
# What netmiko's session handling sends on its own (paging off, privilege, logout). `show curpriv` is how
# netmiko's ASA driver finds its privilege level.
_SESSION_COMMANDS = frozenset({"", "terminal length 0", "terminal pager 0", "terminal width 511",
                               "show curpriv", "enable", "login", "exit"})


class CommandNotAllowed(Refused, RuntimeError):
    """A command outside the allowlist was about to be sent; it was not."""


def check_command(command: str) -> str:
    """The normalised command, or CommandNotAllowed when it is not an allowlisted `show` command."""
    normal = " ".join(command.split())
    if normal not in ALLOWED_COMMANDS:
        raise CommandNotAllowed(f"refusing to send {normal!r}: only {', '.join(sorted(ALLOWED_COMMANDS))} "
                                "may be sent by the collector")
    return normal


class _ReadOnlyGuard:
    """Mixin for netmiko connection classes: every channel write is checked before it is sent, and the device's
    host key is checked against known_hosts before anything is (netmiko's default adds unknown keys)."""

    _credentials: frozenset[str] = frozenset()
    _host_keys: HostKeyCheck | None = None

    def _build_ssh_client(self) -> Any:
        if self._host_keys is None:  # never netmiko's own: it would accept any key
            raise HostKeyRefused("no host key check configured")
        return self._host_keys.client()

    def write_channel(self, out_data: str) -> None:
        for piece in re.split(r"[\r\n]+", out_data):
            text = " ".join(piece.split())
            if text in ALLOWED_COMMANDS or text in _SESSION_COMMANDS or piece in self._credentials:
                continue
            raise CommandNotAllowed(f"refusing to send {text!r} to the device (not a read-only command)")
        super().write_channel(out_data)  # type: ignore[misc]  # netmiko's class, after this mixin, has it


def _connection_classes() -> dict[str, type[Any]]:  # netmiko classes with the guard mixed in
    """netmiko classes with the guard, built on first use (importing netmiko costs ~0.3 s)."""
    from netmiko.cisco.cisco_asa_ssh import CiscoAsaSSH
    from netmiko.cisco.cisco_ios import CiscoIosSSH

    class ReadOnlyIos(_ReadOnlyGuard, CiscoIosSSH):
        pass

    class ReadOnlyAsa(_ReadOnlyGuard, CiscoAsaSSH):
        def session_preparation(self) -> None:
            # netmiko's version, minus `configure terminal` / `terminal width 511` / `end`.
            self.write_channel("show curpriv" + self.RETURN)
            self.read_until_pattern(pattern=re.escape("show curpriv"))
            self.set_base_prompt()
            if self.secret:
                self.enable()
            else:
                self.asa_login()
            self.disable_paging(command="terminal pager 0")
            self.set_base_prompt()

    return {"cisco_asa": ReadOnlyAsa, "cisco_ios": ReadOnlyIos, "cisco_xe": ReadOnlyIos}


def connect(device_type: str, host: str, port: int, username: str, password: str, secret: str,
            timeout: float, host_keys: HostKeyCheck | None = None) -> Any:
    """An open, read-only netmiko connection (pager off; ASA at privilege 15) to a device whose host key is
    known (`host_keys`; default: known_hosts as `known_hosts_path` finds it, nothing accepted on trust)."""
    check = host_keys if host_keys is not None else HostKeyCheck(known_hosts_path())
    cls = _connection_classes()[device_type]
    cls._credentials = frozenset(c for c in (username, password, secret) if c)
    cls._host_keys = check
    conn = cls(device_type=device_type, host=host, port=port, username=username, password=password,
               secret=secret, conn_timeout=timeout, auth_timeout=timeout, banner_timeout=timeout,
               allow_agent=False, use_keys=False, fast_cli=True)
    check.verified = fingerprint(conn.remote_conn_pre.get_transport().get_remote_server_key())
    return conn


def run_show(conn: Any, command: str, read_timeout: float = 120.0, max_output: int | None = None) -> str:
    """Send one allowlisted show command and return its output (echo and prompt stripped by netmiko): within
    `read_timeout` seconds (netmiko's ReadTimeout) and at most `max_output` bytes (LimitExceeded)."""
    command = check_command(command)
    if max_output is not None:
        _cap_reads(conn, max_output, command)
    return conn.send_command(command, read_timeout=read_timeout)


def _cap_reads(conn: Any, cap: int, command: str) -> None:
    """Count what the channel reads from now on and stop past `cap`. netmiko's channel read loops while data
    keeps arriving, so an endless output never returns from one read: the count sits below that loop."""
    channel = getattr(conn, "channel", None)
    read_buffer = getattr(channel, "read_buffer", None)
    if channel is None or read_buffer is None:
        return
    total = 0

    def capped() -> str:
        nonlocal total
        if total > cap:
            return ""  # tripped already: the session is being closed
        data = read_buffer()
        total += len(data)
        if total > cap:
            raise too_large(f"the output of '{command}'", cap, "--max-output-mb")
        return data

    channel.read_buffer = capped


# --- redaction ------------------------------------------------------------------------------------------------
# Lines that carry policy, never secrets: leave them alone so an object named "key" survives.
_POLICY_HEADS = frozenset({"access-list", "object", "object-group", "nat", "name", "permit", "deny", "remark",
                           "description", "network-object", "port-object", "service-object", "protocol-object",
                           "group-object", "host", "subnet", "range", "service", "access-group", "route",
                           "interface", "ip", "hostname", "static", "banner"})
_SECRET_WORDS = frozenset({"password", "passwd", "secret", "key", "pre-shared-key", "community", "key-string",
                           "wpa-psk", "md5", "authentication-key", "ldap-login-password", "server-secret",
                           "shared-secret", "auth-key"})
_SKIP_BEFORE_SECRET = frozenset({"0", "5", "6", "7", "8", "9", "ascii", "hex", "encrypted", "local", "remote",
                                 "address", "hostname", "ipv6", "unencrypted", "key-string"})
# First-hop redundancy and NHRP: `standby 1 authentication [text|md5 key-string] SECRET`, `ip nhrp
# authentication SECRET`: the word `authentication` alone names no secret elsewhere.
_AUTH_LINES = re.compile(r"^\s*(?:standby|vrrp|glbp)\s.*\bauthentication\s|^\s*ip nhrp authentication\s")
_AUTH_SKIP = frozenset({"text", "md5", "key-string", "0", "7"})
_NOT_SECRET_AFTER_KEY = frozenset({"chain", "config-key", "generate", "zeroize", "import", "export", "exchange",
                                   "pubkey-chain", "rsa", "label", "storage", "modulus"})


# `ip` lines that can hold a secret (every other `ip` line is policy): `ip wccp ... password PW`, `ip msdp
# [vrf V] password peer ADDR PW`, `ip rsvp authentication key PW`, `ip ospf authentication-key PW`, ...
_IP_WITH_SECRETS = frozenset({"ospf", "ftp", "http", "rip", "authentication", "message-digest-key", "wccp", "msdp",
                              "rsvp"})
_ASA = re.compile(r"^(?:ASA|PIX|FWSM) Version ", re.M)
_IOS = re.compile(r"^version \d", re.M)
_ADDRESS = re.compile(r"[0-9a-fA-F:.]+")


def redact_config(text: str, found: set[str] | None = None) -> tuple[str, int]:
    """The configuration with every secret token replaced by `<redacted>`, and how many were replaced. The
    values replaced are added to `found`, when given (the writer scrubs them wherever else they appear)."""
    # `snmp-server host` puts its community elsewhere on an ASA: the platform, when the text tells it
    head = text[:20000]
    asa = "asa" if _ASA.search(head) else "ios" if _IOS.search(head) else None
    count = 0
    out_lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        redacted, n = _redact_line(body, asa)
        secrets: set[str] = set()
        redacted = redact_patterns(redacted, secrets)  # a URL's password (archive path, enrollment url, ddns)
        if found is not None:
            found |= secrets
            found.update(old for old, new in zip(body.split(" "), redacted.split(" "), strict=False)
                         if new == REDACTED and old != REDACTED)
        count += n + len(secrets)
        out_lines.append(redacted + line[len(body):])
    return "".join(out_lines), count


def _redact_line(line: str, asa: str | None = None) -> tuple[str, int]:
    special = _redact_positional(line, asa)
    if special is not None:
        return special
    tokens = line.split(" ")
    words = [t for t in tokens if t]
    if not words:
        return line, 0
    head = words[0]
    if head in _POLICY_HEADS and not (head == "ip" and len(words) > 1 and words[1] in _IP_WITH_SECRETS):
        return line, 0
    snmp_user = words[:2] == ["snmp-server", "user"]
    count = 0
    i = 0
    while i < len(tokens):
        word = tokens[i]
        is_secret_word = word in _SECRET_WORDS or (snmp_user and word in ("auth", "priv"))
        if not is_secret_word:
            i += 1
            continue
        j = _next_word(tokens, i + 1)
        if word == "key" and j is not None and tokens[j] in _NOT_SECRET_AFTER_KEY:
            i += 1
            continue
        if word == "pre-shared-key" and j is not None and tokens[j] in ("address", "hostname", "ipv6"):
            i = j + 1  # IOS keyring `pre-shared-key address A M key SECRET`: `key` names the secret
            continue
        if word == "authentication-key" and j is not None and tokens[j].isdigit():
            i = j + 1  # `ntp authentication-key 1 md5 SECRET`: the number is a key id; md5 is handled next
            continue
        if word == "password" and j is not None and tokens[j] == "peer":
            j = _next_word(tokens, j + 1)  # `ip msdp password peer ADDR [0|7] SECRET`: skip the peer
            j = _next_word(tokens, j + 1) if j is not None else None
        if snmp_user and word in ("auth", "priv"):
            j = _skip(tokens, j, {"md5", "sha", "sha224", "sha256", "sha384", "sha512", "des", "3des", "aes",
                                  "128", "192", "256"})
        else:
            j = _skip(tokens, j, _SKIP_BEFORE_SECRET)
        if j is None or tokens[j] == REDACTED:
            i += 1
            continue
        tokens[j] = REDACTED
        count += 1
        i = j + 1
    return " ".join(tokens), count


def _redact_positional(line: str, asa: str | None = None) -> tuple[str, int] | None:
    """Lines whose secret has no keyword before it; None for every other line."""
    tokens = line.split(" ")
    words = [(i, t) for i, t in enumerate(tokens) if t]
    plain = [w for _, w in words]
    if plain[:2] == ["snmp-server", "host"] and "community" not in tokens:
        # IOS `snmp-server host ADDR [vrf V] [traps|informs] [version 1|2c|3 [auth|noauth|priv]] COMMUNITY ...`,
        # whatever the community looks like (an address, too); ASA's `snmp-server host IFACE ADDR ...` names its
        # secret with `community` only. A whole config says which it is (`ASA Version`, `version 15.7`); a
        # fragment is IOS when an address follows `host`, else ASA-shaped when an address comes next.
        if asa == "asa" or (asa is None and len(words) > 3 and not _is_address(words[2][1])
                            and _is_address(words[3][1])):
            return line, 0
        k = 3
        while k < len(words) and words[k][1] in ("vrf", "traps", "informs", "version"):
            k += 2 if words[k][1] in ("vrf", "version") else 1
            if words[k - 1][1] == "3" and k < len(words) and words[k][1] in ("auth", "noauth", "priv"):
                k += 1
        if k < len(words) and words[k][1] != REDACTED:
            tokens[words[k][0]] = REDACTED
            return " ".join(tokens), 1
        return line, 0
    if plain[:3] == ["snmp", "mib", "community-map"] and len(words) > 3 and words[3][1] != REDACTED:
        tokens[words[3][0]] = REDACTED  # `snmp mib community-map COMMUNITY [context C] ...`
        return " ".join(tokens), 1
    if plain[:1] == ["aaa-server"] and "host" in plain[2:4]:
        # ASA `aaa-server TAG [(IF)] host ADDR [KEY] [timeout N]`: the key inline, without a keyword
        k = plain.index("host", 2) + 2
        if k < len(words) and words[k][1] not in ("timeout", "key", REDACTED):
            tokens[words[k][0]] = REDACTED
            return " ".join(tokens), 1
        return None  # `key KEY` later on the line: the keyword rule
    if _AUTH_LINES.match(line):
        after = [i for i, t in words if t == "authentication"]
        rest = [(i, t) for i, t in words if after and i > after[0] and t not in _AUTH_SKIP]
        if rest and rest[0][1] != REDACTED:
            tokens[rest[0][0]] = REDACTED
            return " ".join(tokens), 1
        return line, 0
    return None


def _is_address(token: str) -> bool:
    return bool(_ADDRESS.fullmatch(token)) and ("." in token or ":" in token)


_KEYWORD = re.compile(r"[a-z][a-z-]*")


def learnable_tokens(found: Iterable[str]) -> set[str]:
    """The replaced tokens worth scrubbing wherever else they appear in the configuration: not one shaped like
    a Cisco keyword (`password encryption aes` makes `encryption` look like a secret; scrubbing it would
    cut `encryption aes-256` out of every IKE proposal)."""
    return {token for token in found if not _KEYWORD.fullmatch(token)}


def _next_word(tokens: list[str], i: int) -> int | None:
    while i < len(tokens) and not tokens[i]:
        i += 1
    return i if i < len(tokens) else None


def _skip(tokens: list[str], j: int | None, words: Iterable[str]) -> int | None:
    skip = set(words)
    while j is not None and tokens[j] in skip:
        j = _next_word(tokens, j + 1)
    return j


# --- the collector -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CiscoCollectConfig:
    host: str
    device_type: str
    username: str
    password: str
    out: Path
    port: int = 22
    secret: str = ""
    name: str | None = None
    timeout: float = 15.0
    read_timeout: float = 120.0  # seconds for the command's whole output
    max_output: int = mb_bytes(DEFAULT_MAX_BODY_MB)  # bytes of output
    known_hosts: Path | None = None  # default: $VPN_AUDITOR_SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts
    accept_new_host_key: bool = False  # first contact: add an unknown host's key (recorded in the manifest)
    inventory: dict[str, Any] | None = None  # the inventory host it came from (inventory.py), for the manifest


@dataclass(slots=True)
class CiscoCollectResult:
    ok: bool
    file: str | None
    manifest: Path
    error: str | None = None
    redactions: int = 0
    host_key: str = ""  # what the manifest says of the device's host key
    elapsed: float = 0.0
    commands: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 3


Connector = Callable[..., Any]


def collect_cisco(config: CiscoCollectConfig, connector: Connector = connect) -> CiscoCollectResult:
    """Pull the running configuration into `OUT/cisco/<name>.cfg` and record the command in the manifest.

    A failure (authentication, timeout, the device refusing the command) is recorded as `failed` and the
    snapshot is still written; the result's exit code is then 3 (docs/exit-codes.md).
    """
    if config.device_type not in DEVICE_TYPES:
        raise ValueError(f"device type must be one of {', '.join(DEVICE_TYPES)}")
    check_out(config.out)  # OutNotWritable before the device is contacted
    started = time.monotonic()
    host_keys = HostKeyCheck(known_hosts_path(config.known_hosts), config.accept_new_host_key)
    params = {"host": config.host, "port": config.port, "device_type": config.device_type,
              "username": config.username, "name": config.name, "known_hosts": str(host_keys.known_hosts),
              "accept_new_host_key": config.accept_new_host_key}
    if config.inventory is not None:
        params["inventory"] = config.inventory
    writer = SnapshotWriter(config.out, "cisco", parameters=params, secrets=[config.password, config.secret])
    command = "show running-config"
    result = CiscoCollectResult(False, None, config.out / "manifest.json", commands=[command])
    from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout
    from paramiko.ssh_exception import SSHException

    failures = (NetmikoAuthenticationException, NetmikoTimeoutException, SSHException, OSError, EOFError,
                ValueError, ReadTimeout, LimitExceeded)
    interrupted = False
    try:
        with _quiet_transcript():
            conn = connector(config.device_type, config.host, config.port, config.username, config.password,
                             config.secret, config.timeout, host_keys=host_keys)
            try:
                if config.device_type != "cisco_asa" and not conn.check_enable_mode():
                    if not config.secret:
                        raise ValueError(f"not in privileged mode and no enable secret ({SECRET_ENV}) was given")
                    conn.enable()
                output = run_show(conn, command, config.read_timeout, config.max_output)
            except BaseException:
                _hang_up(conn)
                raise
            conn.disconnect()
        if "% Invalid input" in output[:400] or "% Authorization failed" in output[:400]:
            raise ValueError(f"the device refused '{command}': {output.strip().splitlines()[-1]}")
        found: set[str] = set()
        text, result.redactions = redact_config(_strip_preamble(output), found)
        name = config.name or _hostname(text) or config.host
        rel = f"cisco/{quote_segment(name)}.cfg"
        writer.write_text(rel, text if text.endswith("\n") else text + "\n", found=learnable_tokens(found))
        writer.record_call(command, "ok", file=rel, written=True, host=config.host, redactions=result.redactions,
                           host_key=host_keys.record())
        result.ok, result.file = True, rel
    except CommandNotAllowed:
        raise  # a bug in this program, never a device condition: stop loudly
    except KeyboardInterrupt:  # SIGINT or SIGTERM: the command in flight is failed, the run interrupted
        writer.discard(f"cisco/{quote_segment(config.name)}.cfg" if config.name else None)
        writer.record_call(command, "failed", error=INTERRUPTED, host=config.host,
                           file=f"cisco/{quote_segment(config.name)}.cfg" if config.name else None)
        interrupted = True
        raise
    except failures as exc:
        error = f"no prompt after {config.read_timeout:g} s of output (--read-timeout)" \
            if isinstance(exc, ReadTimeout) else _describe(exc)
        writer.discard(f"cisco/{quote_segment(config.name)}.cfg" if config.name else None)
        record = writer.record_call(command, "failed", error=error, host=config.host,
                                    file=f"cisco/{quote_segment(config.name)}.cfg" if config.name else None,
                                    host_key=host_keys.record())
        result.error = record.error  # scrubbed: it is printed too
    finally:
        result.elapsed = time.monotonic() - started
        result.host_key = host_keys.record()
        result.manifest = writer.close(**({"interrupted": True} if interrupted else {}))
    return result


def _hang_up(conn: Any) -> None:
    """Close a session that failed without netmiko's graceful logout, which waits up to 10 s for a prompt that
    a device still scrolling output (or not answering) never sends."""
    with suppress(Exception):
        conn.cleanup = lambda *args, **kwargs: None
    conn.disconnect()


@contextmanager
def _quiet_transcript() -> Iterator[None]:
    """netmiko logs every byte it reads at DEBUG level: the running-config, secrets and all, before redaction.
    Keep that transcript out of the logs while a session is open, whatever the caller's logging level."""
    logger = logging.getLogger("netmiko")
    level = logger.level
    logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(level)


def _strip_preamble(output: str) -> str:
    """IOS prints `Building configuration...` and `Current configuration : N bytes` before the config."""
    lines = output.splitlines()
    while lines and (not lines[0].strip() or lines[0].startswith(("Building configuration",
                                                                  "Current configuration"))):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _hostname(text: str) -> str | None:
    match = re.search(r"^hostname (\S+)", text, re.M)
    return match.group(1) if match else None


def _describe(exc: BaseException) -> str:
    refused = describe_host_key(exc) or (describe_host_key(exc.__context__) if exc.__context__ else None)
    if refused:  # netmiko re-raises paramiko's refusal as a NetmikoTimeoutException
        return refused
    name = type(exc).__name__
    if "Authentication" in name:
        return "authentication failed"
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return f"timeout: {exc}".strip()
    return f"{name}: {exc}"


def cisco_inventory(path: Path, out: Path, groups: Sequence[str], workers: int, device_type: str | None,
                    username: str | None, port: int, timeout: float, read_timeout: float, max_output: int,
                    known_hosts: Path | None = None, accept_new_host_key: bool = False) -> int:
    """`collect cisco --inventory FILE`: every Cisco host of the inventory; the exit code."""
    inventory, targets = prepare(path, FLEET, groups, device_type, workers)
    password = _ask(PASSWORD_ENV, f"SSH password for the {len(targets)} devices", required=True)
    secret = _ask(SECRET_ENV, "Enable secret (Enter for none)", required=False)
    source = inventory.files[0]

    def job(target: Target) -> DeviceOutcome:
        device = target.device
        user = device.username or username
        if not user:
            raise ValueError("no username in the inventory and no --username")
        if public_host(device.hostname) != device.hostname:  # never sent to DNS nor written: it may hold a password
            raise ValueError("its hostname carries a user name or password (user:password@); credentials come "
                             f"from the environment ({PASSWORD_ENV})")
        assert target.device_type is not None
        config = CiscoCollectConfig(host=device.hostname, device_type=target.device_type, username=user,
                                    password=password, out=out, port=device.port or port, secret=secret,
                                    name=device.name, timeout=timeout, read_timeout=read_timeout,
                                    max_output=max_output, known_hosts=known_hosts,
                                    accept_new_host_key=accept_new_host_key, inventory=inventory_entry(source, target))
        result = collect_cisco(config)
        detail = f"{result.file} ({result.redactions} secrets redacted)" if result.ok else str(result.error)
        return DeviceOutcome(device.name, shown(FLEET.collector, target), result.ok, detail)

    return collect_fleet(targets, job, workers, out, FLEET, source)


# --- command line ------------------------------------------------------------------------------------------
def _ask(env: str, prompt: str, required: bool) -> str:
    """A secret from the environment, else asked for on a terminal (never from the command line)."""
    value = ask_secret(env, prompt, required, missing=f"no SSH password: set {env}")
    if "\r" in value or "\n" in value:  # typed at the device's prompt it would be two lines, the second a command
        raise CollectUsageError(f"{env} holds a line break, which no SSH password or enable secret can hold "
                                "(its value is not shown)")
    return value


def cisco_command(
    out: Annotated[Path, typer.Option("--out", help="Snapshot directory to write (created if needed).")],
    host: Annotated[str | None, typer.Option("--host", help="Device address or name.")] = None,
    device_type: Annotated[str | None, typer.Option(
        "--device-type", help="cisco_asa, cisco_ios or cisco_xe (netmiko device type; with --inventory: for "
                              "hosts without a platform).")] = None,
    username: Annotated[str | None, typer.Option(
        "--username", help="SSH user (with --inventory: for hosts without one).")] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="SSH port.")] = 22,
    name: Annotated[str | None, typer.Option(
        "--name", help="File name under cisco/ (default: the device's hostname).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to connect and log in.")] = 15.0,
    read_timeout: Annotated[float, typer.Option(
        "--read-timeout", min=0.1, help="Seconds for the whole output of show running-config.")] = 120.0,
    max_output_mb: Annotated[float | None, typer.Option(
        "--max-output-mb", min=0.001, envvar=MAX_BODY_ENV,
        help=f"Largest output kept, in MB (default {DEFAULT_MAX_BODY_MB:g}).")] = None,
    known_hosts: Annotated[Path | None, typer.Option(
        "--known-hosts", envvar=KNOWN_HOSTS_ENV,
        help=f"OpenSSH known_hosts file the device's host key must be in (default {DEFAULT_KNOWN_HOSTS}).")
    ] = None,
    accept_new_host_key: Annotated[bool, typer.Option(
        "--accept-new-host-key",
        help="First contact: accept and add the key of a host not in known_hosts (recorded in manifest.json); "
             "a changed key is refused all the same.")] = False,
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", help="Nornir SimpleInventory hosts.yaml (or its folder): collect every Cisco host in it.")
    ] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="With --inventory: only hosts in this group; repeat for several.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="With --inventory: devices collected at the same time.")] = 8,
) -> None:
    """Pull `show running-config` over SSH into SNAPSHOT/cisco/<name>.cfg (show commands only).

    The password comes from VPN_AUDITOR_SSH_PASSWORD, the enable secret from VPN_AUDITOR_SSH_SECRET (asked
    for on a terminal when unset). The device's host key must be in known_hosts before either is sent.
    Secrets in the configuration are saved as <redacted>. Exit code 0 when the command succeeded, 3 when it
    failed (recorded in manifest.json; a host key refused too), 2 for usage errors.
    With --inventory, every Cisco host of a Nornir inventory, --workers at a time, one line each (exit 3 when
    any failed; the others are collected all the same).
    """
    if device_type is not None and device_type not in DEVICE_TYPES:
        raise CollectUsageError(f"--device-type must be one of {', '.join(DEVICE_TYPES)}")
    if inventory is not None:
        if host is not None or name is not None:
            raise CollectUsageError("--inventory names the devices: leave out --host and --name")
        check_out(out)
        if known_hosts is not None and not known_hosts.is_file() and not accept_new_host_key:
            raise CollectUsageError(f"--known-hosts {known_hosts}: no such file (give --accept-new-host-key "
                                    "to create it on first contact)")
        raise typer.Exit(cisco_inventory(inventory, out, group or [], workers, device_type, username, port, timeout,
                                         read_timeout, mb_bytes(body_cap_mb(max_output_mb)), known_hosts,
                                         accept_new_host_key))
    if host is None or device_type is None or username is None:
        raise CollectUsageError("give --host, --device-type and --username (or --inventory)")
    if device_type not in DEVICE_TYPES:
        raise CollectUsageError(f"--device-type must be one of {', '.join(DEVICE_TYPES)}")
    check_out(out)
    if known_hosts is not None and not known_hosts.is_file() and not accept_new_host_key:
        raise CollectUsageError(f"--known-hosts {known_hosts}: no such file (give --accept-new-host-key "
                                "to create it on first contact)")
    password = _ask(PASSWORD_ENV, f"SSH password for {username}@{host}", required=True)
    secret = _ask(SECRET_ENV, "Enable secret (Enter for none)", required=False)
    settings = CiscoCollectConfig(host=host, device_type=device_type, username=username, password=password, out=out,
                                  port=port, secret=secret, name=name, timeout=timeout, read_timeout=read_timeout,
                                  max_output=mb_bytes(body_cap_mb(max_output_mb)), known_hosts=known_hosts,
                                  accept_new_host_key=accept_new_host_key)
    try:
        with terminate_as_interrupt():
            result = collect_cisco(settings)
    except KeyboardInterrupt:
        typer.echo(f"vpn-auditor collect: interrupted; the snapshot is incomplete ({out / 'manifest.json'} says "
                   "interrupted: true)", err=True)
        raise typer.Exit(3) from None
    if result.ok:
        if accept_new_host_key and "first contact" in result.host_key:  # for someone to compare with the device
            typer.echo(f"vpn-auditor collect: {host}: host key {result.host_key}", err=True)
        typer.echo(f"{result.file}: written ({result.redactions} secrets redacted, {result.elapsed:.1f} s)",
                   err=True)
    else:
        typer.echo(clean(f"vpn-auditor collect: {host}: show running-config failed: {result.error} "
                         f"(recorded in {result.manifest})"), err=True)  # the error may quote the device
    raise typer.Exit(result.exit_code)
