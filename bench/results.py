"""The reproduction's results from its files: intervals, the table (Markdown and CSV), the
paper's claims checked on the numbers, and the figures.

A *row* is one method on one task: a student trained over several seeds (final evaluation
per seed, evaluation curves from `metrics.jsonl`) or the teacher acting alone (per-episode
outcomes). Everything here reads plain Python values; nothing trains.
"""

import csv
import math
import statistics

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from bench.sample_efficiency import first_reaching, median_or_none  # noqa: E402

THRESHOLDS = (0.5, 0.9)
# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond the table: the normal's).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def t_quantile(degrees: int) -> float:
    """Student's t 97.5% quantile (the largest tabulated degrees not above `degrees`)."""
    return T_975[max(d for d in T_975 if d <= degrees)] if degrees < 60 else 1.96


def mean_interval(values, bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float | None, float | None]:
    """Mean and 95% t-interval of the mean (over seeds), clipped to the measure's `bounds` (success
    rates and these tasks' returns lie in [0, 1]); no interval for fewer than two values."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)


def wilson_interval(successes: int, trials: int) -> tuple[float, float, float]:
    """Success rate and its 95% Wilson score interval (over episodes)."""
    rate, z = successes / trials, 1.96
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return rate, max(0.0, centre - half), min(1.0, centre + half)


def student_row(task: str, method: str, final: dict, rows: list[dict], seeds) -> dict:
    """A trained method's row: final success and return over seeds, frames to each threshold."""
    per_seed = final["per_seed"]
    row = {"task": task, "method": method, "kind": "student", "runs": len(per_seed),
           "frames": final["frames"],
           "success": mean_interval([s["success_rate"] for s in per_seed]),
           "return": mean_interval([s["mean_return"] for s in per_seed]),
           "length": statistics.fmean(s["mean_length"] for s in per_seed)}
    for threshold in THRESHOLDS:
        first = first_reaching(rows, seeds, threshold)
        row[f"frames_to_{threshold}"] = median_or_none([r["frames"] if r else None for r in first.values()])
    return row


def teacher_row(task: str, method: str, outcome: dict) -> dict:
    """The teacher alone: success (Wilson interval) and return (normal interval) over its episodes."""
    returns = [float(r) for r in outcome["return"]]
    trials = len(returns)
    half = 1.96 * statistics.stdev(returns) / math.sqrt(trials)
    mean = statistics.fmean(returns)
    return {"task": task, "method": method, "kind": "teacher", "runs": trials, "frames": None,
            "success": wilson_interval(int(sum(bool(s) for s in outcome["success"])), trials),
            "return": (mean, max(0.0, mean - half), min(1.0, mean + half)),
            "length": statistics.fmean(float(x) for x in outcome["length"]),
            **{f"frames_to_{t}": None for t in THRESHOLDS}}


def curves(rows: list[dict], measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation curves of a run's metrics: frames [T] and values [seeds, T] of `eval_<measure>`."""
    evaluated = [r for r in rows if f"eval_{measure}" in r]
    frames = sorted({r["frames"] for r in evaluated})
    seeds = sorted({r["seed"] for r in evaluated})
    values = {(r["seed"], r["frames"]): r[f"eval_{measure}"] for r in evaluated}
    return np.array(frames), np.array([[values[(s, f)] for f in frames] for s in seeds])


def text(interval: tuple, digits: int = 3) -> str:
    mean, low, high = interval
    return f"{mean:.{digits}f}" if low is None else f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def frames_text(frames) -> str:
    return "not reached" if frames is None else f"{frames:,.0f}"


def markdown(table: list[dict], labels: dict[str, str]) -> str:
    """Per task: one line a method, students first, then the teacher alone."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in table):
        lines += [f"### {task}", "",
                  "| method | seeds / episodes | frames per seed | final success [95% CI] "
                  "| final return [95% CI] | frames to 0.5 | frames to 0.9 |",
                  "|---|---:|---:|---|---|---:|---:|"]
        for r in (r for r in table if r["task"] == task):
            student = r["kind"] == "student"
            lines.append(
                f"| {r.get('label', labels[r['method']])} | {r['runs']} {'seeds' if student else 'episodes'} "
                f"| {f'{r['frames']:,}' if student else '-'} | {text(r['success'])} | {text(r['return'])} "
                f"| {frames_text(r['frames_to_0.5']) if student else '-'} "
                f"| {frames_text(r['frames_to_0.9']) if student else '-'} |")
        lines.append("")
    return "\n".join(lines)


def write_csv(table: list[dict], labels: dict[str, str], path: str) -> None:
    """One line a row; intervals as low/high columns (empty where there is none), frames empty where
    not reached."""
    columns = ["task", "method", "label", "kind", "runs", "frames", "success_mean", "success_low", "success_high",
               "return_mean", "return_low", "return_high", "mean_length", "frames_to_0.5", "frames_to_0.9"]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for r in table:
            blank = lambda v: "" if v is None else v  # noqa: E731
            writer.writerow([r["task"], r["method"], r.get("label", labels[r["method"]]), r["kind"], r["runs"],
                             blank(r["frames"]),
                             *map(blank, map(rounded, r["success"])), *map(blank, map(rounded, r["return"])),
                             round(r["length"], 2),
                             blank(r["frames_to_0.5"]), blank(r["frames_to_0.9"])])


def sooner(a: dict, b: dict, ties: bool = False) -> bool | None:
    """Whether `a` reaches 0.9 (or, if neither does, 0.5) in fewer frames than `b` (or as few, with
    `ties`); None if neither reaches 0.5."""
    for threshold in reversed(THRESHOLDS):
        fa, fb = a[f"frames_to_{threshold}"], b[f"frames_to_{threshold}"]
        if fa is not None or fb is not None:
            return fa is not None and (fb is None or fa < fb or (ties and fa == fb))
    return None


def claims(table: list[dict]) -> list[tuple[str, bool | None, str]]:
    """The paper's claims on these numbers: (claim on one task, holds / fails / cannot tell, why)."""
    found = []
    for task in dict.fromkeys(r["task"] for r in table):
        by = {r["method"]: r for r in table if r["task"] == task}

        def why(*methods, by=by):
            return "; ".join(f"{m}: to 0.9 {frames_text(by[m]['frames_to_0.9'])}, to 0.5 "
                             f"{frames_text(by[m]['frames_to_0.5'])}, final {by[m]['success'][0]:.3f}"
                             for m in methods)

        # The default table: the authors' on our tasks, the reference table written by hand on a navix task.
        soft, hard, teacher = next(((f"llm4teach{s}", f"llm4teach-hard{s}", f"teacher-{t}-soft")
                                    for s, t in (("", "authors"), ("-reference", "reference"))
                                    if f"llm4teach{s}" in by or f"teacher-{t}-soft" in by), (None, None, None))
        if soft in by and "ppo" in by:
            found.append((f"{task}: the student reaches 0.9 sooner than PPO", sooner(by[soft], by["ppo"]),
                          why(soft, "ppo")))
        for best in ("ppo-best", "ppo-best-long"):  # PPO's sweep (bench.reproduce --ppo-sweep): its best setting
            if soft in by and best in by:
                found.append((f"{task}: the student reaches 0.9 sooner than {by[best]['label'][:1].lower()}"
                              f"{by[best]['label'][1:]}", sooner(by[soft], by[best]), why(soft, best)))
        # A teacher alone at 0.95 or more leaves nothing to pass (SimpleDoorKey's authors' table: 1.0).
        if soft in by and teacher in by and by[teacher]["success"][0] < 0.95:
            student, alone = by[soft]["success"], by[teacher]["success"]
            found.append((f"{task}: the student ends above its teacher", student[0] > alone[0],
                          f"student {text(student)}, teacher alone {text(alone)}"))
        if soft in by and hard in by:
            found.append((f"{task}: soft instructions learn at least as fast as hard ones",
                          sooner(by[soft], by[hard], ties=True), why(soft, hard)))
        if "llm4teach-gemma" in by and "ppo" in by:
            # Judged as the first claim is: where both settle near 1, final success cannot tell them apart.
            found.append((f"{task}: taught by the Gemma table, the student still learns faster than PPO",
                          sooner(by["llm4teach-gemma"], by["ppo"]), why("llm4teach-gemma", "ppo")))
    return found


def claims_markdown(found: list[tuple[str, bool | None, str]]) -> str:
    verdict = {True: "holds", False: "does not hold", None: "cannot tell"}
    return "\n".join(["| claim | on these numbers | evidence |", "|---|---|---|"]
                     + [f"| {claim} | {verdict[holds]} | {evidence} |" for claim, holds, evidence in found])


def draw_task(axes, task: str, runs: dict[str, list[dict]], teachers: list[dict], labels: dict[str, str]) -> None:
    """Evaluation success (axes[0]) and return (axes[1]) against frames: mean over seeds and its 95%
    band per method; the teacher acting alone as horizontal lines."""
    for (method, rows), colour in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        for axis, measure in ((axes[0], "success_rate"), (axes[1], "mean_return")):
            frames, values = curves(rows, measure)
            intervals = [mean_interval(column) for column in values.T]
            axis.plot(frames, [i[0] for i in intervals], color=colour, label=labels[method])
            if values.shape[0] > 1:
                axis.fill_between(frames, [i[1] for i in intervals], [i[2] for i in intervals], color=colour,
                                  alpha=0.15, linewidth=0)
    for teacher, style in zip(teachers, ("--", ":", "-.", (0, (1, 3)))):
        axes[0].axhline(teacher["success"][0], color="black", linestyle=style, linewidth=1,
                        label=labels[teacher["method"]])
        axes[1].axhline(teacher["return"][0], color="black", linestyle=style, linewidth=1)
    axes[0].set(title=f"{task}: evaluation success rate", xlabel="frames per seed", ylim=(-0.02, 1.02))
    axes[1].set(title=f"{task}: evaluation mean return", xlabel="frames per seed")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))


def figure_task(path: str, task: str, runs: dict, teachers: list[dict], labels: dict[str, str]):
    """One task's figure (PNG); returns the matplotlib figure (closed)."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    draw_task(axes, task, runs, teachers, labels)
    axes[0].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return figure


def figure_all(path: str, per_task: dict[str, tuple[dict, list[dict]]], labels: dict[str, str]):
    """Every task side by side (success above, return below), one legend; returns the figure (closed)."""
    figure, axes = plt.subplots(2, len(per_task), figsize=(5 * len(per_task), 7.5), squeeze=False)
    for column, (task, (runs, teachers)) in enumerate(per_task.items()):
        draw_task(axes[:, column], task, runs, teachers, labels)
    handles = {}
    for axis in axes[0]:
        for handle, name in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    names = list(handles)
    figure.legend([handles[n] for n in names], names, loc="lower center", fontsize=8,
                  ncol=min(len(names), 2 * len(per_task)))
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return figure
