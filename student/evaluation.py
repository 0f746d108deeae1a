"""Evaluating students on fresh episodes: during training, at the end, and of a saved run."""

import dataclasses
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from envs.episodes import run_episodes
from student import checkpoint
from student import run_folder
from student.config import ConfigError, TrainConfig
from student.ppo import Learner, make_train

MEASURES = ("success_rate", "mean_return", "mean_length")
FINAL_KEY = 2024  # the final evaluation's episodes (eval.json), and `train.py evaluate`'s


def evaluator(learner: Learner, members: TrainConfig, batch: int) -> Callable[[object, jax.Array, int], list[dict]]:
    """A function (params of all members, key, episodes) -> per member: success rate, mean return and mean
    length over `episodes` fresh episodes, played `batch` at a time (the last batch's surplus not counted;
    batch i from `fold_in(key, i)`, batch 0 from `key` itself). The count is an argument of one compiled
    program, so the evaluations during training, the final one and `train.py evaluate` share it. Plays on
    this process's first device, from host copies of the (replicated) parameters: no collective, so that
    on many devices or processes it is the one-device evaluation."""
    env = dataclasses.replace(learner.env, autoreset=False)
    members = jax.device_get(members)

    def one_member(config, params, key, episodes):
        def play_batch(carry):
            index, totals = carry
            batch_key = jnp.where(index == 0, key, jax.random.fold_in(key, index))
            outcome = run_episodes(env, lambda obs, k: learner.act(config, params, obs, k), batch, batch_key)
            counted = index * batch + jnp.arange(batch) < episodes
            return index + 1, {name: total + jnp.where(counted, outcome[name], 0).astype(total.dtype).sum()
                               for name, total in totals.items()}

        totals = {"success": jnp.int32(0), "return": jnp.float32(0), "length": jnp.int32(0)}
        return jax.lax.while_loop(lambda carry: carry[0] * batch < episodes, play_batch, (jnp.int32(0), totals))[1]

    play_all = jax.jit(jax.vmap(one_member, in_axes=(0, 0, None, None)))

    def evaluate(params, key: jax.Array, episodes: int) -> list[dict]:
        if episodes < 1:
            raise ConfigError(f"an evaluation needs at least 1 episode, got {episodes}")
        totals = jax.device_get(play_all(members, jax.device_get(params), key, np.int32(episodes)))
        return [{"success_rate": float(totals["success"][i]) / episodes,
                 "mean_return": float(totals["return"][i]) / episodes,
                 "mean_length": float(totals["length"][i]) / episodes, "episodes": episodes}
                for i in range(len(totals["success"]))]

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
    config = run_folder.read(run_dir)
    if greedy is not None:
        config = config.replace(eval_greedy=greedy)
    program = make_train(config.replace(devices=1), compile=False)  # restored onto one device, whatever it ran on
    restored = checkpoint.restore_latest(checkpoint.manager(run_dir), program.init(),
                                         log=lambda line: print(line, file=sys.stderr))
    if restored is None:
        raise ConfigError(f"{run_dir} has no checkpoint yet; continue its training with `train.py resume {run_dir}`")
    update, state = restored
    episodes = config.final_eval_episodes if episodes is None else episodes
    evaluate = evaluator(program.learner, program.members, config.eval_episodes)  # as the run's final evaluation
    per_member = evaluate(state.params, jax.random.PRNGKey(FINAL_KEY), episodes)
    return {"run": run_dir, "update": update, "frames": config.phases.frames_at(update), "episodes": episodes,
            "greedy": config.eval_greedy, **over_members(config, per_member)}
