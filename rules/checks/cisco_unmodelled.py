"""Lines of a Cisco configuration that cannot affect a VPN path (routing protocol details, community lists,
banners, trustpoints, voice, management settings): not modelled, and reported once per device so that no line
of the file goes unaccounted for. They decide nothing; the relevance table is in docs/semantics/cisco.md. A device
accounts for its lines through `Device.unmodelled_lines`."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
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
    for device in sorted(ctx.model.devices.values(), key=lambda d: d.name):
        unread = device.unmodelled_lines()
        if unread is None or not (unread.kinds or unread.notes):
            continue
        kinds = sorted(unread.kinds.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        count = unread.count
        named = ", ".join(what for what, _lines in kinds[:SHOWN])
        more = f" and {len(kinds) - SHOWN} more" if len(kinds) > SHOWN else ""
        title = (f"{device.name}: {count} of {unread.total} lines not modelled, cannot affect the VPN path"
                 + (f" ({named}{more})" if kinds else ""))
        if unread.notes:
            title += f"; {'; '.join(unread.notes)}"
        evidence = {
            "file": unread.path,
            "lines": unread.total,
            "not_modelled": count,
            "kinds": [{"what": what, "count": len(lines), "lines": sorted(lines)[:LINES]} for what, lines in kinds],
            "notes": list(unread.notes),
        }
        yield Finding(CHECK, title, CHECK.remediation, None, None, device.name, evidence)
