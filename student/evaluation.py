"""Evaluating students on fresh episodes: during training, at the end, and of a saved run."""

import dataclasses
from typing import Callable

import jax
import numpy as np

from envs.episodes import run_episodes, summary
from student import checkpoint
from student import config as configuration
from student.config import ConfigError, TrainConfig
from student.ppo import Learner, make_train

MEASURES = ("success_rate", "mean_return", "mean_length")


def evaluator(learner: Learner, members: TrainConfig, episodes: int) -> Callable[[object, jax.Array], list[dict]]:
    """A function (params of all members, key) -> per member: success rate, mean return and mean
    length over `episodes` fresh episodes. Compiled on its first call, once for a whole run. Plays on
    this process's first device, from host copies of the (replicated) parameters: no collective, so
    that on many devices or processes it is the one-device evaluation."""
    env = dataclasses.replace(learner.env, autoreset=False)
    members = jax.device_get(members)

    def one_member(config, params, key):
        return run_episodes(env, lambda obs, k: learner.act(config, params, obs, k), episodes, key)

    play = jax.jit(jax.vmap(one_member, in_axes=(0, 0, None)))

    def evaluate(params, key: jax.Array) -> list[dict]:
        outcome = play(members, jax.device_get(params), key)
        count = jax.tree.leaves(params)[0].shape[0]
        return [summary(jax.tree.map(lambda x: x[i], outcome)) for i in range(count)]

    return evaluate


def over_members(config: TrainConfig, per_member: list[dict]) -> dict:
    """The measures averaged over seeds (per setting too, for a sweep), with the per-member figures."""
    averaged = {name: float(np.mean([e[name] for e in per_member])) for name in MEASURES}
    members = [{"seed": seed, **({"setting": setting} if setting else {}), **e}
               for (seed, setting), e in zip(config.members, per_member)]
    result = {**averaged, "per_seed": members}
    if len(config.settings) > 1:
        result["per_setting"] = [
            {"setting": setting, **{name: float(np.mean([m[name] for m in members if m.get("setting") == setting]))
                                    for name in MEASURES}}
            for setting in config.settings
        ]
    return result


def evaluate_run(run_dir: str, episodes: int | None = None, greedy: bool | None = None) -> dict:
    """Evaluates the newest checkpoint of a run folder (nothing in the folder is changed)."""
    if episodes is not None and episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    config = configuration.read(run_dir)
    if greedy is not None:
        config = config.replace(eval_greedy=greedy)
    program = make_train(config.replace(devices=1), compile=False)  # restored onto one device, whatever it ran on
    restored = checkpoint.restore_latest(checkpoint.manager(run_dir), program.init())
    if restored is None:
        raise ConfigError(f"{run_dir} has no checkpoint yet; continue its training with `train.py resume {run_dir}`")
    update, state = restored
    episodes = config.final_eval_episodes if episodes is None else episodes
    per_member = evaluator(program.learner, program.members, episodes)(state.params, jax.random.PRNGKey(2024))
    return {"run": run_dir, "update": update, "frames": config.frames_at(update), "episodes": episodes,
            "greedy": config.eval_greedy, **over_members(config, per_member)}
