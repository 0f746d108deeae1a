"""The teacher alone as the acting policy: success rate, mean return and length over N episodes.

    python -m teacher_cache.evaluate --task SimpleDoorKey [--table PATH] [--episodes 1000] [--seed 0]

Runs N vmapped episodes (one per environment) for the soft teacher (actions drawn from
π_T) and the hard teacher (a plan drawn at every step, its action taken).
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import envs
from envs.episodes import run_episodes, summary
from teacher_cache.prior import prior
from teacher_cache.table import Table, TableError, load


def play(table: Table, task: str, episodes: int, hard: bool, seed: int = 0) -> dict:
    """The teacher acting alone for `episodes` episodes: per-episode `return`, `length`, `success`
    (host arrays, as `envs.episodes.run_episodes` gives them)."""
    env = envs.make(task, autoreset=False)

    def policy(observations, key):
        prior_key, action_key = jax.random.split(key)
        distribution = prior(table, observations, hard=hard, key=prior_key)
        return jax.random.categorical(action_key, jnp.log(distribution), axis=-1)

    return jax.device_get(jax.jit(lambda key: run_episodes(env, policy, episodes, key))(jax.random.PRNGKey(seed)))


def evaluate(table: Table, task: str, episodes: int, hard: bool, seed: int = 0) -> dict:
    """Success rate, mean return and mean length of the teacher acting alone for `episodes` episodes."""
    start = time.perf_counter()
    outcome = play(table, task, episodes, hard, seed)
    result = {"task": task, "teacher": "hard" if hard else "soft", "table": table.path, **summary(outcome)}
    return {**result, "seconds": round(time.perf_counter() - start, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="SimpleDoorKey", choices=envs.TASKS)
    parser.add_argument("--table", default=None, help="table file (default: the task's shipped table)")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", choices=["soft", "hard", "both"], default="both")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes must be at least 1, got {args.episodes}")
    try:
        table = load(args.table or args.task, task=args.task)
    except TableError as error:
        parser.error(str(error))
    for hard in {"soft": [False], "hard": [True], "both": [False, True]}[args.teacher]:
        print(json.dumps(evaluate(table, args.task, args.episodes, hard, args.seed)), flush=True)


if __name__ == "__main__":
    main()
