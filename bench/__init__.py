"""Benchmarks: scripts that print what they measured on the machine they ran on."""

import os
import platform

import jax
import tyro


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
    """Refuses (SystemExit, naming the option) a count, or a list of counts, below 1 or empty."""
    for name, value in counts.items():
        values = value if isinstance(value, tuple) else (value,)
        if not values or min(values) < 1:
            shown = list(value) if isinstance(value, tuple) else value
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1, got {shown}")


def cli(options_type, main, description: str, name: str) -> None:
    """`main` of the command line's options; a training configuration the trainer refuses (ConfigError, raised
    while checking every configuration before the first is measured) ends it with the message. The options'
    --train.* are checked then, with the benchmark's own environment counts, not as they are parsed."""
    from student.config import ConfigError, checks_deferred

    try:
        with checks_deferred():
            options = tyro.cli(options_type, description=description)
        main(options)
    except ConfigError as error:
        raise SystemExit(f"{name}: {error}") from None
