"""Cisco ASA and IOS: SSH collector, config parsers (ACLs, NAT, local termination), adapter, `init` hints and fix
planner."""

from auditor.plugins import Vendor
from auditor.vendors.cisco.adapter import CiscoAdapter
from auditor.vendors.cisco.fixplan import CiscoPlanner
from auditor.vendors.cisco.init_hints import server_hints

VENDOR = Vendor(name="cisco", adapters={"cisco": CiscoAdapter}, planner=CiscoPlanner, server_hints=server_hints)
