"""Frames until evaluation success ≥ 0.9 on a task, per method, over several seeds (trained at once).

    python -m bench.sample_efficiency [--task SimpleDoorKey] [--methods llm4teach ppo]
        [--seeds 0 1 2 3 4] [--max-frames 400000] [--num-envs 64] [--eval-episodes 200]

Each method trains all seeds as one batch with this project's defaults (options below
override them), evaluates every chunk of updates on fresh episodes, and reports the
first frame count at which a seed's evaluation success reached the threshold.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import jax

from student import run


def frames_to_threshold(metrics_path: str, seeds, threshold: float) -> dict:
    """Per seed: the first evaluated frame count with success ≥ threshold, or None."""
    first = {seed: None for seed in seeds}
    with open(metrics_path) as file:
        for line in file:
            row = json.loads(line)
            if row.get("eval_success_rate") is not None and row["eval_success_rate"] >= threshold:
                if first[row["seed"]] is None:
                    first[row["seed"]] = row["frames"]
    return first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="SimpleDoorKey")
    parser.add_argument("--methods", nargs="+", default=["llm4teach", "ppo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-frames", type=int, default=400_000, help="frames per seed before giving up")
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--eval-episodes", type=int, default=200, help="evaluation episodes per seed")
    parser.add_argument("--num-envs", type=int, default=None, help="override the default number of environments")
    parser.add_argument("--set", default="{}", help='other TrainConfig overrides as JSON, e.g. \'{"num_steps": 8}\'')
    args = parser.parse_args()
    print(f"# {args.task}: frames per seed until evaluation success >= {args.threshold} "
          f"({args.eval_episodes} episodes per evaluation), {platform.machine()}, {jax.devices()[0].platform}")
    print("| method | seeds | per seed | median | wall s |")
    print("|---|---:|---|---:|---:|")
    for method in args.methods:
        overrides = json.loads(args.set)
        if args.num_envs:
            overrides["num_envs"] = args.num_envs
        with tempfile.TemporaryDirectory() as folder:
            config = run.config_with({
                **overrides, "task": args.task, "method": method,
                "seeds": args.seeds, "total_frames": args.max_frames, "eval_episodes": args.eval_episodes,
                "final_eval_episodes": args.eval_episodes, "gif_episodes": 0, "out": os.path.join(folder, "run"),
            })
            start = time.perf_counter()
            run_dir, _ = run.train(config, log=lambda line: None)
            seconds = time.perf_counter() - start
            first = frames_to_threshold(os.path.join(run_dir, "metrics.jsonl"), config.seeds, args.threshold)
        reached = sorted(f for f in first.values() if f is not None)
        shown = ", ".join(f"{f:,}" if f is not None else "-" for f in first.values())
        if len(reached) * 2 > len(first):
            median = f"{statistics.median([f if f is not None else float('inf') for f in first.values()]):,.0f}"
        else:
            median = f"not reached within {config.num_updates * config.batch_size:,}"
        print(f"| {method} | {len(first)} | {shown} | {median} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
