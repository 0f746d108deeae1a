"""Training frames per second against the number of devices, data parallel, compile apart.

    python -m bench.scaling [--devices 1 2 4] [--num-envs 256] [--chunks 3]
        [--train.ppo.update-epochs 1 ...]     # any training option, as train.py takes it

Each device count is measured in a fresh process (JAX fixes its device count when it
starts) with XLA_FLAGS=--xla_force_host_platform_device_count=N, so that a CPU shows N
devices; on a machine with accelerators the first N of them are used. The global batch
(environments, rollout, minibatches) is the same at every count; frames are environment
transitions of one seed.
"""

import dataclasses
import json
import os
import subprocess
import sys

import jax

import bench
from common.cli import UsageError
from student import run_folder
from student.config import TrainConfig, declared

MEASURE = """
import json, sys
from bench.scaling import measure
from student import run_folder
print(json.dumps(measure(run_folder.from_dict(json.loads(sys.argv[1])), int(sys.argv[2]))))
"""


@dataclasses.dataclass(frozen=True)
class Options:
    """Training throughput on 1, 2, 4, ... devices, one process each."""

    devices: tuple[int, ...] = (1, 2, 4)
    """Device counts to measure, one after another."""
    task: str = "SimpleDoorKey"
    num_envs: int = 256
    """Environments (the global batch's), split over the devices."""
    chunks: int = 3
    """Timed chunks per device count (the best is kept)."""
    train: TrainConfig = dataclasses.field(default_factory=declared)
    """The training configuration measured (task, environments and devices are set above)."""


def measure(config: TrainConfig, chunks: int) -> dict:
    """Compile seconds and the best frames/s of `chunks` chunks, on this process's devices."""
    from bench.train_throughput import timer

    late = config.phases.is_late(0)  # the phase a run starts in
    compile_seconds, timed = timer(config, late)
    best = min(timed() for _ in range(chunks))
    device = jax.devices()[0]
    frames_per_chunk = config.phases.batch_size(late) * config.phases.updates_in_chunk(late)
    return {"compile_seconds": compile_seconds, "fps": frames_per_chunk / best,
            "kind": f"{device.platform} ({device.device_kind})"}


def in_fresh_process(config: TrainConfig, chunks: int) -> dict:
    """`measure` in a new Python that sees `config.devices` CPU devices."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={config.devices}".strip()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "XLA_FLAGS": flags, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(run_folder.to_dict(config)), str(chunks)],
                            env=env, capture_output=True, text=True)
    if result.returncode:
        raise UsageError(f"bench.scaling on {config.devices} devices: {result.stderr.strip().splitlines()[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(options: Options) -> None:
    bench.at_least_one(devices=options.devices, num_envs=options.num_envs, chunks=options.chunks)
    configs = [options.train.replace(task=options.task, num_envs=options.num_envs, seeds=(0,), devices=devices)
               for devices in options.devices]  # each checked before the first is measured
    print(f"# training throughput against devices: {options.task}, {options.train.method}, jax {jax.__version__}")
    print(f"| devices | device | envs per device | frames/update | compile s | frames/s | vs {options.devices[0]} |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    first = None
    for devices, config in zip(options.devices, configs):
        result = in_fresh_process(config, options.chunks)
        first = first or result["fps"]
        print(f"| {devices} | {result['kind']} | {options.num_envs // devices} "
              f"| {config.phases.batch_size(config.phases.is_late(0)):,} "
              f"| {result['compile_seconds']:.1f} | {result['fps']:,.0f} | {result['fps'] / first:.2f}x |", flush=True)


if __name__ == "__main__":
    bench.cli(Options, main, __doc__, "bench.scaling")
