"""Cisco ASA and IOS: SSH collector, config parsers (ACLs, NAT, local termination), adapter and fix planner."""

from auditor.plugins import Vendor
from auditor.vendors.cisco.adapter import CiscoAdapter
from auditor.vendors.cisco.fixplan import CiscoPlanner

VENDOR = Vendor(name="cisco", adapters={"cisco": CiscoAdapter}, planner=CiscoPlanner)
