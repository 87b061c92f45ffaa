"""NetScaler states, ACLs and listeners that decide whether VPN traffic reaches a server, audited end to end
(issue 27: disabled servers and service groups, ACLs, sessionless persistence; issue 22: listen policies on
wildcard vservers, an SSL vserver without a certificate). Each case in its failing and its passing form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.lb_audit import audit, audit_flows, flows, why, write_snapshot

VIP = "203.0.113.40"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "netscaler"
ALL_ALLOWED = {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": "allowed"}


def nsconf(*, server1: str = "", server2: str = "", sg4500: str = "", vs4500: str = "", extra: str = "",
           sstp: str = f"add lb vserver vs_sstp TCP {VIP} 443 -persistenceType NONE",
           sessionless: str = "", group: str = "SOURCEIP") -> str:
    """A NetScaler publishing IKE (UDP 500, 4500) and SSTP (TCP 443) on one VIP, two VPN servers behind it."""
    return f"""#NS13.1 Build 49.13
add server vpn1 10.50.0.11{server1}
add server vpn2 10.50.0.12{server2}
add serviceGroup sg_ike500 UDP -usip YES
add serviceGroup sg_ike4500 UDP -usip YES{sg4500}
add serviceGroup sg_sstp TCP -usip YES
bind serviceGroup sg_ike500 vpn1 500
bind serviceGroup sg_ike500 vpn2 500
bind serviceGroup sg_ike4500 vpn1 4500
bind serviceGroup sg_ike4500 vpn2 4500
bind serviceGroup sg_sstp vpn1 443
bind serviceGroup sg_sstp vpn2 443
bind serviceGroup sg_ike500 -monitorName ping
bind serviceGroup sg_ike4500 -monitorName ping
bind serviceGroup sg_sstp -monitorName tcp
add lb vserver vs_ike500 UDP {VIP} 500 -persistenceType NONE{sessionless}
add lb vserver vs_ike4500 UDP {VIP} 4500 -persistenceType NONE{sessionless}{vs4500}
{sstp}
bind lb vserver vs_ike500 sg_ike500
bind lb vserver vs_ike4500 sg_ike4500
bind lb vserver vs_sstp sg_sstp
add lb group ike_grp -persistenceType {group} -timeout 60
bind lb group ike_grp vs_ike500
bind lb group ike_grp vs_ike4500
{extra}"""


def run(tmp_path: Path, text: str, **config: object) -> dict[str, str]:
    return {f: p.verdict for f, p in audit_flows(tmp_path, {"netscaler/adc.conf": text}, VIP, **config).items()}


def reasons(tmp_path: Path, text: str) -> dict[str, str]:
    return {f: why(p) for f, p in audit_flows(tmp_path, {"netscaler/adc.conf": text}, VIP).items()}


def test_the_base_configuration_passes(tmp_path: Path) -> None:
    assert run(tmp_path, nsconf()) == ALL_ALLOWED


# -- item 4: disabled servers and service groups ----------------------------------------------------------------
def test_disabled_servers_disable_every_service_on_them(tmp_path: Path) -> None:
    text = nsconf(server1=" -state DISABLED", server2=" -state DISABLED")
    assert run(tmp_path / "a", text) == {f: "blocked" for f in ALL_ALLOWED}
    assert "server vpn2 -state DISABLED" in reasons(tmp_path / "b", text)["udp/500"]
    assert run(tmp_path / "c", nsconf(server1=" -state DISABLED")) == ALL_ALLOWED  # vpn2 still serves


def test_disable_server_commands_read_like_the_state_option(tmp_path: Path) -> None:
    assert run(tmp_path / "a", nsconf(extra="disable server vpn1\ndisable server vpn2\n")) == \
        {f: "blocked" for f in ALL_ALLOWED}
    assert run(tmp_path / "b", nsconf(extra="disable server vpn1\ndisable server vpn2\nenable server vpn2\n")) \
        == ALL_ALLOWED


def test_disabled_service_group_disables_its_members(tmp_path: Path) -> None:
    text = nsconf(sg4500=" -state DISABLED")
    assert run(tmp_path / "a", text) == {"udp/500": "allowed", "udp/4500": "blocked", "tcp/443": "allowed"}
    assert "service group sg_ike4500 -state DISABLED" in reasons(tmp_path / "b", text)["udp/4500"]
    assert run(tmp_path / "c", nsconf(sg4500=" -state ENABLED")) == ALL_ALLOWED


def nitro_copy(root: Path) -> Path:
    folder = root / "netscaler" / "adc"
    shutil.copytree(FIXTURES / "nitro-sticky", folder)
    return folder


def test_nitro_server_rows_keep_their_state(tmp_path: Path) -> None:
    vip = "203.0.113.41"
    for case, states in (("off", ["DISABLED", "DISABLED"]), ("on", ["DISABLED", "ENABLED"])):
        root = tmp_path / case
        folder = nitro_copy(root)
        body = json.loads((folder / "server.json").read_text())
        for row, state in zip(body["server"], states, strict=True):
            row["state"] = state
        (folder / "server.json").write_text(json.dumps(body))
        paths = flows(audit(write_snapshot(root, {}, vip, protocols=("ikev2",))))
        expected = "blocked" if case == "off" else "allowed"
        assert {f: p.verdict for f, p in paths.items()} == {"udp/500": expected, "udp/4500": expected}


# -- also: sessionless vservers with source-IP persistence -----------------------------------------------------
def persistence_verdicts(tmp_path: Path, text: str) -> list[str]:
    result = audit(write_snapshot(tmp_path, {"netscaler/adc.conf": text}, VIP))
    return [f.evidence["verdict"] for f in result.findings if f.check.kind == "split-persistence"]


def test_sessionless_with_source_ip_persistence_is_unknown(tmp_path: Path) -> None:
    assert persistence_verdicts(tmp_path / "a", nsconf(sessionless=" -sessionless ENABLED")) == ["unknown"]
    assert persistence_verdicts(tmp_path / "b", nsconf()) == []  # the group's SOURCEIP: sticky, no finding
    # sessionless without persistence stays split, as before
    assert persistence_verdicts(tmp_path / "c", nsconf(sessionless=" -sessionless ENABLED", group="NONE")) \
        == ["split"]


# -- item 5: ACLs, before any vserver -----------------------------------------------------------------------------
DENY_4500 = f"add ns acl no_natt DENY -destIP = {VIP} -protocol UDP -destPort = 4500 -priority 20"
BLOCKED_4500 = {"udp/500": "allowed", "udp/4500": "blocked", "tcp/443": "allowed"}


@pytest.mark.parametrize(("acls", "expected"), [
    (f"{DENY_4500}\napply ns acls", BLOCKED_4500),
    (f"{DENY_4500} -kernelstate SFAPPLIED61", BLOCKED_4500),  # the saved form says it is applied
    (f"{DENY_4500.replace('4500', '4501')}\napply ns acls", ALL_ALLOWED),  # another port: passes
    (f"{DENY_4500} -kernelstate NOTAPPLIED", ALL_ALLOWED),  # never applied: not in effect
    (f"apply ns acls\n{DENY_4500}", {**ALL_ALLOWED, "udp/4500": "unknown"}),  # added after the last apply
    (f"{DENY_4500}\napply ns acls\ndisable ns acl no_natt\napply ns acls", ALL_ALLOWED),
])
def test_extended_acls_count_once_applied(tmp_path: Path, acls: str, expected: dict[str, str]) -> None:
    assert run(tmp_path, nsconf(extra=acls)) == expected


def test_an_applied_deny_names_its_line(tmp_path: Path) -> None:
    paths = audit_flows(tmp_path, {"netscaler/adc.conf": nsconf(extra=f"{DENY_4500}\napply ns acls")}, VIP)
    (blocked,) = [seg for hop, seg in paths["udp/4500"].trace.blocked]
    assert blocked.rule is not None and "no_natt" in blocked.rule.text
    assert str(blocked.rule.origin) == "netscaler/adc.conf:25"


def test_extended_acls_in_priority_order(tmp_path: Path) -> None:
    allow = f"add ns acl ike_ok ALLOW -destIP = {VIP} -protocol UDP -destPort = 500 -priority {{}}"
    deny_all = "add ns acl deny_any DENY -priority 70000"
    assert run(tmp_path / "a", nsconf(extra=f"{deny_all}\n{allow.format(10)}\napply ns acls")) == \
        {"udp/500": "allowed", "udp/4500": "blocked", "tcp/443": "blocked"}
    assert run(tmp_path / "b", nsconf(extra=f"{deny_all}\n{allow.format(70010)}\napply ns acls")) == \
        {f: "blocked" for f in ALL_ALLOWED}


def test_simple_acls_come_before_extended_ones(tmp_path: Path) -> None:
    allow_all = "add ns acl allow_any ALLOW -priority 1\napply ns acls"
    text = nsconf(extra=f"{allow_all}\nadd ns simpleacl bad_client DENY -srcIP 198.51.100.7")
    paths = audit_flows(tmp_path / "a", {"netscaler/adc.conf": text}, VIP)
    assert {f: p.verdict for f, p in paths.items()} == {f: "partial" for f in ALL_ALLOWED}
    assert "blocked for sources 198.51.100.7" in paths["udp/500"].trace.reason
    other = nsconf(extra=f"{allow_all}\nadd ns simpleacl bad_client DENY -srcIP 198.51.100.7 -destPort 80 "
                         f"-protocol TCP")
    assert run(tmp_path / "b", other) == ALL_ALLOWED


def test_negated_source_range(tmp_path: Path) -> None:
    text = nsconf(extra="add ns acl outsiders DENY -srcIP != 10.0.0.0-10.255.255.255 -priority 5\napply ns acls")
    paths = audit_flows(tmp_path, {"netscaler/adc.conf": text}, VIP)
    assert {f: p.verdict for f, p in paths.items()} == {f: "partial" for f in ALL_ALLOWED}
    assert paths["tcp/443"].trace.reason.endswith("allowed for 10.0.0.0/8.")


@pytest.mark.parametrize("acl", [
    f"add ns acl on_vlan DENY -destIP = {VIP} -vlan 20 -priority 5",  # ingress VLAN not in the snapshot
    "add ns acl odd DENY -srcIP = not-an-address -priority 5",
    f"add ns acl bridged BRIDGE -destIP = {VIP} -priority 5",
    f"add ns acl est DENY -destIP = {VIP} -protocol TCP -established -priority 5",
])
def test_acls_not_understood_are_unknown_never_ignored(tmp_path: Path, acl: str) -> None:
    verdicts = run(tmp_path, nsconf(extra=f"{acl}\napply ns acls"))
    expected = "unknown"
    if "-protocol TCP" in acl:
        assert verdicts == {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": expected}
    else:
        assert verdicts == {f: expected for f in ALL_ALLOWED}


def nitro_acl(root: Path, rows: list[dict[str, object]] | None) -> dict[str, str]:
    folder = nitro_copy(root)
    if rows is None:
        (folder / "nsacl.json").unlink()
    else:
        (folder / "nsacl.json").write_text(json.dumps({"errorcode": 0, "message": "Done", "nsacl": rows}))
    return {f: p.verdict for f, p in flows(audit(write_snapshot(root, {}, "203.0.113.41",
                                                                 protocols=("ikev2",)))).items()}


def test_nitro_acls_with_their_kernel_state(tmp_path: Path) -> None:
    row = {"aclname": "no_natt", "aclaction": "DENY", "destipval": "203.0.113.41", "destipop": "=",
           "protocol": "UDP", "destportval": "4500", "destportop": "=", "priority": 20, "state": "ENABLED",
           "kernelstate": "APPLIED"}
    assert nitro_acl(tmp_path / "a", [row]) == {"udp/500": "allowed", "udp/4500": "blocked"}
    assert nitro_acl(tmp_path / "b", [{**row, "kernelstate": "NOTAPPLIED"}]) == \
        {"udp/500": "allowed", "udp/4500": "allowed"}
    assert nitro_acl(tmp_path / "c", [{**row, "kernelstate": "RE-APPLY"}]) == \
        {"udp/500": "allowed", "udp/4500": "unknown"}
    assert nitro_acl(tmp_path / "d", None) == {"udp/500": "unknown", "udp/4500": "unknown"}  # not collected


# -- issue 22 item 7: listen policies on wildcard vservers -----------------------------------------------------------
def wildcard(policy: str) -> str:
    option = f' -Listenpolicy "{policy}" -Listenpriority 10' if policy else ""
    return f"""add server vpn1 10.50.0.11
add service svc_any vpn1 ANY * -usip YES
add lb vserver vs_any ANY {VIP} * -persistenceType SOURCEIP -timeout 60{option}
bind lb vserver vs_any svc_any
"""


@pytest.mark.parametrize(("policy", "expected"), [
    ("", ALL_ALLOWED),
    ("CLIENT.UDP.DSTPORT.EQ(500) || CLIENT.UDP.DSTPORT.EQ(4500)",
     {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": "blocked"}),
    ("CLIENT.TCP.DSTPORT.BETWEEN(440,450)", {"udp/500": "blocked", "udp/4500": "blocked", "tcp/443": "allowed"}),
    ("CLIENT.UDP.DSTPORT.BETWEEN(1,5000) && !CLIENT.UDP.DSTPORT.EQ(4500)",
     {"udp/500": "allowed", "udp/4500": "blocked", "tcp/443": "blocked"}),
    ("CLIENT.IP.SRC.IN_SUBNET(198.51.100.0/24)", {f: "unknown" for f in ALL_ALLOWED}),  # not evaluated
])
def test_listen_policy_limits_a_wildcard_vserver(tmp_path: Path, policy: str, expected: dict[str, str]) -> None:
    assert run(tmp_path, wildcard(policy)) == expected


# -- issue 22 item 7: an SSL vserver without a certificate is DOWN ---------------------------------------------------
SSL_SSTP = f"add lb vserver vs_sstp SSL {VIP} 443 -persistenceType NONE"


@pytest.mark.parametrize(("binding", "expected"), [
    ("", "blocked"),
    ("bind ssl vserver vs_sstp -certkeyName vpn_cert", "allowed"),
    ("bind ssl vserver vs_sstp -certkeyName vpn_ca -CA", "blocked"),  # a CA certificate is not the server's
    ("bind ssl vserver vs_sstp -certkeyName vpn_sni -SNICert", "unknown"),
])
def test_ssl_vserver_needs_a_server_certificate(tmp_path: Path, binding: str, expected: str) -> None:
    text = nsconf(sstp=SSL_SSTP, extra=f"add ssl certKey vpn_cert -cert vpn.pem -key vpn.key\n{binding}")
    assert run(tmp_path / "a", text) == {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": expected}
    if expected == "blocked":
        assert "no server certificate bound" in reasons(tmp_path / "b", text)["tcp/443"]


def test_nitro_ssl_vserver_certificates(tmp_path: Path) -> None:
    folder = nitro_copy(tmp_path)
    body = json.loads((folder / "lbvserver.json").read_text())
    body["lbvserver"].append({"name": "vs_sstp", "servicetype": "SSL", "ipv46": "203.0.113.41", "port": 443})
    (folder / "lbvserver.json").write_text(json.dumps(body))
    binding = json.loads((folder / "lbvserver_servicegroup_binding.json").read_text())
    binding["lbvserver_servicegroup_binding"].append({"name": "vs_sstp", "servicegroupname": "sg_ike500"})
    (folder / "lbvserver_servicegroup_binding.json").write_text(json.dumps(binding))
    write_snapshot(tmp_path, {}, "203.0.113.41", protocols=("sstp",))
    assert flows(audit(tmp_path))["tcp/443"].verdict == "unknown"  # certificate bindings not collected
    (folder / "sslvserver_sslcertkey_binding.json").write_text(json.dumps({"errorcode": 0, "message": "Done"}))
    assert flows(audit(tmp_path))["tcp/443"].verdict == "blocked"
    (folder / "sslvserver_sslcertkey_binding.json").write_text(json.dumps(
        {"errorcode": 0, "sslvserver_sslcertkey_binding": [{"vservername": "vs_sstp", "certkeyname": "vpn"}]}))
    assert flows(audit(tmp_path))["tcp/443"].verdict == "allowed"
