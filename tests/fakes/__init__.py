"""Local stand-ins for remote systems (Meraki Dashboard API, ...) used by tests and benchmarks."""
