"""The teacher's go-to search alone, its two loops side by side: until nothing grows, and a fixed trip count.

    python -m bench.go_to_search [--sizes 1024 4096 16384] [--searches until-done fixed]

The search (`teacher_cache.options.go_to_search`) grows the states reachable from the agent one step
at a time. `until-done` stops once nothing more is reachable (a `while_loop`; 25-30 steps for a batch
of 1,024 to 16,384 SimpleDoorKey maps), but XLA's GPU backend copies its condition to the host and
waits for it at every step. `fixed` grows as many steps as a path can take (49 on a 10x10 grid) in a loop of
known trip count, which runs without that wait. `go_to_search` picks `fixed` on a GPU and `until-done`
elsewhere. The answers are checked equal for every search before anything is timed.

Memory maps: the task's environments acting by the teacher's prior, `--batches` consecutive
steps after `--warmup` steps (the maps a rollout sees early in training); goals: every thing
of the task's vocabulary, as the prior searches for them. Each timed call is a jitted
`lax.scan` of one search per batch; the rows of one size are timed in turn, best of `--repeats`.
"""

import dataclasses
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

import bench
import envs
import teacher_cache
from common.cli import UsageError
from teacher_cache.options import go_to_search
from teacher_cache.situations import batch_last, look

# The searches by name: `go_to_search`'s `fixed_steps`.
SEARCHES = {"until-done": False, "fixed": True}


@dataclasses.dataclass(frozen=True)
class Options:
    """The go-to search's time per batch of memory maps, by the loop that grows it."""

    sizes: tuple[int, ...] = (1024, 4096)
    """Memory maps per search."""
    searches: tuple[Literal["until-done", "fixed"], ...] = tuple(SEARCHES)
    """until-done: grow until nothing more is reachable (a while loop); fixed: as many steps as a path can take."""
    task: str = "SimpleDoorKey"
    """SimpleDoorKey, LavaDoorKey or ColoredDoorKey."""
    warmup: int = 30
    """Environment steps before the maps are kept."""
    batches: int = 16
    """Batches of maps (consecutive steps) searched per timed call."""
    repeats: int = 10
    """Timed calls per row (the best is kept)."""


def memory_maps(task: str, num_envs: int, warmup: int, batches: int) -> tuple[teacher_cache.Table, jax.Array]:
    """(the task's table, uint8[batches, H, W, 4, num_envs]): memory maps of `batches` consecutive steps
    of environments acting by the teacher's prior, after `warmup` steps."""
    env, table = envs.make(task), teacher_cache.load(task)

    def one_step(carry, _):
        timestep, key = carry
        key, action_key = jax.random.split(key)
        prior = teacher_cache.prior(table, timestep.observation)
        action = jax.random.categorical(action_key, jnp.log(prior))
        following = env.step_batch(timestep, action, envs.reset_budget(num_envs))
        return (following, key), batch_last(timestep.observation)

    @jax.jit
    def play(key):
        timestep = jax.vmap(env.reset)(jax.random.split(key, num_envs))
        return jax.lax.scan(one_step, (timestep, key), None, length=warmup + batches)[1][warmup:]

    return table, play(jax.random.PRNGKey(0))


def searches(table: teacher_cache.Table, fixed_steps: bool):
    """A jitted function: maps uint8[R, H, W, 4, B] -> (steps, first action) int32[R, T, B], one search per batch."""

    def search(_, maps):
        return None, jnp.stack(go_to_search(maps, look(table.vocabulary, maps).cells, fixed_steps))

    return jax.jit(lambda stacked: jax.lax.scan(search, None, stacked)[1])


def main(args: Options) -> None:
    bench.at_least_one(sizes=args.sizes, batches=args.batches, repeats=args.repeats)
    unknown = [name for name in args.searches if name not in SEARCHES]
    if unknown or not args.searches:
        raise UsageError(f"--searches must name searches ({', '.join(SEARCHES)}), got {list(args.searches)}")
    if args.task not in envs.TASKS:
        raise UsageError(f"--task must be one of {', '.join(envs.TASKS)}, got {args.task!r}")
    print(f"# The go-to search alone: {bench.machine()}")
    print(f"# {args.task}, {args.batches} batches of maps per timed call; rows of one size timed in turn, "
          f"best of {args.repeats} each")
    print(f"| maps | search | compile s | ms per search | maps/s | vs {args.searches[0]} |")
    print("|---:|---|---:|---:|---:|---:|")
    for num_envs in args.sizes:
        table, maps = memory_maps(args.task, num_envs, args.warmup, args.batches)
        compiled, compile_times, answers = [], [], []
        for name in args.searches:
            start = time.perf_counter()
            compiled.append(searches(table, SEARCHES[name]).lower(maps).compile())
            compile_times.append(time.perf_counter() - start)
            answers.append(np.asarray(compiled[-1](maps)))
        for name, answer in zip(args.searches, answers):
            if not np.array_equal(answer, answers[0]):
                raise RuntimeError(f"the {name} search answered differently from the {args.searches[0]} one: "
                                   "a bug in teacher_cache/options.py")
        best = [float("inf")] * len(compiled)
        for _ in range(args.repeats):
            for i, function in enumerate(compiled):
                start = time.perf_counter()
                jax.block_until_ready(function(maps))
                best[i] = min(best[i], (time.perf_counter() - start) / args.batches)
        for name, compile_seconds, seconds in zip(args.searches, compile_times, best):
            print(f"| {num_envs} | {name} | {compile_seconds:.1f} | {seconds * 1e3:.3f} | {num_envs / seconds:,.0f} "
                  f"| {best[0] / seconds:.2f}x |", flush=True)


if __name__ == "__main__":
    bench.cli(Options, main, __doc__, "bench.go_to_search")
