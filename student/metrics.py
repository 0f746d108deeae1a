"""Training metrics on the host: rows of `metrics.jsonl` and the progress line.

One row per update and member (seed, sweep setting): frames, the episodes that ended
in the update (count, success rate, mean return and length), λ, the losses, PPO's health
signals (approximate KL, clip fraction, explained variance), the cross-entropy to the
teacher's prior and how often the student's action was the teacher's choice (both null
where the teacher is not consulted: plain PPO, and once λ is 0), evaluations where one was
made, and timing (`seconds` of the chunk, cumulative `train_seconds`, the run's
`compile_seconds`).
"""

import json
import math
import os

import jax
import numpy as np

from student.config import TrainConfig

TIMING_FIELDS = ("fps", "seconds", "train_seconds", "compile_seconds")
TEACHER_FIELDS = ("distill_loss", "teacher_agreement")


def setting_label(setting: dict) -> str:
    """'learning_rate=0.001, ent_coef=0.01': a sweep's setting in words."""
    return ", ".join(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in setting.items())


def member_label(seed: int, setting: dict) -> str:
    """'seed 0' or 'seed 0, learning_rate=0.001': a member of a run in words."""
    return f"seed {seed}" + (f", {setting_label(setting)}" if setting else "")


def rows(config: TrainConfig, metrics: dict, first_update: int, consulted: bool = True) -> list[list[dict]]:
    """Per update of a chunk, per member: one JSON-ready row (metrics float32[M, updates in the chunk]). A value
    that is not finite is written as null and named in the row's `non_finite` ("params" where the parameters
    after the update are not all finite); the teacher's fields are null where it was not `consulted`."""
    metrics = jax.device_get(metrics)
    table = []
    for u in range(metrics["episodes"].shape[1]):
        update = first_update + u + 1
        per_member = []
        for m, (seed, setting) in enumerate(config.members):
            values = {name: float(v[m, u]) for name, v in metrics.items()}
            params_finite = values.pop("params_finite", 1.0) > 0
            episodes = values.pop("episodes")
            successes, return_sum, length_sum = (values.pop(name) for name in ("successes", "return_sum", "length_sum"))
            row = {"seed": seed, **({"setting": setting} if setting else {}), "update": update,
                   "frames": config.phases.frames_at(update), "episodes": int(episodes),
                   "success_rate": successes / episodes if episodes else None,
                   "mean_return": return_sum / episodes if episodes else None,
                   "mean_length": length_sum / episodes if episodes else None}
            row.update(values)
            if not (consulted and config.uses_teacher):  # plain PPO, or λ was 0: nothing to compare with
                row.update({name: None for name in TEACHER_FIELDS if name in row})
            broken = [name for name, value in row.items() if isinstance(value, float) and not math.isfinite(value)]
            row.update({name: None for name in broken})
            broken += [] if params_finite else ["params"]
            if broken:
                row["non_finite"] = broken
            per_member.append(row)
        table.append(per_member)
    return table


def first_non_finite(table: list[list[dict]]) -> dict | None:
    """The first row (in update order, then member order) whose loss or parameters are not finite, or None."""
    return next((row for per_member in table for row in per_member
                 if {"loss", "params"} & set(row.get("non_finite", ()))), None)


def append(path: str, table: list[list[dict]]) -> None:
    """Appends rows to metrics.jsonl, as strict JSON."""
    with open(path, "a") as file:
        for per_member in table:
            for row in per_member:
                file.write(json.dumps(row, allow_nan=False) + "\n")


def read(path: str) -> list[dict]:
    """Every row of a metrics.jsonl (none if it does not exist). A last line cut short (a process killed
    while appending) is left out: a resume truncates to its checkpoint's rows anyway."""
    if not os.path.exists(path):
        return []
    with open(path) as file:
        lines = [line for line in file if line.strip()]
    rows = [json.loads(line) for line in lines[:-1]]
    try:
        return rows + [json.loads(line) for line in lines[-1:]]
    except json.JSONDecodeError:
        if lines[-1].endswith("\n"):
            raise  # a whole line that is not JSON: not a torn write, so not ours to drop
        return rows


def truncate(path: str, last_update: int) -> None:
    """Drops rows after `last_update` (written after the checkpoint a resume starts from)."""
    kept = [row for row in read(path) if row["update"] <= last_update]
    with open(path, "w") as file:
        file.writelines(json.dumps(row) + "\n" for row in kept)


def progress_line(config: TrainConfig, update: int, last: list[dict], evaluation: list[dict] | None,
                  fps: float, seconds: float) -> str:
    """One line of progress: frames, frames/s, the success and return of the episodes that ended in the last
    update (pooled over the members, and how many), λ, the evaluation (mean over members) and the time."""
    ended = sum(row["episodes"] for row in last)
    members = len(last)
    text = f"frames {config.phases.frames_at(update):>10,}/{config.phases.planned_frames:,} | {fps:>9,.0f} frames/s | "
    text += f"{members} members, mean: " if members > 1 else ""
    if ended:
        success = sum(row["success_rate"] * row["episodes"] for row in last if row["episodes"]) / ended
        returns = sum(row["mean_return"] * row["episodes"] for row in last if row["episodes"]) / ended
        text += f"{ended:,} episodes ended: success {success:.2f}, return {returns:.2f}"
    else:
        text += "no episode ended: success –, return –"
    coefficients = sorted({row["distill_coefficient"] for row in last})
    text += f" | λ {coefficients[0]:.3f}" + (f"–{coefficients[-1]:.3f}" if len(coefficients) > 1 else "")
    if evaluation:
        text += f" | eval success {np.mean([e['success_rate'] for e in evaluation]):.2f}"
    return text + f" | {seconds:.0f} s elapsed"
