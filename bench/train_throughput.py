"""End-to-end training frames per second (rollout, teacher prior, advantages, PPO epochs), compile apart.

    python -m bench.train_throughput [--num-envs 1024] [--task SimpleDoorKey] [--chunks 3] [--set '{...}']

`llm4teach` (teacher prior on every transition) and `ppo` (no teacher) are compiled
with the same configuration and timed in turn, chunk by chunk; the teacher's overhead
is 1 - fps(llm4teach) / fps(ppo). Frames are environment transitions of one seed.
"""

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp

from student import run
from student.config import Hyperparams, TrainConfig


def compiled_chunk(config: TrainConfig):
    """(compile seconds, a function that runs one more chunk and returns its seconds)."""
    learner = run.build(config)
    hparams = Hyperparams.from_config(config)
    state = [jax.vmap(learner.init)(jnp.asarray(config.seeds))]
    start = time.perf_counter()
    chunk = jax.jit(jax.vmap(learner.chunk, in_axes=(0, None))).lower(state[0], hparams).compile()
    compile_seconds = time.perf_counter() - start
    state[0] = jax.block_until_ready(chunk(state[0], hparams)[0])  # warm-up

    def timed() -> float:
        start = time.perf_counter()
        state[0] = jax.block_until_ready(chunk(state[0], hparams)[0])
        return time.perf_counter() - start

    return compile_seconds, timed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="SimpleDoorKey")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1024])
    parser.add_argument("--chunks", type=int, default=3, help="timed chunks per method (best is kept)")
    parser.add_argument("--set", default="{}", help="other TrainConfig overrides as JSON")
    args = parser.parse_args()
    device = jax.devices()[0]
    print(f"# training throughput: {platform.machine()}, {jax.device_count()} x {device.platform} "
          f"({device.device_kind}), jax {jax.__version__}")
    print("| task | envs | method | frames/update | compile s | frames/s | teacher overhead |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for num_envs in args.num_envs:
        configs = {}
        for method in ("llm4teach", "ppo"):
            configs[method] = run.config_with({**json.loads(args.set), "task": args.task, "method": method,
                                               "num_envs": num_envs, "seeds": [0]})
        compiled = {method: compiled_chunk(config) for method, config in configs.items()}
        best = {method: float("inf") for method in configs}
        for _ in range(args.chunks):
            for method, (_, timed) in compiled.items():
                best[method] = min(best[method], timed())
        fps = {method: configs[method].frames_per_chunk / best[method] for method in configs}
        for method, config in configs.items():
            overhead = f"{1 - fps['llm4teach'] / fps['ppo']:.0%}" if method == "llm4teach" else ""
            print(f"| {args.task} | {num_envs} | {method} | {config.batch_size:,} | {compiled[method][0]:.1f} "
                  f"| {fps[method]:,.0f} | {overhead} |", flush=True)


if __name__ == "__main__":
    main()
