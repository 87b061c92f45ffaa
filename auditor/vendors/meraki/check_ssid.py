"""`vpn-auditor check-ssid`: audit a proposed SSID against a network as it stands, before it is created.

The proposal is Dashboard API input (JSON or YAML): the SSID object of `PUT /networks/{id}/wireless/ssids/
{number}` plus optional `l3FirewallRules`, `l7FirewallRules`, `splashSettings`, `identityPsks` and new
`groupPolicies`. It is validated with pydantic models of that input (a value the Dashboard would reject is an
error naming the file and field), then written into an in-memory overlay of the snapshot at the paths a
collector would have written after the change, so the Meraki adapter reads it exactly as collected data.

Placement follows the Dashboard's PUT semantics: the proposal goes into the slot its `number` names (fields it
omits keep the slot's current values), else into the first free slot ("Unconfigured SSID N", disabled).
Secrets (`psk`, iPSK `passphrase`) are replaced by "<redacted>" before anything else sees them, and never
appear in error messages.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from auditor.audit import AuditResult, resolve_config, run_audit
from auditor.checks import AuditContext, CheckMeta, Finding, run_checks
from auditor.config import AuditConfig
from auditor.errors import SelectionError
from auditor.snapshot import Snapshot, SnapshotError, api_segment, check_input_size
from auditor.vendors.meraki.adapter import AUTH_MODES, clock_minutes
from auditor.vendors.meraki.rules import Resolver, ValueError_, parse_addresses, parse_ports, parse_protocol
from auditor.vocab import Severity

REDACTED = "<redacted>"
SSID_SLOTS = range(15)

SPLASH_PAGES = ("None", "Click-through splash page", "Billing", "Password-protected with Meraki RADIUS",
                "Password-protected with custom RADIUS", "Password-protected with Active Directory",
                "Password-protected with LDAP", "SMS authentication", "Systems Manager Sentry", "Facebook Wi-Fi",
                "Google OAuth", "Microsoft Entra ID", "Sponsored guest", "Cisco ISE")
IP_ASSIGNMENT_MODES = ("NAT mode", "Bridge mode", "Layer 3 roaming", "Ethernet over GRE",
                       "Layer 3 roaming with a concentrator", "VPN", "Campus Gateway")
VLAN_TAGGING_MODES = ("Bridge mode", "Layer 3 roaming")
WPA_MODES = ("WPA1 only", "WPA1 and WPA2", "WPA2 only", "WPA3 Transition Mode", "WPA3 only",
             "WPA3 192-bit Security")
ENCRYPTION_MODES = ("wep", "wpa", "wpa-eap")
RADIUS_ATTRIBUTES = ("Filter-Id", "Reply-Message", "Airespace-ACL-Name", "Aruba-User-Role")
BAND_SELECTIONS = ("Dual band operation", "5 GHz band only", "Dual band operation with Band Steering")
MIN_BITRATES = (1, 2, 5.5, 6, 9, 11, 12, 18, 24, 36, 48, 54)
L7_TYPES = ("application", "applicationCategory", "host", "port", "ipRange", "allowedCountries",
            "blockedCountries", "whitelistedCountries", "blacklistedCountries")
SYNTHETIC_COMMENTS = ("default rule", "wireless clients accessing lan")

# SSID fields the Dashboard accepts (SDK 4.7.0 updateNetworkWirelessSsid body_params) or returns (GET), so a
# GET body can be edited into a proposal. Anything else is a typo the Dashboard would not apply.
SSID_FIELDS = frozenset({
    "name", "enabled", "authMode", "enterpriseAdminAccess", "ssidAdminAccessible", "encryptionMode", "psk",
    "wpaEncryptionMode", "dot11w", "dot11r", "splashPage", "splashGuestSponsorDomains", "oauth", "localRadius",
    "ldap", "activeDirectory", "radiusServers", "radiusProxyEnabled", "radiusTestingEnabled",
    "radiusCalledStationId", "radiusAuthenticationNasId", "radiusServerTimeout", "radiusServerAttemptsLimit",
    "radiusFallbackEnabled", "radiusRadsec", "radiusCoaEnabled", "radiusFailoverPolicy", "radiusLoadBalancingPolicy",
    "radiusAccountingEnabled", "radiusAccountingServers", "radiusAccountingInterimInterval",
    "radiusAttributeForGroupPolicies", "ipAssignmentMode", "campusGateway", "useVlanTagging",
    "concentratorNetworkId", "secondaryConcentratorNetworkId", "disassociateClientsOnVpnFailover", "vlanId",
    "defaultVlanId", "apTagsAndVlanIds", "walledGardenEnabled", "walledGardenRanges", "gre", "radiusOverride",
    "radiusGuestVlanEnabled", "radiusGuestVlanId", "minBitrate", "bandSelection", "perClientBandwidthLimitUp",
    "perClientBandwidthLimitDown", "perSsidBandwidthLimitUp", "perSsidBandwidthLimitDown", "lanIsolationEnabled",
    "visible", "availableOnAllAps", "availabilityTags", "adaptivePolicyGroupId", "mandatoryDhcpEnabled",
    "adultContentFilteringEnabled", "dnsRewrite", "speedBurst", "namedVlans", "security", "localAuthFallback",
    "radiusAccountingStartDelay", "number", "wlanIdentifier", "localAuth", "radiusEnabled", "adminSplashUrl",
    "splashTimeout", "wifiPersonalNetworkEnabled",
})
PROPOSAL_EXTRAS = ("l3FirewallRules", "l7FirewallRules", "splashSettings", "identityPsks", "groupPolicies",
                   "deviceTypeGroupPolicies")
DEVICE_POLICIES = ("Allowed", "Blocked", "Group policy")


class ProposalError(SnapshotError):
    """The proposal is not valid Dashboard input: names the file and the field."""


SSID_NAME_REUSED = CheckMeta(
    id="SSID-NAME-REUSED",
    kind="duplicate-ssid-name",
    severity=Severity.ERROR,
    title="The proposed SSID has the name of another enabled SSID of the network",
    remediation="Give the proposal `number` of that SSID to change it, or choose a name no enabled SSID has: "
                "clients join either SSID by that name, each with its own rules.",
)


# ---------------------------------------------------------------------------------------------------------
# Value checks shared by the models. They raise ValueError with a message that never repeats a secret.

def _one_of(value: Any, allowed: tuple[Any, ...], what: str, *, fold: bool = False) -> Any:
    probe = str(value).lower() if fold else value
    pool = tuple(str(a).lower() for a in allowed) if fold else allowed
    if probe not in pool:
        raise ValueError(f"unknown {what} '{value}' (expected one of: {', '.join(map(str, allowed))})")
    return value


def _ports(value: Any) -> str:
    try:
        parse_ports(value)
    except ValueError_ as exc:
        raise ValueError(str(exc)) from None
    return str(value)


def _destinations(value: Any) -> str:
    text = str(value)
    for item in text.split(","):
        if item.strip().lower() == "local lan":
            raise ValueError("'Local LAN' belongs to the synthetic LAN row that GETs append; set allowLanAccess "
                             "instead")
    try:
        parse_addresses(text, Resolver())  # VLAN/OBJ/GRP/FQDN are syntax-checked here, resolved by the audit
    except ValueError_ as exc:
        raise ValueError(str(exc)) from None
    return text


def _secret(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if value != REDACTED and not 8 <= len(value) <= 63:
        raise ValueError(f"{what} must be 8 to 63 characters (the value is not shown)")
    return value


def _vlan_id(value: Any) -> Any:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"VLAN id '{value}' is not a number") from None
    if not 1 <= number <= 4094:
        raise ValueError(f"VLAN id {number} is out of range 1-4094")
    return value


_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$", re.IGNORECASE)


def _walled_garden_entry(value: str) -> str:
    entry = value.strip()
    try:
        ipaddress.ip_network(entry, strict=False)
        return value
    except ValueError:
        pass
    if _DOMAIN.match(entry):
        return value
    raise ValueError(f"walled garden entry '{value}' is neither an address, a CIDR range nor a domain name")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------------------
# Firewall rules

class _L3Base(_Strict):
    comment: str | None = None
    policy: str
    protocol: str = "any"
    destPort: str | int = "any"
    destCidr: str = "any"

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        return _one_of(value, ("allow", "deny"), "policy", fold=True)

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        try:
            parse_protocol(value)
        except ValueError_ as exc:
            raise ValueError(f"{exc} (expected one of: tcp, udp, icmp, icmp6, any)") from None
        return value

    @field_validator("destPort")
    @classmethod
    def _dest_port(cls, value: str | int) -> str:
        return _ports(value)

    @field_validator("destCidr")
    @classmethod
    def _dest_cidr(cls, value: str) -> str:
        return _destinations(value)

    @model_validator(mode="after")
    def _not_synthetic(self) -> _L3Base:
        if (self.comment or "").strip().lower() in SYNTHETIC_COMMENTS:
            raise ValueError(f"'{self.comment}' is a synthetic row that GETs append and PUT rejects: remove it")
        return self


class SsidL3Rule(_L3Base):
    ipVer: str | None = None
    syslogEnabled: bool | None = None

    @field_validator("ipVer")
    @classmethod
    def _ip_ver(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, ("ipv4", "ipv6", "both"), "ipVer", fold=True)


class GroupPolicyL3Rule(_L3Base):
    """Group policy rules have no source fields: the source is the clients that have the policy."""


class L3Body(_Strict):
    rules: list[SsidL3Rule] = Field(default_factory=list)
    allowLanAccess: bool | None = None


class L7Rule(_Strict):
    policy: str = "deny"
    type: str
    value: Any

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        if str(value).lower() != "deny":
            raise ValueError(f"L7 rules only deny; policy '{value}' is not accepted")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _one_of(value, L7_TYPES, "L7 rule type")

    @model_validator(mode="after")
    def _value(self) -> L7Rule:
        value = self.value
        if self.type == "port":
            _ports(value)
        elif self.type == "ipRange":
            cidr, _, port = str(value).partition(":")
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                raise ValueError(f"ipRange value '{value}' is not a CIDR (optionally ':port')") from None
            if port:
                _ports(port)
        elif self.type in ("application", "applicationCategory"):
            ident = value.get("id") if isinstance(value, dict) else value
            if not isinstance(ident, str) or not ident.startswith("meraki:layer7/"):
                raise ValueError(f"{self.type} value needs an id like 'meraki:layer7/...'")
        elif self.type == "host":
            if not isinstance(value, str) or not value.strip():
                raise ValueError("host value must be a host name")
        elif not isinstance(value, list) or not all(isinstance(c, str) and len(c) == 2 for c in value):
            raise ValueError(f"{self.type} value must be a list of 2-letter country codes")
        return self


class L7Body(_Strict):
    rules: list[L7Rule] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# Splash, identity PSKs, group policies

class SplashSettings(_Strict):
    ssidNumber: int | None = None
    splashPage: str | None = None
    splashUrl: str | None = None
    useSplashUrl: bool | None = None
    splashTimeout: int | None = None
    redirectUrl: str | None = None
    useRedirectUrl: bool | None = None
    welcomeMessage: str | None = None
    userConsent: dict[str, Any] | None = None
    themeId: str | None = None
    splashLogo: dict[str, Any] | None = None
    splashImage: dict[str, Any] | None = None
    splashPrepaidFront: dict[str, Any] | None = None
    blockAllTrafficBeforeSignOn: bool | None = None
    controllerDisconnectionBehavior: str | None = None
    allowSimultaneousLogins: bool | None = None
    guestSponsorship: dict[str, Any] | None = None
    billing: dict[str, Any] | None = None
    sentryEnrollment: dict[str, Any] | None = None
    selfRegistration: dict[str, Any] | None = None

    @field_validator("controllerDisconnectionBehavior")
    @classmethod
    def _behaviour(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, ("open", "restricted", "default"),
                                                  "controllerDisconnectionBehavior")

    @field_validator("splashPage")
    @classmethod
    def _page(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, SPLASH_PAGES, "splashPage")


class IdentityPsk(_Strict):
    name: str
    groupPolicyId: str | int
    passphrase: str | None = None
    expiresAt: str | None = None
    id: str | None = None
    email: str | None = None
    wifiPersonalNetworkId: str | None = None

    @field_validator("passphrase", mode="before")
    @classmethod
    def _passphrase(cls, value: Any) -> Any:
        return None if value is None else _secret(value, "passphrase")

    @field_validator("expiresAt")
    @classmethod
    def _expires(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"expiresAt '{value}' is not an ISO 8601 time") from None
        return value


class VlanTagging(_Strict):
    settings: str = "network default"
    vlanId: str | int | None = None

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: str) -> str:
        return _one_of(value, ("network default", "ignore", "custom"), "vlanTagging.settings")

    @field_validator("vlanId")
    @classmethod
    def _vlan(cls, value: str | int | None) -> str | int | None:
        return None if value is None else _vlan_id(value)


class FirewallAndTrafficShaping(_Strict):
    settings: str = "network default"
    trafficShapingRules: list[dict[str, Any]] = Field(default_factory=list)
    l3FirewallRules: list[GroupPolicyL3Rule] = Field(default_factory=list)
    l7FirewallRules: list[L7Rule] = Field(default_factory=list)

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: str) -> str:
        return _one_of(value, ("network default", "ignore", "custom"), "firewallAndTrafficShaping.settings")


class ScheduleDay(_Strict):
    active: bool
    # `from` is a Python keyword: the field is named by its alias
    start: str = Field("00:00", alias="from")
    to: str = "24:00"

    @model_validator(mode="after")
    def _range(self) -> ScheduleDay:
        start, end = clock_minutes(self.start), clock_minutes(self.to)
        if start is None or end is None:
            raise ValueError(f"from '{self.start}' and to '{self.to}' must be times 00:00-24:00")
        if start >= end:
            raise ValueError(f"from '{self.start}' is not before to '{self.to}'")
        return self


class Scheduling(_Strict):
    """A group policy's weekly schedule (in force only inside its windows, in the network's time zone)."""

    enabled: bool = False
    monday: ScheduleDay | None = None
    tuesday: ScheduleDay | None = None
    wednesday: ScheduleDay | None = None
    thursday: ScheduleDay | None = None
    friday: ScheduleDay | None = None
    saturday: ScheduleDay | None = None
    sunday: ScheduleDay | None = None


class GroupPolicy(_Strict):
    name: str
    groupPolicyId: str | int | None = None  # absent for a new policy; ids used as placeholders are kept
    scheduling: Scheduling | None = None
    bandwidth: dict[str, Any] | None = None
    firewallAndTrafficShaping: FirewallAndTrafficShaping | None = None
    contentFiltering: dict[str, Any] | None = None
    splashAuthSettings: str | None = None
    vlanTagging: VlanTagging | None = None
    bonjourForwarding: dict[str, Any] | None = None

    @field_validator("splashAuthSettings")
    @classmethod
    def _splash(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, ("network default", "bypass"), "splashAuthSettings")


class DeviceTypePolicy(_Strict):
    deviceType: str
    devicePolicy: str
    groupPolicyId: str | int | None = None

    @field_validator("devicePolicy")
    @classmethod
    def _policy(cls, value: str) -> str:
        return _one_of(value, DEVICE_POLICIES, "devicePolicy")

    @model_validator(mode="after")
    def _group(self) -> DeviceTypePolicy:
        if self.devicePolicy == "Group policy" and self.groupPolicyId in (None, ""):
            raise ValueError("devicePolicy 'Group policy' needs a groupPolicyId")
        return self


class DeviceTypeGroupPolicies(_Strict):
    enabled: StrictBool
    deviceTypePolicies: list[DeviceTypePolicy] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# VLANs by AP tag and by name

class ApTagVlan(_Strict):
    """`apTagsAndVlanIds` entry: clients of APs with any of these tags get this VLAN."""

    tags: list[str]
    vlanId: int

    @field_validator("vlanId")
    @classmethod
    def _vlan(cls, value: int) -> int:
        return _vlan_id(value)


class NamedVlanByApTags(_Strict):
    tags: list[str]
    vlanName: str


class NamedVlanTagging(_Strict):
    enabled: bool
    defaultVlanName: str | None = None
    byApTags: list[NamedVlanByApTags] | None = None


class NamedGuestVlan(_Strict):
    enabled: bool
    name: str | None = None


class NamedVlanRadius(_Strict):
    guestVlan: NamedGuestVlan | None = None


class NamedVlans(_Strict):
    tagging: NamedVlanTagging | None = None
    radius: NamedVlanRadius | None = None


# ---------------------------------------------------------------------------------------------------------
# The SSID

class ProposedSsid(BaseModel):
    """The SSID object; fields not modelled here are kept as given when they are Dashboard fields."""

    model_config = ConfigDict(extra="allow")

    number: int | None = None
    name: str
    enabled: bool = True
    authMode: str
    psk: str | None = None
    encryptionMode: str | None = None
    wpaEncryptionMode: str | None = None
    splashPage: str = "None"
    ipAssignmentMode: str = "NAT mode"
    useVlanTagging: bool | None = None
    defaultVlanId: int | None = None
    vlanId: int | None = None
    radiusGuestVlanId: int | None = None
    radiusGuestVlanEnabled: StrictBool | None = None  # a flag the audit branches on: "yes" is not coerced
    radiusOverride: StrictBool | None = None
    apTagsAndVlanIds: list[ApTagVlan] | None = None
    namedVlans: NamedVlans | None = None
    radiusAttributeForGroupPolicies: str | None = None
    bandSelection: str | None = None
    minBitrate: float | None = None
    walledGardenEnabled: bool | None = None
    walledGardenRanges: list[str] | None = None
    radiusServers: list[dict[str, Any]] | None = None
    l3FirewallRules: L3Body | None = None
    l7FirewallRules: L7Body | None = None
    splashSettings: SplashSettings | None = None
    identityPsks: list[IdentityPsk] | None = None
    groupPolicies: list[GroupPolicy] | None = None
    deviceTypeGroupPolicies: DeviceTypeGroupPolicies | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in SSID_FIELDS and key not in PROPOSAL_EXTRAS:
                    raise ValueError(f"unknown field '{key}' (not a Dashboard SSID field nor one of "
                                     f"{', '.join(PROPOSAL_EXTRAS)})")
        return data

    @field_validator("number")
    @classmethod
    def _number(cls, value: int | None) -> int | None:
        if value is not None and value not in SSID_SLOTS:
            raise ValueError(f"SSID number {value} is out of range 0-14")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip() or len(value.encode()) > 32:
            raise ValueError("an SSID name is 1 to 32 bytes")
        return value

    @field_validator("psk", mode="before")
    @classmethod
    def _psk(cls, value: Any) -> Any:
        return None if value is None else _secret(value, "psk")

    @field_validator("authMode")
    @classmethod
    def _auth(cls, value: str) -> str:
        return _one_of(value, AUTH_MODES, "authMode")

    @field_validator("splashPage")
    @classmethod
    def _splash(cls, value: str) -> str:
        return _one_of(value, SPLASH_PAGES, "splashPage")

    @field_validator("ipAssignmentMode")
    @classmethod
    def _ip_mode(cls, value: str) -> str:
        return _one_of(value, IP_ASSIGNMENT_MODES, "ipAssignmentMode")

    @field_validator("encryptionMode")
    @classmethod
    def _encryption(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, ENCRYPTION_MODES, "encryptionMode")

    @field_validator("wpaEncryptionMode")
    @classmethod
    def _wpa(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, WPA_MODES, "wpaEncryptionMode")

    @field_validator("radiusAttributeForGroupPolicies")
    @classmethod
    def _radius_attribute(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, RADIUS_ATTRIBUTES, "radiusAttributeForGroupPolicies")

    @field_validator("bandSelection")
    @classmethod
    def _band(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, BAND_SELECTIONS, "bandSelection")

    @field_validator("minBitrate")
    @classmethod
    def _bitrate(cls, value: float | None) -> float | None:
        return None if value is None else _one_of(value, MIN_BITRATES, "minBitrate")

    @field_validator("defaultVlanId", "vlanId", "radiusGuestVlanId")
    @classmethod
    def _vlans(cls, value: int | None) -> int | None:
        return None if value is None else _vlan_id(value)

    @field_validator("walledGardenRanges")
    @classmethod
    def _garden(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            _walled_garden_entry(entry)
        return value


# ---------------------------------------------------------------------------------------------------------
# Loading

@dataclass(slots=True)
class Proposal:
    path: Path
    ssid: ProposedSsid
    raw: dict[str, Any]  # as given, secrets redacted, proposal extras removed: the SSID PUT body
    l3_shape: str = "object"  # "list" when the file gave a bare rule list (for error paths)


def _field_path(loc: tuple[Any, ...], list_shaped: set[str]) -> str:
    out = ""
    for i, item in enumerate(loc):
        if isinstance(item, int):
            out += f"[{item}]"
        elif (item == "rules" and i == 1 and loc[0] in list_shaped) or item in ("str", "int", "float", "bool") \
                or "[" in str(item):
            continue  # a bare list in the file, or pydantic's union-member tags: not names the user wrote
        else:
            out += ("." if out else "") + str(item)
    return out or "(top level)"


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _parse_file(path: Path) -> Any:
    check_input_size(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProposalError(str(path), "proposal file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProposalError(str(path), f"cannot read: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProposalError(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ProposalError(str(path), f"malformed YAML: {getattr(exc, 'problem', exc)}",
                            mark.line + 1 if mark is not None else None) from None


_SECRET_FIELDS = frozenset({"psk", "passphrase", "secret"})  # the SSID's, its iPSKs', its RADIUS servers'


def _secret_values(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {v for k, v in value.items() if k in _SECRET_FIELDS and isinstance(v, str)} | {
            s for k, v in value.items() if k not in _SECRET_FIELDS for s in _secret_values(v)}
    if isinstance(value, list):
        return {s for item in value for s in _secret_values(item)}
    return set()


def _without_copies(data: dict[str, Any]) -> dict[str, Any]:
    """The proposal with its secrets' copies elsewhere (an SSID named as its PSK, an iPSK named as its
    passphrase, a rule comment quoting it) replaced by "<redacted>": nothing check-ssid prints holds them. The
    secret fields themselves stay for validation (their length), and are redacted after it."""
    secrets = sorted((v for v in _secret_values(data) if len(v) >= 8 and v != REDACTED), key=len, reverse=True)
    if not secrets:
        return data

    def scrub(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, str) and key not in _SECRET_FIELDS:
            for secret in secrets:
                value = value.replace(secret, REDACTED)
        return value

    return scrub(data)


def load_proposal(path: Path) -> Proposal:
    """Read and validate a proposal; any error raises ProposalError naming the file and the field."""
    data = _parse_file(path)
    if not isinstance(data, dict):
        raise ProposalError(str(path), "expected the SSID object (a mapping) at the top level")
    data = _without_copies(dict(data))
    list_shaped = {key for key in ("l3FirewallRules", "l7FirewallRules") if isinstance(data.get(key), list)}
    for key in list_shaped:
        data[key] = {"rules": data[key]}
    try:
        ssid = ProposedSsid.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        if first["type"] == "value_error" and not loc and "unknown field" in first["msg"]:
            raise ProposalError(str(path), _message(first)) from None
        raise ProposalError(str(path), f"{_field_path(loc, list_shaped)}: {_message(first)}") from None
    _cross_checks(path, ssid)
    raw = {k: v for k, v in data.items() if k not in PROPOSAL_EXTRAS}
    if "psk" in raw:
        raw["psk"] = REDACTED
    return Proposal(path, ssid, raw, "list" if "l3FirewallRules" in list_shaped else "object")


def _cross_checks(path: Path, ssid: ProposedSsid) -> None:
    """Rules between fields that the Dashboard enforces on PUT."""

    def fail(where: str, message: str) -> None:
        raise ProposalError(str(path), f"{where}: {message}")

    mode = ssid.ipAssignmentMode
    given = ssid.model_fields_set
    if ssid.psk is not None and ssid.authMode != "psk":
        fail("psk", f"only valid when authMode is 'psk' (it is '{ssid.authMode}')")
    if ssid.authMode == "psk" and ssid.psk is None:
        fail("psk", "authMode 'psk' needs a psk")
    if "ipAssignmentMode" in given and mode not in VLAN_TAGGING_MODES:
        for name in ("useVlanTagging", "defaultVlanId"):
            if getattr(ssid, name) not in (None, False):
                fail(name, f"only valid when ipAssignmentMode is 'Bridge mode' or 'Layer 3 roaming' (it is "
                           f"'{mode}')")
    if ssid.useVlanTagging and ssid.defaultVlanId is None and not ssid.apTagsAndVlanIds:
        fail("defaultVlanId", "useVlanTagging is true but no defaultVlanId is given")
    if ssid.walledGardenEnabled and not ssid.walledGardenRanges:
        fail("walledGardenRanges", "walledGardenEnabled is true but the list is empty")
    names: set[str] = set()
    for i, policy in enumerate(ssid.groupPolicies or []):
        if policy.name.lower() in names:
            fail(f"groupPolicies[{i}].name", f"'{policy.name}' is proposed twice")
        names.add(policy.name.lower())
        tagging = policy.vlanTagging
        if tagging is not None and tagging.settings == "custom" and tagging.vlanId is None:
            fail(f"groupPolicies[{i}].vlanTagging.vlanId", "settings 'custom' needs a vlanId")


# ---------------------------------------------------------------------------------------------------------
# Placement: the overlay that turns the snapshot into "the network with the proposal applied"

@dataclass(slots=True)
class NetworkRef:
    id: str
    name: str
    product_types: list[str]


@dataclass(slots=True)
class Placement:
    network: NetworkRef
    number: int
    name: str
    replaces: str | None  # name of the enabled SSID the proposal replaces, if any
    overlay: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    same_name: list[int] = field(default_factory=list)  # other enabled SSIDs (numbers) with the proposal's name


def find_network(snapshot: Snapshot, wanted: str) -> NetworkRef:
    """A Meraki network of the snapshot by id or name (case-insensitive)."""
    orgs = snapshot.read_json("meraki/organizations.json") or []
    org_ids = [str(o.get("id")) for o in orgs if isinstance(o, dict)]
    org_ids += [org for f in snapshot.listdir("meraki/organizations")  # folder names are percent-encoded
                if (org := urllib.parse.unquote(f.rsplit("/", 1)[1])) not in org_ids]
    seen: list[str] = []
    for org_id in org_ids:
        networks = snapshot.read_json(f"meraki/organizations/{api_segment(org_id)}/networks.json") or []
        for net in networks if isinstance(networks, list) else []:
            if not isinstance(net, dict) or "id" not in net:
                continue
            name = str(net.get("name") or net["id"])
            seen.append(name)
            if wanted.lower() in (str(net["id"]).lower(), name.lower()):
                return NetworkRef(str(net["id"]), name, [str(p) for p in net.get("productTypes") or []])
    raise SelectionError(f"network '{wanted}' is not in the snapshot (networks: {', '.join(seen) or 'none'})")


def _free_slot(ssids: list[dict[str, Any]]) -> int | None:
    by_number = {int(s.get("number", i)): s for i, s in enumerate(ssids)}
    for number in SSID_SLOTS:  # an untouched slot first, then any disabled one
        slot = by_number.get(number)
        if slot is None or (not slot.get("enabled") and str(slot.get("name", "")).startswith("Unconfigured SSID")):
            return number
    for number in SSID_SLOTS:
        if not by_number[number].get("enabled"):
            return number
    return None


def _next_policy_ids(existing: list[dict[str, Any]], count: int) -> list[str]:
    numeric = [int(p["groupPolicyId"]) for p in existing if str(p.get("groupPolicyId", "")).isdigit()]
    start = max(numeric, default=99) + 1
    return [str(start + i) for i in range(count)]


@dataclass(slots=True)
class _Slot:
    """The SSID slot a proposal goes into, as the network's ssids.json has it."""

    rel: str  # the network's ssids.json
    ssids: list[Any]
    number: int
    index: int | None  # the slot's position in `ssids`; None: the file does not list it
    current: dict[str, Any]  # the slot's SSID now ({"number": n} for an unlisted one)

    def with_body(self, body: dict[str, Any]) -> list[Any]:
        """ssids.json with the slot's SSID replaced by `body`."""
        ssids = list(self.ssids)
        if self.index is None:
            ssids.append(body)
        else:
            ssids[self.index] = body
        return ssids


@dataclass(slots=True)
class _Overlay:
    """The snapshot files the proposal writes, and notes on what was assumed to write them."""

    snapshot: Snapshot
    fresh: bool  # the slot was not enabled: a file it lacks starts with the Dashboard's empty default
    files: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, rel: str, value: Any, missing_note: str | None = None, default: Any = None) -> None:
        """`value` as file `rel`; None proposed: the slot's file stays, and a fresh slot without one gets
        `default`, with `missing_note` saying so."""
        if value is not None:
            self.files[rel] = value
        elif not self.snapshot.exists(rel) and self.fresh and default is not None:
            self.files[rel] = default
            if missing_note:
                self.notes.append(missing_note)


def place(snapshot: Snapshot, network: NetworkRef, proposal: Proposal) -> Placement:
    """Where the proposal goes and the overlay of snapshot files that represents the network after it."""
    ssid = proposal.ssid
    base = f"meraki/networks/{api_segment(network.id)}"
    slot = _slot(snapshot, network, proposal, f"{base}/wireless/ssids.json")
    # Only a slot never set up starts with the Dashboard's empty files: a disabled SSID that was configured
    # keeps its firewall rules, splash settings and identity PSKs, which the collector (enabled SSIDs only)
    # did not read, so what the proposal leaves out stays unknown there.
    untouched = slot.index is None or str(slot.current.get("name", "")).startswith("Unconfigured SSID")
    out = _Overlay(snapshot, fresh=not slot.current.get("enabled") and untouched)
    replaces = str(slot.current.get("name")) if slot.current.get("enabled") else None
    if replaces:
        out.notes.append(f"replaces the enabled SSID {slot.number} '{replaces}'; fields the proposal omits keep "
                         f"its values")
    if not ssid.enabled:
        out.notes.append("the proposal has enabled: false; it is audited as if enabled")
    body = {**slot.current, **proposal.raw, "number": slot.number, "enabled": True}
    if "psk" in body:
        body["psk"] = REDACTED
    _check_vlans(snapshot, network, proposal, body)
    same_name = [int(s.get("number", i)) for i, s in enumerate(slot.ssids) if isinstance(s, dict)
                 and i != slot.index and s.get("enabled") is True and str(s.get("name")) == str(body.get("name"))]
    out.files[slot.rel] = slot.with_body(body)
    slot_base = f"{base}/wireless/ssids/{api_segment(slot.number)}"
    _firewall_rules(out, ssid, slot_base)
    _splash_settings(out, ssid, body, slot_base)
    known = _group_policies(out, ssid, f"{base}/groupPolicies.json")
    _identity_psks(out, proposal, network, slot_base, known)
    _device_type_policies(out, proposal, network, slot_base, known)
    return Placement(network, slot.number, ssid.name, replaces, out.files, out.notes, same_name)


def _slot(snapshot: Snapshot, network: NetworkRef, proposal: Proposal, ssids_rel: str) -> _Slot:
    """The slot the proposal names, else the first free one; a ProposalError when there is none."""
    where = str(proposal.path)
    if "wireless" not in network.product_types:
        raise ProposalError(where, f"network '{network.name}' has no wireless (MR) product: nowhere to put an SSID")
    ssids = snapshot.read_json(ssids_rel)
    if not isinstance(ssids, list):
        raise ProposalError(where, f"{ssids_rel} is not in the snapshot: the network's SSID slots are unknown")
    number = proposal.ssid.number if proposal.ssid.number is not None else _free_slot(ssids)
    if number is None:
        raise ProposalError(where, f"number: network '{network.name}' has no free SSID slot; give `number` to "
                                   "replace one")
    index = next((i for i, s in enumerate(ssids) if isinstance(s, dict) and int(s.get("number", i)) == number),
                 None)
    current = dict(ssids[index]) if index is not None else {"number": number}
    return _Slot(ssids_rel, ssids, number, index, current)


def _firewall_rules(out: _Overlay, ssid: ProposedSsid, slot_base: str) -> None:
    l3: dict[str, Any] | None = None
    if ssid.l3FirewallRules is not None:
        l3 = {"rules": [r.model_dump(exclude_none=True) for r in ssid.l3FirewallRules.rules]}
        allow_lan = ssid.l3FirewallRules.allowLanAccess
        if allow_lan is None:  # PUT without allowLanAccess keeps the slot's current setting
            previous = out.snapshot.read_json(f"{slot_base}/firewall/l3FirewallRules.json")
            allow_lan = previous.get("allowLanAccess") if isinstance(previous, dict) else None
        if allow_lan is not None:
            l3["allowLanAccess"] = allow_lan
    out.put(f"{slot_base}/firewall/l3FirewallRules.json", l3,
            "no l3FirewallRules proposed: the new SSID starts with no L3 rules (allow all)", {"rules": []})
    l7 = None if ssid.l7FirewallRules is None else {
        "rules": [r.model_dump(exclude_none=True) for r in ssid.l7FirewallRules.rules]}
    out.put(f"{slot_base}/firewall/l7FirewallRules.json", l7, None, {"rules": []})


def _splash_settings(out: _Overlay, ssid: ProposedSsid, body: dict[str, Any], slot_base: str) -> None:
    rel = f"{slot_base}/splash/settings.json"
    splash_on = str(body.get("splashPage") or "None").lower() != "none"
    if ssid.splashSettings is not None:
        if not splash_on:
            out.notes.append("splashSettings are given but splashPage is 'None': they have no effect")
        out.files[rel] = {**ssid.splashSettings.model_dump(exclude_none=True), "ssidNumber": body["number"],
                          "splashPage": body.get("splashPage")}
    elif splash_on and not out.snapshot.exists(rel):
        out.notes.append("splashPage is set but no splashSettings are proposed: whether traffic is blocked before "
                         "sign-on (blockAllTrafficBeforeSignOn) is unknown, so the pre-auth phase is unknown")


def _group_policies(out: _Overlay, ssid: ProposedSsid, rel: str) -> set[str] | None:
    """Writes the proposed group policies over the network's; returns the ids known after it, None when
    neither the snapshot nor the proposal lists any (then a reference to a policy cannot be checked)."""
    existing = out.snapshot.read_json(rel)
    policies = [dict(p) for p in existing] if isinstance(existing, list) else []
    if ssid.groupPolicies:
        if existing is None:
            out.notes.append(f"{rel} is not in the snapshot: only the proposed group policies are known")
        fresh_ids = iter(_next_policy_ids(policies, len(ssid.groupPolicies)))
        for proposed in ssid.groupPolicies:
            body = proposed.model_dump(exclude_none=True, by_alias=True)  # scheduling days' `from`
            gp_id = str(body.get("groupPolicyId") or next(fresh_ids))
            body["groupPolicyId"] = gp_id
            at = next((i for i, p in enumerate(policies) if str(p.get("groupPolicyId")) == gp_id), None)
            if at is None:
                policies.append(body)
            else:
                out.notes.append(f"group policy {gp_id} '{policies[at].get('name')}' is replaced by the proposed one")
                policies[at] = body
        out.files[rel] = policies
    if existing is None and not ssid.groupPolicies:
        return None
    return {str(p.get("groupPolicyId")) for p in policies}


def _identity_psks(out: _Overlay, proposal: Proposal, network: NetworkRef, slot_base: str,
                   known: set[str] | None) -> None:
    ssid = proposal.ssid
    if ssid.identityPsks is None:
        if ssid.authMode == "ipsk-without-radius":
            out.put(f"{slot_base}/identityPsks.json", None,
                    "no identityPsks proposed: the SSID has no identities yet (only its ssid role is audited)", [])
        return
    if ssid.authMode != "ipsk-without-radius":
        out.notes.append(f"identityPsks are given but authMode is '{ssid.authMode}': only 'ipsk-without-radius' "
                         "assigns group policies by identity PSK")
    psks = []
    for i, psk in enumerate(ssid.identityPsks):
        if known is not None and str(psk.groupPolicyId) not in known:
            raise ProposalError(str(proposal.path), f"identityPsks[{i}].groupPolicyId: group policy "
                                                    f"'{psk.groupPolicyId}' is neither in network "
                                                    f"'{network.name}' nor proposed")
        row = psk.model_dump(exclude_none=True)
        row["groupPolicyId"] = str(psk.groupPolicyId)
        if "passphrase" in row:
            row["passphrase"] = REDACTED
        psks.append(row)
    out.files[f"{slot_base}/identityPsks.json"] = psks


def _device_type_policies(out: _Overlay, proposal: Proposal, network: NetworkRef, slot_base: str,
                          known: set[str] | None) -> None:
    rel = f"{slot_base}/deviceTypeGroupPolicies.json"
    proposed = proposal.ssid.deviceTypeGroupPolicies
    if proposed is None:  # a new SSID maps no device type until told to
        out.put(rel, None, None, {"enabled": False, "deviceTypePolicies": []})
        return
    for i, entry in enumerate(proposed.deviceTypePolicies):
        gp = entry.groupPolicyId
        if gp not in (None, "") and known is not None and str(gp) not in known:
            raise ProposalError(str(proposal.path), f"deviceTypeGroupPolicies.deviceTypePolicies[{i}].groupPolicyId: "
                                                    f"group policy '{gp}' is neither in network '{network.name}' "
                                                    f"nor proposed")
    out.files[rel] = proposed.model_dump(exclude_none=True)


def _check_vlans(snapshot: Snapshot, network: NetworkRef, proposal: Proposal, body: dict[str, Any]) -> None:
    """A VLAN the proposal tags its clients with must be a VLAN of the network's MX (when the MX routes VLANs
    and the snapshot lists them): otherwise the audit would trace a VLAN that does not exist."""
    if "appliance" not in network.product_types:
        return  # the gateway is not in the snapshot: any VLAN may be routed there
    base = f"meraki/networks/{api_segment(network.id)}/appliance"
    settings = snapshot.read_json(f"{base}/vlans/settings.json")
    vlans = snapshot.read_json(f"{base}/vlans.json")
    if not isinstance(vlans, list) or (isinstance(settings, dict) and settings.get("vlansEnabled") is False):
        return
    ids = sorted({int(v["id"]) for v in vlans if isinstance(v, dict) and str(v.get("id", "")).strip().isdigit()})
    wanted: list[tuple[str, Any]] = []
    if body.get("useVlanTagging") and str(body.get("ipAssignmentMode")) in VLAN_TAGGING_MODES:
        wanted += [(key, proposal.raw[key]) for key in ("defaultVlanId", "vlanId") if proposal.raw.get(key)]
        wanted += [(f"apTagsAndVlanIds[{i}].vlanId", entry.vlanId)
                   for i, entry in enumerate(proposal.ssid.apTagsAndVlanIds or [])]
    if body.get("radiusGuestVlanEnabled") is True and proposal.raw.get("radiusGuestVlanId"):
        wanted.append(("radiusGuestVlanId", proposal.raw["radiusGuestVlanId"]))
    for i, policy in enumerate(proposal.ssid.groupPolicies or []):
        tagging = policy.vlanTagging
        if tagging is not None and tagging.settings == "custom" and tagging.vlanId is not None:
            wanted.append((f"groupPolicies[{i}].vlanTagging.vlanId", tagging.vlanId))
    for where, value in wanted:
        if int(value) not in ids:
            raise ProposalError(str(proposal.path), f"{where}: VLAN {value} is not a VLAN of the MX in network "
                                                    f"'{network.name}' (its VLANs: {', '.join(map(str, ids))})")


# ---------------------------------------------------------------------------------------------------------
# The audit of the proposal

@dataclass(slots=True)
class ProposalResult:
    result: AuditResult  # paths and findings of the proposed SSID's roles only
    placement: Placement
    proposal_file: str

    def proposal_json(self) -> dict[str, Any]:
        p = self.placement
        return {"file": self.proposal_file, "network": {"id": p.network.id, "name": p.network.name},
                "ssid": {"number": p.number, "name": p.name}, "replaces": p.replaces,
                "files": sorted(p.overlay), "notes": p.notes}


def _device_prefix(placement: Placement) -> str:
    # The adapter names SSID hops "<network> / SSID <n> (<name>)"; the number tells same-named SSIDs apart.
    return f"{placement.network.name} / SSID {placement.number} ("


def _scoped(result: AuditResult, placement: Placement) -> AuditResult:
    """The audit narrowed to the proposed SSID: its roles' paths, the findings of those paths (the checks run
    again on them alone, so a same-named SSID in another slot cannot leak in), data gaps that concern it, and
    rule-level findings on its own rule lists."""
    prefix = _device_prefix(placement)
    net_id = placement.network.id

    def ours(role: Any) -> bool:
        return role.network_id == net_id and any(
            hop.device.startswith(prefix) for variant in role.variants for hop in variant.hops)

    roles = {id(r) for net in result.model.networks for r in net.roles if ours(r)}
    paths = [p for p in result.paths if id(p.role) in roles]
    slot_folder = f"meraki/networks/{api_segment(net_id)}/wireless/ssids/{api_segment(placement.number)}/"
    other_slots = f"meraki/networks/{api_segment(net_id)}/wireless/ssids/"
    findings = []
    for finding in run_checks(AuditContext(result.model, paths, result.protocols)):
        if finding.role is not None:
            keep = True  # produced from our paths only
        elif finding.check.kind == "data-gap":
            path = str(finding.evidence.get("file", ""))
            keep = (finding.network or {}).get("id") in (net_id, None) and (
                path.startswith(slot_folder) or not path.startswith(other_slots))
        else:
            keep = str(finding.device or "").startswith(prefix)
        if keep:
            findings.append(finding)
    return AuditResult(result.snapshot, result.generated_at, result.model, paths, findings, result.protocols,
                       result.tool_version, list(placement.notes))


def check_ssid(snapshot_dir: Path, network: str, proposed: Path, config_path: Path | None = None,
               audit: Callable[..., AuditResult] = run_audit) -> ProposalResult:
    """Validate the proposal, place it into the network and audit the roles of the proposed SSID."""
    proposal = load_proposal(proposed)
    snapshot = Snapshot(snapshot_dir)
    config: AuditConfig = resolve_config(snapshot, config_path).model_copy(deep=True)
    ref = find_network(snapshot, network)
    placement = place(snapshot, ref, proposal)
    config.scope.networks = [ref.id]
    with Snapshot.overlaid(snapshot_dir, placement.overlay):
        result = audit(snapshot_dir, config=config)
    scoped = _scoped(result, placement)
    if placement.same_name:
        scoped.findings.insert(0, _name_reused(placement))
    return ProposalResult(scoped, placement, str(proposed))


def _name_reused(placement: Placement) -> Finding:
    numbers = ", ".join(str(n) for n in placement.same_name)
    return Finding(SSID_NAME_REUSED,
                   f"Proposed SSID '{placement.name}' (slot {placement.number}) has the name of enabled SSID "
                   f"{numbers} in {placement.network.name}", SSID_NAME_REUSED.remediation,
                   {"id": placement.network.id, "name": placement.network.name}, None,
                   f"{placement.network.name} / SSID {placement.number} ({placement.name})",
                   {"ssid": {"number": placement.number, "name": placement.name},
                    "same_name": placement.same_name})


# ---------------------------------------------------------------------------------------------------------
# Output

def render_json(outcome: ProposalResult) -> str:
    from auditor.report.json_report import report_dict

    body = report_dict(outcome.result)
    body["proposal"] = outcome.proposal_json()
    return json.dumps(body, indent=2) + "\n"


def render_text(outcome: ProposalResult, console: Any) -> None:
    from auditor.report import text
    from auditor.untrusted import markup

    p = outcome.placement
    where = f"slot {p.number}" + (f", replacing '{p.replaces}'" if p.replaces else " (free)")
    title = f"Proposed SSID '{p.name}' in {p.network.name} ({p.network.id}), {where}"
    console.print(f"[bold]{markup(title)}[/] from {markup(outcome.proposal_file)}", highlight=False)
    for note in p.notes:
        console.print(f"  note: {markup(note)}", highlight=False)
    if not outcome.result.paths:
        console.print("  the proposed SSID has no roles to audit", highlight=False)
    text.render(outcome.result, console)
