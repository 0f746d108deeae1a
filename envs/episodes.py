"""Whole episodes of a policy: vmapped, one per environment, for evaluation; or drawn, for GIFs."""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

import envs

Policy = Callable[[jax.Array, jax.Array], jax.Array]  # (observations [N, ...], key) -> actions int32[N]


def run_episodes(env, policy: Policy, num_episodes: int, key: jax.Array) -> dict[str, jax.Array]:
    """Plays `num_episodes` episodes at once (each to its end, at most `env.max_steps` steps).

    Returns per-episode arrays: `return`, `length`, `success`. Jittable (the policy is
    traced into the loop); `env` must have `autoreset=False` or reset itself is ignored:
    only the first end of each episode counts.
    """

    def act(carry):
        timestep, finished, outcome, key, t = carry
        key, policy_key = jax.random.split(key)
        timestep = jax.vmap(env.step)(timestep, policy(timestep.observation, policy_key))
        ends_now = timestep.is_done() & ~finished
        ended = {
            "return": timestep.info["episode_return"],
            "length": timestep.info["episode_length"],
            "success": timestep.info["success"],
        }
        outcome = jax.tree.map(lambda old, new: jnp.where(ends_now, new, old), outcome, ended)
        return timestep, finished | ends_now, outcome, key, t + 1

    def playing(carry):  # stops once every episode has ended (a trained policy's end in a few steps)
        _, finished, _, _, t = carry
        return (t < env.max_steps) & ~finished.all()

    reset_key, key = jax.random.split(key)
    timestep = jax.vmap(env.reset)(jax.random.split(reset_key, num_episodes))
    outcome = {
        "return": jnp.zeros(num_episodes, jnp.float32),
        "length": jnp.zeros(num_episodes, jnp.int32),
        "success": jnp.zeros(num_episodes, bool),
    }
    carry = (timestep, jnp.zeros(num_episodes, bool), outcome, key, jnp.int32(0))
    return jax.lax.while_loop(playing, act, carry)[2]


def summary(outcome: dict) -> dict:
    """Success rate, mean return and mean length (plain floats) of `run_episodes`' outcome."""
    outcome = jax.device_get(outcome)
    return {
        "success_rate": float(outcome["success"].mean()),
        "mean_return": float(outcome["return"].mean()),
        "mean_length": float(outcome["length"].mean()),
        "episodes": int(outcome["success"].shape[0]),
    }


def episodes_frames(env, act: Callable, keys: jax.Array, max_frames: int, *args) -> list[list[np.ndarray]]:
    """Pictures of one episode of `env` (autoreset off) per key: the first observation and each step's,
    until the episode ends or `max_frames` are drawn. The episodes are played together in one compiled
    program and drawn on the host after it. `act(observation, key, *args) -> action` for one
    observation; `args` (a policy's parameters, say) are arguments of the program, not constants
    compiled into it."""

    def play(key, *args):
        key, reset_key = jax.random.split(key)
        first = env.reset(reset_key)

        def one_step(carry, _):
            timestep, key = carry
            key, action_key = jax.random.split(key)
            timestep = env.step(timestep, act(timestep.observation, action_key, *args))
            return (timestep, key), (timestep, timestep.is_done())

        _, (later, done) = jax.lax.scan(one_step, (first, key), None, length=max_frames - 1)
        return first, later, done

    first, later, done = jax.device_get(jax.jit(jax.vmap(play, in_axes=(0,) + (None,) * len(args)))(keys, *args))
    episodes = []
    for i in range(len(keys)):
        ends = np.flatnonzero(done[i])
        steps = ends[0] + 1 if ends.size else max_frames - 1
        episode = [jax.tree.map(lambda x: x[i], first)]
        episode += [jax.tree.map(lambda x: x[i, t], later) for t in range(steps)]
        episodes.append([envs.render(timestep) for timestep in episode])
    return episodes


def save_gif(frames: list[np.ndarray], path: str, milliseconds: int) -> None:
    """Writes RGB frames as a looping GIF."""
    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=milliseconds, loop=0)
