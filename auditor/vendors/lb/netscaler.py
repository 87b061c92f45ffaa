"""Citrix NetScaler ADC: ns.conf (`netscaler/<device>.conf`) and NITRO JSON (`netscaler/<device>/`).

Both become one `NsConfig` (servers, services, service groups, lb vservers, lb groups, monitors), from
which the vendor-neutral services are built.

Persistence (docs/semantics/load-balancers.md, NetScaler): an `lb group` with persistenceType SOURCEIP overrides the
persistence of its member vservers and directs a client to the same server "regardless of the virtual
server in the group" (matched at server address level [I]); a group with persistence NONE (or unset) leaves
each vserver's own persistence in force; RULE persistence is an expression we do not analyse.
Timeouts in ns.conf and NITRO are minutes (default 2).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from auditor.lb_model import (
    NO_PERSIST,
    OTHER,
    RULE,
    SCOPE_DEVICE,
    SCOPE_SERVICE,
    SOURCE_IP,
    SSTP_PROBE_PATH,
    Backend,
    Gate,
    IkePair,
    LoadBalancer,
    Monitor,
    ParseIssue,
    Persistence,
    Script,
    SourceTranslation,
    VirtualService,
    classify_http_monitor,
)
from auditor.model import Action, Decision, Model, Origin, Rule
from auditor.packets import ALL, ANY_V4, ANY_V6, PacketSet
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb import netscaler_acl
from auditor.vendors.lb.common import load_devices

DEFAULT_TIMEOUT_MINUTES = 2
# NITRO collections without which vservers, their backends or their groups cannot be read
NITRO_NEEDED = ("lbvserver", "lbgroup", "lbgroup_lbvserver_binding", "lbvserver_service_binding",
                "lbvserver_servicegroup_binding", "service", "servicegroup",
                "servicegroup_servicegroupmember_binding", "server", "nsacl", "nsacl6", "nssimpleacl", "nssimpleacl6")
PROTOCOLS = {"UDP": 17, "TCP": 6, "SSL": 6, "HTTP": 6, "SSL_BRIDGE": 6, "SSL_TCP": 6, "FTP": 6, "DNS": 17,
             "DNS_TCP": 6, "RDP": 6, "RADIUS": 17, "SIP_UDP": 17, "SIP_TCP": 6, "MYSQL": 6, "MSSQL": 6,
             "ORACLE": 6, "SYSLOGUDP": 17, "SYSLOGTCP": 6, "SMPP": 6, "DIAMETER": 6, "SSL_DIAMETER": 6,
             "RTSP": 6, "PUSH": 6, "SSL_PUSH": 6, "MONGO": 6, "MQTT": 6, "QUIC": 17, "DTLS": 17, "ANY": None,
             "USER_TCP": 6, "USER_SSL_TCP": 6, "TFTP": 17, "IPFIX": 17, "LOGSTREAM": 6, "SMTP": 6,
             "NNTP": 6, "SNMP": 17}
# Service types that terminate TLS or DTLS on the vserver, which then needs a server certificate.
SSL_TYPES = {"SSL", "SSL_TCP", "DTLS", "SSL_DIAMETER", "SSL_PUSH", "USER_SSL_TCP", "SSL_FIX"}
BUILTIN_MONITORS = {"ping": "icmp", "ping-default": "icmp", "tcp": "tcp", "tcp-default": "tcp",
                    "arp": "icmp", "nd6": "icmp", "http": "http", "http-ecv": "http", "https": "https",
                    "https-ecv": "https", "tcp-ecv": "tcp", "tcps": "tcp", "udp-ecv": "udp", "dns": "other",
                    "ftp": "other", "ldns-ping": "icmp", "ldns-tcp": "tcp", "ldns-dns": "other"}


@dataclass(slots=True)
class Item:
    """One object with its options (lower-case names, values as written) and where it was defined."""

    name: str
    args: list[str]
    options: dict[str, list[str]]
    origin: Origin
    bindings: list[tuple[list[str], dict[str, list[str]], Origin]] = field(default_factory=list)

    def opt(self, key: str, default: str | None = None) -> str | None:
        values = self.options.get(key.lower())
        return values[0] if values else default


@dataclass(slots=True)
class NsConfig:
    path: str
    servers: dict[str, Item] = field(default_factory=dict)
    services: dict[str, Item] = field(default_factory=dict)
    groups_of_services: dict[str, Item] = field(default_factory=dict)  # service groups
    vservers: dict[str, Item] = field(default_factory=dict)
    cs_vservers: dict[str, Item] = field(default_factory=dict)
    lb_groups: dict[str, Item] = field(default_factory=dict)
    monitors: dict[str, Item] = field(default_factory=dict)
    usip_mode: bool = False
    issues: list[ParseIssue] = field(default_factory=list)
    acls: dict[tuple[str, int, str], netscaler_acl.NsAcl] = field(default_factory=dict)  # (kind, family, name)
    acl_gaps: list[tuple[int, str]] = field(default_factory=list)  # (family, why its ACLs are not known)
    # SSL vserver -> its certificate bindings (certkey name, "server" | "sni" | "ca"); None: not collected
    ssl_certs: dict[str, list[tuple[str, str, Origin]]] | None = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)  # policy name -> feature (`add responder policy P`)


def split_command(line: str) -> tuple[list[str], dict[str, list[str]]]:
    """Positional words and `-option value...` pairs of one CLI line (quotes and \\" escapes honoured)."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escapedquotes = '"'
    lexer.quotes = '"'
    words = list(lexer)
    positional: list[str] = []
    options: dict[str, list[str]] = {}
    current: str | None = None
    for word in words:
        if word.startswith("-") and len(word) > 1 and not word[1].isdigit():
            current = word[1:].lower()
            options.setdefault(current, [])
        elif current is not None:
            options[current].append(word)
        else:
            positional.append(word)
    return positional, options


def config_from_nsconf(text: str, path: str) -> NsConfig:
    config = NsConfig(path)
    deferred: list[tuple[list[str], dict[str, list[str]], Origin]] = []
    changed: dict[tuple[str, int, str], int] = {}  # extended ACL -> line of its last change
    applied: dict[int, int] = {}  # family -> line of the last `apply ns acls` / `apply ns acls6`
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        origin = Origin(path, line=number)
        try:
            words, options = split_command(line)
        except ValueError as exc:
            raise SnapshotError(path, f"cannot split the command line: {exc}", number) from None
        if len(words) < 2:
            continue
        verb, noun = words[0].lower(), words[1].lower()
        sub = words[2].lower() if len(words) > 2 else ""
        if (noun == "ns" and sub in _ACL_NOUNS) or (verb in ("apply", "renumber", "clear") and "acl" in sub):
            _acl_command(config, words, options, origin, number, changed, applied, line)
        elif verb in ("add", "set") and noun == "server" and len(words) > 2:
            _add_or_set(config.servers, words[2], words[3:], options, origin, verb)
        elif verb in ("add", "set") and noun == "service" and len(words) > 2:
            _add_or_set(config.services, words[2], words[3:], options, origin, verb)
        elif verb in ("add", "set") and noun == "servicegroup" and len(words) > 2:
            _add_or_set(config.groups_of_services, words[2], words[3:], options, origin, verb)
        elif verb in ("add", "set") and noun == "lb" and sub == "vserver" and len(words) > 3:
            _add_or_set(config.vservers, words[3], words[4:], options, origin, verb)
        elif verb in ("add", "set") and noun == "cs" and sub == "vserver" and len(words) > 3:
            _add_or_set(config.cs_vservers, words[3], words[4:], options, origin, verb)
        elif verb in ("add", "set") and noun == "lb" and sub == "group" and len(words) > 3:
            _add_or_set(config.lb_groups, words[3], words[4:], options, origin, verb)
        elif verb in ("add", "set") and noun == "lb" and sub == "monitor" and len(words) > 3:
            _add_or_set(config.monitors, words[3], words[4:], options, origin, verb)
        elif verb == "add" and sub == "policy" and len(words) > 3:
            config.policies[words[3]] = noun
        elif verb == "bind" or (verb in ("disable", "enable") and noun in ("server", "service", "servicegroup", "lb")) \
                or (verb == "enable" and noun == "ns" and sub == "mode"):
            deferred.append((words, options, origin))
    for words, options, origin in deferred:  # bindings may precede the objects they name
        _bind(config, words, options, origin)
    for key, acl in config.acls.items():
        if acl.kind != netscaler_acl.EXTENDED or "kernelstate" in acl.options:
            continue
        if applied.get(acl.family, 0) > changed.get(key, 0):
            acl.applied = True
        else:
            acl.applied = None
    return config


_ACL_NOUNS = {"acl", "acl6", "simpleacl", "simpleacl6"}
_ACL_KINDS = {"acl": (netscaler_acl.EXTENDED, 4), "acl6": (netscaler_acl.EXTENDED, 6),
              "simpleacl": (netscaler_acl.SIMPLE, 4), "simpleacl6": (netscaler_acl.SIMPLE, 6)}


def _acl_command(config: NsConfig, words: list[str], options: dict[str, list[str]], origin: Origin, line: int,
                 changed: dict[tuple[str, int, str], int], applied: dict[int, int], raw_line: str) -> None:
    """add/set/rm/enable/disable ns acl|acl6|simpleacl|simpleacl6, apply ns acls[6], renumber, clear."""
    verb, sub = words[0].lower(), words[2].lower() if len(words) > 2 else ""
    if verb == "apply":
        applied[6 if sub.endswith("6") else 4] = line
        return
    if verb == "renumber":  # priorities become 10, 20, ... in the same order: nothing a packet sees changes
        return
    if verb == "clear" or sub not in _ACL_NOUNS or len(words) < 4:
        family = 6 if sub.endswith("6") else 4
        config.acl_gaps.append((family, f"`{' '.join(words)}` ({origin}) is not modelled"))
        config.issues.append(ParseIssue(origin, " ".join(words), "ACL command not modelled"))
        return
    kind, family = _ACL_KINDS[sub]
    key = (kind, family, words[3])
    if verb == "add":
        acl = netscaler_acl.from_nsconf(words, options, origin, len(config.acls))
        if acl is None:
            return
        acl.raw = raw_line
        if "kernelstate" in options:
            netscaler_acl.kernel_state(acl, (options["kernelstate"] or [""])[0])
        config.acls[key] = acl
    elif key not in config.acls:
        config.issues.append(ParseIssue(origin, " ".join(words), "names an ACL that is not defined"))
        config.acl_gaps.append((family, f"`{' '.join(words)}` ({origin}) names an ACL that is not defined"))
        return
    elif verb == "set":
        config.acls[key].options.update(options)
        config.acls[key].changed = True
        if words[4:]:
            config.acls[key].extra.extend(f"word {w}" for w in words[4:])
    elif verb == "rm":
        del config.acls[key]
    elif verb in ("enable", "disable"):
        config.acls[key].options["state"] = ["ENABLED" if verb == "enable" else "DISABLED"]
    else:
        config.acl_gaps.append((family, f"`{' '.join(words)}` ({origin}) is not modelled"))
        return
    changed[key] = line


def _add_or_set(table: dict[str, Item], name: str, args: list[str], options: dict[str, list[str]],
                origin: Origin, verb: str) -> None:
    item = table.get(name)
    if item is None:
        table[name] = Item(name, args if verb == "add" else [], dict(options), origin)
    else:
        item.options.update(options)


def _bind(config: NsConfig, words: list[str], options: dict[str, list[str]], origin: Origin) -> None:
    verb, noun = words[0].lower(), words[1].lower()
    sub = words[2].lower() if len(words) > 2 else ""
    if verb in ("enable", "disable") and noun != "ns":
        _set_state(config, words, origin)
        return
    if verb == "enable":
        config.usip_mode = config.usip_mode or any(w.upper() == "USIP" for w in words[3:])
        return
    target: Item | None = None
    rest: list[str] = []
    if noun == "ssl" and sub == "vserver" and len(words) > 3:
        if options.get("certkeyname") and config.ssl_certs is not None:
            role = "ca" if "ca" in options else "sni" if "snicert" in options else "server"
            config.ssl_certs.setdefault(words[3], []).append((options["certkeyname"][0], role, origin))
        return
    if noun == "lb" and sub == "vserver" and len(words) > 3:
        target, rest = config.vservers.get(words[3]), words[4:]
    elif noun == "cs" and sub == "vserver" and len(words) > 3:
        target, rest = config.cs_vservers.get(words[3]), words[4:]
    elif noun == "lb" and sub == "group" and len(words) > 3:
        target, rest = config.lb_groups.get(words[3]), words[4:]
        if target is None:  # "If the specified group does not exist, the appliance first creates it"
            target = config.lb_groups[words[3]] = Item(words[3], [], {}, origin)
    elif noun == "servicegroup" and len(words) > 2:
        target, rest = config.groups_of_services.get(words[2]), words[3:]
    elif noun == "service" and len(words) > 2:
        target, rest = config.services.get(words[2]), words[3:]
    elif noun == "lb" and sub == "monitor" and len(words) > 4:  # bind lb monitor M SERVICE
        monitor = words[3]
        service = config.services.get(words[4]) or config.groups_of_services.get(words[4])
        if service is not None:
            service.bindings.append(([], {"monitorname": [monitor]}, origin))
        return
    else:
        return
    if target is None:
        config.issues.append(ParseIssue(origin, " ".join(words), "binds to an object that is not defined"))
        return
    target.bindings.append((rest, options, origin))


def _set_state(config: NsConfig, words: list[str], origin: Origin) -> None:
    """`disable server S`, `disable service S`, `disable serviceGroup SG [server port]`, `disable lb vserver V`
    (and `enable ...`): the same as `-state DISABLED` / `ENABLED` on the object (or the group's member)."""
    verb, noun = words[0].lower(), words[1].lower()
    state = "DISABLED" if verb == "disable" else "ENABLED"
    if noun == "lb" and len(words) > 3 and words[2].lower() == "vserver":
        table, name, member = config.vservers, words[3], words[4:]
    elif noun in ("server", "service", "servicegroup") and len(words) > 2:
        table = {"server": config.servers, "service": config.services,
                 "servicegroup": config.groups_of_services}[noun]
        name, member = words[2], words[3:]
    else:
        return
    item = table.get(name)
    if item is None:
        config.issues.append(ParseIssue(origin, " ".join(words), "names an object that is not defined"))
        return
    if member:  # one member of a service group: its binding's state
        for rest, opts, _origin in item.bindings:
            if rest[:len(member)] == member:
                opts["state"] = [state]
        return
    item.options["state"] = [state]


# The field that names each NITRO row (the rest use "name").
_NITRO_KEYS = {"sslvserver_sslcertkey_binding": "vservername", "nsacl": "aclname",
               "nssimpleacl": "aclname", "nsacl6": "acl6name", "nssimpleacl6": "aclname",
               "servicegroup": "servicegroupname", "servicegroup_servicegroupmember_binding": "servicegroupname",
               "servicegroup_lbmonitor_binding": "servicegroupname", "lbmonitor": "monitorname"}


def config_from_nitro(snapshot: Snapshot, folder: str) -> NsConfig:
    """NITRO bodies as the collector writes them: `<resource>.json` holding {"<resource>": [...]}."""
    config = NsConfig(folder)

    def items(resource: str) -> list[tuple[dict[str, Any], Origin]]:
        rel = f"{folder}/{resource}.json"
        body = snapshot.read_json(rel)
        if body is None:
            return []
        if not isinstance(body, dict):
            raise SnapshotError(rel, "expected a NITRO response object")
        if body.get("errorcode") not in (None, 0):
            raise SnapshotError(rel, f"NITRO error {body.get('errorcode')}: {body.get('message')}")
        if resource not in body and "errorcode" not in body:  # NITRO omits the list only when it is empty
            raise SnapshotError(rel, f"expected a NITRO response with '{resource}'")
        rows = body.get(resource, [])
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list):
            raise SnapshotError(rel, f"'{resource}' is not a list")
        key = _NITRO_KEYS.get(resource, "name")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):  # skipped, it could hide the vserver that fronts the VPN
                raise SnapshotError(f"{rel}[{i}]", f"expected an object, found {type(row).__name__}")
            # names key the tables below: a missing or non-text one would crash there, or merge objects
            names_ok = all(isinstance(v, str | int | None) for k, v in row.items() if k.endswith("name"))
            if not names_ok or not isinstance(row.get(key), str | int):
                raise SnapshotError(f"{rel}[{i}]", f"'{key}' or another name is missing or not text")
        return [(row, Origin(rel, index=i)) for i, row in enumerate(rows) if isinstance(row, dict)]

    def opts(row: dict[str, Any], *keys: str) -> dict[str, list[str]]:
        return {k: [str(row[k])] for k in keys if row.get(k) not in (None, "")}

    for row, origin in items("server"):
        address = row.get("ipaddress") or row.get("domain") or ""
        config.servers[row["name"]] = Item(row["name"], [str(address)], opts(row, "state"), origin)
    for row, origin in items("service"):
        server = row.get("servername") or row.get("ipaddress") or row.get("ip") or ""
        args = [str(server), str(row.get("servicetype", "")), str(row.get("port", ""))]
        config.services[row["name"]] = Item(row["name"], args, opts(row, "usip", "state", "svrstate"), origin)
    for row, origin in items("servicegroup"):
        name = row.get("servicegroupname", "")
        config.groups_of_services[name] = Item(name, [str(row.get("servicetype", ""))],
                                               opts(row, "usip", "state"), origin)
    for row, origin in items("servicegroup_servicegroupmember_binding"):
        sg = config.groups_of_services.get(row.get("servicegroupname", ""))
        if sg is not None:
            member = row.get("servername") or row.get("ip") or ""
            port = row.get("port")
            sg.bindings.append(([str(member), "*" if port in (None, 65535, "*") else str(port)],
                                opts(row, "weight", "state"), origin))
    for resource, key in (("servicegroup_lbmonitor_binding", "servicegroupname"),
                          ("service_lbmonitor_binding", "name")):
        for row, origin in items(resource):
            owner = config.groups_of_services.get(row.get(key, "")) or config.services.get(row.get(key, ""))
            if owner is not None and row.get("monitor_name"):
                owner.bindings.append(([], {"monitorname": [str(row["monitor_name"])]}, origin))
    for row, origin in items("lbvserver"):
        port = row.get("port")
        args = [str(row.get("servicetype", "")), str(row.get("ipv46", "")),
                "*" if port in (None, 65535, "*") else str(port)]
        config.vservers[row["name"]] = Item(row["name"], args, opts(
            row, "persistencetype", "timeout", "lbmethod", "sessionless", "state", "persistmask",
            "persistencebackup", "listenpolicy", "listenpriority"), origin)
    for resource, key in (("lbvserver_service_binding", "servicename"),
                          ("lbvserver_servicegroup_binding", "servicegroupname")):
        for row, origin in items(resource):
            vserver = config.vservers.get(row.get("name", ""))
            if vserver is not None and row.get(key):
                vserver.bindings.append(([str(row[key])], opts(row, "weight"), origin))
    for row, origin in items("lbgroup"):
        config.lb_groups[row["name"]] = Item(row["name"], [], opts(
            row, "persistencetype", "timeout", "rule", "usevserverpersistency", "persistmask"), origin)
    for row, origin in items("lbgroup_lbvserver_binding"):
        group = config.lb_groups.setdefault(row.get("name", ""), Item(row.get("name", ""), [], {}, origin))
        if row.get("vservername"):
            group.bindings.append(([str(row["vservername"])], {}, origin))
    for row, origin in items("lbmonitor"):
        name = row.get("monitorname", "")
        config.monitors[name] = Item(name, [str(row.get("type", ""))], opts(
            row, "httprequest", "send", "recv", "secure", "respcode"), origin)
    for resource, kind, family in (("nssimpleacl", netscaler_acl.SIMPLE, 4), ("nssimpleacl6", netscaler_acl.SIMPLE, 6),
                                   ("nsacl", netscaler_acl.EXTENDED, 4), ("nsacl6", netscaler_acl.EXTENDED, 6)):
        rel = f"{folder}/{resource}.json"
        recorded = snapshot.outcome(rel)
        if not snapshot.exists(rel) and (recorded is None or recorded.outcome != "absent"):
            config.acl_gaps.append((family, snapshot.absence_reason(rel)))
            continue
        for row, origin in items(resource):
            acl = netscaler_acl.from_nitro(row, kind, family, origin, len(config.acls))
            config.acls[(kind, family, acl.name)] = acl
    rel = f"{folder}/sslvserver_sslcertkey_binding.json"
    recorded = snapshot.outcome(rel)
    if not snapshot.exists(rel) and (recorded is None or recorded.outcome != "absent"):
        config.ssl_certs = None  # SSL vservers' certificates not collected
    else:
        certs: dict[str, list[tuple[str, str, Origin]]] = {}
        for row, origin in items("sslvserver_sslcertkey_binding"):
            if row.get("vservername") and row.get("certkeyname"):
                role = "ca" if row.get("ca") in (True, "true") else \
                    "sni" if row.get("snicert") in (True, "true") else "server"
                certs.setdefault(str(row["vservername"]), []).append((str(row["certkeyname"]), role, origin))
        config.ssl_certs = certs
    mode = snapshot.read_json(f"{folder}/nsmode.json")
    if isinstance(mode, dict) and isinstance(mode.get("nsmode"), dict):
        config.usip_mode = bool(mode["nsmode"].get("usip"))
    return config


# ---------------------------------------------------------------------------------------------------


class NetScalerLoadBalancer(LoadBalancer):
    vendor = "netscaler"

    def fix_split(self, pair: IkePair) -> str:
        a, b = pair.ike, pair.natt
        if pair.same_object:
            return f"`set lb vserver {a.name} -persistenceType SOURCEIP -timeout 60` (minutes)."
        group = a.vendor.get("group") or b.vendor.get("group")
        steps = []
        if group and a.vendor.get("group") == b.vendor.get("group"):
            steps.append(f"`set lb group {group} -persistenceType SOURCEIP -timeout 60`")
        else:
            group = group or "ike_grp"
            if not (a.vendor.get("group") or b.vendor.get("group")):
                steps.append(f"`add lb group {group} -persistenceType SOURCEIP -timeout 60`")
            for svc in (a, b):
                if svc.vendor.get("group") != group:
                    if svc.vendor.get("group"):
                        steps.append(f"`unbind lb group {svc.vendor['group']} {svc.name}`")
                    steps.append(f"`bind lb group {group} {svc.name}`")
        text = (f"Put {a.name} (UDP 500) and {b.name} (UDP 4500) in one persistency group with source-IP "
                f"persistence: {'; '.join(steps)}.")
        if pair.backend_difference:
            text += " Bind the same servers (by address) behind both vservers."
        return text

    def fix_snat(self, svc: VirtualService) -> str:
        return (f"Enable Use Source IP on the services or service groups behind {svc.name} (`set serviceGroup "
                f"<name> -usip YES` / `set service <name> -usip YES`), with the NetScaler as the VPN servers' "
                f"gateway for return traffic.")

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        target = svc.vendor.get("backend_objects") or ["<serviceGroup>"]
        if sstp:
            return (f"`add lb monitor sstp_mon HTTP-ECV -secure YES -send \"HEAD {SSTP_PROBE_PATH} HTTP/1.1\\r\\n"
                    f"Host: r\\r\\n\\r\\n\" -recv 401` (omit -secure when TLS is offloaded), then `bind "
                    f"serviceGroup {target[0]} -monitorName sstp_mon`: a plain HTTP/HTTPS/TCP monitor does not "
                    f"test the SSTP listener.")
        return (f"Bind an explicit monitor to {', '.join(target)} (`bind serviceGroup {target[0]} -monitorName "
                f"ping` at least); without one only the default monitor runs.")

    def fix_timeout(self, svc: VirtualService) -> str:
        group = svc.vendor.get("group")
        if group:
            return f"`set lb group {group} -timeout 60` (minutes)."
        return f"`set lb vserver {svc.name} -timeout 60` (minutes)."


class _Builder:
    def __init__(self, config: NsConfig, device: NetScalerLoadBalancer) -> None:
        self.config = config
        self.device = device
        self.group_of: dict[str, Item] = {}
        for group in config.lb_groups.values():
            for rest, _opts, _origin in group.bindings:
                for vserver in rest:
                    self.group_of[vserver] = group

    def services(self) -> list[VirtualService]:
        out = [self.vserver(item) for item in self.config.vservers.values()]
        out.extend(self.cs_vserver(item) for item in self.config.cs_vservers.values())
        return out

    def _listener(self, item: Item, problems: list[str]) -> tuple[Any, int | None, Any, str]:
        args = item.args
        proto_text = args[0].upper() if args else ""
        protocol = PROTOCOLS.get(proto_text)
        if proto_text and proto_text not in PROTOCOLS:
            problems.append(f"service type {proto_text} not known")
        address = None
        ports = None
        if len(args) >= 2:
            text = args[1].split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(text)
                address = None if ip.is_unspecified else ipaddress.ip_network(ip)
            except ValueError:
                problems.append(f"address {args[1]} not understood")
        if len(args) >= 3:
            port = args[2]
            if port == "*" or port == "0":
                ports = None
            elif port.isdigit():
                ports = ((int(port), int(port)),)
            else:
                problems.append(f"port {port} not understood")
        return address, protocol, ports, proto_text

    def vserver(self, item: Item) -> VirtualService:
        problems: list[str] = []
        address, protocol, ports, proto_text = self._listener(item, problems)
        method = (item.opt("lbmethod") or "LEASTCONNECTION").upper()
        svc = VirtualService(
            name=item.name, kind="lb vserver", address=address, protocol=protocol, ports=ports, origin=item.origin,
            enabled=(item.opt("state") or "ENABLED").upper() != "DISABLED", method=method,
            hash_key="client-ip" if method == "SOURCEIPHASH" else None,
            per_datagram=(item.opt("sessionless") or "").upper() == "ENABLED", problems=problems,
            vendor={"servicetype": proto_text},
        )
        if method == "SOURCEIPHASH":
            svc.vendor["hash_note"] = "SOURCEIPHASH consistency across vservers is not documented"
        if svc.per_datagram:
            svc.method += ", sessionless"
        self.listen_policy(item, svc)
        self.certificate(item, svc)
        self.backends(item, svc)
        self.bound_policies(item, svc)
        svc.persistence = self.persistence(item, svc)
        if svc.per_datagram and svc.persistence.kind == SOURCE_IP:
            svc.caveats.append(f"{item.name} is sessionless and has source-IP persistence; whether a persistence "
                               f"record binds each datagram is not documented")
        for problem in problems:
            self.device.issues.append(ParseIssue(item.origin, f"lb vserver {item.name}", problem))
        return svc

    def listen_policy(self, item: Item, svc: VirtualService) -> None:
        """`-Listenpolicy EXPR`: the traffic the vserver accepts; what it does not accept goes elsewhere."""
        text = (item.opt("listenpolicy") or "").strip()
        if not text or text.upper() == "NONE":
            return
        accepted = listen_expression(text)
        if accepted is None:
            svc.problems.append(f"listen policy {text!r} not understood (only CLIENT.TCP/UDP.DSTPORT "
                                f"EQ/NE/GT/GE/LT/LE/BETWEEN with ||, && and ! are evaluated)")
            return
        svc.listen = accepted
        svc.vendor["listenpolicy"] = text

    # Policies bound to a vserver act on the requests to its VIP (NetScaler, "Bind a responder policy"). Those of
    # these features only rewrite, compress, cache or log; any other (responder DROP/RESET, AppFW, filter,
    # authorization, spillover, a policy not defined in the file) can drop or divert the traffic.
    _PASSIVE_POLICIES = frozenset({"rewrite", "cmp", "cache", "audit"})

    def bound_policies(self, item: Item, svc: VirtualService) -> None:
        for _rest, opts, origin in item.bindings:
            for name in opts.get("policyname", []):
                feature = self.config.policies.get(name)
                if feature in self._PASSIVE_POLICIES:
                    continue
                what = f"{feature} policy {name}" if feature else f"policy {name} (not defined in the file)"
                svc.scripts.append(Script(what, True, origin))

    def certificate(self, item: Item, svc: VirtualService) -> None:
        """An SSL vserver with no server certificate bound stays DOWN (NetScaler: a vserver whose certificate
        is removed becomes inactive until a valid one is bound)."""
        stype = svc.vendor.get("servicetype", "")
        if stype not in SSL_TYPES:
            return
        if self.config.ssl_certs is None:
            svc.problems.append("its certificate bindings (sslvserver_sslcertkey_binding) were not collected")
            return
        bound = self.config.ssl_certs.get(item.name, [])
        if any(role == "server" for _n, role, _o in bound):
            return
        if any(role == "sni" for _n, role, _o in bound):
            svc.gates.append(Gate(Decision.UNKNOWN, f"{stype} vserver with only SNI certificates bound "
                                                     f"({', '.join(n for n, r, _o in bound if r == 'sni')}): "
                                                     f"whether it is UP without a default certificate is not "
                                                     f"documented", origin=bound[0][2]))
            return
        svc.enabled = False
        svc.state_reason = (f"is an {stype} vserver with no server certificate bound (`bind ssl vserver "
                            f"{item.name} -certkeyName ...`): the NetScaler keeps it DOWN")

    def cs_vserver(self, item: Item) -> VirtualService:
        problems: list[str] = []
        address, protocol, ports, proto_text = self._listener(item, problems)
        svc = VirtualService(name=item.name, kind="cs vserver", address=address, protocol=protocol, ports=ports,
                             origin=item.origin, problems=problems, vendor={"servicetype": proto_text})
        self.listen_policy(item, svc)
        self.certificate(item, svc)
        policies = [o for rest, opts, o in item.bindings if "policyname" in opts]
        default = next((opts["lbvserver"][0] for rest, opts, _ in item.bindings if opts.get("lbvserver")), None)
        if policies or default is None:
            svc.scripts.append(Script("content switching policies", True, policies[0] if policies else item.origin))
        if default is not None and default in self.config.vservers:
            target = self.vserver(self.config.vservers[default])
            svc.backends, svc.pool, svc.monitors, svc.snat = target.backends, default, target.monitors, target.snat
            svc.persistence = target.persistence
            svc.scripts.extend(target.scripts)
            svc.problems.extend(f"default lb vserver {default}: {p}" for p in target.problems)
            if not target.enabled:  # a disabled lb vserver takes no traffic, from its VIP or from content switching
                svc.enabled = False
                why = target.state_reason or "is disabled (-state DISABLED)"
                svc.state_reason = f"sends everything to its default lb vserver {default}, which {why}"
        return svc

    # backends -------------------------------------------------------------------------------------------
    def backends(self, item: Item, svc: VirtualService) -> None:
        snats: list[SourceTranslation] = []
        names: list[str] = []
        for rest, opts, _origin in item.bindings:
            if not rest or "policyname" in opts:
                continue
            name = rest[0]
            if name in self.config.groups_of_services:
                sg = self.config.groups_of_services[name]
                names.append(name)
                for mrest, mopts, morigin in sg.bindings:
                    if mrest:
                        svc.backends.append(self.member(name, mrest, mopts, morigin))
                svc.monitors.extend(self.monitors(sg))
                snats.append(self.usip(sg))
            elif name in self.config.services:
                service = self.config.services[name]
                names.append(name)
                svc.backends.append(self.service_backend(service))
                svc.monitors.extend(m for m in self.monitors(service) if m not in svc.monitors)
                snats.append(self.usip(service))
            else:
                svc.problems.append(f"bound service or service group {name} is not defined")
        svc.pool = ", ".join(names)
        svc.vendor["backend_objects"] = names
        if not svc.monitors and svc.backends:
            default = "ping-default" if svc.protocol == 17 else "tcp-default"
            svc.monitors = [Monitor(f"{default} (implicit)", BUILTIN_MONITORS[default], implicit=True)]
        for kind in ("snat", "unknown"):
            found = next((s for s in snats if s.kind == kind), None)
            if found is not None:
                svc.snat = found
                break
        else:
            if snats:
                svc.snat = snats[0]

    def _server_address(self, ref: str) -> tuple[str | None, str | None]:
        try:
            ipaddress.ip_address(ref.split("%", 1)[0])
            return ref.split("%", 1)[0], None
        except ValueError:
            pass
        server = self.config.servers.get(ref)
        if server is None or not server.args:
            return None, ref
        value = server.args[0].split("%", 1)[0]
        try:
            ipaddress.ip_address(value)
            return value, None
        except ValueError:
            return None, value or ref  # a domain-based server: no address from the config

    def member(self, sg: str, rest: list[str], opts: dict[str, list[str]], origin: Origin) -> Backend:
        address, fqdn = self._server_address(rest[0])
        port = rest[1] if len(rest) > 1 else "*"
        weight = opts.get("weight", [""])[0]
        group = self.config.groups_of_services.get(sg)
        state = ""
        if (opts.get("state", ["ENABLED"])[0] or "").upper() == "DISABLED":
            state = f"service group member {rest[0]} -state DISABLED"
        elif group is not None and (group.opt("state") or "").upper() == "DISABLED":
            state = f"service group {sg} -state DISABLED: every member is disabled"
        state = state or self._server_state(rest[0])
        return Backend(name=f"{sg}/{rest[0]}", address=address, port=int(port) if port.isdigit() and port != "0"
                       else None, weight=int(weight) if weight.isdigit() else None, enabled=not state,
                       origin=origin, fqdn=fqdn, state=state)

    def service_backend(self, service: Item) -> Backend:
        args = service.args
        address, fqdn = self._server_address(args[0]) if args else (None, service.name)
        port = args[2] if len(args) > 2 else "*"
        value = (service.opt("state") or service.opt("svrstate") or "ENABLED").upper()
        state = f"service {service.name} {value}" if value in ("DISABLED", "OUT OF SERVICE") else ""
        state = state or (self._server_state(args[0]) if args else "")
        return Backend(name=service.name, address=address, port=int(port) if port.isdigit() and port != "0"
                       else None, enabled=not state, origin=service.origin, fqdn=fqdn, state=state)

    def _server_state(self, ref: str) -> str:
        """A disabled server disables every service on it (NetScaler `add server ... -state DISABLED`,
        `disable server`)."""
        server = self.config.servers.get(ref)
        if server is not None and (server.opt("state") or "").upper() == "DISABLED":
            return f"server {ref} -state DISABLED: all services on the server are disabled"
        return ""

    def usip(self, item: Item) -> SourceTranslation:
        value = (item.opt("usip") or "").upper()
        if value == "YES":
            return SourceTranslation("none", "-usip YES", item.origin)
        if value == "NO":
            return SourceTranslation("snat", f"-usip NO on {item.name}: the NetScaler's SNIP", item.origin,
                                     verify="-usip NO is read as source NAT to a SNIP (not verified)")
        if self.config.usip_mode:
            return SourceTranslation("none", "global USIP mode enabled", item.origin)
        return SourceTranslation(
            "unknown", f"{item.name} has no -usip setting", item.origin,
            verify="a service without -usip follows the global USIP mode, which this config does not enable: "
                   "check whether the VPN servers see client addresses")

    def monitors(self, item: Item) -> list[Monitor]:
        out = []
        for _rest, opts, origin in item.bindings:
            for name in opts.get("monitorname", []):
                out.append(self.monitor(name, origin))
        return out

    def monitor(self, name: str, origin: Origin) -> Monitor:
        item = self.config.monitors.get(name)
        if item is None:
            kind = BUILTIN_MONITORS.get(name.lower(), "other")
            return Monitor(name, kind, origin=origin)
        mtype = (item.args[0] if item.args else "").upper()
        send = item.opt("httprequest") or item.opt("send") or ""
        if mtype in ("HTTP", "HTTP-ECV"):
            kind = classify_http_monitor((item.opt("secure") or "").upper() == "YES", send)
        elif mtype == "PING":
            kind = "icmp"
        elif mtype in ("TCP", "TCP-ECV"):
            kind = "tcp"
        elif mtype in ("UDP", "UDP-ECV"):
            kind = "udp"
        elif mtype == "USER":
            kind = "script"
        else:
            kind = "other"
        return Monitor(name, kind, send=send, recv=item.opt("recv") or "", origin=item.origin)

    # persistence ---------------------------------------------------------------------------------------
    def persistence(self, item: Item, svc: VirtualService) -> Persistence:
        own = self._vserver_persistence(item)
        group = self.group_of.get(item.name)
        if group is None:
            return own
        svc.vendor["group"] = group.name
        gtype = (group.opt("persistencetype") or "NONE").upper()
        minutes = _minutes(group.opt("timeout"))
        settings = {"group persistenceType": gtype, "group timeout (min)": str(minutes)}
        bind_origin = next((o for rest, _opts, o in group.bindings if item.name in rest), group.origin)
        origins = (group.origin, bind_origin)
        if gtype == "NONE":
            note = f"lb group {group.name} has persistence NONE, so each vserver's own persistence applies"
            return Persistence(kind=own.kind, name=own.name, vendor_type=own.vendor_type, table=own.table,
                               scope=own.scope, timeout=own.timeout, settings={**own.settings, **settings},
                               origins=(*own.origins, *origins), note=note)
        uncertain = ""
        if (group.opt("usevserverpersistency") or "").upper() == "ENABLED":
            uncertain = (f"lb group {group.name} has -useVserverPersistency ENABLED; how it combines with group "
                         f"persistence is not documented in the sources")
        if gtype == "SOURCEIP":
            if minutes == 0:
                uncertain = uncertain or f"lb group {group.name} timeout 0: whether records persist is not documented"
            return Persistence(kind=SOURCE_IP, name=f"lb group {group.name}", vendor_type="SOURCEIP",
                               table=f"lb group {group.name}", scope=SCOPE_DEVICE, timeout=minutes * 60,
                               settings=settings, origins=origins, uncertain=uncertain)
        if gtype == "RULE":
            settings["rule"] = group.opt("rule") or ""
            return Persistence(kind=RULE, name=f"lb group {group.name}", vendor_type="RULE", settings=settings,
                               origins=origins, timeout=minutes * 60)
        return Persistence(kind=OTHER, name=f"lb group {group.name}", vendor_type=gtype, settings=settings,
                           origins=origins, timeout=minutes * 60, uncertain=uncertain)

    def _vserver_persistence(self, item: Item) -> Persistence:
        ptype = (item.opt("persistencetype") or "NONE").upper()
        minutes = _minutes(item.opt("timeout"))
        settings = {"timeout (min)": str(minutes)}
        if item.opt("persistmask"):
            settings["persistMask"] = item.opt("persistmask") or ""
        name = f"vserver -persistenceType {ptype}"
        if ptype == "NONE":
            return Persistence(kind=NO_PERSIST, vendor_type="NONE", settings={}, origins=(item.origin,))
        if ptype == "SOURCEIP":
            return Persistence(kind=SOURCE_IP, name=name, vendor_type=ptype, table=f"vserver {item.name}",
                               scope=SCOPE_SERVICE, timeout=minutes * 60, settings=settings, origins=(item.origin,))
        if ptype == "RULE":
            settings["rule"] = item.opt("rule") or ""
            return Persistence(kind=RULE, name=name, vendor_type=ptype, settings=settings, origins=(item.origin,))
        return Persistence(kind=OTHER, name=name, vendor_type=ptype, timeout=minutes * 60, settings=settings,
                           origins=(item.origin,))


def _minutes(text: str | None) -> int:
    return int(text) if text and text.isdigit() else DEFAULT_TIMEOUT_MINUTES


_TOKEN = re.compile(r"\s*(\|\||&&|!|\(|\)|,|CLIENT\.(?:TCP|UDP)\.DSTPORT\.[A-Z_]+|\d+)", re.IGNORECASE)
_PORT_OPS = {"EQ": 1, "NE": 1, "GT": 1, "GE": 1, "LT": 1, "LE": 1, "BETWEEN": 2}


def listen_expression(text: str) -> PacketSet | None:
    """The (protocol, destination port) packets a listen policy accepts, or None when it is not the common
    form: CLIENT.TCP.DSTPORT / CLIENT.UDP.DSTPORT with EQ, NE, GT, GE, LT, LE or BETWEEN, joined by ||, &&, !
    and parentheses (a named expression or any other term is not evaluated)."""
    tokens: list[str] = []
    pos = 0
    body = text.strip().strip('"')
    while pos < len(body):
        found = _TOKEN.match(body, pos)
        if found is None:
            return None
        tokens.append(found.group(1))
        pos = found.end()
        while pos < len(body) and body[pos].isspace():
            pos += 1
    try:
        result, rest = _or(tokens)
    except (IndexError, ValueError):
        return None
    return result if not rest else None


def _or(tokens: list[str]) -> tuple[PacketSet, list[str]]:
    left, tokens = _and(tokens)
    while tokens and tokens[0] == "||":
        right, tokens = _and(tokens[1:])
        left = left | right
    return left, tokens


def _and(tokens: list[str]) -> tuple[PacketSet, list[str]]:
    left, tokens = _unary(tokens)
    while tokens and tokens[0] == "&&":
        right, tokens = _unary(tokens[1:])
        left = left & right
    return left, tokens


def _unary(tokens: list[str]) -> tuple[PacketSet, list[str]]:
    head = tokens[0]
    if head == "!":
        inner, rest = _unary(tokens[1:])
        return ALL - inner, rest
    if head == "(":
        inner, rest = _or(tokens[1:])
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced parentheses")
        return inner, rest[1:]
    term = head.upper().split(".")
    if len(term) != 4 or term[3] not in _PORT_OPS:
        raise ValueError(head)
    args: list[int] = []
    rest = tokens[1:]
    if not rest or rest[0] != "(":
        raise ValueError(head)
    rest = rest[1:]
    while True:
        args.append(int(rest[0]))
        rest = rest[1:]
        if rest[0] == ",":
            rest = rest[1:]
            continue
        if rest[0] != ")":
            raise ValueError(head)
        rest = rest[1:]
        break
    if len(args) != _PORT_OPS[term[3]] or any(not 0 <= a <= 65535 for a in args):
        raise ValueError(head)
    proto = 6 if term[1] == "TCP" else 17
    low, high = args[0], args[-1]
    spans = {"EQ": [(low, low)], "NE": [(0, low - 1), (low + 1, 65535)], "GT": [(low + 1, 65535)],
             "GE": [(low, 65535)], "LT": [(0, low - 1)], "LE": [(0, low)], "BETWEEN": [(low, high)]}[term[3]]
    spans = [(a, b) for a, b in spans if a <= b]
    return (PacketSet.of(proto=[(proto, proto)], dport=spans) if spans else PacketSet()), rest


def build_device(name: str, config: NsConfig) -> NetScalerLoadBalancer:
    device = NetScalerLoadBalancer(name, config.path)
    device.issues.extend(config.issues)
    device.services = _Builder(config, device).services()
    device.filters = _acl_rules(config)
    device.filter_default = "no ACL matches: the NetScaler processes the packet (on to the virtual servers)"
    return device


def _acl_rules(config: NsConfig) -> list[Rule]:
    """The ACLs as rules, after one uncertain rule per address family whose ACLs are not fully known."""
    gaps: list[Rule] = []
    for family in sorted({f for f, _ in config.acl_gaps}):
        why = "; ".join(reason for f, reason in config.acl_gaps if f == family)
        space = PacketSet.of([ANY_V4 if family == 4 else ANY_V6])
        gaps.append(Rule(len(gaps) + 1, Action.DENY, space, f"IPv{family} ACLs of {config.path}",
                         origin=Origin(config.path), certain=False, reason=why))
    found = netscaler_acl.rules(list(config.acls.values()))
    for i, rule in enumerate(found, start=len(gaps) + 1):
        rule.position = i
    return gaps + found


def load_nsconf(text: str, path: str, name: str) -> NetScalerLoadBalancer:
    return build_device(name, config_from_nsconf(text, path))


class NetScalerAdapter:
    """Every `netscaler/<device>.conf` and `netscaler/<device>/` becomes a `NetScalerLoadBalancer`."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        load_devices(snapshot, model, "netscaler", "an ns.conf and a NITRO folder",
                     [f"{r}.json" for r in NITRO_NEEDED],
                     lambda name, rel: build_device(name, config_from_nitro(snapshot, rel)), load_nsconf)


__all__ = ["NetScalerAdapter", "NetScalerLoadBalancer", "NsConfig", "build_device", "config_from_nitro",
           "config_from_nsconf", "load_nsconf", "split_command"]
