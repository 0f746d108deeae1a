"""A short demo of the environments: random play over thousands of copies, and pictures.

    python -m envs.demo [--out demo] [--num-envs 4096] [--steps 300]

For each task it prints episodes finished, the random policy's success rate and the
steps/s reached, and writes `<out>/<task>.gif`, one random episode drawn step by step.
"""

import argparse
import os
import time

import jax
import numpy as np
from PIL import Image

import envs


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


def episode_frames(env, key, max_frames: int = 60) -> list[np.ndarray]:
    """Pictures of one random episode (without automatic reset), at most `max_frames`."""
    step = jax.jit(env.step)
    env_key, action_key = jax.random.split(key)
    timestep = env.reset(env_key)
    frames = [envs.render(timestep)]
    for action in jax.random.randint(action_key, (max_frames - 1,), 0, env.num_actions):
        timestep = step(timestep, action)
        frames.append(envs.render(timestep))
        if timestep.is_done():
            break
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="folder for the GIFs")
    parser.add_argument("--num-envs", type=int, default=4096, help="environments played at once")
    parser.add_argument("--steps", type=int, default=300, help="steps per environment")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"random play, {args.num_envs} environments x {args.steps} steps each, on {jax.devices()[0].platform}")
    for name in envs.TASKS:
        stats = random_play(envs.make(name), args.num_envs, args.steps)
        frames = episode_frames(envs.make(name, autoreset=False), jax.random.PRNGKey(1))
        path = os.path.join(args.out, f"{name}.gif")
        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=150, loop=0)
        print(
            f"{name:15s} {stats['episodes']:6d} episodes  random success {stats['success_rate']:.3f}  "
            f"mean length {stats['mean_length']:5.1f}  {stats['steps_per_second']:,.0f} steps/s  -> {path}"
        )


if __name__ == "__main__":
    main()
