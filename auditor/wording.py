"""How model things are named to people, one way for checks (titles, fixes) and reports (tables, headings):
a role, where on its path a flow stops, and a list of flows. Rules name themselves (`Rule.label`: 'rule 3',
'line 37 of cisco/x.cfg', 'default rule')."""

from __future__ import annotations

from auditor.model import Hop, Role, Rule


def role_label(role: Role) -> str:
    """"Store 22 group_policy 'Contractors' on 'Store-Staff' before sign-on"."""
    label = f"{role.kind} '{role.name}'"
    if role.ssid and role.kind != "ssid":
        label += f" on '{role.ssid}'"
    if role.via:  # a policy given by device type: say to whom
        label += f" for {role.via}"
    if role.network_name:
        label = f"{role.network_name} {label}"
    if role.phase == "pre-auth":
        label += " before sign-on"
    return label


def place(hop: Hop, rule: Rule | None = None, role: Role | None = None) -> str:
    """Where a flow stops, shortly: 'ssid-l3+group-policy rule 1' (a list of the role's own SSID), 'MX mx-l3
    rule 2', 'cisco/hq-asa acl-in line 40 of cisco/hq-asa.cfg'. The role's network and SSID are left out of
    the device's name: whatever shows the place names the role already."""
    device = hop.device
    if role is not None and role.network_name and device.startswith(f"{role.network_name} / "):
        device = device[len(role.network_name) + 3:]
        if role.ssid and device.endswith(f" ({role.ssid})"):
            device = ""
    text = f"{device} {hop.stage}".strip()
    return f"{text} {rule.label}" if rule is not None else text


def flows_text(flows: list[str]) -> str:
    """'udp/500,4500 tcp/443 esp': ports of one IP protocol together, in the order given."""
    ports: dict[str, list[str]] = {}
    for flow in flows:
        proto, _, port = flow.partition("/")
        ports.setdefault(proto, [])
        if port and port not in ports[proto]:
            ports[proto].append(port)
    return " ".join(f"{proto}/{','.join(p)}" if p else proto for proto, p in ports.items())
