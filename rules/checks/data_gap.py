"""Evidence the audit needed but the snapshot lacks (not collected, or collection failed)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import DataGap
from auditor.vocab import Severity

CHECK = CheckMeta(
    id="DATA-GAP",
    kind="data-gap",
    severity=Severity.WARNING,
    title="Configuration missing from the snapshot",
    remediation="Collect the missing data again (check the API key's access and the manifest's error).",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    gaps: dict[tuple[str, str], list[DataGap]] = {}
    for gap in list(ctx.model.gaps) + [g for net in ctx.model.networks for g in net.gaps]:
        gaps.setdefault((gap.path, gap.reason), []).append(gap)
    for (path, reason), same in gaps.items():
        gap = same[0]
        network = {"id": gap.network_id, "name": gap.network_name or gap.network_id} if gap.network_id else None
        evidence = {"file": path, "reason": reason}
        title = f"Missing data: {reason}"
        # Roles the file would have listed are in no path at all: say which, so the report cannot read as clean.
        unaudited = "; ".join(dict.fromkeys(g.unaudited for g in same if g.unaudited))
        if unaudited:
            evidence["unaudited"] = unaudited
            title += f"; not audited: {unaudited}"
        yield Finding(CHECK, title, CHECK.remediation, network, None, None, evidence)
