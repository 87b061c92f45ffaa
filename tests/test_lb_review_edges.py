"""Load-balancer behaviours a review found unmodelled: IPVS quiescent servers, sh-port, the director's own
packet filter; NetScaler policies bound to an lb vserver and cs vservers whose target is disabled."""

from __future__ import annotations

from pathlib import Path

import auditor.vendors  # noqa: F401  # installs the shipped vendors for run_audit
from auditor.vendors.lb.ipvs import load_ipvsadm, load_keepalived
from tests.lb_audit import audit_flows, why

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "ipvs"
VIP = "203.0.113.50"


# 1. ipvsadm(8): "Quiescent servers are specified with a weight of zero. A quiescent server will receive no new
#    jobs" -- a service whose real servers all have weight 0 takes no new client: not "allowed".
def test_ipvs_quiescent_real_servers_take_no_new_clients(tmp_path: Path) -> None:
    rules = (f"-A -u {VIP}:0 -s wlc -p 3600\n"
             f"-a -u {VIP}:0 -r 10.60.0.11:0 -m -w 0\n"
             f"-a -u {VIP}:0 -r 10.60.0.12:0 -m -w 0\n")
    found = audit_flows(tmp_path, {"ipvs/lvs1.rules": rules}, VIP, ("ikev2",))
    for flow in ("udp/500", "udp/4500"):
        assert found[flow].trace.verdict != "allowed", why(found[flow])


def test_keepalived_weight_zero_real_server_is_not_a_backend() -> None:
    conf = (FIXTURES / "conditional-sh.conf").read_text()
    conf = conf.replace("real_server 10.60.0.12 4500 {\n        weight 1",
                        "real_server 10.60.0.12 4500 {\n        weight 0")
    device = load_keepalived(conf, "keepalived/x.conf", "keepalived/x")
    natt = next(s for s in device.services if s.covers(17, 4500))
    assert natt.node_addresses() == {"10.60.0.11"}


# 2. ipvsadm(8): sh "sh-port, which adds the source port number to the hash computation": a client's UDP 500
#    (source port 500) and UDP 4500 (source port 4500) hash differently -- not a client-IP hash.
def test_ipvs_sh_port_is_not_a_client_ip_hash() -> None:
    rules = ""
    for port in (500, 4500):
        rules += (f"-A -u {VIP}:{port} -s sh -b sh-port\n"
                  f"-a -u {VIP}:{port} -r 10.60.0.11:{port} -m -w 1\n"
                  f"-a -u {VIP}:{port} -r 10.60.0.12:{port} -m -w 1\n")
    (pair,) = load_ipvsadm(rules, "ipvs/x.rules", "ipvs/x").ike_pairs()
    assert pair.verdict == "split", pair.reason
    conf = (FIXTURES / "conditional-sh.conf").read_text().replace("lvs_sched sh", "lvs_sched sh\n    sh-port")
    (pair,) = load_keepalived(conf, "keepalived/x.conf", "keepalived/x").ike_pairs()
    assert pair.verdict == "split", pair.reason


def test_ipvs_fwmark_sh_port_without_persistence_is_not_sticky() -> None:
    conf = (FIXTURES / "sticky-fwmark.conf").read_text()
    conf = conf.replace("    persistence_timeout 3600\n", "").replace("lvs_sched wlc", "lvs_sched sh\n    sh-port")
    iptables = (FIXTURES / "sticky-fwmark.iptables").read_text()
    (pair,) = load_keepalived(conf, "keepalived/x.conf", "keepalived/x", iptables, "keepalived/x.iptables").ike_pairs()
    assert pair.verdict != "sticky", pair.reason


# 3. Linux ip_vs_core.c: IPVS takes packets at LOCAL_IN "after packet filtering ... so that filtering rules can be
#    applied to IPVS": the director's filter-table INPUT chain (in the .iptables dump the snapshot holds) sees
#    them first. Policy DROP with only UDP 500 accepted drops UDP 4500.
def test_ipvs_director_filter_table_is_not_ignored(tmp_path: Path) -> None:
    conf = (FIXTURES / "sticky-fwmark.conf").read_text()
    iptables = (FIXTURES / "sticky-fwmark.iptables").read_text().replace(":INPUT ACCEPT", ":INPUT DROP")
    assert "-A INPUT -p udp -m udp --dport 500 -j ACCEPT" in iptables
    found = audit_flows(tmp_path, {"keepalived/lvs1.conf": conf, "keepalived/lvs1.iptables": iptables}, VIP,
                        ("ikev2",))
    assert found["udp/4500"].trace.verdict != "allowed", why(found["udp/4500"])


# 4. NetScaler: a responder policy bound to an lb vserver applies to the requests to its VIP (Citrix, "Bind a
#    responder policy"); built-in action DROP drops them. The tool skipped every `-policyName` binding.
def test_netscaler_responder_policy_on_lb_vserver_is_not_ignored(tmp_path: Path) -> None:
    conf = """add server vpn1 10.50.0.11
add server vpn2 10.50.0.12
add serviceGroup sg_sstp HTTP -usip YES
bind serviceGroup sg_sstp vpn1 80
bind serviceGroup sg_sstp vpn2 80
bind serviceGroup sg_sstp -monitorName tcp
add lb vserver vs_sstp SSL 203.0.113.40 443 -persistenceType NONE
add ssl certKey vpn_cert -cert vpn.pem -key vpn.key
bind ssl vserver vs_sstp -certkeyName vpn_cert
bind lb vserver vs_sstp sg_sstp
add responder policy rp_block_all true DROP
bind lb vserver vs_sstp -policyName rp_block_all -priority 100 -gotoPriorityExpression END -type REQUEST
"""
    found = audit_flows(tmp_path, {"netscaler/ns1.conf": conf}, "203.0.113.40", ("sstp",))
    assert found["tcp/443"].trace.verdict != "allowed", why(found["tcp/443"])


# 5. NetScaler: a cs vserver whose (only) default lb vserver is disabled was reported as translating to that lb
#    vserver's backends; the tool's own rule (docs/semantics/load-balancers.md) is that a disabled vserver takes no
#    traffic. (Vendor page for the CS-to-disabled-target case not found in the corpus: see REPORT.md.)
def test_netscaler_cs_vserver_to_disabled_lb_vserver_is_not_allowed(tmp_path: Path) -> None:
    conf = """add server vpn1 10.50.0.11
add serviceGroup sg_sstp SSL_BRIDGE -usip YES
bind serviceGroup sg_sstp vpn1 443
bind serviceGroup sg_sstp -monitorName tcp
add lb vserver lb_sstp SSL_BRIDGE 0.0.0.0 0 -state DISABLED
bind lb vserver lb_sstp sg_sstp
add cs vserver cs_sstp SSL_BRIDGE 203.0.113.40 443
bind cs vserver cs_sstp -lbvserver lb_sstp
"""
    found = audit_flows(tmp_path, {"netscaler/ns1.conf": conf}, "203.0.113.40", ("sstp",))
    assert found["tcp/443"].trace.verdict != "allowed", why(found["tcp/443"])
