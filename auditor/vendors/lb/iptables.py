"""The IPVS director's own packet filter, from `iptables-save` output, as one first-match rule list.

IPVS takes client packets at LOCAL_IN "after packet filtering ... so that filtering rules can be applied to
IPVS" (Linux `net/netfilter/ipvs/ip_vs_core.c`): the filter table's INPUT chain decides first, and before it the
raw and mangle PREROUTING chains and the mangle INPUT chain may drop. What is read (iptables(8),
iptables-extensions(8)):

- filter `INPUT`, rule by rule, first match, then the chain's policy (`:INPUT DROP`): `-p`, `-s`, `-d`,
  `--sport`/`--dport` (`-m tcp|udp`), `--sports`/`--dports` (`-m multiport`), `-m state --state` /
  `-m conntrack --ctstate` (a rule for ESTABLISHED or RELATED only never matches the first packet of a flow;
  UDP 4500 after 500 and ESP are new flows to conntrack; states other than NEW leave the rule uncertain),
  `-m comment`, `-i lo` (loopback: no client packet arrives there), `-f` (later fragments only); targets
  ACCEPT, DROP, REJECT, and targets that decide nothing (LOG, MARK, ...), which are skipped;
- anything else makes the rule uncertain: another interface (`-i eth0`: which one the VIP's traffic arrives on
  is not in the snapshot), negation (`!`), other match modules, a jump to a user-defined chain or RETURN
  (its outcome is `unknown`), a NOTRACK in the raw table (untracked packets match no state);
- in raw/mangle PREROUTING and mangle INPUT only what may drop counts (a DROP or REJECT target, a DROP
  policy), as an uncertain deny: ACCEPT there ends that chain only, and filter INPUT still decides.
"""

from __future__ import annotations

import ipaddress
import shlex

from auditor.model import Action, Origin, Rule
from auditor.packets import ALL, ANY_ADDR, ANY_PORT, ANY_PROTO, PROTO_NUMBERS, Interval, PacketSet, network_interval
from auditor.snapshot import SnapshotError

_EARLY = {"raw": ("PREROUTING",), "mangle": ("PREROUTING", "INPUT")}  # may drop before filter INPUT
_BUILTIN = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
_DECIDES_NOTHING = frozenset({"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "CT", "NOTRACK", "TOS", "DSCP",
                              "TTL", "HL", "AUDIT", "CLASSIFY", "TCPMSS", "SET", "CHECKSUM", "CONNSECMARK",
                              "SECMARK"})
_KNOWN_MODULES = frozenset({"tcp", "udp", "multiport", "state", "conntrack", "comment", "icmp", "icmp6", "esp"})
_VALUED = frozenset({"-p", "--protocol", "-s", "--source", "--src", "-d", "--destination", "--dst", "-i",
                     "--in-interface", "-o", "--out-interface", "-j", "--jump", "-g", "--goto", "-m", "--match",
                     "--sport", "--source-port", "--dport", "--destination-port", "--sports", "--source-ports",
                     "--dports", "--destination-ports", "--state", "--ctstate", "--comment", "--icmp-type",
                     "--icmpv6-type", "--espspi"})
_ALIASES = {"--protocol": "-p", "--source": "-s", "--src": "-s", "--destination": "-d", "--dst": "-d",
            "--in-interface": "-i", "--out-interface": "-o", "--jump": "-j", "--goto": "-g", "--match": "-m",
            "--source-port": "--sport", "--destination-port": "--dport", "--source-ports": "--sports",
            "--destination-ports": "--dports", "--ctstate": "--state"}


def host_filter(text: str, path: str) -> list[Rule]:
    """The director's filter as rules (positions from 1; the device's list ends in a permit, so a DROP policy is
    a last rule of its own). Empty when nothing in the file can drop a client's packet."""
    tables: dict[str, list[tuple[int, str]]] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and "]" in line:  # `iptables-save -c`: packet and byte counters first
            line = line[line.index("]") + 1:].strip()
        if line.startswith("*"):
            table = line[1:].strip()
        elif table and (line.startswith(":") or line.startswith("-A ")):
            tables.setdefault(table, []).append((number, line))
    untracked = any(" NOTRACK" in line or "--notrack" in line for _n, line in tables.get("raw", []))
    rules: list[Rule] = []
    for name, chains in _EARLY.items():
        for number, line in tables.get(name, []):
            rules.extend(_early_drop(name, chains, number, line, path, len(rules) + 1, untracked))
    policy: tuple[int, str] | None = None
    for number, line in tables.get("filter", []):
        if line.startswith(":"):
            words = line[1:].split()
            if len(words) >= 2 and words[0] == "INPUT":
                policy = (number, words[1])
            continue
        words = _split(line, path, number)
        if len(words) < 2 or words[1] != "INPUT":
            continue
        rule = _input_rule(words[2:], line, Origin(path, line=number), len(rules) + 1, untracked)
        if rule is not None:
            rules.append(rule)
    if policy is not None and policy[1] in ("DROP", "REJECT"):
        rules.append(Rule(len(rules) + 1, Action.DENY, ALL, f":INPUT {policy[1]}",
                          origin=Origin(path, line=policy[0]),
                          reason="the filter table's INPUT policy: what no rule accepts is dropped"))
    if not any(r.action is not Action.PERMIT for r in rules):
        return []  # accepts and nothing else: no packet of a client is dropped here
    return rules


def _split(line: str, path: str, number: int) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise SnapshotError(path, f"cannot split the rule: {exc}", number) from None


def _early_drop(table: str, chains: tuple[str, ...], number: int, line: str, path: str,
                position: int, untracked: bool) -> list[Rule]:
    """A drop in raw/mangle: uncertain (an ACCEPT before it in its chain may have let the packet on), over what
    its matches may take (`-p udp --dport 22 -j DROP` cannot touch UDP 500)."""
    words = line.split()
    chain = words[0][1:] if line.startswith(":") else words[1] if len(words) > 1 else ""
    if chain in _BUILTIN and chain not in chains:
        return []
    if line.startswith(":"):
        if len(words) < 2 or words[1] not in ("DROP", "REJECT"):
            return []
        match, why = ALL, f"{table} table chain {chain} has policy {words[1]}"
    else:
        read = _input_rule(_split(line, path, number)[2:], line, Origin(path, line=number), position, untracked)
        if read is None or read.action is not Action.DENY:
            return []  # no drop, or never the first packet of a VPN flow (loopback, later fragments, established)
        match, why = read.match, f"{table} table chain {chain} may drop ({line})"
    return [Rule(position, Action.DENY, match, line, origin=Origin(path, line=number), certain=False,
                 reason=f"the director's packet filter sees packets before IPVS; {why}, and what comes before it "
                        f"in its chain is not evaluated there")]


def _input_rule(words: list[str], line: str, origin: Origin, position: int, untracked: bool) -> Rule | None:
    """One `-A INPUT` rule, or None when it decides nothing for the first packet of a VPN flow."""
    options: dict[str, str] = {}
    unclear: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "!":
            unclear.append("a negated match")
            index += 1
            continue
        if word in ("-f", "--fragment"):
            return None  # second and later fragments only
        if word in _VALUED and index + 1 < len(words):
            key = _ALIASES.get(word, word)
            value = words[index + 1]
            if key == "-m" and value not in _KNOWN_MODULES:
                unclear.append(f"the match module {value!r}")
            options.setdefault(key, value)
            if key in ("-j", "-g"):
                # what follows are the target's own options (--reject-with, --log-prefix); a match written after
                # the target (not iptables-save's order) would be lost, so the rule is then not read
                if any(w in _VALUED or w == "!" for w in words[index + 2:]):
                    unclear.append("a match written after the target")
                break
            index += 2
            continue
        unclear.append(f"{word!r}")
        index += 1
    target = options.get("-j") or options.get("-g")
    if target is None or target in _DECIDES_NOTHING:
        return None
    interface = options.get("-i")
    if interface == "lo":
        return None  # no client's packet arrives on loopback
    if interface is not None:
        unclear.append(f"the interface {interface} (which one the VIP's traffic arrives on is not known)")
    state = options.get("--state")
    if state is not None:
        states = {s.strip().upper() for s in state.split(",")}
        if untracked:
            unclear.append("a state match where the raw table leaves packets untracked")
        elif states <= {"ESTABLISHED", "RELATED"}:
            return None  # never the first packet of a flow
        elif "NEW" not in states:  # INVALID, UNTRACKED, DNAT, SNAT: whether a first packet is one is not read
            unclear.append(f"the state {state}")
    dims = {"-s": _addresses(options.get("-s")), "-d": _addresses(options.get("-d")),
            "-p": _protocol(options.get("-p")), "--sport": _ports(options.get("--sport") or options.get("--sports")),
            "--dport": _ports(options.get("--dport") or options.get("--dports"))}
    if any(value is None for value in dims.values()):  # not read: the rule may match anything
        unclear.extend(f"the value of {key}" for key, value in dims.items() if value is None)
        match = ALL
    else:
        match = PacketSet.of(src=dims["-s"] or (), dst=dims["-d"] or (), proto=dims["-p"] or (),
                             sport=dims["--sport"] or (), dport=dims["--dport"] or ())
    if target == "ACCEPT":
        action = Action.PERMIT
    elif target in ("DROP", "REJECT"):
        action = Action.DENY
    else:
        return Rule(position, Action.UNKNOWN, match, line, origin=origin,
                    reason=f"the target {target} (a user-defined chain, or RETURN) is not evaluated")
    if unclear:
        return Rule(position, action, match, line, origin=origin, certain=False,
                    reason=f"not evaluated: {', '.join(unclear)}")
    return Rule(position, action, match, line, origin=origin)


# Each reader: the intervals a match takes, or None when its value is not read (the rule is then uncertain).
def _addresses(text: str | None) -> list[Interval] | None:
    if text is None:
        return [ANY_ADDR]
    try:
        return [network_interval(ipaddress.ip_network(part, strict=False)) for part in text.split(",")]
    except ValueError:
        return None


def _protocol(text: str | None) -> list[Interval] | None:
    if text is None or text.lower() in ("all", "0"):
        return [ANY_PROTO]
    number = PROTO_NUMBERS.get(text.lower())
    if number is None and text.isdigit() and int(text) <= 255:
        number = int(text)
    return None if number is None else [(number, number)]


def _ports(text: str | None) -> list[Interval] | None:
    if text is None:
        return [ANY_PORT]
    out: list[Interval] = []
    for part in text.split(","):
        low, colon, high = part.partition(":")  # "N:" is N to 65535, ":M" is 0 to M (iptables-extensions(8))
        low, high = low or ("0" if colon else ""), high or ("65535" if colon else low)
        if not low.isdigit() or not high.isdigit() or int(low) > int(high) or int(high) > 65535:
            return None  # service names need /etc/services
        out.append((int(low), int(high)))
    return out
