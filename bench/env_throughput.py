"""Environment steps per second with random actions, ours beside navix's DoorKey-8x8, in one run.

    python -m bench.env_throughput [--sizes 256 1024 4096] [--steps 128] [--repeats 3]

Each row is a jitted `lax.scan` of `--steps` vmapped steps; compile time is reported
apart; steps/s is the best of `--repeats` timed runs (this machine is shared and noisy).
"""

import argparse
from importlib.metadata import version
import platform
import time

import jax
import navix

import envs

REFERENCE = "Navix-DoorKey-8x8-v0"


def rollout_fn(reset, step, num_envs: int, num_steps: int):
    """A jitted function: (timesteps, key) -> (timesteps, key) after num_steps random-action steps."""

    def one_step(carry, _):
        timestep, key = carry
        key, action_key = jax.random.split(key)
        actions = jax.random.randint(action_key, (num_envs,), 0, 7)
        return (jax.vmap(step)(timestep, actions), key), None

    def rollout(timestep, key):
        return jax.lax.scan(one_step, (timestep, key), None, length=num_steps)[0]

    first = jax.jit(jax.vmap(reset))(jax.random.split(jax.random.PRNGKey(0), num_envs))
    return jax.jit(rollout), first


def measure(reset, step, num_envs: int, num_steps: int, repeats: int) -> tuple[float, float]:
    """(compile seconds, best steps per second)."""
    rollout, timestep = rollout_fn(reset, step, num_envs, num_steps)
    start = time.perf_counter()
    compiled = rollout.lower(timestep, jax.random.PRNGKey(1)).compile()
    compile_seconds = time.perf_counter() - start
    carry = jax.block_until_ready(compiled(timestep, jax.random.PRNGKey(1)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        carry = jax.block_until_ready(compiled(*carry))
        best = min(best, time.perf_counter() - start)
    return compile_seconds, num_envs * num_steps / best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096], help="numbers of environments")
    parser.add_argument("--steps", type=int, default=128, help="steps per timed rollout")
    parser.add_argument("--repeats", type=int, default=3, help="timed rollouts per row (best is kept)")
    args = parser.parse_args()

    reference = navix.make(REFERENCE)  # navix's own step, with its own deferred autoreset
    rows = [(f"{REFERENCE} (navix's own step)", reference.reset, reference.step)]
    for name in envs.TASKS:
        env = envs.make(name)
        rows.append((name, env.reset, env.step))

    print(f"# Environment throughput: {platform.processor() or platform.machine()}, "
          f"{jax.device_count()} x {jax.devices()[0].platform}, jax {jax.__version__}, navix {version("navix")}")
    print(f"# random actions, {args.steps}-step jitted scans, best of {args.repeats}")
    print("| task | envs | compile s | steps/s | vs navix DoorKey-8x8 |")
    print("|---|---:|---:|---:|---:|")
    for num_envs in args.sizes:
        reference_rate = None
        for label, reset, step in rows:
            compile_seconds, rate = measure(reset, step, num_envs, args.steps, args.repeats)
            reference_rate = reference_rate or rate
            print(f"| {label} | {num_envs} | {compile_seconds:.1f} | {rate:,.0f} | {rate / reference_rate:.0%} |",
                  flush=True)


if __name__ == "__main__":
    main()
