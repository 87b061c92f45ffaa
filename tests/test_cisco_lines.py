"""Every line of a Cisco configuration is read or reported (issue 22 items 1-4 and 6): lines that cannot affect a
VPN path are reported once as information and decide nothing; relevant lines that cannot be read still make the
device unknown; banners never swallow commands; masked secrets are tokens; configurations collected by other
tools prove they are whole; files in other encodings are read, and one that cannot be read is that device's gap."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from auditor.audit import AuditResult, run_audit
from auditor.vendors.cisco.adapter import CiscoDevice
from auditor.vendors.cisco.common import line_tree
from auditor.vendors.cisco.lines import completeness, kind_of, mask_free_text, odd_token, review

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cisco"
IOS = (FIXTURES / "ios-vpn.cfg").read_text()  # port-forwards 203.0.113.2 udp/500, udp/4500 (tcp/443: established)
ASA = (FIXTURES / "asa-vpn.cfg").read_text()  # statically NATs 198.51.100.10 to 10.20.0.10, permits IKE
IOS_SERVER, ASA_SERVER = "203.0.113.2", "198.51.100.10"


def audit(tmp_path: Path, configs: dict[str, str | bytes], address: str, *, path: list[str] | None = None,
          devices: dict[str, Any] | None = None) -> tuple[dict[str, str], AuditResult]:
    """flow -> verdict for an internet source reaching `address` through the given `cisco/NAME.cfg` files."""
    (tmp_path / "cisco").mkdir(parents=True, exist_ok=True)
    for name, content in configs.items():
        target = tmp_path / "cisco" / f"{name}.cfg"
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    server: dict[str, Any] = {"name": "vpn", "address": address, "protocols": ["ikev2", "sstp"]}
    if path:
        server["path"] = path
    config: dict[str, Any] = {"vpn_servers": [server], "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}
    if devices:
        config["devices"] = devices
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    result = run_audit(tmp_path)
    return {str(p.trace.flow): p.verdict for p in result.paths}, result


def before_end(text: str, extra: str) -> str:
    """The configuration with `extra` lines inserted before its final `end` / `: end`."""
    head, _, tail = text.rstrip("\n").rpartition("\n")
    return f"{head}\n{extra.strip(chr(10))}\n{tail}\n"


def not_modelled(result: AuditResult, device: str = "cisco/edge") -> dict[str, Any]:
    (finding,) = [f for f in result.findings if f.check.id == "CISCO-NOT-MODELLED" and f.device == device]
    assert finding.effective_severity == "info" and "cannot affect the VPN path" in finding.title
    return finding.evidence


# --- item 1: unknown only where it can change a verdict --------------------------------------------------------
IRRELEVANT_IOS = """
ip community-list expanded as1_community permit _65535_
ip as-path access-list 1 permit ^65535$
ip prefix-list PL seq 5 permit 10.0.0.0/8 le 24
ipv4 prefix-list V4 seq 5 permit 10.0.0.0/8
arp access-list ARP-IN
 permit ip host 192.168.50.10 mac any
 deny ip any mac any
crypto pki trustpoint _SmartCallHome_ServerCA
 revocation-check none
router bgp 65001
 neighbor 192.0.2.1 remote-as 65535
 neighbor 192.0.2.1 route-map %%BROKEN%% in
route-map NOT-USED permit 10
 match community _1:100_
voice register global
 mode cme
device-tracking policy IPDT_MAX_10
 limit address-count 10
"""


def test_irrelevant_unknown_lines_leave_verdicts_decided(tmp_path: Path) -> None:
    verdict, result = audit(tmp_path, {"edge": before_end(IOS, IRRELEVANT_IOS)}, IOS_SERVER)
    assert verdict["udp/500"] == "allowed" and verdict["udp/4500"] == "allowed", verdict
    assert verdict["tcp/443"] == "blocked"  # `established` never permits SSTP's first segment: still decided
    assert not [g for g in result.model.gaps if g.path == "cisco/edge.cfg"]
    kinds = {k["what"]: k["lines"] for k in not_modelled(result)["kinds"]}
    lines = IOS.count("\n")  # the inserted lines start after the original's last line but one
    assert kinds["ip community-list"] == [lines] and kinds["arp access-list"] == [lines + 4, lines + 5, lines + 6]
    assert {"router bgp settings", "route-map", "crypto pki", "voice register", "device-tracking policy"} <= set(kinds)


def test_unknown_line_inside_an_applied_acl_still_makes_the_path_unknown(tmp_path: Path) -> None:
    mangled = IOS.replace(" 10 permit udp any host 203.0.113.2 eq isakmp",
                          " 5 deny udp any host 203.0.113.2 eq %%\n 10 permit udp any host 203.0.113.2 eq isakmp")
    verdict, result = audit(tmp_path, {"edge": mangled}, IOS_SERVER)
    assert verdict["udp/500"] == "unknown" and verdict["udp/4500"] == "unknown"
    (path,) = [p for p in result.paths if str(p.trace.flow) == "udp/500"]
    assert "line 43" in path.trace.reason and "unknown port name" in path.trace.reason
    # the same entry in a list that filters nothing on the path decides nothing
    unapplied = before_end(IOS, "ip access-list extended NOT-BOUND\n 10 deny udp any any eq %%")
    verdict, _ = audit(tmp_path / "2", {"edge": unapplied}, IOS_SERVER)
    assert verdict["udp/500"] == "allowed"


def test_relevant_lines_that_cannot_be_read_make_the_device_unknown(tmp_path: Path) -> None:
    for n, broken in enumerate(["ip route 0.0.0.0 %% 203.0.113.1", "ip nat inside source static udp %% 500",
                                "interface GigabitEthernet0/3\n ip address 300.1.1.1 255.255.255.0"]):
        verdict, result = audit(tmp_path / str(n), {"edge": before_end(IOS, broken)}, IOS_SERVER)
        assert verdict["udp/500"] == "unknown", broken
        assert any(g.path == "cisco/edge.cfg" for g in result.model.gaps)


def test_relevance_table_per_platform() -> None:
    for text in ("interface Gi0/0", "ip access-list extended X", "access-list 101 permit ip any any", "ip nat pool P",
                 "ip route 0.0.0.0 0.0.0.0 1.1.1.1", "ipv6 route ::/0 Null0", "router bgp 1", "zone-pair security Z",
                 "object-group network G"):
        assert kind_of("ios", text).relevant, text
    for text in ("ip community-list expanded X permit _1_", "ip prefix-list P permit 0.0.0.0/0", "route-map RM",
                 "arp access-list A", "crypto pki trustpoint T", "banner motd ^C", "voice service voip",
                 "ip as-path access-list 1 permit ^1$", "line vty 0 4", "snmp-server community x RO"):
        assert not kind_of("ios", text).relevant, text
    for text in ("access-list A extended permit ip any any", "access-group A in interface outside", "nat (a,b) x",
                 "static (inside,outside) 1.1.1.1 10.0.0.1", "object network O", "route outside 0 0 1.1.1.1",
                 "crypto ikev2 enable outside", "crypto map M interface outside", "same-security-traffic permit x",
                 "webvpn", "sysopt noproxyarp outside", "no crypto isakmp nat-traversal"):  # webvpn: issue 27 item 1
        assert kind_of("asa", text).relevant, text
    for text in ("crypto ikev2 profile FLEX", "crypto map M local-address Loopback0", "webvpn gateway GW",
                 "no crypto ipsec nat-transparency udp-encapsulation"):
        assert kind_of("ios", text).relevant, text
    for text in ("crypto ca trustpoint _SmartCallHome_ServerCA", "policy-map global_policy",
                 "crypto map M 10 set peer 1.1.1.1", "threat-detection basic-threat", "tunnel-group X type x"):
        assert not kind_of("asa", text).relevant, text


# --- item 2: banners ------------------------------------------------------------------------------------------------
def test_asa_one_line_banners_never_swallow_access_lists(tmp_path: Path) -> None:
    # ciscoconfparse took `Q` (the text's first letter) for a delimiter and swallowed every line up to the next
    # `Q`: the access-list below was lost, and the access-group then named an undefined list.
    text = ASA.replace("access-list OUTSIDE_IN remark == VPN server: IKE and NAT-T ==",
                       "banner motd Quiet please\nbanner motd\naccess-list OUTSIDE_IN remark == VPN server ==")
    text = text.replace("object-group network VPN-HOSTS", "object-group network QUIET-HOSTS").replace(
        "object-group VPN-HOSTS", "object-group QUIET-HOSTS")
    assert "Q" in text.split("Quiet please", 1)[1]  # the old reading would end the "banner" there
    asa = CiscoDevice.from_text(text, "cisco/edge.cfg")
    acl = asa.acl("OUTSIDE_IN")
    assert acl is not None and len([r for r in acl.rules if not r.synthetic]) == 5
    assert asa.config.review is not None and not asa.config.review.doubts
    assert asa.config.review.not_modelled["banner motd"] == [text.splitlines().index("banner motd Quiet please") + 1,
                                                             text.splitlines().index("banner motd") + 1]
    verdict, _ = audit(tmp_path, {"edge": text}, ASA_SERVER)
    assert verdict["udp/500"] == "allowed"


def test_ios_delimited_banners_and_line_messages_are_free_text() -> None:
    text = before_end(IOS, """
banner motd ^C
interface GigabitEthernet9/9
 ip address 203.0.113.2 255.255.255.248
ip access-group NOPE in
^C
banner login #One line only#
banner exec %
Authorised use only
%
line con 0
 vacant-message ^C
ip route 0.0.0.0 0.0.0.0 10.9.9.9
 ^C
 exec-timeout 5 0
macro name ACCESS
switchport mode access
ip access-group ACL in
@
""")
    raw = text.splitlines()
    masked, free = mask_free_text(raw, "ios")
    assert [f.what for f in free] == ["banner motd", "banner login", "banner exec", "vacant-message", "macro"]
    assert all(masked[i - 1] == "!" for f in free for i in range(f.first, f.last + 1))
    ios = CiscoDevice.from_text(text, "cisco/edge.cfg")
    assert [i.name for i in ios.config.interfaces] == ["GigabitEthernet0/0", "GigabitEthernet0/1",
                                                       "GigabitEthernet0/2"]
    assert len(ios.config.routes) == 1  # the route in the message is text
    assert ios.config.review is not None and not ios.config.review.doubts


def test_the_line_guard_catches_lines_a_reader_swallows() -> None:
    """The guard itself: fed ciscoconfparse's own reading of an ASA banner, the swallowed lines are reported."""
    text = ("ASA Version 9.12(4)\nhostname fw\nbanner motd Test\nroute outside 0 0 192.0.2.1\nclock timezone T 0\n"
            ": end\n")
    got = review(text, "cisco/fw.cfg", "asa", line_tree(text, "asa"), [], {1, 2})
    assert any("line 4: 'route outside 0 0 192.0.2.1' was read as part of line 3" in d for d in got.doubts)
    fixed = CiscoDevice.from_text(text, "cisco/fw.cfg")
    assert fixed.config.review is not None and not fixed.config.review.doubts and len(fixed.config.routes) == 1


# --- item 3: masked secrets --------------------------------------------------------------------------------------
MASKED = """
username admin password <secret hidden> privilege 15
snmp-server community <configuration removed> RO
!enable secret <removed>
crypto isakmp key <redacted> address 203.0.113.9
tacacs server TAC
 key 7 <secret hidden>
interface GigabitEthernet0/3
 ip ospf message-digest-key 1 md5 <secret hidden>
 standby 1 authentication md5 key-string <secret hidden>
 ip address 10.99.0.1 255.255.255.0
"""


def test_masked_secrets_are_tokens_wherever_they_stand(tmp_path: Path) -> None:
    for mask in ("<redacted>", "<removed>", "<secret hidden>", "<configuration removed>", "<value removed>"):
        assert not odd_token(f"crypto isakmp key {mask} address 203.0.113.9")
        assert not odd_token(f" ip ospf authentication-key {mask}".strip())
    assert odd_token("ip address 10.0.0.1 <bogus>") and odd_token("ip route 0.0.0.0 %% 1.1.1.1")
    verdict, result = audit(tmp_path, {"edge": before_end(IOS, MASKED)}, IOS_SERVER)
    assert verdict["udp/500"] == "allowed", [g.reason for g in result.model.gaps]
    assert not [g for g in result.model.gaps if g.path == "cisco/edge.cfg"]


# --- item 4: configurations from other collectors ---------------------------------------------------------------
def test_collector_headers_and_footers_prove_a_config_whole() -> None:
    body = IOS.rstrip("\n").rsplit("\n", 1)[0] + "\n"  # without `end`
    assert completeness(IOS, "ios") and not completeness(body, "ios")
    assert completeness("!RANCID-CONTENT-TYPE: cisco\n!\n" + body, "ios").startswith("RANCID")
    assert completeness("! Cisco IOS XE Software, Version 17.09.04a\n! \n" + body, "ios").startswith("oxidized")
    asa_body = ASA.replace(": end\n", "")
    assert not completeness(asa_body, "asa")
    assert completeness(asa_body + "Cryptochecksum:571d01b7b08342e35db838e9acec00f6\n", "asa").startswith("the ASA")
    assert completeness("! Cisco Adaptive Security Appliance Software Version 9.12(4)67\n" + asa_body, "asa")


def test_a_config_without_end_is_unknown_until_declared_complete(tmp_path: Path) -> None:
    body = IOS.rstrip("\n").rsplit("\n", 1)[0] + "\n"
    verdict, result = audit(tmp_path / "a", {"edge": body}, IOS_SERVER)
    assert verdict["udp/500"] == "unknown"
    (gap,) = [g for g in result.model.gaps if g.path == "cisco/edge.cfg"]
    assert "devices: {cisco/edge: {complete: true}}" in gap.reason
    verdict, result = audit(tmp_path / "b", {"edge": body}, IOS_SERVER, devices={"cisco/edge": {"complete": True}})
    assert verdict["udp/500"] == "allowed" and not [g for g in result.model.gaps if g.path == "cisco/edge.cfg"]
    verdict, _ = audit(tmp_path / "c", {"edge": "!RANCID-CONTENT-TYPE: cisco\n!\n" + body}, IOS_SERVER)
    assert verdict["udp/500"] == "allowed"
    oxidized = ("! Cisco Adaptive Security Appliance Software Version 9.12(4)67\n!\n"
                + ASA.replace(": end\n", "Cryptochecksum:dddddddddffffffffffffffeeeeeeeee\n"))
    verdict, _ = audit(tmp_path / "d", {"edge": oxidized}, ASA_SERVER)
    assert verdict["udp/500"] == "allowed"


# --- item 6: encodings ------------------------------------------------------------------------------------------------
def test_utf16_with_bom_and_latin1_bytes_are_read(tmp_path: Path) -> None:
    verdict, _ = audit(tmp_path / "a", {"edge": codecs.BOM_UTF16_LE + IOS.encode("utf-16-le")}, IOS_SERVER)
    assert verdict["udp/500"] == "allowed"
    latin = IOS.replace("description Server LAN", "description Server\xa0LAN (Gen\xe8ve)").encode("latin-1")
    verdict, result = audit(tmp_path / "b", {"edge": latin}, IOS_SERVER)
    assert verdict["udp/500"] == "allowed"
    assert "read as Latin-1" in not_modelled(result)["notes"][0]


def test_an_unreadable_file_is_a_gap_for_that_device_only(tmp_path: Path) -> None:
    verdict, result = audit(tmp_path, {"edge": IOS, "broken": b"\x00\x01binary\x00" * 40}, IOS_SERVER,
                            path=["cisco/edge"])
    assert verdict["udp/500"] == "allowed"  # the rest of the snapshot is audited
    (gap,) = [g for g in result.model.gaps if g.path == "cisco/broken.cfg"]
    assert "binary data" in gap.reason and "cisco/broken" in gap.reason
    verdict, _ = audit(tmp_path / "2", {"edge": IOS, "broken": b"\x00\x01binary\x00" * 40}, IOS_SERVER)
    assert verdict["udp/500"] == "unknown"  # without `path`, nothing rules out that the unreadable one fronts it
