"""Benchmarks: scripts that print what they measured on the machine they ran on."""

import os
import platform

import jax


def cpu_name() -> str:
    """The CPU's model name ('Intel(R) Xeon(R) Processor'), as /proc/cpuinfo gives it where it can."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """What a benchmark ran on, for its header: '1 x cpu (Intel(R) Xeon(R) Processor, 2 cores), jax 0.12.0.1'.
    These machines differ from session to session: compare figures of one run, or of one CPU."""
    device = jax.devices()[0]
    kind = "" if device.device_kind == device.platform else f" {device.device_kind}"
    return (f"{jax.device_count()} x {device.platform}{kind} ({cpu_name()}, {os.cpu_count()} cores), "
            f"jax {jax.__version__}")
