"""Reading a Cisco configuration's lines, and accounting for every one of them.

- Free text first: banners (ASA `banner motd TEXT`, one line each; IOS `banner motd ^C ... ^C`, delimited and
  often multi-line), the delimited messages of `line` blocks (`vacant-message`, `busy-message`,
  `refuse-message`) and switch macros (`macro name X` ... `@`) are set aside before ciscoconfparse builds the
  line tree. Its own banner handling takes an ASA banner's first character for an IOS delimiter and swallows
  every line up to the next occurrence of it, access-lists included.
- Relevance: which lines can change a VPN verdict, per platform (`TOP_LEVEL`, `INTERFACE_CHILDREN`; the same
  table is in docs/semantics/cisco.md). A relevant line the parser neither read nor reported unknown, and a
  relevant line holding a token no command takes, make the device's configuration untrustworthy as a whole
  (its paths are unknown). Every other line is "not modelled, cannot affect the VPN path": reported once per
  device, as information, and it decides nothing.
- Completeness: a transfer cut short loses the lines that matter most (bindings and NAT come late). A
  configuration proves it is whole by its final `end`, or by a collector's own header or footer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from auditor.vendors.cisco.common import Line, line_tree

# --- free text ------------------------------------------------------------------------------------------------
_IOS_BANNER = re.compile(r"^banner\s+(\S+)\s?(.*)$")
_ASA_BANNER = re.compile(r"^banner\s+\S+")
_LINE_MESSAGE = re.compile(r"^\s+(vacant-message|busy-message|refuse-message)\s?(.*)$")
_MACRO = re.compile(r"^macro name \S+")


@dataclass(frozen=True, slots=True)
class FreeText:
    """Lines first..last (1-based, inclusive) hold free text: no command is read from them."""

    first: int
    last: int
    what: str  # "banner motd", "vacant-message", "macro"


def _delimited(raw: list[str], i: int, rest: str) -> int:
    """The index of the last line of a delimited text that starts at raw[i] with `rest` (delimiter first).

    IOS shows the delimiter as `^C` (it stores Ctrl-C) or as the character typed; the text ends at its next
    occurrence, on the same line or a later one. No closing delimiter: the text is that one line (its lines
    after are read as commands, so nothing is swallowed unseen)."""
    if not rest:
        return i
    delim = "^C" if rest.startswith("^C") else rest[0]
    if delim in rest[len(delim):]:
        return i
    for j in range(i + 1, len(raw)):
        if delim in raw[j]:
            return j
    return i


def mask_free_text(raw: list[str], platform: str) -> tuple[list[str], list[FreeText]]:
    """The lines with free text replaced by comments (same count, same numbers), and where that text was."""
    out = list(raw)
    found: list[FreeText] = []
    i = 0
    while i < len(raw):
        line = raw[i]
        end = None
        what = ""
        if line.startswith("banner"):
            if platform == "asa":
                if _ASA_BANNER.match(line):
                    end, what = i, " ".join(line.split()[:2])
            elif m := _IOS_BANNER.match(line):
                end, what = _delimited(raw, i, m.group(2)), f"banner {m.group(1)}"
        elif line.startswith(" ") and (m := _LINE_MESSAGE.match(line)):
            end, what = _delimited(raw, i, m.group(2)), m.group(1)
        elif line.startswith("macro name "):
            end = next((j for j in range(i + 1, len(raw)) if raw[j].strip() == "@"), i)
            what = "macro"
        if end is None:
            i += 1
            continue
        for j in range(i, end + 1):
            out[j] = "!"
        found.append(FreeText(i + 1, end + 1, what))
        i = end + 1
    return out, found


def read_tree(text: str, platform: str) -> tuple[list[Line], list[FreeText]]:
    """The line tree of a configuration (free text set aside), and where the free text was."""
    raw = text.splitlines()
    masked, free = mask_free_text(raw, platform)
    return line_tree("\n".join(masked), platform), free


# --- completeness -----------------------------------------------------------------------------------------------
# `show running-config` ends with `end` (IOS) or `: end` (ASA).
_END = re.compile(r"^(?::\s*)?end\s*$", re.M)
# RANCID writes this first line and keeps a configuration only when it saw the device's end of it.
_RANCID = re.compile(r"\A\s*[!#]RANCID-CONTENT-TYPE:", re.M)
# oxidized's ios and asa models put `show version` first, as comments; it stores a configuration only when
# every command of the model came back to the prompt.
_OXIDIZED = re.compile(r"^! Cisco (?:IOS Software|IOS XE Software|IOS-XE Software|Internetwork Operating System "
                       r"Software|Adaptive Security Appliance Software Version)", re.M)
# The ASA prints its checksum after the whole configuration, just before `: end` (which oxidized drops).
_CHECKSUM = re.compile(r"^Cryptochecksum:[0-9a-fA-F ]+\s*$")


def completeness(text: str, platform: str) -> str:
    """How the configuration proves it is whole ("" when it does not)."""
    if _END.search(text):
        return "it ends with `end`"
    if _RANCID.match(text):
        return "RANCID's `!RANCID-CONTENT-TYPE` header (RANCID keeps only configurations it saw the end of)"
    if _OXIDIZED.search(text[:2000]):
        return "oxidized's `show version` header (oxidized keeps only complete collections)"
    if platform == "asa":
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip() and not ln.startswith("!")), "")
        if _CHECKSUM.match(last):
            return "the ASA's `Cryptochecksum:` line, printed after the whole configuration, is its last command"
    return ""


# --- relevance ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Kind:
    """What a top-level line is, for the VPN path. `children`: "all" (read with the block), "interface"
    (`INTERFACE_CHILDREN` decides), "none" (only the line itself bears on the path)."""

    relevant: bool
    what: str
    children: str = "none"


# Per platform, the top-level commands that can decide a VPN flow through the device (first match). Anything
# else is not modelled and cannot affect the path. docs/semantics/cisco.md shows this table.
TOP_LEVEL: dict[str, list[tuple[re.Pattern[str], Kind]]] = {
    "asa": [(re.compile(p), k) for p, k in [
        (r"^interface ", Kind(True, "interface", "interface")),
        (r"^access-list ", Kind(True, "access-list")),
        (r"^access-group ", Kind(True, "access-group")),
        (r"^object ", Kind(True, "object", "all")),
        (r"^object-group ", Kind(True, "object-group", "all")),
        (r"^nat ", Kind(True, "nat")),
        (r"^static ", Kind(True, "static (pre-8.3 NAT)")),
        (r"^global ", Kind(True, "global (pre-8.3 PAT)")),
        (r"^names?(?: |$)", Kind(True, "name")),
        (r"^(?:ipv6 )?route ", Kind(True, "route")),
        (r"^same-security-traffic ", Kind(True, "same-security-traffic")),
        (r"^crypto (?:ikev1|ikev2) enable ", Kind(True, "crypto enable (the ASA terminates VPNs)")),
        (r"^crypto map \S+ interface ", Kind(True, "crypto map interface (the ASA terminates VPNs)")),
        (r"^webvpn$", Kind(True, "webvpn (the ASA terminates SSL VPN)", "all")),
        (r"^(?:no )?crypto isakmp nat-traversal", Kind(True, "crypto isakmp nat-traversal")),
        (r"^sysopt noproxyarp ", Kind(True, "sysopt noproxyarp (no proxy ARP for NAT addresses)")),
        (r"^firewall transparent", Kind(True, "firewall transparent")),
        (r"^fragment chain ", Kind(True, "fragment chain")),
        (r"^router (?:ospf|bgp|eigrp|rip|isis)\b", Kind(True, "router (dynamic routing is configured)")),
        (r"^hostname ", Kind(True, "hostname")),
    ]],
    "ios": [(re.compile(p), k) for p, k in [
        (r"^interface ", Kind(True, "interface", "interface")),
        (r"^ip(?:v6)? access-list ", Kind(True, "ip access-list", "all")),
        (r"^access-list ", Kind(True, "access-list", "all")),
        (r"^object-group ", Kind(True, "object-group", "all")),
        (r"^ip nat ", Kind(True, "ip nat")),
        (r"^ip(?:v6)? route ", Kind(True, "ip route")),
        (r"^router (?:ospf|ospfv3|bgp|eigrp|rip|isis)\b", Kind(True, "router (dynamic routing is configured)")),
        (r"^zone(?:-pair)? security ", Kind(True, "zone-based firewall", "all")),
        (r"^(?:class-map|policy-map|parameter-map) type inspect ", Kind(True, "zone-based firewall policy", "all")),
        (r"^hostname ", Kind(True, "hostname")),
        (r"^crypto (?:ikev2|isakmp) profile ", Kind(True, "crypto profile (FlexVPN headend)", "all")),
        (r"^crypto map \S+ local-address ", Kind(True, "crypto map local-address")),
        (r"^webvpn gateway ", Kind(True, "webvpn gateway (the router terminates SSL VPN)", "all")),
        (r"^no crypto ipsec nat-transparency ", Kind(True, "no crypto ipsec nat-transparency")),
    ]],
}
# Interface sub-commands that give the device addresses, filters, translations or routing (both platforms).
INTERFACE_CHILDREN = re.compile(
    r"^(?:no )?(?:ip address|ipv6 address|nameif|security-level|ip access-group|ipv6 traffic-filter|ip nat |"
    r"zone-member security|crypto map|ip policy route-map|ip inspect |shutdown$|vrf forwarding|ip vrf forwarding|"
    r"tunnel source|tunnel protection ipsec|tunnel mode ipsec)")

# Commands are grouped in the report of what is not modelled by their first two words when the second is a
# keyword (`ip community-list`, `line vty`), else by the first (`logging 10.0.0.1`, `policy-map NAME`).
_KEYWORD = re.compile(r"^[a-z][a-z-]*$")
_NAMED = frozenset({"username", "hostname", "group-policy", "tunnel-group", "aaa-server", "policy-map", "route-map",
                    "class-map", "domain-name", "enable", "passwd", "name-server", "dns", "ntp", "vrf", "key",
                    "object-group", "object", "interface", "clock", "version", "license", "hw-module", "mtu",
                    "monitor-interface"})


def _by_head(platform: str) -> dict[str, list[tuple[re.Pattern[str], Kind]]]:
    """The table's patterns by the command word they start with; patterns whose first word is not a plain
    word (`ip(?:v6)? route`, `(?:no )?crypto`) are under "" and tried for every line. Order is kept."""
    out: dict[str, list[tuple[re.Pattern[str], Kind]]] = {}
    for pattern, kind in TOP_LEVEL[platform]:
        source = pattern.pattern.removeprefix("^")
        alternatives = re.match(r"\(\?:([a-z|-]+)\) ", source)
        plain = re.match(r"([a-z-]+)(?:[ $\\]|$)", source)
        heads = alternatives.group(1).split("|") if alternatives else [plain.group(1)] if plain else [""]
        for head in heads:
            out.setdefault(head, []).append((pattern, kind))
    return out


_HEADS = {platform: _by_head(platform) for platform in TOP_LEVEL}


def kind_of(platform: str, text: str) -> Kind:
    words = text.split(" ", 2)
    heads = _HEADS[platform]
    for pattern, kind in (*heads.get(words[0], ()), *heads.get("", ())):
        if pattern.match(text):
            return kind
    two = len(words) > 1 and words[0] not in _NAMED and _KEYWORD.match(words[1])
    return Kind(False, " ".join(words[:2]) if two else words[0])


# --- tokens no command takes --------------------------------------------------------------------------------
# Where a collector masked a secret: ours (`<redacted>`), RANCID (`<removed>`), oxidized (`<secret hidden>`,
# `<configuration removed>`, `<value removed>`) and the like. A mask is one token wherever it stands.
_MASK = re.compile(r"<[\w .-]{0,40}?(?:redact|remov|hidden|hide|secret|mask|omit|strip|sanitiz|"
                   r"password|passwd|key|elided|censor)[\w .-]{0,40}?>", re.I)
_COMMAND_WORD = re.compile(r"^[a-z][a-z0-9_.-]*$")
# What a token of a command line looks like: words, names, numbers, addresses, `(inside,outside)`, `/14`, `::/0`.
_TOKEN = re.compile(r"^(?:[A-Za-z0-9(\[][\x21-\x24\x26-\x7e]*|/\d{1,3}|::[0-9A-Fa-f:.]*(?:/\d{1,3})?)$")
_NOT_COMMANDS = re.compile(r"^(?:Building configuration|Current configuration|Using \d+ out of|Cryptochecksum:|"
                           r"(?:ASA|PIX|FWSM) Version |:|end$)")
_ACL_NAME = re.compile(r"^[A-Za-z][\x21-\x7e]*$")  # a named list starts with a letter
# Sub-commands that give a device addresses, filters or translations: they only count inside these blocks.
_PLACING = ("ip address ", "ipv6 address ", "ip access-group ", "ipv6 traffic-filter ", "ip nat ", "nameif ",
            "security-level ", "nat (", "access-group ")
_ACE_CHILD = re.compile(r"^(?:\d+\s+)?(?:permit|deny)\s")
# Blocks whose entries are permit/deny lines without being lists that filter the path.
_LIST_LIKE = ("ip access-list ", "ipv6 access-list ", "mac access-list ", "arp access-list ", "object-group ",
              "route-map ", "ipv4 access-list ", "ipv6 prefix-list ", "ip prefix-list ", "ipv4 prefix-list ",
              "class-map ", "access-list ")


def acl_name_ok(name: str) -> bool:
    """Whether IOS would accept this as an access-list to bind: a name, or a number of an IP list range."""
    if name.isdigit():
        return 1 <= int(name) <= 199 or 1300 <= int(name) <= 2699
    return bool(_ACL_NAME.match(name))


def _mangled_command(text: str) -> bool:
    """Whether the command words themselves are unreadable (`%% address ...`, `ip %% 203.0.113.2 ...`): such a
    line may have been any command, addressing and filters included. Description text is free text."""
    words = text.split(" ", 2)
    if words[0].startswith("description"):
        return False
    if not _COMMAND_WORD.match(words[0]):
        return True
    return words[0] in ("ip", "ipv6", "no") and len(words) > 1 and not _COMMAND_WORD.match(words[1])


def _list_name_ok(platform: str, name: str) -> bool:
    """An `access-list NAME ...` line's name as the platform accepts it: IOS numbers up to 2699 (IP, MAC and
    protocol-type lists) or a name starting with a letter; ASA any name of printable characters."""
    if platform == "ios":
        return (name.isdigit() and 1 <= int(name) <= 2699) or bool(_ACL_NAME.match(name))
    return not odd_token(name)


def odd_token(text: str) -> bool:
    """Whether a command line holds a token that no command takes (free text after remark or description
    aside, masked secrets accepted): a mangled address, port or name the parsers would drop without a word."""
    if "<" in text:
        text = _MASK.sub("MASKED", text)
    words = text.split(" ")
    if words[0] in ("ip", "ipv6", "no") and len(words) > 1 and not _COMMAND_WORD.match(words[1]):
        return True  # `ip 300.1.1.1 ...`: the sub-command itself is mangled
    for word in words:
        if word in ("remark", "description") or word.startswith("description:"):
            return False
        if word and not _TOKEN.match(word):
            return True
    return False


# --- the review -----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Review:
    """Every line of one configuration, accounted for."""

    complete: str = ""  # how the configuration proves it is whole; "" when it does not
    doubts: list[str] = field(default_factory=list)  # why the configuration as a whole cannot be trusted
    doubtful: list[int] = field(default_factory=list)  # the lines behind the doubts
    not_modelled: dict[str, list[int]] = field(default_factory=dict)  # what -> lines: cannot affect the path
    lines: int = 0  # lines in the file

    def not_modelled_count(self) -> int:
        return sum(len(v) for v in self.not_modelled.values())


def review(text: str, path: str, platform: str, tree: list[Line], free: list[FreeText], read: set[int]) -> Review:
    """Account for every line: read by the parser (`read`: understood, or made unknown where it matters),
    free text, not modelled (cannot affect the path), or a doubt (relevant, and neither read nor sound).
    Whether a missing proof of completeness is a doubt depends on audit.yaml: the adapter decides."""
    raw = text.splitlines()
    out = Review(complete=completeness(text, platform), lines=len(raw))
    seen: set[int] = set()

    def doubt(line: Line, why: str) -> None:
        out.doubts.append(f"{path} line {line.number}: '{line.text[:60]}' {why}")
        out.doubtful.append(line.number)

    def skip(what: str, lines: Iterator[int]) -> None:
        out.not_modelled.setdefault(what, []).extend(lines)

    for span in free:
        seen.update(range(span.first, span.last + 1))
        skip(span.what, iter(range(span.first, span.last + 1)))
    for line in tree:
        numbers = list(_numbers(line))
        seen.update(numbers)
        # A line that starts at the left margin is a command of its own: taken into another line's block, it
        # was lost (ciscoconfparse does that to the lines after an ASA banner it reads as delimited).
        for number in numbers[1:]:
            if number <= len(raw) and raw[number - 1][:1] not in (" ", "\t"):
                out.doubts.append(f"{path} line {number}: '{raw[number - 1].strip()[:60]}' was read as part of line "
                                  f"{line.number} ('{line.text[:40]}') and lost")
                out.doubtful.append(number)
        head = line.text.split(" ", 1)[0]
        if _NOT_COMMANDS.match(line.text):
            read.update(numbers)  # the file's framing (`Building configuration...`, `: end`, the version)
            continue
        if not _COMMAND_WORD.match(head):
            doubt(line, "is not a configuration command")  # a mangled command: it could have been any
            continue
        kind = kind_of(platform, line.text)
        if not kind.relevant:
            if line.number in read:
                continue
            problem = _misplaced(line)
            if problem:
                doubt(line, problem)
            else:
                skip(kind.what, iter(numbers))
            continue
        ace = head == "access-list" and len(line.text.split(" ")) > 2
        if ace and not _list_name_ok(platform, line.text.split(" ")[1]):
            doubt(line, "names an access-list no device accepts")
        elif not ace and odd_token(line.text):
            doubt(line, "holds a token no command takes")  # an entry's own tokens are its rule's to report
        elif line.text.startswith(("ip access-list standard ", "ip access-list extended ")) and \
                not acl_name_ok(line.text.split(" ")[3] if len(line.text.split(" ")) > 3 else ""):
            # `ip access-list extended 300.1.1.1`: IOS refuses the name, so the list the bindings name is gone
            doubt(line, "names an access-list IOS does not accept (a name starts with a letter)")
        elif line.number not in read:
            doubt(line, "was not read (it can decide the VPN path)")
        if kind.children == "all":
            continue  # entries and members: the parser reads them and makes what it cannot read unknown
        for child in line.children:
            child_numbers = list(_numbers(child))
            if kind.children == "interface" and child.number not in read:
                if _mangled_command(child.text):
                    doubt(child, "is not a configuration command")  # a mangled sub-command: it could be any
                    continue
                if INTERFACE_CHILDREN.match(child.text):
                    doubt(child, "was not read (it can decide the VPN path)")
                    continue
            elif kind.children == "interface" and INTERFACE_CHILDREN.match(child.text) and odd_token(child.text):
                doubt(child, "holds a token no command takes")
                continue
            if child.number in read:
                continue  # read with what it holds
            skip(f"{kind.what} sub-commands" if kind.children == "interface" else
                 f"{' '.join(line.text.split(' ')[:2])} settings", iter(child_numbers))
    # Lines the tree lost (no parent took them): the guard that catches a parser swallowing commands.
    for number, text_line in enumerate(raw, 1):
        body = text_line.strip()
        if number not in seen and body.startswith("}"):  # read as a comment (line_tree): script or text
            skip("} (script or text)", iter([number]))
        elif number not in seen and body and not body.startswith("!"):
            out.doubts.append(f"{path} line {number}: '{body[:60]}' was lost while reading the configuration")
            out.doubtful.append(number)
    return out


def _numbers(line: Line) -> Iterator[int]:
    yield line.number
    for child in line.children:
        yield from _numbers(child)


def _misplaced(line: Line) -> str:
    """Why an irrelevant block is suspect: it holds what only an interface, object or list holds (a mangled
    header, `%% GigabitEthernet0/0`, leaves its addressing under some other command)."""
    if line.text.startswith(_LIST_LIKE):
        return ""
    if any(c.text.startswith(_PLACING) for c in line.children):
        return "holds interface addressing, access-group or NAT lines outside an interface or object"
    if any(_ACE_CHILD.match(c.text) for c in line.children):
        return "holds access-list entries but is not an access-list"
    return ""
