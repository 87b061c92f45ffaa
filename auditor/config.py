"""audit.yaml (docs/audit-yaml.md), validated with pydantic: unknown keys are errors naming the key."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from auditor.assumptions import AssumptionError
from auditor.assumptions import validate as validate_assumptions
from auditor.snapshot import SnapshotError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    name: str
    address: str
    fqdn: str | None = None
    protocols: list[str] = Field(default_factory=lambda: ["ikev2", "sstp"])
    path: list[str] = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        ipaddress.ip_address(value.strip())
        return value.strip()


class ScopeConfig(_Strict):
    networks: list[str] = Field(default_factory=list)


class ProtocolOverride(_Strict):
    flows: list[str]
    title: str | None = None
    windows_errors: list[int] = Field(default_factory=list)


INTERNET = "internet"  # `enters` default: the source's traffic starts on the internet


def split_enters(value: str) -> tuple[str, str]:
    """`enters` as (device, interface). Split on the last colon: device names are snapshot file names,
    while no Cisco interface name or nameif holds one."""
    device, _, interface = value.strip().rpartition(":")
    return device.strip(), interface.strip()


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
        device, interface = split_enters(value)
        if not device or not interface:
            raise ValueError(f"'{value}' is not <device>:<interface> (e.g. cisco/br-edge-01:GigabitEthernet0/1) "
                             f"or '{INTERNET}'")
        return f"{device}:{interface}"


class AuditConfig(_Strict):
    vpn_servers: list[ServerConfig] = Field(default_factory=list)
    scope: ScopeConfig = Field(default_factory=ScopeConfig)
    protocols: dict[str, ProtocolOverride] = Field(default_factory=dict)
    sources: list[SourceConfig] = Field(default_factory=list)
    assume: dict[str, Any] = Field(default_factory=dict)  # named assumptions: rules/assumptions.yaml

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
        return AuditConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            message = f"unknown key '{key}'"
        elif first["type"] == "assumption":
            message = first["msg"]
        else:
            message = f"invalid value at '{key}': {first['msg']}"
        raise SnapshotError(str(path), message) from None
