"""Frames until evaluation success ≥ 0.9 on a task, per method, over several seeds (trained at once).

    python -m bench.sample_efficiency [--task SimpleDoorKey] [--methods llm4teach ppo]
        [--seeds 0 1 2 3 4] [--max-frames 400000] [--num-envs 64 1024] [--train.ppo.learning-rate 3e-4 ...]

Each method trains all seeds as one batch with this project's defaults (`--train.*`
overrides any training option), evaluates every chunk of updates on fresh episodes,
and reports the first frame count at which a seed's evaluation success reached the
threshold, with the training seconds to it (compile and evaluations apart), and the whole
run's training rate (frames of all seeds per second, compile and evaluations apart).
"""

import dataclasses
import itertools
import os
import statistics
import tempfile

import bench
from student import metrics, run
from common.cli import UsageError
from student.config import TrainConfig, declared


@dataclasses.dataclass(frozen=True)
class Options:
    """Frames to a success threshold, per method, seeds trained at once."""

    task: str = "SimpleDoorKey"
    methods: tuple[str, ...] = ("llm4teach", "ppo")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    max_frames: int = 400_000
    """Frames per seed before giving up."""
    threshold: float = 0.9
    eval_episodes: int = 200
    """Evaluation episodes per seed."""
    num_envs: tuple[int, ...] = (64,)
    """Environment counts to measure, each with the large-batch recipe unless --train.* sets otherwise."""
    eval_frames: int = 10_240
    """Frames per seed between evaluations (sets updates per chunk: the resolution of the result)."""
    train: TrainConfig = dataclasses.field(default_factory=declared)
    """Any other training option (task, method, seeds and frames are set above)."""


def first_reaching(rows: list[dict], seeds, threshold: float) -> dict:
    """Per seed: the first evaluated row with success ≥ threshold, or None."""
    first = {seed: None for seed in seeds}
    for row in rows:
        if row.get("eval_success_rate") is not None and row["eval_success_rate"] >= threshold:
            if first[row["seed"]] is None:
                first[row["seed"]] = row
    return first


def median_or_none(values: list) -> float | None:
    """The median counting a missing value as larger than any; None if half or more are missing."""
    if sum(v is not None for v in values) * 2 <= len(values):
        return None
    return statistics.median([v if v is not None else float("inf") for v in values])


def configurations(options: Options) -> dict[tuple[str, int], TrainConfig]:
    """The training configuration of each method and environment count (its run folder set when it trains)."""
    configs = {}
    for method, num_envs in itertools.product(options.methods, options.num_envs):
        config = options.train.replace(
            task=options.task, method=method, num_envs=num_envs, seeds=options.seeds,
            total_frames=options.max_frames, eval_episodes=options.eval_episodes,
            final_eval_episodes=options.eval_episodes, gif_episodes=0)
        configs[method, num_envs] = config.replace(
            updates_per_chunk=max(1, round(options.eval_frames / config.phases.batch_size())))
    return configs


def main(options: Options) -> None:
    bench.at_least_one(num_envs=options.num_envs, max_frames=options.max_frames, eval_episodes=options.eval_episodes,
                       eval_frames=options.eval_frames)
    if not options.methods:
        raise UsageError("--methods must name at least one")
    if not 0 < options.threshold <= 1:
        raise UsageError(f"--threshold is an evaluation success rate in (0, 1], got {options.threshold}")
    configs = configurations(options)  # each checked before the first trains
    print(f"# {options.task}: frames per seed until evaluation success >= {options.threshold} "
          f"({options.eval_episodes} episodes per evaluation), {bench.machine()}")
    print("| method | envs | steps, epochs x minibatches, learning rate | seeds | frames per seed | median frames "
          "| median updates | median gradient steps | median train s | frames/s | compile s | final success per seed |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for (method, num_envs), config in configs.items():
        with tempfile.TemporaryDirectory() as folder:
            config = config.replace(out=os.path.join(folder, "run"))
            run_dir, final = run.train(config, log=lambda line: None)
            rows = metrics.read(os.path.join(run_dir, "metrics.jsonl"))
        first = first_reaching(rows, config.seeds, options.threshold)
        frames = [r["frames"] if r else None for r in first.values()]
        shown = ", ".join(f"{f:,}" if f is not None else "-" for f in frames)
        median = median_or_none(frames)
        budget = config.phases.planned_frames
        median_text = f"{median:,.0f}" if median is not None else f"not reached within {budget:,}"
        updates = median_or_none([r["update"] if r else None for r in first.values()])
        wall = median_or_none([r["train_seconds"] if r else None for r in first.values()])
        final_rates = [seed["success_rate"] for seed in final["per_seed"]]
        steps_per_update = config.ppo.update_epochs * config.ppo.num_minibatches
        late = (f" (x{config.late_rollout_factor} and learning rate {config.learning_rate(True):g} from "
                f"{config.phases.frames_at(config.phases.early_updates):,})" if config.phases.has_late_phase else "")
        print(f"| {method} | {config.num_envs} | {config.num_steps}, {config.ppo.update_epochs} x "
              f"{config.ppo.num_minibatches}, {config.learning_rate(False):g}{late} | {len(frames)} | {shown} "
              f"| {median_text} "
              f"| {'-' if updates is None else f'{updates:,.0f}'} "
              f"| {'-' if updates is None else f'{updates * steps_per_update:,.0f}'} "
              f"| {'-' if wall is None else f'{wall:.1f}'} | {rows[-1]['fps']:,.0f} | {rows[0]['compile_seconds']:.0f} "
              f"| {', '.join(f'{rate:.2f}' for rate in final_rates)} |", flush=True)


if __name__ == "__main__":
    bench.cli(Options, main, __doc__, "bench.sample_efficiency")
