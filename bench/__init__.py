"""Benchmarks: scripts that print what they measured on the machine they ran on."""

import os
import platform
import sys

import jax

from common import cli as command_line
from common.cli import UsageError


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


def at_least_one(**counts) -> None:
    """Refuses (UsageError, naming the option) a count, or a list of counts, below 1 or empty."""
    for name, value in counts.items():
        values = value if isinstance(value, tuple) else (value,)
        if not values or min(values) < 1:
            shown = list(value) if isinstance(value, tuple) else value
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {shown}")


def cli(options_type, main, description: str, name: str) -> None:
    """Runs `main` on the command line's options and exits; a refused option or training configuration ends it
    with one line (`common.cli`). The options' --train.* are only declared while parsing: filled from the
    recipe and checked with the benchmark's own environment counts, not the default's."""
    from student.config import declaring

    def run():
        with declaring():
            options = command_line.parse(options_type, None, description)
        main(options)

    sys.exit(command_line.main(name, run))
