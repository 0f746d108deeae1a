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
import os

import jax
import numpy as np

from student.config import TrainConfig

TIMING_FIELDS = ("fps", "seconds", "train_seconds", "compile_seconds")
TEACHER_FIELDS = ("distill_loss", "teacher_agreement")


def rows(config: TrainConfig, metrics: dict, first_update: int) -> list[list[dict]]:
    """Per update of a chunk, per member: one JSON-ready row (metrics float32[M, updates in the chunk])."""
    metrics = jax.device_get(metrics)
    table = []
    for u in range(metrics["episodes"].shape[1]):
        update = first_update + u + 1
        per_member = []
        for m, (seed, setting) in enumerate(config.members):
            values = {name: float(v[m, u]) for name, v in metrics.items()}
            episodes = values.pop("episodes")
            successes, return_sum, length_sum = (values.pop(name) for name in ("successes", "return_sum", "length_sum"))
            row = {"seed": seed, **({"setting": setting} if setting else {}), "update": update,
                   "frames": config.phases.frames_at(update), "episodes": int(episodes),
                   "success_rate": successes / episodes if episodes else None,
                   "mean_return": return_sum / episodes if episodes else None,
                   "mean_length": length_sum / episodes if episodes else None}
            row.update(values)
            for name in TEACHER_FIELDS:  # NaN: the teacher was not consulted (plain PPO, or λ was 0)
                if name in row and np.isnan(row[name]):
                    row[name] = None
            per_member.append(row)
        table.append(per_member)
    return table


def append(path: str, table: list[list[dict]]) -> None:
    """Appends rows to metrics.jsonl."""
    with open(path, "a") as file:
        for per_member in table:
            for row in per_member:
                file.write(json.dumps(row) + "\n")


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
    """One line of progress: frames, frames/s, success and return of the last update, λ, evaluation."""
    def mean(name, source):
        values = [r[name] for r in source if r.get(name) is not None]
        return f"{np.mean(values):.2f}" if values else "  - "

    frames = config.phases.frames_at(update)
    total = config.phases.planned_frames
    text = (f"frames {frames:>10,}/{total:,} | {fps:>9,.0f} frames/s | success {mean('success_rate', last)} "
            f"| return {mean('mean_return', last)} | λ {last[0]['distill_coefficient']:.3f}")
    if evaluation:
        text += f" | eval success {np.mean([e['success_rate'] for e in evaluation]):.2f}"
    return text + f" | {seconds:.0f} s"
