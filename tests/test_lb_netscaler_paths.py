"""NetScaler states, ACLs and listeners that decide whether VPN traffic reaches a server, audited end to end
(issue 27: disabled servers and service groups, ACLs, sessionless persistence; issue 22: listen policies on
wildcard vservers, an SSL vserver without a certificate). Each case in its failing and its passing form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
