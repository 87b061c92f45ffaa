"""`vpn-auditor fleet`: collect and audit many Meraki organisations as jobs on a Dask distributed cluster.

- `plan`: the fleet file (which orgs, each one's audit.yaml) and the options every job shares;
- `job`: one org on a worker: collect, audit, report, into a folder that appears whole or not at all;
- `worker`: the worker host's own settings (egress address, host budget), given to `dask worker --preload`,
  and kept for the jobs in `settings`;
- `engine`: the driver: a cluster (an existing scheduler, or a LocalCluster started in-process), one job per
  org, retries, and the fleet summary (`summary`).

docs/fleet.md describes the commands, budgets, outputs and what happens when a worker dies.
"""
