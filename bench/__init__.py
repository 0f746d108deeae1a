"""Benchmarks: scripts that print what they measured on the machine they ran on."""
