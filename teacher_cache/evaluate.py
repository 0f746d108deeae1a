"""The teacher alone as the acting policy: success rate, mean return and length over N episodes.

    python -m teacher_cache.evaluate --task SimpleDoorKey [--table PATH] [--episodes 1000] [--seed 0]
    python -m teacher_cache.evaluate --task Navix-DoorKey-16x16-v0 --episodes 256

Runs N vmapped episodes (one per environment) for the soft teacher (actions drawn from
π_T) and the hard teacher (a plan drawn at every step, its action taken). A navix task is
played through the memory map, by the generic teacher.
"""

import dataclasses
import json
import sys
import time
from typing import Literal

import jax
import jax.numpy as jnp

import envs
from common import cli
from common.cli import UsageError
from envs.episodes import run_episodes, summary
from teacher_cache.prior import prior
from teacher_cache.table import Table, load, stack, vocabulary


def play(table: Table, task: str, episodes: int, hard: bool, seed: int = 0) -> dict:
    """The teacher acting alone for `episodes` episodes: per-episode `return`, `length`, `success`
    (host arrays, as `envs.episodes.run_episodes` gives them)."""
    env = envs.make(task, observation="memory_map", autoreset=False)

    def policy(observations, key):
        prior_key, action_key = jax.random.split(key)
        distribution = prior(table, observations, hard=hard, key=prior_key)
        return jax.random.categorical(action_key, jnp.log(distribution), axis=-1)

    return jax.device_get(jax.jit(lambda key: run_episodes(env, policy, episodes, key))(jax.random.PRNGKey(seed)))


def play_each(tables: list[Table], task: str, episodes: int, seed: int = 0) -> list[dict]:
    """`play` of each table, soft then hard ([table 0 soft, table 0 hard, table 1 soft, ...]), as one compiled
    program: the tables stacked, the teacher's kind a traced flag (the same episodes as `play`'s, one by one)."""
    env = envs.make(task, observation="memory_map", autoreset=False)
    stacked = stack(tables)
    variants = jnp.asarray([(index, hard) for index in range(len(tables)) for hard in (0, 1)], jnp.int32)

    def one(variant):
        table = jax.tree.map(lambda leaf: leaf[variant[0]], stacked)

        def policy(observations, key):
            prior_key, action_key = jax.random.split(key)
            distribution = prior(table, observations, hard=variant[1] > 0, key=prior_key)
            return jax.random.categorical(action_key, jnp.log(distribution), axis=-1)

        return run_episodes(env, policy, episodes, jax.random.PRNGKey(seed))

    outcomes = jax.device_get(jax.jit(jax.vmap(one))(variants))
    return [jax.tree.map(lambda values, i=i: values[i], outcomes) for i in range(len(variants))]


def evaluate(table: Table, task: str, episodes: int, hard: bool, seed: int = 0) -> dict:
    """Success rate, mean return and mean length of the teacher acting alone for `episodes` episodes."""
    start = time.perf_counter()
    outcome = play(table, task, episodes, hard, seed)
    result = {"task": task, "teacher": "hard" if hard else "soft", "table": table.path, **summary(outcome)}
    return {**result, "seconds": round(time.perf_counter() - start, 1)}


@dataclasses.dataclass(frozen=True)
class Options:
    """The teacher alone as the acting policy: success rate, mean return and length over --episodes episodes."""

    task: str = "SimpleDoorKey"
    """The task played: SimpleDoorKey, LavaDoorKey, ColoredDoorKey or a navix id with a teacher table."""
    table: str | None = None
    """Table file (default: the task's shipped table)."""
    episodes: int = 1000
    """Episodes per teacher."""
    seed: int = 0
    """Seed of the episodes."""
    teacher: Literal["soft", "hard", "both"] = "both"
    """soft: actions drawn from π_T; hard: a plan drawn every step; both."""


def run(options: Options) -> None:
    if options.episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {options.episodes}")
    vocabulary(options.task)  # an unknown task, or one the teacher cannot name, said so before any file is read
    table = load(options.table or options.task, task=options.task)
    for hard in {"soft": [False], "hard": [True], "both": [False, True]}[options.teacher]:
        print(json.dumps(evaluate(table, options.task, options.episodes, hard, options.seed)), flush=True)


def main(argv: list[str] | None = None) -> int:
    return cli.main("teacher_cache.evaluate", lambda: run(cli.parse(Options, argv, __doc__)))

if __name__ == "__main__":
    sys.exit(main())
