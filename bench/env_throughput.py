"""Environment steps per second, ours beside navix's DoorKey-8x8, and with the teacher, in one run.

    python -m bench.env_throughput [--sizes 256 1024 4096] [--steps 128] [--repeats 3] [--tasks SimpleDoorKey]
    python -m bench.env_throughput --sizes 1024 --tasks Navix-DoorKey-16x16-v0 Navix-KeyCorridorS3R3-v0

Each row is a jitted `lax.scan` of `--steps` batched steps; compile time is reported
apart; steps/s is the best of `--repeats` timed runs (this machine is shared and noisy).
"env" rows take uniformly random actions; "env + teacher prior" rows compute the
teacher's prior π_T on every step's observations and act by sampling from it. Our tasks
step as training steps them (`Environment.step_batch`, new episodes drawn only for the
environments that end); the "vmapped step" rows draw one for every environment at every
step, as `jax.vmap(env.step)` and navix's own step do. A navix id is measured three ways: navix's
own step (its own observation), through the memory map, and through the memory map with the generic
teacher's prior; its rows are compared with its own navix row, ours with navix's DoorKey-8x8.
"""

import dataclasses
import functools
import time
from importlib.metadata import version

import jax
import navix

import bench
import envs
from common.cli import UsageError
import teacher_cache

REFERENCE = "Navix-DoorKey-8x8-v0"


def rollout_fn(reset, step, num_envs: int, num_steps: int, table=None):
    """A jitted function: (timesteps, key) -> (timesteps, key) after num_steps steps of the batched
    `step` (timesteps, actions) -> timesteps, acting at random or, given a teacher table, by sampling
    the teacher's prior."""

    def one_step(carry, _):
        timestep, key = carry
        key, action_key = jax.random.split(key)
        if table is None:
            actions = jax.random.randint(action_key, (num_envs,), 0, 7)
        else:
            prior = teacher_cache.prior(table, timestep.observation)
            actions = jax.random.categorical(action_key, jax.numpy.log(prior))
        return (step(timestep, actions), key), None

    def rollout(timestep, key):
        return jax.lax.scan(one_step, (timestep, key), None, length=num_steps)[0]

    first = jax.jit(jax.vmap(reset))(jax.random.split(jax.random.PRNGKey(0), num_envs))
    return jax.jit(rollout), first


def compiled_rollout(reset, step, num_envs: int, num_steps: int, table=None):
    """(compile seconds, a timer returning the steps/s of one more rollout)."""
    rollout, timestep = rollout_fn(reset, step, num_envs, num_steps, table)
    start = time.perf_counter()
    compiled = rollout.lower(timestep, jax.random.PRNGKey(1)).compile()
    compile_seconds = time.perf_counter() - start
    carry = [jax.block_until_ready(compiled(timestep, jax.random.PRNGKey(1)))]

    def timed() -> float:
        start = time.perf_counter()
        carry[0] = jax.block_until_ready(compiled(*carry[0]))
        return num_envs * num_steps / (time.perf_counter() - start)

    return compile_seconds, timed


def measure_together(rollouts: list, repeats: int) -> list[float]:
    """Best steps/s of each compiled rollout, timed in turn so that load on the machine hits all alike."""
    best = [0.0] * len(rollouts)
    for _ in range(repeats):
        for i, timed in enumerate(rollouts):
            best[i] = max(best[i], timed())
    return best


@dataclasses.dataclass(frozen=True)
class Options:
    """Environment steps per second, with and without the teacher's prior."""

    sizes: tuple[int, ...] = (256, 1024, 4096)
    """Numbers of environments."""
    steps: int = 128
    """Steps per timed rollout."""
    repeats: int = 5
    """Timed rollouts per row (the best is kept)."""
    tasks: tuple[str, ...] = envs.TASKS
    """Tasks to measure: ours (three rows each, beside navix's DoorKey-8x8) or navix ids with a teacher table."""


def main(args: Options) -> None:
    bench.at_least_one(sizes=args.sizes, steps=args.steps, repeats=args.repeats)
    unknown = [name for name in args.tasks if name not in envs.task_ids()]
    if unknown or not args.tasks:
        raise UsageError(f"--tasks must name tasks (ours or navix ids, `python -m envs`), got {list(args.tasks)}")
    tasks = [(name, teacher_cache.load(name)) for name in args.tasks]

    print(f"# Environment throughput: {bench.machine()}, navix {version('navix')}")
    print(f"# {args.steps}-step jitted scans; rows of one size timed in turn, best of {args.repeats} each")
    print("| task | envs | compile s | steps/s | vs navix's own step | teacher prior: vs env alone |")
    print("|---|---:|---:|---:|---:|---:|")
    for num_envs in args.sizes:
        budget = envs.reset_budget(num_envs)
        reference = navix.make(REFERENCE)  # navix's own step, with its own deferred autoreset
        # (label, reset, step, table, index of the row it is compared with)
        rows = [(f"{REFERENCE} (navix's own step)", reference.reset, jax.vmap(reference.step), None, 0)]
        for name, table in tasks:
            if name in envs.TASKS:
                env = envs.make(name)
                step = functools.partial(env.step_batch, budget=budget)
                rows += [(f"{name}, vmapped step", env.reset, jax.vmap(env.step), None, 0),
                         (name, env.reset, step, None, 0), (f"{name} + teacher prior", env.reset, step, table, 0)]
            else:
                own, env = navix.make(name), envs.make(name, observation="memory_map")
                step = functools.partial(env.step_batch, budget=budget)
                rows += [(f"{name} (navix's own step)", own.reset, jax.vmap(own.step), None, len(rows)),
                         (f"{name}, memory map", env.reset, step, None, len(rows)),
                         (f"{name}, memory map + teacher prior", env.reset, step, table, len(rows))]
        compile_times, rollouts = [], []
        for _, reset, step, table, _ in rows:
            compile_seconds, timed = compiled_rollout(reset, step, num_envs, args.steps, table)
            compile_times.append(compile_seconds)
            rollouts.append(timed)
        rates = measure_together(rollouts, args.repeats)
        for i, ((label, _, _, table, compared), compile_seconds, rate) in enumerate(zip(rows, compile_times, rates)):
            versus_env = f"{rate / rates[i - 1]:.0%}" if table is not None else ""
            print(f"| {label} | {num_envs} | {compile_seconds:.1f} | {rate:,.0f} | {rate / rates[compared]:.0%} "
                  f"| {versus_env} |", flush=True)


if __name__ == "__main__":
    bench.cli(Options, main, __doc__, "bench.env_throughput")
