"""Pictures of a run: learning curves (PNG) and the trained student at work (GIF)."""

import dataclasses
import json

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from envs.episodes import episode_frames, save_gif  # noqa: E402


def plot(metrics_path: str, out_path: str, config) -> None:
    """Success rate and return against frames, per seed (training episodes and evaluations)."""
    with open(metrics_path) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for seed in config.seeds:
        mine = [r for r in rows if r["seed"] == seed]
        frames = [r["frames"] for r in mine if r["success_rate"] is not None]
        axes[0].plot(frames, [r["success_rate"] for r in mine if r["success_rate"] is not None],
                     alpha=0.5, label=f"seed {seed} (training episodes)")
        evaluated = [r for r in mine if "eval_success_rate" in r]
        axes[0].plot([r["frames"] for r in evaluated], [r["eval_success_rate"] for r in evaluated],
                     marker=".", label=f"seed {seed} (evaluation)")
        axes[1].plot(frames, [r["mean_return"] for r in mine if r["mean_return"] is not None], alpha=0.5)
        axes[1].plot([r["frames"] for r in evaluated], [r["eval_mean_return"] for r in evaluated], marker=".")
    axes[0].set(xlabel="frames (per seed)", ylabel="success rate", ylim=(-0.02, 1.02), title=f"{config.task}, {config.method}")
    axes[1].set(xlabel="frames (per seed)", ylabel="mean return", title="return")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def animate(learner, params, episodes: int, out_path: str, seed: int = 7) -> None:
    """A GIF of the student (one seed's parameters) playing `episodes` episodes one after another."""
    env = dataclasses.replace(learner.env, autoreset=False)
    act = jax.jit(lambda obs, key: learner.act(params, obs[None], key, learner.config.eval_greedy)[0])
    frames = []
    for key in jax.random.split(jax.random.PRNGKey(seed), episodes):
        frames += episode_frames(env, act, key, max_frames=env.max_steps + 1)
        frames += [frames[-1]] * 5  # linger on the ending
    save_gif(frames, out_path, milliseconds=120)
