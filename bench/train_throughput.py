"""End-to-end training frames per second (rollout, teacher prior, advantages, PPO epochs), compile apart.

    python -m bench.train_throughput [--num-envs 1024] [--task SimpleDoorKey] [--chunks 3]
        [--train.ppo.update-epochs 1 ...]     # any training option, as train.py takes it

`llm4teach` (teacher prior on every transition) and `ppo` (no teacher) are compiled
with the same configuration and timed in turn, chunk by chunk; the teacher's overhead
is 1 - fps(llm4teach) / fps(ppo). `llm4teach, λ = 0` is llm4teach's program run as a
chunk past the drop of λ runs, without the prior. Frames are environment transitions of
one seed.
"""

import dataclasses
import time

import jax

import bench
from student.config import TrainConfig, declared
from student.ppo import make_train


@dataclasses.dataclass(frozen=True)
class Options:
    """Training throughput of llm4teach and ppo, side by side."""

    task: str = "SimpleDoorKey"
    num_envs: tuple[int, ...] = (1024,)
    """Environment counts to measure, one after another."""
    chunks: int = 3
    """Timed chunks per method (the best is kept)."""
    train: TrainConfig = dataclasses.field(default_factory=declared)
    """The training configuration measured (task, method, environments and seeds are set above)."""


def timer(config: TrainConfig, late: bool):
    """(compile seconds, a function that runs one more chunk of the phase, with or without the teacher's
    prior, and returns its seconds)."""
    program = make_train(config)
    state = [jax.block_until_ready(program.chunk(program.init(), late)[0])]  # warm-up

    def timed(consult: bool = True) -> float:
        start = time.perf_counter()
        state[0] = jax.block_until_ready(program.chunk(state[0], late, consult)[0])
        return time.perf_counter() - start

    return program.compile_seconds, timed


def main(options: Options) -> None:
    bench.at_least_one(num_envs=options.num_envs, chunks=options.chunks)
    every = {num_envs: {method: options.train.replace(task=options.task, method=method, num_envs=num_envs, seeds=(0,))
                        for method in ("llm4teach", "ppo")}
             for num_envs in options.num_envs}  # each checked before the first is measured
    print(f"# training throughput: {bench.machine()}")
    print("| task | envs | method | frames/update | compile s | frames/s | teacher overhead |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for num_envs, configs in every.items():
        late = configs["ppo"].phases.is_late(0)  # the phase a run starts in (the late one with --train.late-frame 0)
        frames_per_update = configs["ppo"].phases.batch_size(late)
        compiled = {method: timer(config, late) for method, config in configs.items()}
        runs = {"llm4teach": (compiled["llm4teach"], True), "llm4teach, λ = 0": (compiled["llm4teach"], False),
                "ppo": (compiled["ppo"], True)}
        best = {name: float("inf") for name in runs}
        for _ in range(options.chunks):
            for name, ((_, timed), consult) in runs.items():
                best[name] = min(best[name], timed(consult))
        frames_per_chunk = frames_per_update * configs["ppo"].phases.updates_in_chunk(late)
        fps = {name: frames_per_chunk / seconds for name, seconds in best.items()}
        for name, ((compile_seconds, _), _) in runs.items():
            overhead = f"{1 - fps[name] / fps['ppo']:.0%}" if name != "ppo" else ""
            print(f"| {options.task} | {num_envs} | {name} | {frames_per_update:,} | {compile_seconds:.1f} "
                  f"| {fps[name]:,.0f} | {overhead} |", flush=True)


if __name__ == "__main__":
    bench.cli(Options, main, __doc__, "bench.train_throughput")
