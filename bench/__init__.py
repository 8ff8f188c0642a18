"""Benchmarks: the canary judge against its peers (judge_sim) and the data plane (dataplane)."""
