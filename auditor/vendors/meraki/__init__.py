"""Cisco Meraki: Dashboard collector, incremental pull, adapter (roles, MX/SSID rules, fronts, DNS), fix
planner and `check-ssid`."""

from auditor.plugins import Vendor
from auditor.vendors.meraki.adapter import MerakiAdapter
from auditor.vendors.meraki.fixplan import MerakiPlanner

VENDOR = Vendor(name="meraki", adapters={"meraki": MerakiAdapter}, planner=MerakiPlanner)
