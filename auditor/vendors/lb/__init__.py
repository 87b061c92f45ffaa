"""Load balancers: F5 BIG-IP, KEMP LoadMaster, Citrix NetScaler, Linux IPVS (keepalived, ipvsadm), AWS NLB
and Azure Load Balancer; REST collectors, adapters onto the vendor-neutral `auditor.lb_model`, fix planner."""

from auditor.plugins import Vendor
from auditor.vendors.lb.aws_nlb import AwsNlbAdapter
from auditor.vendors.lb.azure_lb import AzureLbAdapter
from auditor.vendors.lb.f5 import F5Adapter
from auditor.vendors.lb.fixplan import LoadBalancerPlanner
from auditor.vendors.lb.ipvs import IpvsadmAdapter, KeepalivedAdapter
from auditor.vendors.lb.kemp import KempAdapter
from auditor.vendors.lb.netscaler import NetScalerAdapter

# One vendor entry: the planner serves every load balancer through the model's LoadBalancer.
VENDOR = Vendor(name="lb", planner=LoadBalancerPlanner, adapters={
    "f5": F5Adapter, "kemp": KempAdapter, "netscaler": NetScalerAdapter, "keepalived": KeepalivedAdapter,
    "ipvs": IpvsadmAdapter, "azure": AzureLbAdapter, "aws": AwsNlbAdapter})
