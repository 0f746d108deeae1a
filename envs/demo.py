"""A short demo of the environments: random play over thousands of copies, and pictures.

    python -m envs.demo [--out demo] [--num-envs 4096] [--steps 300]

For each task it prints episodes finished, the random policy's success rate and the
steps/s reached, and writes `<out>/<task>.gif`, one random episode drawn step by step.
"""

import dataclasses
import os
import sys
import time

import jax
import numpy as np

import envs
from common import cli
from common.cli import UsageError
from envs.episodes import episodes_frames, save_gif


def random_play(env, num_envs: int, num_steps: int, seed: int = 0) -> dict:
    """Statistics of uniformly random actions in `num_envs` copies for `num_steps` steps."""

    def one_step(timestep, key):
        timestep = jax.vmap(env.step)(timestep, jax.random.randint(key, (num_envs,), 0, env.num_actions))
        return timestep, (timestep.is_done(), timestep.info["success"], timestep.info["episode_length"])

    @jax.jit
    def play(key):
        reset_key, step_key = jax.random.split(key)
        timestep = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))
        return jax.lax.scan(one_step, timestep, jax.random.split(step_key, num_steps))[1]

    key = jax.random.PRNGKey(seed)
    compiled = play.lower(key).compile()
    start = time.perf_counter()
    done, success, length = jax.block_until_ready(compiled(key))
    seconds = time.perf_counter() - start
    done = np.asarray(done)
    return {
        "episodes": int(done.sum()),
        "success_rate": float(np.asarray(success)[done].mean()) if done.any() else 0.0,
        "mean_length": float(np.asarray(length)[done].mean()) if done.any() else 0.0,
        "steps_per_second": num_envs * num_steps / seconds,
    }


@dataclasses.dataclass(frozen=True)
class Options:
    """Random play over thousands of copies of each task, and one episode of each drawn to a GIF."""

    out: str = "demo"
    """Folder for the GIFs."""
    num_envs: int = 4096
    """Environments played at once."""
    steps: int = 300
    """Steps per environment."""


def run(options: Options) -> None:
    if min(options.num_envs, options.steps) < 1:
        raise UsageError(f"--num-envs and --steps must be at least 1, got {options.num_envs} and {options.steps}")
    os.makedirs(options.out, exist_ok=True)
    print(f"random play, {options.num_envs} environments x {options.steps} steps each, on {jax.devices()[0].platform}")
    for name in envs.TASKS:
        stats = random_play(envs.make(name), options.num_envs, options.steps)
        env = envs.make(name, autoreset=False)
        random_action = lambda observation, key: jax.random.randint(key, (), 0, env.num_actions)  # noqa: E731
        path = os.path.join(options.out, f"{name}.gif")
        frames, = episodes_frames(env, random_action, jax.random.PRNGKey(1)[None], max_frames=60)
        save_gif(frames, path, milliseconds=150)
        print(
            f"{name:15s} {stats['episodes']:6d} episodes  random success {stats['success_rate']:.3f}  "
            f"mean length {stats['mean_length']:5.1f}  {stats['steps_per_second']:,.0f} steps/s  -> {path}"
        )


def main(argv: list[str] | None = None) -> int:
    return cli.main("envs.demo", lambda: run(cli.parse(Options, argv, __doc__)))

if __name__ == "__main__":
    sys.exit(main())
