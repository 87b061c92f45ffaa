"""Load-balancer fix plans (F5 tmsh, KEMP LoadMaster API, NetScaler ns.conf).

The vendor adapters already word the fix for a split IKE pair (`LoadBalancer.fix_split`) and put it in the
finding's remediation; this planner turns it into a change with the commands as lines. The commands are not
applied to the model (that would need a per-vendor editor of bigip.conf / listvs XML / ns.conf), so these
changes are printed but not verified: the extension point for verification is a planner that also edits the
device's snapshot file, as the Cisco and Meraki planners do.
"""

from __future__ import annotations

import re

from auditor.checks import Finding
from auditor.fixplan import Blocked, Change, PlanContext
from auditor.lb_model import LoadBalancer

_COMMAND = re.compile(r"`([^`]+)`")
LB_KINDS = ("split-persistence", "snat-on-ike", "missing-monitor")


class LoadBalancerPlanner:
    def plan_hop(self, ctx: PlanContext, blocked: Blocked) -> list[Change] | None:
        return None  # a VIP port nobody listens on: the remediation of nat-missing / blocked-flow says which

    def plan_finding(self, ctx: PlanContext, finding: Finding) -> list[Change] | None:
        device = ctx.device(finding.device or "")
        if not isinstance(device, LoadBalancer) or finding.check.kind not in LB_KINDS:
            return None
        vendor = getattr(device, "vendor", None) or device.name.split("/", 1)[0]
        ev = finding.evidence
        target = " / ".join(str(ev[k]) for k in ("udp_500", "udp_4500") if ev.get(k)) or device.name
        change = ctx.change(f"{device.name} {finding.check.kind} {target}", vendor=vendor, device=device.name)
        change.summaries.append(_COMMAND.sub(r"\1", finding.remediation))
        change.lines.extend(c for c in _COMMAND.findall(finding.remediation) if c not in change.lines)
        return [change]
