"""Evidence the audit needed but the snapshot lacks (not collected, or collection failed)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding

CHECK = CheckMeta(
    id="DATA-GAP",
    kind="data-gap",
    severity="warning",
    title="Configuration missing from the snapshot",
    remediation="Collect the missing data again (check the API key's access and the manifest's error).",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    seen: set[tuple[str, str]] = set()
    gaps = list(ctx.model.gaps) + [g for net in ctx.model.networks for g in net.gaps]
    for gap in gaps:
        key = (gap.path, gap.reason)
        if key in seen:
            continue
        seen.add(key)
        network = {"id": gap.network_id, "name": gap.network_name or gap.network_id} if gap.network_id else None
        yield Finding(CHECK, f"Missing data: {gap.reason}", CHECK.remediation, network, None, None,
                      {"file": gap.path, "reason": gap.reason})
