"""Lines of a Cisco configuration that cannot affect a VPN path (routing protocol details, community lists,
banners, trustpoints, voice, management settings): not modelled, and reported once per device so that no line
of the file goes unaccounted for. They decide nothing; the relevance table is in docs/semantics/cisco.md."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vendors.cisco.adapter import CiscoDevice
from auditor.vocab import Severity

CHECK = CheckMeta(
    id="CISCO-NOT-MODELLED",
    kind="unmodelled-config",
    severity=Severity.INFO,
    title="Configuration lines not modelled (they cannot affect the VPN path)",
    remediation="Nothing to change: these lines cannot decide a VPN flow through the device. They are listed so "
                "that every line of the configuration is either read or reported.",
)
SHOWN = 2  # kinds of line named in the title (the report gives a finding one line)
LINES = 20  # line numbers kept per kind in the evidence


def run(ctx: AuditContext) -> Iterator[Finding]:
    for device in sorted((d for d in ctx.model.devices.values() if isinstance(d, CiscoDevice)),
                         key=lambda d: d.name):
        review = device.config.review
        if review is None or not (review.not_modelled or device.notes):
            continue
        kinds = sorted(review.not_modelled.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        count = review.not_modelled_count()
        named = ", ".join(what for what, _lines in kinds[:SHOWN])
        more = f" and {len(kinds) - SHOWN} more" if len(kinds) > SHOWN else ""
        title = (f"{device.name}: {count} of {review.lines} lines not modelled, cannot affect the VPN path"
                 + (f" ({named}{more})" if kinds else ""))
        if device.notes:
            title += f"; {'; '.join(device.notes)}"
        evidence = {
            "file": device.config.path,
            "lines": review.lines,
            "not_modelled": count,
            "kinds": [{"what": what, "count": len(lines), "lines": sorted(lines)[:LINES]} for what, lines in kinds],
            "notes": list(device.notes),
        }
        yield Finding(CHECK, title, CHECK.remediation, None, None, device.name, evidence)
