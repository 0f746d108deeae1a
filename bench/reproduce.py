"""The paper's comparison in one command: every task x method over several seeds, the teacher
acting alone, and the results as a table and figures.

    python -m bench.reproduce                          # the default reproduction (docs/reproduce.md)
    python -m bench.reproduce --quick                  # a smoke run in minutes: small budgets, 2 seeds
    python -m bench.reproduce --tasks LavaDoorKey --methods llm4teach ppo
    python -m bench.reproduce --out results/<folder>    # finish an interrupted one
    python -m bench.reproduce --tasks Navix-DoorKey-16x16-v0 Navix-KeyCorridorS3R3-v0 --methods llm4teach ppo

Methods: `llm4teach` (soft teacher, the authors' table), `llm4teach-hard` (one plan drawn per
step), `ppo` (no teacher), `llm4teach-gemma` (soft teacher, the table Gemma 3 270M built here: a
weak LLM teacher). On a navix task the default table is the reference table written by hand
(`teacher_cache.hand_tables`), and its rows say so; `--ppo-sweep` adds PPO at its best (a grid of rollout lengths
and entropy coefficients, docs/reproduce.md). A task's methods and seeds train as the members of one compiled program
(`--sweep.method`: the tables stacked, soft or hard and the distillation term traced per member)
into `runs/<task>/`, a run folder like train.py's. The teacher alone (soft and hard, both tables)
plays `--teacher-episodes` episodes per task into `teacher/<task>.json`, one more program. On a CPU
the parts run side by side, one process per core (--workers).

The results folder (default `results/<date>-<machine>/`, a new one each time) gets `table.md`,
`table.csv`, one figure per task and `all_tasks.png`, and `meta.json` (options, every run's
configuration, git commit, package versions, device and CPU, wall time per part). A folder
given with --out that holds a reproduction continues it: finished parts are kept, an
interrupted run resumes from its last checkpoint; it must be asked with the same options.
"""

import contextlib
import dataclasses
import datetime
import json
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import Callable, Literal

import jax

import envs
from bench import cpu_name
from common import cli, files, progress
from common.progress import clock
from common.cli import UsageError
from student import run_folder
from student.config import ConfigError, TrainConfig, declared, declaring
from teacher_cache.table import TABLES_DIR, default_path

METHODS = ("llm4teach", "llm4teach-hard", "ppo", "llm4teach-gemma")
LABELS = {
    "llm4teach": "LLM4Teach, soft (authors' table)",
    "llm4teach-hard": "LLM4Teach, hard (authors' table)",
    "ppo": "PPO",
    "llm4teach-gemma": "LLM4Teach, soft (Gemma 3 270M table)",
    "teacher-authors-soft": "teacher alone, soft (authors' table)",
    "teacher-authors-hard": "teacher alone, hard (authors' table)",
    "teacher-gemma-soft": "teacher alone, soft (Gemma table)",
    "teacher-gemma-hard": "teacher alone, hard (Gemma table)",
    # A navix task's default table is written by hand, never the authors'.
    "llm4teach-reference": "LLM4Teach, soft (reference table, written by hand)",
    "llm4teach-hard-reference": "LLM4Teach, hard (reference table, written by hand)",
    "teacher-reference-soft": "teacher alone, soft (reference table, written by hand)",
    "teacher-reference-hard": "teacher alone, hard (reference table, written by hand)",
}
# Frames per seed. On an accelerator, budgets by which every method has settled (H100, 5 seeds: PPO and
# the Gemma-taught student end at 0.98-0.99 on every task); on a CPU, what 2 cores do in under
# 20 minutes: SimpleDoorKey's students pass 0.9 by ~25k frames, and LavaDoorKey's and ColoredDoorKey's are
# past the drop of λ (400k frames) and level off, while PPO and the Gemma-taught student are still climbing.
BUDGETS = {"SimpleDoorKey": 102_400, "LavaDoorKey": 512_000, "ColoredDoorKey": 512_000}
SETTLED_BUDGETS = {"SimpleDoorKey": 1_024_000, "LavaDoorKey": 2_048_000, "ColoredDoorKey": 2_048_000}
# A navix task's, on any device: the frames within which the taught student should pass 0.9 on the hard tasks.
NAVIX_BUDGET = 2_000_000


def default_budgets() -> dict[str, int]:
    """Frames per seed by task when --frames is not given: the settled budgets on an accelerator."""
    return dict(BUDGETS if jax.default_backend() == "cpu" else SETTLED_BUDGETS)


# How a results folder is laid out: one run folder per task, its methods side by side (older: one per method).
LAYOUT = "a run per task"
# The training options the reproduction sets for each run, and what to give instead.
OWN_TRAINING_OPTIONS = {
    "task": "choose the tasks with --tasks", "method": "choose the methods with --methods",
    "teacher": "the methods name their tables (llm4teach: the authors', llm4teach-gemma: Gemma 3 270M's)",
    "seeds": "give --seeds", "num_envs": "give --num-envs", "total_frames": "give --frames.<task>",
    "eval_episodes": "give --eval-episodes", "final_eval_episodes": "give --final-eval-episodes",
    "updates_per_chunk": "--evaluations sets the chunks", "eval_every": "--evaluations sets the chunks",
    "checkpoint_every": "--evaluations sets it", "gif_episodes": "a reproduction draws no GIF",
    "out": "give --out for the results folder",
    "sweep": "the reproduction trains its methods side by side (--methods); sweep with train.py",
}
QUICK = {"seeds": (0, 1), "frames": {task: 20_480 for task in BUDGETS}, "teacher_episodes": 200,
         "eval_episodes": 64, "final_eval_episodes": 200, "evaluations": 4}


@dataclasses.dataclass(frozen=True)
class Options:
    """Reproduce the paper's comparison: tasks x methods x seeds, the teacher alone, a table and figures."""

    tasks: tuple[str, ...] = envs.TASKS
    """Tasks to run: SimpleDoorKey, LavaDoorKey, ColoredDoorKey, or navix ids with a shipped table."""
    methods: tuple[Literal["llm4teach", "llm4teach-hard", "ppo", "llm4teach-gemma"], ...] = METHODS
    """Methods to train on each task."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds of every method (trained at once, a batch axis)."""
    frames: dict[str, int] = dataclasses.field(default_factory=default_budgets)
    """Frames per seed by task (--frames.LavaDoorKey 2048000 sets one). Default on a CPU: SimpleDoorKey 102,400,
    the others 512,000 (under 20 minutes on 2 cores; PPO and the Gemma-taught student still climbing); on an
    accelerator 1,024,000 and 2,048,000, by which every method has settled; a navix task 2,000,000."""
    num_envs: int = 256
    """Environments per seed (the large-batch recipe sets the rest, as in train.py)."""
    evaluations: int = 25
    """Evaluations per run during training (the resolution of the curves and of frames-to-threshold)."""
    eval_episodes: int = 100
    """Episodes per seed in each evaluation during training."""
    final_eval_episodes: int = 1000
    """Episodes per seed in the final evaluation (the table's final success and return)."""
    teacher_episodes: int = 1000
    """Episodes of the teacher alone, per table and soft/hard."""
    quick: bool = False
    """A smoke run: 2 seeds, 20,480 frames per task, short evaluations (options you set yourself stay)."""
    ppo_sweep: bool = False
    """Also give PPO its best shot on each task: every rollout length of --ppo-num-steps (held throughout, one more
    program each) with every entropy coefficient of --ppo-ent-coefs (side by side in it), trained for
    --ppo-frames-factor times the task's budget; the table adds the best setting at the budget and at the factor."""
    ppo_num_steps: tuple[int, ...] = (8, 32, 128)
    """PPO's sweep: steps per environment in each rollout (--num-envs environments per seed)."""
    ppo_ent_coefs: tuple[float, ...] = (0.01, 0.05)
    """PPO's sweep: weights of the entropy bonus."""
    ppo_frames_factor: int = 5
    """PPO's sweep trains this many times each task's budget (its curve at the budget gives the budget's best)."""
    workers: int | None = None
    """Parts run side by side, each in a process of its own on its share of the CPU cores (default: on a CPU,
    one per core, at most one per part; on an accelerator 1, in this process). XLA's CPU backend gets little from a
    second core on networks this small, so parts side by side finish sooner (docs/training.md)."""
    out: str | None = None
    """Results folder (default: a new results/<date>-<machine>/); one holding a reproduction is continued."""
    train: TrainConfig = dataclasses.field(default_factory=declared)
    """Any other training option; those the reproduction sets itself (task, method, teacher, seeds, frames, environments, evaluations, checkpoints, out) are refused here."""  # noqa: E501

    def resolved(self) -> "Options":
        """The options with --quick's values where the default was left; checked."""
        options = self
        if self.quick:
            defaults = Options()
            options = dataclasses.replace(self, **{name: value for name, value in QUICK.items()
                                                   if getattr(self, name) == getattr(defaults, name)})
        given = run_folder.declaration(options.train)
        for name, instead in OWN_TRAINING_OPTIONS.items():
            if given[name] != run_folder.declaration(declared())[name]:
                raise ConfigError(f"--train.{name.replace('_', '-')} is set by the reproduction itself; {instead}")
        unknown = [task for task in options.tasks if task not in envs.task_ids()]
        if unknown:
            raise ConfigError(f"--tasks: unknown task(s) {', '.join(unknown)}; `python -m envs` lists every id")
        navix_budget = min(QUICK["frames"].values()) if options.quick else NAVIX_BUDGET
        options = dataclasses.replace(options, frames={
            **{task: navix_budget for task in options.tasks if task not in envs.TASKS}, **options.frames})
        missing = [task for task in options.tasks if task not in options.frames]
        if missing:
            raise ConfigError(f"--frames gives no budget for {', '.join(missing)}; give one for every task in --tasks")
        if not options.tasks or not options.methods:
            raise ConfigError("--tasks and --methods must each name at least one")
        for task in options.tasks:
            absent = [path for path in teacher_tables(task).values() if not os.path.exists(path)]
            if "llm4teach-gemma" in options.methods and absent:
                raise ConfigError(f"no Gemma 3 270M table is shipped for {task} ({absent[0]}): build one "
                                  "(docs/tables.md) or leave llm4teach-gemma out of --methods")
        if min(options.evaluations, options.eval_episodes, options.final_eval_episodes, options.teacher_episodes) < 2:
            raise ConfigError("--evaluations and the episode counts must be at least 2")
        if options.ppo_sweep and (not options.ppo_num_steps or not options.ppo_ent_coefs
                                  or min(options.ppo_num_steps) < 1 or options.ppo_frames_factor < 1):
            raise ConfigError("--ppo-sweep needs at least one --ppo-num-steps and --ppo-ent-coefs value, the steps and "
                              "--ppo-frames-factor at least 1")
        if options.workers is not None and options.workers < 1:
            raise ConfigError(f"--workers {options.workers}: give at least 1 (or leave it out: one per CPU core)")
        for task in options.tasks:
            if options.frames[task] < 1:
                raise ConfigError(f"--frames.{task} must be at least 1, got {options.frames[task]}")
            run_config(options, task, "results")  # every run's configuration checked before a folder is made
            for steps in options.ppo_num_steps if options.ppo_sweep else ():
                ppo_sweep_config(options, task, steps, "results")
        return options


def machine() -> str:
    """'cpu-2cores' or 'gpu-nvidia-h100-80gb-hbm3': the results folder's machine part."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"cpu-{os.cpu_count()}cores"
    return f"{device.platform}-{device.device_kind}".lower().replace(" ", "-")


def new_folder(options: Options) -> str:
    """--out, or results/<date>-<machine> with -2, -3, ... if that is taken (never an existing one)."""
    if options.out:
        return options.out
    base = os.path.join("results", f"{datetime.date.today().isoformat()}-{machine()}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    return path


def sweep_method(task: str, method: str) -> str:
    """A method of the reproduction as --sweep.method names it (the Gemma-taught student: llm4teach@<its table>)."""
    return f"llm4teach@{teacher_tables(task)['gemma']}" if method == "llm4teach-gemma" else method


def run_config(options: Options, task: str, folder: str) -> TrainConfig:
    """The training configuration of every method on one task: one program, the methods side by side as members
    (--sweep.method), each over every seed."""
    config = options.train.replace(
        task=task, sweep=dataclasses.replace(options.train.sweep, method=tuple(
            sweep_method(task, method) for method in options.methods)),
        seeds=options.seeds, num_envs=options.num_envs, total_frames=options.frames[task],
        eval_episodes=options.eval_episodes, final_eval_episodes=options.final_eval_episodes, gif_episodes=0,
        out=os.path.join(folder, "runs", task))
    return evaluated(options, task, config, options.evaluations)


def ppo_sweep_config(options: Options, task: str, steps: int, folder: str) -> TrainConfig:
    """PPO's sweep on one task, for one rollout length (held throughout: no late phase): every entropy coefficient
    side by side, each over every seed, for --ppo-frames-factor times the budget, evaluated as often per frame as
    the methods' run (an evaluation falls on the budget)."""
    config = options.train.replace(
        task=task, sweep=dataclasses.replace(options.train.sweep, method=("ppo",), ent_coef=options.ppo_ent_coefs),
        seeds=options.seeds, num_envs=options.num_envs, num_steps=steps, late_rollout_factor=1,
        total_frames=options.frames[task] * options.ppo_frames_factor, eval_episodes=options.eval_episodes,
        final_eval_episodes=options.final_eval_episodes, gif_episodes=0,
        out=os.path.join(folder, "runs", f"{task}-ppo-{steps}-steps"))
    return evaluated(options, task, config, options.evaluations * options.ppo_frames_factor)


def evaluated(options: Options, task: str, config: TrainConfig, evaluations: int) -> TrainConfig:
    """`config` evaluated after every chunk, a chunk being 1/--evaluations of the task's budget (`evaluations`
    in all), and checkpointed 8 times."""
    chunk = max(1, round(options.frames[task] / options.evaluations / config.phases.batch_size()))
    return config.replace(updates_per_chunk=chunk, eval_every=1, checkpoint_every=max(1, evaluations // 8))


def all_configs(options: Options, folder: str) -> dict[str, TrainConfig]:
    """Every training part's configuration by its name: each task's methods, then PPO's sweep (--ppo-sweep)."""
    configs = {f"{task} training": run_config(options, task, folder) for task in options.tasks}
    for task in options.tasks if options.ppo_sweep else ():
        for steps in options.ppo_num_steps:
            configs[f"{task} PPO sweep, {steps}-step rollouts"] = ppo_sweep_config(options, task, steps, folder)
    return configs


def teacher_tables(task: str) -> dict[str, str]:
    """The tables of a task's teacher by source: the default (the authors', or on a navix task the reference
    table written by hand) and Gemma 3 270M's."""
    default = "authors" if task in envs.TASKS else "reference"
    return {default: default_path(task), "gemma": os.path.join(TABLES_DIR, f"{task}.gemma3-270m.json")}


def row_method(task: str, method: str) -> str:
    """A method's key in the table: a navix task's default table is named for what it is (written by hand)."""
    return f"{method}-reference" if task not in envs.TASKS and method in ("llm4teach", "llm4teach-hard") else method


def git_commit() -> str | None:
    """The project's commit, '+modified' if the tree has changes (None outside a git checkout)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")


class Progress:
    """The reproduction's progress line (`common.progress`): how far the whole is, each running part's share done,
    the time elapsed and left (estimated from the frames trained so far in this launch, once 3% are: the
    first minute is mostly compiling); a line of its own as each part finishes."""

    def __init__(self, parts: list["Part"], done_frames: int):
        self.sizes = {part.name: part.frames for part in parts}
        self.done = done_frames
        self.running: dict[str, int] = {}
        self.display = progress.Progress(done_frames + sum(self.sizes.values()), done_frames, settle=0.03)

    def begin(self, name: str) -> None:
        self.running[name] = 0
        self.show(force=True)

    def update(self, name: str, frames: int) -> None:
        """A running part's frames so far (all its seeds)."""
        self.running[name] = frames
        self.show()

    def finished(self, name: str, seconds: float) -> None:
        self.running.pop(name, None)
        self.done += self.sizes[name]
        self.display.update(self.done + sum(self.running.values()), self.detail())
        self.display.message(f"{name}: done in {clock(seconds)}")

    def detail(self) -> str:
        return ", ".join(f"{name} {frames / max(1, self.sizes[name]):.0%}" for name, frames in self.running.items()) \
            or "between parts"

    def show(self, force: bool = False) -> None:
        self.display.update(self.done + sum(self.running.values()), self.detail(), force)


def comparable(options: Options) -> dict:
    """The options a continued reproduction must repeat (as JSON values)."""
    values = dataclasses.asdict(dataclasses.replace(options, out=None, quick=False, workers=None))
    values["train"] = run_folder.declaration(options.train)  # as given, whether or not filled from the recipe yet
    return json.loads(json.dumps(values))


def differences(before, now, prefix: str = "") -> list[str]:
    """'name: X there, Y now' for each option (dotted, as --name takes it) whose value differs."""
    if isinstance(before, dict) and isinstance(now, dict):
        return [line for key in sorted(set(before) | set(now))
                for line in differences(before.get(key), now.get(key), f"{prefix}{key}.")]
    return [] if before == now else [f"--{prefix[:-1].replace('_', '-')}: {before} there, {now} now"]


def open_folder(options: Options) -> tuple[str, dict]:
    """The results folder and its meta.json so far; refuses to continue one made with other options
    (defaults included: a default changed since the folder was made is named with its two values)."""
    folder = new_folder(options)
    path = os.path.join(folder, "meta.json")
    meta = files.read_json(path)
    if meta is None:
        if os.path.exists(path):
            print(f"{path} cannot be read; it is written anew, and each part's own files say whether it is done "
                  f"(they cannot be checked against the options the folder was started with)", flush=True)
        elif os.path.isdir(folder) and os.listdir(folder):
            raise ConfigError(f"{folder} exists and is not a reproduction's results folder; pick another --out")
        os.makedirs(folder, exist_ok=True)
        return folder, {"layout": LAYOUT, "options": comparable(options), "parts": {}, "wall_seconds": 0.0}
    if meta.get("layout") != LAYOUT:
        raise ConfigError(f"{folder} holds a reproduction of an older layout (a run folder per method); continue "
                          f"it with the version that made it, or pick another --out")
    if meta["options"] != comparable(options):
        changed = "; ".join(differences(meta["options"], comparable(options)))
        raise ConfigError(f"{folder} holds a reproduction made with other options ({changed}); continue it "
                          f"with the options it was started with, or pick another --out")
    return folder, meta


def teacher_part(options: Options, task: str, path: str) -> None:
    """The teacher alone on one task: per table and soft/hard, its outcome per episode."""
    from teacher_cache.evaluate import play_each
    from teacher_cache.table import load

    sources = {source: path for source, path in teacher_tables(task).items() if os.path.exists(path)}
    tables = [load(table_path, task=task) for table_path in sources.values()]
    played = iter(play_each(tables, task, options.teacher_episodes, seed=0))  # one program: each table, soft, hard
    outcomes = {}
    for source, table in zip(sources, tables):
        for kind in ("soft", "hard"):
            outcomes[f"teacher-{source}-{kind}"] = {
                "table": table.path, **{name: values.tolist() for name, values in next(played).items()}}
    files.write_json(path, outcomes, indent=None)


def train_part(config: TrainConfig, report: Callable[[int], None]) -> None:
    """Trains every method on one task (or continues its run folder from the last checkpoint);
    `report(frames)` after each chunk, with the frames trained so far over all members."""
    from student import run

    resume = os.path.exists(os.path.join(config.out, run_folder.CONFIG))
    saved = run_folder.read(config.out) if resume else config

    def on_chunk(index: int) -> None:
        report(saved.phases.frames_at(saved.phases.updates_before(index + 1)) * len(saved.members))

    run.train(saved, resume_dir=config.out if resume else None, on_chunk=on_chunk, log=lambda line: None)


def trained(config: TrainConfig) -> bool:
    """Whether a task's run folder holds its final evaluation (the run finished); an eval.json that cannot be
    read is not one (resuming the run evaluates it again)."""
    return files.read_json(os.path.join(config.out, run_folder.EVALUATION)) is not None


def member_frames(config: TrainConfig) -> int:
    """A run's frames over all its members: the progress display's unit of work."""
    return config.phases.planned_frames * len(config.members)


@dataclasses.dataclass(frozen=True)
class Part:
    """One piece of the reproduction: every method's training on a task, or (no config) the teacher alone on it."""

    name: str  # "LavaDoorKey training", "LavaDoorKey teacher alone": its key in meta.json's parts
    task: str
    config: TrainConfig | None = None
    path: str = ""  # the teacher alone: its outcomes file

    @property
    def frames(self) -> int:
        return member_frames(self.config) if self.config else 0


def run_part(options: Options, part: Part, report: Callable[[int], None]) -> None:
    if part.config is None:
        os.makedirs(os.path.dirname(part.path), exist_ok=True)
        teacher_part(options, part.task, part.path)
    else:
        train_part(part.config, report)


def missing_parts(options: Options, configs: dict[str, TrainConfig], teacher_paths: dict) -> list[Part]:
    """What is left to run, task by task: the teacher alone, then the training parts (`all_configs`; finished
    ones are skipped)."""
    parts = []
    for task in options.tasks:
        if files.read_json(teacher_paths[task]) is None:  # missing, or cut short
            parts.append(Part(f"{task} teacher alone", task, path=teacher_paths[task]))
        parts += [Part(name, task, config) for name, config in configs.items()
                  if config.task == task and not trained(config)]
    return parts


def usable_cores() -> list[int]:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def worker_count(options: Options, parts: list[Part]) -> int:
    """--workers, or on a CPU one per core (at most one per part); on an accelerator 1, in this process."""
    if jax.default_backend() != "cpu":
        if options.workers not in (None, 1):
            raise ConfigError(f"--workers runs parts side by side on CPU cores; on {jax.default_backend()} "
                              "the parts share one device: leave --workers at 1")
        return 1
    return max(1, min(options.workers or len(usable_cores()), len(parts)))


def run_parts(options: Options, parts: list[Part], workers: int, progress: Progress, record) -> None:
    """Runs the parts, longest first (the teacher alone, seconds, fills the gaps): one after another in this
    process, or side by side in `workers` processes, so that they end together."""
    parts = sorted(parts, key=lambda part: -part.frames)
    if workers == 1:
        for part in parts:
            progress.begin(part.name)
            begin = time.perf_counter()
            run_part(options, part, lambda frames, name=part.name: progress.update(name, frames))
            seconds = time.perf_counter() - begin
            progress.finished(part.name, seconds)
            record(part.name, seconds)
        return
    context = multiprocessing.get_context("spawn")  # a fork of a process running JAX is unsafe
    jobs, messages = context.Queue(), context.Queue()
    for part in parts + [None] * workers:
        jobs.put(part)
    cores = usable_cores()
    processes = [context.Process(target=worker, args=(options, os.getpid(), jobs, messages), daemon=True)
                 for _ in range(workers)]
    remaining, running, interrupted = {part.name for part in parts}, set(), False
    try:
        for i, process in enumerate(processes):
            with pinned(cores[i::workers] or cores):
                process.start()
        while remaining:
            try:
                kind, name, value = messages.get(timeout=2.0)
            except queue.Empty:
                died = [p for p in processes if p.exitcode not in (None, 0)]
                if died or not any(p.is_alive() for p in processes):
                    code = died[0].exitcode if died else 0
                    raise RuntimeError(f"a worker process ended (exit code {code}) while running "
                                       f"{', '.join(sorted(running)) or 'no part'}; finished parts are kept") from None
                continue
            if kind == "ready":
                continue
            if kind == "began":
                running.add(name)
                progress.begin(name)
            elif kind == "frames":
                progress.update(name, value)
            elif kind == "done":
                running.discard(name)
                remaining.discard(name)
                progress.finished(name, value)
                record(name, value)
            else:  # "failed": (the error, if it could be sent, and the worker's traceback)
                error, trace = value
                if isinstance(error, UsageError):
                    raise error
                raise RuntimeError(f"{name} failed in its worker process:\n{trace}")
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C has reached the workers too
        raise
    finally:
        stop(processes, ask=bool(remaining) and not interrupted)


def stop(processes: list, ask: bool) -> None:
    """Waits for the workers to end; `ask`: first asks them to, as Ctrl-C does (a worker stops between two
    writes of its run folder). One that has not ended after 30 s is killed."""
    for process in processes:
        if ask and process.is_alive():
            if os.name == "posix":
                os.kill(process.pid, signal.SIGINT)
            else:
                process.terminate()
    for process in processes:
        process.join(timeout=30.0)
        if process.is_alive():
            process.terminate()
            process.join()


@contextlib.contextmanager
def pinned(cores: list[int]):
    """This process on `cores` only, for a while: a process started meanwhile inherits them, and XLA sizes
    its CPU thread pool from them (it starts as the worker imports this module, so the worker cannot pin itself)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def next_job(jobs):
    """The next item of `jobs`, waited for a second at a time. A blocking wait could hang on Ctrl-C: Python
    only notes a signal, and raises KeyboardInterrupt when this thread next runs Python, so a SIGINT that
    lands just before the wait's read (or is taken by another of the process's threads) leaves it blocked
    (`stop` then killed the worker after 30 s: once in CI, once in 84 tries on 2 busy cores)."""
    while True:
        try:
            return jobs.get(timeout=1.0)
        except queue.Empty:
            continue


def worker(options: Options, parent: int, jobs, messages) -> None:
    """A worker process: runs parts from `jobs` until it reads None and tells `messages` how each goes;
    it ends if the main process `parent` does (killed, it cannot stop its workers)."""

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch_parent, daemon=True).start()
    # Ctrl-C, or `stop`, raises KeyboardInterrupt here even where SIGINT came ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from student import run

        run.keep_compiled_programs()
        messages.put(("ready", None, None))
        while (part := next_job(jobs)) is not None:
            messages.put(("began", part.name, None))
            begin = time.perf_counter()
            try:
                run_part(options, part, lambda frames, name=part.name: messages.put(("frames", name, frames)))
            except Exception as error:  # sent to the main process, which stops the reproduction
                try:
                    pickle.dumps(error)
                except Exception:
                    error = None
                messages.put(("failed", part.name, (error, traceback.format_exc())))
                return
            messages.put(("done", part.name, time.perf_counter() - begin))
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches every process of the group; the main process says how to continue


def reproduce(options: Options) -> str:
    """Runs what is missing of the reproduction, then writes the table, figures and meta.json; returns the folder."""
    options = options.resolved()
    folder, meta = open_folder(options)
    print(f"results folder {folder} (if interrupted, continue it with --out {folder})", flush=True)
    started = time.perf_counter()
    wall_before = meta["wall_seconds"]
    teacher_paths = {task: os.path.join(folder, "teacher", f"{task}.json") for task in options.tasks}
    configs = all_configs(options, folder)
    parts = missing_parts(options, configs, teacher_paths)
    workers = worker_count(options, parts)
    progress = Progress(parts, sum(member_frames(c) for c in configs.values() if trained(c)))
    session = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "git_commit": git_commit(),
               "versions": run_folder.versions(), "python": sys.version.split()[0], "device": str(jax.devices()[0]),
               "device_kind": jax.devices()[0].device_kind, "backend": jax.default_backend(), "cpu": cpu_name(),
               "cpu_count": os.cpu_count(), "workers": workers}
    for name, value in session.items():  # the top level describes the session that started the reproduction
        meta.setdefault(name, value)
    meta.setdefault("sessions", []).append(session)  # and each session (a continued one may run elsewhere)

    def record(part: str | None, seconds: float = 0.0) -> None:
        """A part finished (None: only the time so far), written to meta.json."""
        if part is not None:
            meta["parts"][part] = {"seconds": round(seconds, 1),
                                   "finished": datetime.datetime.now().isoformat(timespec="seconds")}
        meta["wall_seconds"] = round(wall_before + time.perf_counter() - started, 1)
        session["seconds"] = round(time.perf_counter() - started, 1)
        files.write_json(os.path.join(folder, "meta.json"), meta)

    files.write_json(os.path.join(folder, "meta.json"), meta)  # marks the folder as ours
    try:
        run_parts(options, parts, workers, progress, record)
    except KeyboardInterrupt:
        record(None)  # the time this launch ran counts towards the reproduction's wall time
        print(f"\ninterrupted: finished parts are kept; continue with the same options and --out {folder}", flush=True)
        raise
    meta["runs"] = {name: files.read_json(os.path.join(c.out, run_folder.CONFIG)) for name, c in configs.items()}
    write_results(folder, options, configs, teacher_paths, meta)
    record("results", 0.0)
    print(f"done in {clock(meta['wall_seconds'])} (all sessions): {folder}/table.md", flush=True)
    return folder


def write_results(folder: str, options: Options, configs: dict, teacher_paths: dict, meta: dict) -> list[dict]:
    """table.md, table.csv and the figures from the finished parts (`meta`: the reproduction's meta.json so far);
    returns the table's rows."""
    from bench import results
    from student import metrics

    labels = {**LABELS, "ppo-best": "PPO at its best at the budget (sweep)",
              "ppo-best-long": f"PPO at its best on {options.ppo_frames_factor}x the budget (sweep)"}
    table, per_task, sweep_lines = [], {}, []
    for task in options.tasks:
        config, runs = configs[f"{task} training"], {}
        rows = metrics.read(os.path.join(config.out, run_folder.METRICS))
        final = files.read_json(os.path.join(config.out, run_folder.EVALUATION))
        for method in options.methods:
            mine = {"method": sweep_method(task, method)}  # the members trained with it
            method_rows = [row for row in rows if row.get("setting") == mine]
            method_final = {**final, "per_seed": [s for s in final["per_seed"] if s.get("setting") == mine]}
            table.append(results.student_row(task, row_method(task, method), method_final, method_rows, config.seeds))
            runs[row_method(task, method)] = method_rows
        if options.ppo_sweep:
            best, best_rows, lines = ppo_best(options, task, configs)
            table += best
            runs[best[-1]["method"]] = best_rows
            sweep_lines += lines
        teachers = [results.teacher_row(task, method, outcome)
                    for method, outcome in files.read_json(teacher_paths[task]).items()]
        table += teachers
        shown = [t for t in teachers if t["method"].endswith("soft")]  # hard ones lie within noise of them
        per_task[task] = (runs, shown)
        results.figure_task(os.path.join(folder, f"{task}.png"), task, runs, shown, labels)
    results.figure_all(os.path.join(folder, "all_tasks.png"), per_task, labels)
    results.write_csv(table, labels, os.path.join(folder, "table.csv"))
    header = [
        "# LLM4Teach reproduction", "",
        f"{datetime.date.today().isoformat()}, {meta.get('device_kind', '?')} ({meta.get('cpu', '?')}, "
        f"{meta.get('cpu_count', '?')} cores), commit {meta.get('git_commit')}, wall time "
        f"{clock(meta.get('wall_seconds', 0))} (h:mm:ss, all parts); "
        f"{len(options.seeds)} seeds per method, {options.num_envs} environments per seed; "
        f"final evaluation {options.final_eval_episodes} episodes per seed, intervals 95% over seeds "
        f"(teacher alone: over {options.teacher_episodes} episodes). Frames to a success rate: median over "
        f"seeds of the first evaluation ({options.eval_episodes} episodes) at or above it.", "",
    ]
    claims = results.claims(table)
    body = results.markdown(table, labels)
    sweep = ["## PPO's sweep", "",
             f"Every setting over the same seeds, for {options.ppo_frames_factor}x each task's budget; at the budget, "
             f"success is its evaluation there ({options.eval_episodes} episodes per seed); the best setting (most "
             "success, then fewest frames to 0.9) gives the rows above.", "",
             "| task | rollout steps | entropy coefficient | success at the budget | frames to 0.9 within it "
             f"| success at {options.ppo_frames_factor}x | frames to 0.9 |", "|---|---:|---:|---|---:|---|---:|",
             *sweep_lines, ""] if options.ppo_sweep else []
    files.write_text(os.path.join(folder, "table.md"), "\n".join(
        header + [body, *sweep, "## The paper's claims on these numbers", "", results.claims_markdown(claims), ""]))
    return table


def ppo_best(options: Options, task: str, configs: dict) -> tuple[list[dict], list[dict], list[str]]:
    """PPO's sweep on one task: its best setting's rows at the budget (`ppo-best`, read off the curve at the first
    evaluation at or past the budget) and, past it, at the end (`ppo-best-long`, the final evaluation); the best
    setting's metrics over the whole run (for the figure); a table line per setting."""
    from bench import results
    from student import metrics

    budget, candidates = options.frames[task], []
    for steps in options.ppo_num_steps:
        config = configs[f"{task} PPO sweep, {steps}-step rollouts"]
        rows = metrics.read(os.path.join(config.out, run_folder.METRICS))
        final = files.read_json(os.path.join(config.out, run_folder.EVALUATION))
        for ent_coef in options.ppo_ent_coefs:
            setting = {"method": "ppo", "ent_coef": ent_coef}
            mine = [row for row in rows if row.get("setting") == setting]
            evaluated = sorted({row["frames"] for row in mine if row.get("eval_success_rate") is not None})
            cut = next((frames for frames in evaluated if frames >= budget), evaluated[-1])
            at_cut = [{"success_rate": row["eval_success_rate"], "mean_return": row["eval_mean_return"],
                       "mean_length": row["eval_mean_length"]}
                      for row in mine if row["frames"] == cut and row.get("eval_success_rate") is not None]
            short = results.student_row(task, "ppo-best", {"frames": cut, "per_seed": at_cut},
                                        [row for row in mine if row["frames"] <= cut], config.seeds)
            long = results.student_row(task, "ppo-best-long", {**final, "per_seed": [
                s for s in final["per_seed"] if s.get("setting") == setting]}, mine, config.seeds)
            name = f"{steps}-step rollouts, entropy {ent_coef:g}"
            candidates.append((steps, ent_coef, name, short, long, mine))

    def score(row: dict) -> tuple:
        return (row["success"][0], *(-(row[f"frames_to_{t}"] or float("inf")) for t in (0.9, 0.5)))

    best_short = max(candidates, key=lambda c: score(c[3]))
    best_long = max(candidates, key=lambda c: score(c[4]))
    chosen = [{**best_short[3], "label": f"PPO at its best at the budget ({best_short[2]})"}]
    if options.ppo_frames_factor > 1:
        chosen.append({**best_long[4], "label": f"PPO at its best on {options.ppo_frames_factor}x the budget "
                                                f"({best_long[2]})"})
    lines = [f"| {task} | {steps} | {ent_coef:g} | {results.text(short['success'])} "
             f"| {results.frames_text(short['frames_to_0.9'])} | {results.text(long['success'])} "
             f"| {results.frames_text(long['frames_to_0.9'])} |" for steps, ent_coef, _, short, long, _ in candidates]
    return chosen, (best_long if options.ppo_frames_factor > 1 else best_short)[5], lines


def main(argv: list[str] | None = None) -> int:
    from student import run

    def parse_and_reproduce() -> None:
        run.keep_compiled_programs()
        with declaring():  # --train.* is filled and checked in `resolved`, with the reproduction's own environments
            options = cli.parse(Options, argv, __doc__)
        reproduce(options)

    return cli.main("bench.reproduce", parse_and_reproduce)

if __name__ == "__main__":
    sys.exit(main())
