"""The vendors shipped with the tool, installed into the core's registry on import.

The order is the order snapshot folders are read, which is the order reports list what they hold.
"""

from auditor.plugins import Registry, install
from auditor.vendors import cisco, lb, meraki

REGISTRY = Registry([meraki.VENDOR, lb.VENDOR, cisco.VENDOR])
install(REGISTRY)
