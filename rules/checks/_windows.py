"""The Windows errors a finding is tagged with (not a check itself: it defines no CHECK).

A check's `windows_errors` (and, for path findings, the protocol catalogue's) are what its findings may cause;
each finding keeps only the codes its cause can produce for the users it concerns, and `explain CODE` lists
exactly the findings tagged CODE:

- 800 ("unable to establish the VPN connection") is what Windows reports when every tunnel type it tried
  failed: a finding keeps it only when every protocol the server offers is blocked or unknown for the role (for
  a device in front of the servers: when it breaks every protocol they offer).
- A drop is a timeout (809), never an authentication failure: 13801 ("IKE authentication credentials are
  unacceptable") stays off path findings whatever a protocol entry lists; its network cause is dropped IKE
  fragments (fragment-drop), which keep the certificates from arriving.
- 789 is L2TP's "security layer encountered a processing error during initial negotiations": negotiation
  started. A path that drops UDP 500 gives IKE no answer at all, which Windows reports as a timeout (809), so a
  path finding keeps 789 only when UDP 500 gets through.
- A device finding (load balancer, fragments) keeps a code only when a protocol it affects reports it
  (`protocols` of the code in rules/windows_errors.yaml: 789 is L2TP's, 13801 IKEv2's).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources

import yaml

from auditor.checks import AuditContext
from auditor.model import Role, VpnServer
from auditor.vocab import Verdict
from rules.checks._paths import grouped, windows_errors_of

EVERY_TUNNEL_FAILED = 800  # ERROR_AUTOMATIC_VPN_FAILED
L2TP_NEGOTIATION = 789
IKE_FIRST = "udp/500"  # IKE's first exchange: while it is dropped, nothing is negotiated
IKE_FLOWS = frozenset({IKE_FIRST, "udp/4500"})
NOT_A_DROP = frozenset({13801})  # ERROR_IPSEC_IKE_AUTH_FAIL: certificates, not reachability


@cache
def reported_by() -> dict[int, frozenset[str]]:
    """Per code, the VPN types that report it (rules/windows_errors.yaml `protocols`)."""
    raw = yaml.safe_load(resources.files("rules").joinpath("windows_errors.yaml").read_text(encoding="utf-8"))
    out = {}
    for code, entry in (raw.get("errors") or {}).items():
        number = int(code, 0) if isinstance(code, str) else int(code)
        out[number & 0xFFFFFFFF] = frozenset(entry.get("protocols") or ())
    return out


def every_protocol_fails(ctx: AuditContext, role: Role, server: VpnServer) -> bool:
    """Whether no protocol the server offers is allowed for the role: each is blocked, partly blocked or unknown
    on some flow (a protocol that was not traced counts as working: nothing says it fails)."""
    groups = grouped(ctx)
    for name in server.protocols:
        paths = groups.get((role, server, name.lower()))
        if not paths or all(p.trace.verdict == Verdict.ALLOWED for p in paths):
            return False
    return bool(server.protocols)


def ike_answered(ctx: AuditContext, role: Role, server: VpnServer) -> bool:
    """Whether UDP 500 (IKE's first exchange) gets through for some of the role's clients to the server: allowed
    or partly allowed on every path of it (a protocol not traced says nothing)."""
    groups = grouped(ctx)
    for name in server.protocols:
        for path in groups.get((role, server, name.lower()), ()):
            if str(path.trace.flow) == IKE_FIRST and path.trace.verdict not in (Verdict.ALLOWED, Verdict.PARTIAL):
                return False
    return True


def path_tags(ctx: AuditContext, default: tuple[int, ...], protocols: list[str], flows: Iterable[str],
              pairs: Iterable[tuple[Role, VpnServer]]) -> tuple[int, ...]:
    """A path finding's codes: its protocols' (the check's `default` for a protocol without any), narrowed for
    the flows that fail and the (role, server) pairs it concerns."""
    failing = set(flows)
    pairs = list(pairs)
    all_fail = any(every_protocol_fails(ctx, role, server) for role, server in pairs)
    out = []
    for code in windows_errors_of(ctx, protocols, default):
        if code in NOT_A_DROP:
            continue
        if code == EVERY_TUNNEL_FAILED and not all_fail:
            continue
        if code == L2TP_NEGOTIATION and (IKE_FIRST in failing or
                                         not any(ike_answered(ctx, role, server) for role, server in pairs)):
            continue  # no answer to IKE at all (here, or by another cause): a timeout, 809
        out.append(code)
    return tuple(out)


def device_tags(codes: tuple[int, ...], protocols: list[str], servers: list[VpnServer]) -> tuple[int, ...]:
    """A device finding's codes: the check's, for the protocols it affects of the servers behind it. Without
    known protocols only the codes every VPN type reports stay (the generic timeout)."""
    reporters = reported_by()
    every = frozenset().union(*reporters.values())
    offered = {p.lower() for s in servers for p in s.protocols}
    all_fail = bool(protocols) and bool(offered) and offered <= set(protocols)
    out = []
    for code in codes:
        if code == EVERY_TUNNEL_FAILED and not all_fail:
            continue
        by = reporters.get(code, frozenset())
        if by and (not by & set(protocols) if protocols else not every <= by):
            continue
        out.append(code)
    return tuple(out)


def protocols_over(ctx: AuditContext, servers: list[VpnServer], flows: frozenset[str]) -> list[str]:
    """The protocols of `servers` that need one of `flows` (what a device finding is about), in order."""
    out: list[str] = []
    for server in servers:
        for name in server.protocols:
            spec = ctx.protocols.get(name.lower())
            if spec is not None and name.lower() not in out and any(str(f) in flows for f in spec.flows):
                out.append(name.lower())
    return out
