"""A fake Cisco IOS / ASA SSH device on 127.0.0.1 that the real netmiko drives.

paramiko's server side with an interactive shell: password login, characters echoed as typed (netmiko
waits for the echo of each command), `host>` / `host#` / `host(config)#` prompts, `enable` with a secret,
ASA `login`, `terminal length 0` / `terminal pager 0` / `terminal width`, `show curpriv`,
`show running-config`, `show version`, `configure terminal`, `exit`. Every line the client sends is kept in
`received`, so a test can prove what did (and did not) reach the device. A hostile device: `running_config`
may be a function returning an iterator of text pieces, sent as they come (endless, or one piece a minute).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType

import paramiko

_KEY_LOCK = threading.Lock()
_HOST_KEY: paramiko.PKey | None = None


def _host_key() -> paramiko.PKey:
    global _HOST_KEY
    with _KEY_LOCK:  # RSA generation is slow: once per test process
        if _HOST_KEY is None:
            _HOST_KEY = paramiko.RSAKey.generate(2048)
        return _HOST_KEY


class _Login(paramiko.ServerInterface):
    def __init__(self, username: str, password: str, attempts: list[str] | None = None) -> None:
        self.username, self.password = username, password
        self.attempts = attempts if attempts is not None else []
        self.shell = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        self.attempts.append(username)  # a password reached the device
        ok = username == self.username and password == self.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args: object) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.shell.set()
        return True


class _Shell:
    """One interactive session: a line editor feeding a tiny command interpreter."""

    def __init__(self, device: FakeCiscoDevice, chan: paramiko.Channel) -> None:
        self.dev = device
        self.chan = chan
        self.privileged = device.start_privileged
        self.config_mode = False
        self.waiting_for: str | None = None  # "secret" | "login-user" | "login-password"
        self.login_user = ""

    def out(self, text: str) -> None:
        self.chan.sendall(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())

    def prompt(self) -> str:
        name = self.dev.hostname
        if self.config_mode:
            return f"{name}(config)#"
        return f"{name}#" if self.privileged else f"{name}>"

    def run(self) -> None:
        self.out(f"\n{self.dev.banner}{self.prompt()}")
        line = ""
        previous = ""
        while True:
            data = self.chan.recv(1024)
            if not data:
                return
            for ch in data.decode(errors="replace"):
                if ch in "\r\n":
                    if ch == "\n" and previous == "\r":
                        previous = ch
                        continue  # second half of CR LF
                    previous = ch
                    self.out("\n")
                    if not self.line(line):
                        return
                    line = ""
                    continue
                previous = ch
                line += ch
                if self.waiting_for not in ("secret", "login-password"):
                    self.out(ch)  # echo, except passwords

    def line(self, text: str) -> bool:
        """Handle one entered line; False ends the session."""
        if self.waiting_for is not None:
            return self._answer(text)
        command = " ".join(text.split())
        with self.dev.lock:
            self.dev.received.append(command)
        lowered = command.lower()
        reply = ""
        if not lowered:
            pass
        elif lowered in ("exit", "logout", "quit"):
            if not self.config_mode:
                return False
            self.config_mode = False
        elif lowered == "end" and self.config_mode:
            self.config_mode = False
        elif lowered in ("enable", "en"):
            if not self.privileged:
                self.waiting_for = "secret"
                self.out("Password: ")
                return True
        elif lowered == "login" and self.dev.platform == "asa":
            self.waiting_for = "login-user"
            self.out("Username: ")
            return True
        elif lowered.startswith("terminal "):
            pass  # length 0, pager 0, width 511: nothing to do for a device without paging
        elif lowered == "show curpriv" and self.dev.platform == "asa":
            level = 15 if self.privileged else 1
            reply = f"Username : {self.dev.username}\nCurrent privilege level : {level}\n"
        elif lowered in ("show running-config", "show run"):
            if self.privileged and callable(self.dev.running_config):
                for piece in self.dev.running_config():  # until the client goes away (an OSError ends it)
                    self.out(piece)
                reply = "\n"
            elif self.privileged:
                reply = self.dev.running_config.rstrip("\n") + "\n"
            else:
                reply = "% Invalid input detected at '^' marker.\n"
        elif lowered == "show version":
            reply = self.dev.version
        elif lowered in ("configure terminal", "conf t"):
            self.config_mode = self.privileged
        elif not self.config_mode:
            reply = "% Invalid input detected at '^' marker.\n"
        self.out(reply + self.prompt())
        return True

    def _answer(self, text: str) -> bool:
        step, self.waiting_for = self.waiting_for, None
        if step == "secret":
            if text == self.dev.secret:
                self.privileged = True
            else:
                self.out("% Access denied\n")
        elif step == "login-user":
            self.login_user = text
            self.waiting_for = "login-password"
            self.out("Password: ")
            return True
        elif step == "login-password":
            if (self.login_user, text) == (self.dev.username, self.dev.password):
                self.privileged = True
            else:
                self.out("Invalid password\n")
        self.out(self.prompt())
        return True


class FakeCiscoDevice:
    """Serve one device on 127.0.0.1:<random port> until the `with` block ends."""

    def __init__(self, running_config: str | Callable[[], Iterator[str]], *, platform: str = "ios",
                 hostname: str = "rtr1",
                 username: str = "audit", password: str = "audit-pw", secret: str = "enable-pw",
                 start_privileged: bool = False, version: str = "Cisco IOS XE Software, Version 17.9.4\n",
                 banner: str = "", host_key: paramiko.PKey | None = None) -> None:
        if platform not in ("ios", "asa"):
            raise ValueError("platform is 'ios' or 'asa'")
        self.running_config = running_config
        self.platform = platform
        self.hostname = hostname
        self.username, self.password, self.secret = username, password, secret
        self.start_privileged = start_privileged
        self.version = version
        self.banner = banner
        self._key = host_key  # another key than every other fake's: the device a man in the middle plays
        self.received: list[str] = []
        self.logins: list[str] = []  # user names of every password login attempted (a password was sent)
        self.lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def known_hosts_line(self) -> str:
        """This device's line in an OpenSSH known_hosts file."""
        key = self.host_key
        return f"[127.0.0.1]:{self.port} {key.get_name()} {key.get_base64()}\n"

    @property
    def host_key(self) -> paramiko.PKey:
        return self._key or _host_key()

    def __enter__(self) -> FakeCiscoDevice:
        _host_key()
        # The test session's known_hosts (tests/conftest.py) knows every fake device, as an operator's knows
        # the devices they collect from; tests of unknown and changed keys name a file of their own. An impostor
        # (a key of its own) is never known: a later device given its port again must not meet its key.
        known_hosts = os.environ.get("VPN_AUDITOR_SSH_KNOWN_HOSTS")
        if known_hosts and self._key is None:
            with open(known_hosts, "a", encoding="utf-8") as handle:
                handle.write(self.known_hosts_line)
        self._sock.listen(4)
        self._sock.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=3)
        self._sock.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._session, client)

    def _session(self, client: socket.socket) -> None:
        transport = paramiko.Transport(client)
        transport.add_server_key(self.host_key)
        login = _Login(self.username, self.password, self.logins)
        try:
            transport.start_server(server=login)
            chan = transport.accept(timeout=10)
            if chan is None or not login.shell.wait(timeout=10):
                return
            chan.settimeout(30)
            _Shell(self, chan).run()
            chan.close()
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()
