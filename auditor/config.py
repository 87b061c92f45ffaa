"""audit.yaml (docs/audit-yaml.md), validated with pydantic: unknown keys are errors naming the key."""

from __future__ import annotations

import difflib
import ipaddress
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from auditor.assumptions import AssumptionError
from auditor.assumptions import validate as validate_assumptions
from auditor.snapshot import SnapshotError, check_input_size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_CRL_PORTS = {"http": 80, "https": 443, "ldap": 389}


@dataclass(frozen=True, slots=True)
class CrlUrl:
    """What a CRL URL makes the client reach: its scheme, host (lower case) and port."""

    scheme: str
    host: str
    port: int


def parse_crl_url(url: str) -> CrlUrl:
    """A CRL URL read; ValueError naming what is wrong. The one reading of a CRL URL: the validator below and
    auditor.crl (which traces the host) both use it."""
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _CRL_PORTS:
        raise ValueError(f"'{text}' is not an http://, https:// or ldap:// CRL URL")
    try:
        port = parts.port or _CRL_PORTS[scheme]
    except ValueError:
        raise ValueError(f"'{text}' has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"'{text}' names no host")
    return CrlUrl(scheme, parts.hostname.lower(), port)


class ServerConfig(_Strict):
    name: str
    address: str
    fqdn: str | None = None
    protocols: list[str] = Field(default_factory=lambda: ["ikev2", "sstp"])
    path: list[str] = Field(default_factory=list)
    # CRL distribution points of the server's certificate: the client fetches them before SSTP (0x80092013)
    crl_urls: list[str] = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        ipaddress.ip_address(value.strip())
        return value.strip()

    @field_validator("crl_urls")
    @classmethod
    def _crl_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parse_crl_url(url)
        return [url.strip() for url in value]


class ScopeConfig(_Strict):
    networks: list[str] = Field(default_factory=list)


class FlowSpec(_Strict):
    """A flow with a condition (`when: nat | no-nat`) or carried inside other flows (`inside: [...]`)."""

    flow: str
    when: str | None = None
    inside: list[str] | None = None


class ProtocolOverride(_Strict):
    flows: list[str | FlowSpec]
    title: str | None = None
    windows_errors: list[int] = Field(default_factory=list)


INTERNET = "internet"  # `enters` default: the source's traffic starts on the internet


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """Where a source's traffic enters (audit.yaml `enters`): a device by its snapshot name, and an
    interface of it (a name or nameif)."""

    device: str
    interface: str


def split_enters(value: str) -> EntryPoint:
    """`enters` as its device and interface. Split on the last colon: device names are snapshot file names,
    while no Cisco interface name or nameif holds one."""
    device, _, interface = value.strip().rpartition(":")
    return EntryPoint(device.strip(), interface.strip())


class SourceConfig(_Strict):
    name: str
    prefixes: list[str]
    enters: str | None = None

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            ipaddress.ip_network(prefix.strip(), strict=False)
        return value

    @field_validator("enters")
    @classmethod
    def _enters(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == INTERNET:
            return None
        entry = split_enters(value)
        if not entry.device or not entry.interface:
            raise ValueError(f"'{value}' is not <device>:<interface> (e.g. cisco/br-edge-01:GigabitEthernet0/1) "
                             f"or '{INTERNET}'")
        return f"{entry.device}:{entry.interface}"


class DeviceConfig(_Strict):
    """Per-device settings (`devices: {cisco/hq-asa: {...}}`), keyed by the name audit.yaml `path` uses."""

    # The configuration is whole although it carries no proof of it (a final `end`, a collector's header):
    # configurations exported by other tools (Batfish inputs, hand-made copies) may lack both.
    complete: bool | None = None
    # The VLAN(s) clients' traffic arrives on at a BIG-IP (`/Common/external`): a virtual limited to some VLANs
    # (vlans-enabled / vlans-disabled) is then known to listen for them or not.
    ingress_vlan: str | list[str] | None = None


class AuditConfig(_Strict):
    vpn_servers: list[ServerConfig] = Field(default_factory=list)
    scope: ScopeConfig = Field(default_factory=ScopeConfig)
    protocols: dict[str, ProtocolOverride] = Field(default_factory=dict)
    sources: list[SourceConfig] = Field(default_factory=list)
    assume: dict[str, Any] = Field(default_factory=dict)  # named assumptions: rules/assumptions.yaml
    devices: dict[str, DeviceConfig] = Field(default_factory=dict)  # per-device settings, by device name

    @field_validator("assume", mode="before")
    @classmethod
    def _assume(cls, value: Any) -> dict[str, Any]:
        try:
            return validate_assumptions(value)
        except AssumptionError as exc:  # its own words: they name the key and what is allowed
            raise PydanticCustomError("assumption", str(exc)) from None


def load_config(path: Path | None) -> AuditConfig:
    """Read and validate audit.yaml; an absent file gives an empty config (servers then must come from
    elsewhere). Errors raise SnapshotError naming the file and the offending key or line."""
    if path is None or not path.is_file():
        return AuditConfig()
    check_input_size(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SnapshotError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        raw: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses (NUL, control bytes)
            line = text.count("\n", 0, exc.position) + 1
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc
        # one line: CI logs grep the message, and YAML's own text spans several with a caret drawing
        raise SnapshotError(str(path), f"malformed YAML: {' '.join(str(problem).split())}", line) from None
    except RecursionError:
        raise SnapshotError(str(path), "malformed YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise SnapshotError(str(path), "expected a mapping at the top level")
    try:
        config = AuditConfig.model_validate(raw)
    except ValidationError as exc:
        # An unknown key first: a misspelt key also leaves the key it was meant to be "missing".
        first = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        loc = tuple(first["loc"])
        raise SnapshotError(str(path), _message(first, loc), _line(text, loc)) from None
    _unique_names(config, path, text)
    return config


def _where(loc: tuple[Any, ...]) -> str:
    """("vpn_servers", 0, "name") as "vpn_servers[0].name", as a person would point at it in the file."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Any, loc: tuple[Any, ...]) -> str:
    key, parent = loc[-1] if loc else "", _where(loc[:-1])
    if error["type"] == "extra_forbidden":
        known = _keys_at(loc[:-1])
        near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean '{near[0]}'?)" if near else f" (keys here: {', '.join(known)})" if known else ""
        return f"unknown key '{key}' {'in ' + parent if parent else 'at the top level'}{hint}"
    if error["type"] == "missing":
        return f"{parent or 'the top level'}: required key '{key}' is missing"
    if error["type"] == "assumption":  # its own words: they name the key and what is allowed
        return str(error["msg"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"invalid value for {_where(loc) or 'the top level'}: {message}"


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys audit.yaml allows at a location, read from the models (so new keys are offered too)."""
    annotation: Any = AuditConfig
    for part in loc:
        annotation = _model_of(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
            field = annotation.model_fields.get(part)
            if field is None:
                return []
            annotation = field.annotation
        else:  # an index into a list, or a key of a mapping: the item's type
            args = typing.get_args(annotation)
            if not args:
                return []
            annotation = args[-1]
    model = _model_of(annotation)
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _model_of(annotation: Any) -> Any:
    """The model in `X | None`, else the annotation itself."""
    for arg in typing.get_args(annotation) if type(annotation) is types.UnionType else ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _line(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of a location in the YAML text (its key, or the item), or None."""
    try:
        node = yaml.compose(text)
    except (yaml.YAMLError, RecursionError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                         None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _unique_names(config: AuditConfig, path: Path, text: str) -> None:
    """Servers and sources are told apart by name (reports, `trace --server`): two of one name are an error."""
    sections: tuple[tuple[str, Sequence[ServerConfig | SourceConfig]], ...] = (
        ("vpn_servers", config.vpn_servers), ("sources", config.sources))
    for section, items in sections:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            key = item.name.strip().lower()
            if key in seen:
                raise SnapshotError(str(path), f"duplicate name '{item.name}' in {section}[{i}] ({section}"
                                               f"[{seen[key]}] has it too): names must be unique",
                                    _line(text, (section, i, "name")))
            seen[key] = i
