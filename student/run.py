"""The host side of training: a run folder, the loop over compiled chunks, resume, evaluation.

A run folder holds `config.json` (the resolved configuration), `metrics.jsonl` (one
line per update and seed), `checkpoints/` (orbax), and at the end `eval.json`,
`progress.png` and `student.gif`.
"""

import dataclasses
import datetime
import json
import os
import time
from importlib import metadata
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import envs
import teacher_cache
from envs.episodes import run_episodes, summary
from student import checkpoint
from student.config import ConfigError, DistillConfig, Hyperparams, NetworkConfig, PPOConfig, TrainConfig
from student.ppo import Learner, TrainState

TIMING_FIELDS = ("fps", "seconds")


def config_to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(values: dict) -> TrainConfig:
    values = dict(values)
    values["ppo"] = PPOConfig(**values["ppo"])
    values["distill"] = DistillConfig(**values["distill"])
    values["network"] = NetworkConfig(**values["network"])
    values["seeds"] = tuple(values["seeds"])
    return TrainConfig(**values)


def config_with(overrides: dict) -> TrainConfig:
    """The default configuration with some fields replaced (a nested section, e.g. "ppo", given as
    a dict of its own fields, keeps the defaults of the fields it leaves out)."""
    return config_from_dict({**config_to_dict(TrainConfig()), **overrides})


def read_config(run_dir: str) -> TrainConfig:
    """The configuration a run folder was started with; a clear error if it is not a run folder."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isdir(run_dir):
        raise ConfigError(f"run folder {run_dir} does not exist")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no config.json)")
    with open(path) as file:
        return config_from_dict(json.load(file)["config"])


def build(config: TrainConfig) -> Learner:
    """The environment, teacher table and learner of a configuration; every error before compiling."""
    try:
        env = envs.make(config.task)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    table = None
    if config.uses_teacher:
        if config.task not in envs.TASKS:
            raise ConfigError(f"no teacher exists for {config.task}; train it with --method ppo")
        table = teacher_cache.load(config.teacher or config.task, task=config.task)
    return Learner(config, env, table)


def evaluator(learner: Learner, episodes: int) -> Callable[[object, jax.Array], list[dict]]:
    """A function (params of all seeds, key) -> per seed: success rate, mean return, mean length
    over `episodes` fresh episodes. Compiled on its first call, once for a whole run."""
    env = dataclasses.replace(learner.env, autoreset=False)
    greedy = learner.config.eval_greedy

    def one_seed(seed_params, key):
        return run_episodes(env, lambda obs, k: learner.act(seed_params, obs, k, greedy), episodes, key)

    play = jax.jit(jax.vmap(one_seed, in_axes=(0, None)))

    def evaluate(params, key: jax.Array) -> list[dict]:
        outcome = play(params, key)
        seeds = jax.tree.leaves(params)[0].shape[0]
        return [summary(jax.tree.map(lambda x: x[i], outcome)) for i in range(seeds)]

    return evaluate


def over_seeds(config: TrainConfig, per_seed: list[dict]) -> dict:
    """Success rate, mean return and mean length averaged over seeds, with the per-seed figures."""
    averaged = {name: float(np.mean([e[name] for e in per_seed])) for name in ("success_rate", "mean_return", "mean_length")}
    return {**averaged, "per_seed": [{"seed": seed, **e} for seed, e in zip(config.seeds, per_seed)]}


def metric_rows(config: TrainConfig, metrics: dict, first_update: int) -> list[list[dict]]:
    """Per update of a chunk, per seed: one JSON-ready row."""
    metrics = jax.device_get(metrics)
    rows = []
    for u in range(config.updates_per_chunk):
        update = first_update + u + 1
        per_seed = []
        for s, seed in enumerate(config.seeds):
            m = {name: float(values[s, u]) for name, values in metrics.items()}
            episodes = m.pop("episodes")
            successes, return_sum, length_sum = m.pop("successes"), m.pop("return_sum"), m.pop("length_sum")
            row = {"seed": seed, "update": update, "frames": update * config.batch_size, "episodes": int(episodes)}
            row["success_rate"] = successes / episodes if episodes else None
            row["mean_return"] = return_sum / episodes if episodes else None
            row["mean_length"] = length_sum / episodes if episodes else None
            row.update(m)
            per_seed.append(row)
        rows.append(per_seed)
    return rows


def truncate_metrics(path: str, last_update: int) -> None:
    """Drops metric lines after `last_update` (written after the checkpoint a resume starts from)."""
    if not os.path.exists(path):
        return
    with open(path) as file:
        kept = [line for line in file if line.strip() and json.loads(line)["update"] <= last_update]
    with open(path, "w") as file:
        file.writelines(kept)


def default_run_dir(config: TrainConfig) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{config.task}-{config.method}-{stamp}")


def versions() -> dict:
    names = ("jax", "jaxlib", "flax", "optax", "navix", "orbax-checkpoint", "llm4teach-jax")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def start_run_dir(config: TrainConfig, learner: Learner) -> str:
    """Creates the run folder and writes config.json; refuses one that already holds a run."""
    run_dir = config.out or default_run_dir(config)
    if os.path.exists(os.path.join(run_dir, "config.json")):
        raise ConfigError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick another --out")
    os.makedirs(run_dir, exist_ok=True)
    record = {
        "config": config_to_dict(config),
        "derived": {
            "batch_size": config.batch_size, "minibatch_size": config.minibatch_size,
            "num_updates": config.num_updates, "frames_per_seed": config.num_updates * config.batch_size,
            "distill_schedule": dataclasses.asdict(config.distill.resolved()),
        },
        "teacher": None if learner.table is None else {"path": learner.table.path, "provenance": learner.table.provenance},
        "versions": versions(),
        "devices": [str(d) for d in jax.devices()],
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    with open(os.path.join(run_dir, "config.json"), "w") as file:
        json.dump(record, file, indent=2)
    return run_dir


def progress_line(config: TrainConfig, update: int, rows: list[dict], evaluation, fps: float, seconds: float) -> str:
    def mean(name, source):
        values = [r[name] for r in source if r.get(name) is not None]
        return f"{np.mean(values):.2f}" if values else "  - "

    frames = update * config.batch_size
    total = config.num_updates * config.batch_size
    text = (f"frames {frames:>10,}/{total:,} | {fps:>9,.0f} frames/s | success {mean('success_rate', rows)} "
            f"| return {mean('mean_return', rows)} | λ {rows[0]['distill_coefficient']:.3f}")
    if evaluation:
        text += f" | eval success {np.mean([e['success_rate'] for e in evaluation]):.2f}"
    return text + f" | {seconds:.0f} s"


def train(config: TrainConfig, resume_dir: str | None = None,
          on_chunk: Callable[[int], None] | None = None, log: Callable[[str], None] = print) -> tuple[str, dict]:
    """Trains (or continues) a run; returns (run folder, final evaluation). `on_chunk(i)` is called
    after each chunk's metrics are written (tests use it to simulate a crash)."""
    learner = build(config)
    run_dir = resume_dir or start_run_dir(config, learner)
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    hparams = Hyperparams.from_config(config)
    state = jax.vmap(learner.init)(jnp.asarray(config.seeds))
    checkpoints = checkpoint.manager(run_dir)
    first_update = 0
    if resume_dir:
        first_update, state = checkpoint.restore_latest(checkpoints, state)
        truncate_metrics(metrics_path, first_update)
        log(f"resuming {run_dir} from update {first_update} ({first_update * config.batch_size:,} frames per seed)")
    else:
        log(f"run folder {run_dir}")
    start = time.perf_counter()
    chunk = jax.jit(jax.vmap(learner.chunk, in_axes=(0, None))).lower(state, hparams).compile()
    log(f"compiled {config.updates_per_chunk} updates of {config.batch_size:,} frames x {len(config.seeds)} seed(s) "
        f"in {time.perf_counter() - start:.1f} s")

    evaluate = evaluator(learner, config.eval_episodes)
    run_start = time.perf_counter()
    training_seconds = 0.0
    frames_done = 0
    first_chunk = first_update // config.updates_per_chunk
    for chunk_index in range(first_chunk, config.num_chunks):
        chunk_start = time.perf_counter()
        update = chunk_index * config.updates_per_chunk
        state, metrics = jax.block_until_ready(chunk(state, hparams))
        seconds = time.perf_counter() - chunk_start
        training_seconds += seconds
        frames_done += config.frames_per_chunk * len(config.seeds)
        fps = frames_done / training_seconds  # training frames (all seeds) per second of training
        rows = metric_rows(config, metrics, update)
        update += config.updates_per_chunk
        evaluation = None
        if (chunk_index + 1) % config.eval_every == 0 or chunk_index == config.num_chunks - 1:
            eval_key = jax.random.fold_in(jax.random.PRNGKey(12345), update)
            evaluation = evaluate(state.params, eval_key)
        with open(metrics_path, "a") as file:
            for u, per_seed in enumerate(rows):
                for s, row in enumerate(per_seed):
                    if evaluation and u == len(rows) - 1:
                        row.update({f"eval_{k}": v for k, v in evaluation[s].items() if k != "episodes"})
                    row.update(fps=fps, seconds=seconds)
                    file.write(json.dumps(row) + "\n")
        log(progress_line(config, update, rows[-1], evaluation, fps, time.perf_counter() - run_start))
        last = chunk_index == config.num_chunks - 1
        if last or (chunk_index + 1) % config.checkpoint_every == 0:
            checkpoint.save(checkpoints, update, state)
        if on_chunk is not None:
            on_chunk(chunk_index)

    final = finish(learner, run_dir, state, config.num_updates)
    log(f"final evaluation over {config.final_eval_episodes} episodes per seed: "
        f"success {final['success_rate']:.3f}, return {final['mean_return']:.3f}, length {final['mean_length']:.1f}")
    return run_dir, final


def finish(learner: Learner, run_dir: str, state: TrainState, updates: int) -> dict:
    """Writes eval.json, progress.png and student.gif; returns the evaluation."""
    from student import report  # matplotlib only when a run ends

    config = learner.config
    per_seed = evaluator(learner, config.final_eval_episodes)(state.params, jax.random.PRNGKey(2024))
    final = {
        **over_seeds(config, per_seed),
        "episodes": config.final_eval_episodes,
        "frames": updates * config.batch_size,
        "greedy": config.eval_greedy,
        "seeds": len(config.seeds),
    }
    with open(os.path.join(run_dir, "eval.json"), "w") as file:
        json.dump(final, file, indent=2)
    report.plot(os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "progress.png"), config)
    if config.gif_episodes:
        first_seed = jax.tree.map(lambda x: x[0], state.params)
        report.animate(learner, first_seed, config.gif_episodes, os.path.join(run_dir, "student.gif"))
    return final


def evaluate_run(run_dir: str, episodes: int | None = None) -> dict:
    """Evaluates the newest checkpoint of a run folder (nothing in the folder is changed)."""
    config = read_config(run_dir)
    learner = build(config)
    template = jax.vmap(learner.init)(jnp.asarray(config.seeds))
    checkpoints = checkpoint.manager(run_dir)
    update, state = checkpoint.restore_latest(checkpoints, template)
    episodes = episodes or config.final_eval_episodes
    per_seed = evaluator(learner, episodes)(state.params, jax.random.PRNGKey(2024))
    return {"run": run_dir, "update": update, "frames": update * config.batch_size, "episodes": episodes,
            **over_seeds(config, per_seed)}
