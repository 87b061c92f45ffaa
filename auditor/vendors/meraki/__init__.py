"""Cisco Meraki: Dashboard collector, incremental pull, adapter (roles, MX/SSID rules, fronts, DNS), folder layout
(scope: what diff, the fix plans and the gate need to know of it), `init` hints, fix planner and `check-ssid`."""

from auditor.plugins import Vendor
from auditor.vendors.meraki.adapter import MerakiAdapter
from auditor.vendors.meraki.fixplan import MerakiPlanner
from auditor.vendors.meraki.init_hints import server_hints
from auditor.vendors.meraki.scope import MerakiScope

VENDOR = Vendor(name="meraki", title="Meraki", adapters={"meraki": MerakiAdapter}, planner=MerakiPlanner,
                scope=MerakiScope, server_hints=server_hints,
                inside=("organizations/", "organizations.json", "networks/"))  # a meraki/ folder's own entries
