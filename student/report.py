"""Pictures of a run: learning curves (PNG) and the trained student at work (GIF)."""

import dataclasses

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from envs.episodes import episodes_frames, save_gif  # noqa: E402
from student.metrics import member_label, setting_label  # noqa: E402


def row_label(row: dict) -> str:
    return member_label(row["seed"], row.get("setting", {}))


def plot(rows: list[dict], out_path: str, config) -> None:
    """Success rate and return against frames, per member (training episodes and evaluations)."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label in dict.fromkeys(row_label(r) for r in rows):
        mine = [r for r in rows if row_label(r) == label]
        trained = [r for r in mine if r["success_rate"] is not None]
        evaluated = [r for r in mine if "eval_success_rate" in r]
        axes[0].plot([r["frames"] for r in trained], [r["success_rate"] for r in trained], alpha=0.5,
                     label=f"{label} (training episodes)")
        axes[0].plot([r["frames"] for r in evaluated], [r["eval_success_rate"] for r in evaluated], marker=".",
                     label=f"{label} (evaluation)")
        axes[1].plot([r["frames"] for r in trained], [r["mean_return"] for r in trained], alpha=0.5)
        axes[1].plot([r["frames"] for r in evaluated], [r["eval_mean_return"] for r in evaluated], marker=".")
    axes[0].set(xlabel="frames (per seed)", ylabel="success rate", ylim=(-0.02, 1.02),
                title=f"{config.task}, {config.method}")
    axes[1].set(xlabel="frames (per seed)", ylabel="mean return", title="return")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def plot_sweep(rows: list[dict], out_path: str, config) -> None:
    """A sweep's settings compared: evaluation success rate against frames, mean over seeds, with its range."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for setting in config.settings:
        evaluated = [r for r in rows if r.get("setting") == setting and "eval_success_rate" in r]
        frames = sorted({r["frames"] for r in evaluated})
        per_frame = [[r["eval_success_rate"] for r in evaluated if r["frames"] == f] for f in frames]
        line, = axis.plot(frames, [np.mean(v) for v in per_frame], marker=".", label=setting_label(setting))
        axis.fill_between(frames, [min(v) for v in per_frame], [max(v) for v in per_frame],
                          color=line.get_color(), alpha=0.2)
    axis.set(xlabel="frames (per seed)", ylabel="evaluation success rate", ylim=(-0.02, 1.02),
             title=f"{config.task}, {config.method}: sweep over {len(config.seeds)} seed(s)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out_path, dpi=100)
    plt.close(figure)


def animate(learner, config, params, episodes: int, out_path: str, seed: int = 7) -> None:
    """A GIF of one member's student (its configuration and parameters) playing `episodes` episodes."""
    env = dataclasses.replace(learner.env, autoreset=False)

    def act(observation, key, config, params):
        return learner.act(config, params, observation[None], key)[0]

    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    frames = []
    for episode in episodes_frames(env, act, keys, env.max_steps + 1, config, params):
        frames += episode + [episode[-1]] * 5  # linger on the ending
    save_gif(frames, out_path, milliseconds=120)
