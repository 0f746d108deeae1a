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
import numpy as np

import envs
from teacher_cache.prior import prior
from teacher_cache.table import Table, load


def evaluate(table: Table, task: str, episodes: int, hard: bool, seed: int = 0) -> dict:
    """Success rate, mean return and mean length of the teacher acting alone for `episodes` episodes."""
    env = envs.make(task, autoreset=False)

    def act(carry, _):
        timestep, finished, outcome, key = carry
        key, prior_key, action_key = jax.random.split(key, 3)
        distribution = prior(table, timestep.observation, hard=hard, key=prior_key)
        actions = jax.random.categorical(action_key, jnp.log(distribution), axis=-1)
        timestep = jax.vmap(env.step)(timestep, actions)
        ends_now = timestep.is_done() & ~finished
        outcome = jax.tree.map(
            lambda old, new: jnp.where(ends_now, new, old),
            outcome,
            (timestep.reward, timestep.t, timestep.info["success"]),
        )
        return (timestep, finished | ends_now, outcome, key), None

    @jax.jit
    def run(key):
        reset_key, key = jax.random.split(key)
        timestep = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
        outcome = (jnp.zeros(episodes), jnp.zeros(episodes, jnp.int32), jnp.zeros(episodes, bool))
        carry = (timestep, jnp.zeros(episodes, bool), outcome, key)
        (_, finished, outcome, _), _ = jax.lax.scan(act, carry, None, length=env.max_steps)
        return finished, outcome

    start = time.perf_counter()
    finished, (returns, lengths, success) = jax.device_get(run(jax.random.PRNGKey(seed)))
    assert finished.all(), "every episode ends by max_steps"
    return {
        "task": task,
        "teacher": "hard" if hard else "soft",
        "table": table.path,
        "episodes": episodes,
        "success_rate": float(np.mean(success)),
        "mean_return": float(np.mean(returns)),
        "mean_length": float(np.mean(lengths)),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="SimpleDoorKey", choices=envs.TASKS)
    parser.add_argument("--table", default=None, help="table file (default: the task's shipped table)")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", choices=["soft", "hard", "both"], default="both")
    args = parser.parse_args()
    table = load(args.table or args.task, task=args.task)
    for hard in {"soft": [False], "hard": [True], "both": [False, True]}[args.teacher]:
        print(json.dumps(evaluate(table, args.task, args.episodes, hard, args.seed)), flush=True)


if __name__ == "__main__":
    main()
