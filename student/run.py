"""The host loop of a run: compiled chunks of updates, with logging, evaluation and checkpoints between them.

    run_dir, final = run.train(config)               # a new run folder (student.run_folder)
    run.train(config, resume_dir=run_dir)            # continue it from its last checkpoint

`open_run` creates or resumes the run folder and compiles the program; `train_chunks` runs the chunks left;
`finish` writes the final evaluation and pictures. In a multi-process run every process calls `train` alike
(the chunks and checkpoints are collective); only process 0 logs and writes the run folder's files.
"""

import dataclasses
import os
import time
from typing import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from common import files
from common.cli import UsageError
from student import checkpoint, hosts, metrics, run_folder, sharding
from student.config import ConfigError, TrainConfig
from student.evaluation import FINAL_KEY, evaluator, over_members
from student.loggers import Loggers
from student.ppo import Program, TrainState, build, consults_teacher, make_train


@dataclasses.dataclass(frozen=True)
class Run:
    """A run folder opened for training: its compiled program, and the state and update it goes on from."""

    run_dir: str
    program: Program
    checkpoints: ocp.CheckpointManager
    state: TrainState
    first_update: int


def compiled_phases(program: Program) -> str:
    """What a program compiled, in words: each phase's chunk (a run resumed after the switch has only the late one)."""
    phases = program.config.phases

    def updates(late: bool) -> str:
        count = phases.updates_in_chunk(late)
        return f"{count} update{'s' * (count != 1)} of {phases.batch_size(late):,} frames"

    compiled = [updates(False)] if program.compiled else []
    if program.compiled_late:
        compiled.append(f"the late phase's {updates(True)} from frame {phases.frames_at(phases.early_updates):,}")
    return ", and ".join(compiled) or "nothing (no chunk is left)"


class Diverged(UsageError):
    """An update left the loss or the parameters not finite; the run stopped before checkpointing it."""


def open_run(config: TrainConfig, resume_dir: str | None, log: Callable[[str], None]) -> Run:
    """Creates the run folder (or, resuming, checks the frames asked for against those trained and restores the
    newest checkpoint that restores), then compiles the program for the chunks left."""
    env, tables = build(config)
    devices = list(sharding.mesh(config).devices.flat)  # refuses a batch that does not divide over them
    phases = config.phases
    if resume_dir:
        run_dir = resume_dir
        checkpoints = checkpoint.manager(run_dir)
        resumes_at = checkpoints.latest_step() or 0
        trained = phases.frames_at(resumes_at)
        if phases.planned_frames < trained:  # before config.json records the smaller total
            raise ConfigError(f"--total-frames {config.total_frames:,} is below the {trained:,} frames per seed "
                              f"{run_dir} has trained; pass more to train further, or evaluate it with "
                              f"`train.py evaluate {run_dir}`")
        hosts.on_writer(lambda: run_folder.extend(run_dir, config, devices) or "")
    else:
        run_dir = hosts.on_writer(lambda: run_folder.create(config, tables, devices))
        log(f"run folder {run_dir}")
        checkpoints = checkpoint.manager(run_dir)
    if phases.planned_frames != config.total_frames:
        log(f"--total-frames {config.total_frames:,} rounded up to {phases.planned_frames:,} frames per seed: "
            f"whole chunks of updates (--updates-per-chunk {config.updates_per_chunk})")
    program = make_train(config, env, tables, compile=False)
    state, first_update = program.init(), 0
    if resume_dir:
        first_update, state = checkpoint.restore_latest(checkpoints, state, log, set_aside=hosts.is_writer()) \
            or (0, state)
        if hosts.is_writer():
            metrics.truncate(os.path.join(run_dir, run_folder.METRICS), first_update)
    program = program.compile(first_chunk=phases.chunk_at(first_update))
    log(f"compiled {compiled_phases(program)} x {len(config.members)} member(s) "
        f"on {sharding.describe(devices)} in {program.compile_seconds:.1f} s")
    if resume_dir:
        log(f"resuming {run_dir} from update {first_update} ({phases.frames_at(first_update):,} frames per seed)"
            if first_update else f"resuming {run_dir}: no checkpoint yet, starting from update 0")
    return Run(run_dir, program, checkpoints, state, first_update)


def finished(config: TrainConfig, run_dir: str) -> dict | None:
    """The final evaluation of a run folder that has trained all its frames (None if it has not, or if its
    eval.json is missing or unreadable: then resuming it evaluates it again)."""
    if checkpoint.manager(run_dir).latest_step() != config.phases.num_updates:
        return None
    return files.read_json(os.path.join(run_dir, run_folder.EVALUATION))


def train_chunks(run: Run, evaluate: Callable, log: Callable[[str], None],
                 on_chunk: Callable[[int], None] | None = None) -> TrainState:
    """Runs the chunks left, writing each one's metrics (and an evaluation every `eval_every` chunks) and a
    checkpoint every `checkpoint_every` chunks and after the last; returns the final state. Stops with
    `Diverged`, before any checkpoint of the chunk, at the first update whose loss or parameters are not
    finite (the chunk's metrics are written, so that its rows show where)."""
    config, program, state = run.program.config, run.program, run.state
    phases = config.phases
    metrics_path = os.path.join(run.run_dir, run_folder.METRICS)
    writer = hosts.is_writer()
    loggers = Loggers(run.run_dir, config) if writer else None
    run_start = time.perf_counter()
    train_seconds = 0.0
    frames_done = 0
    try:
        for chunk_index in range(phases.chunk_at(run.first_update), phases.num_chunks):
            chunk_start = time.perf_counter()
            first, update = phases.updates_before(chunk_index), phases.updates_before(chunk_index + 1)
            consulted = consults_teacher(config, chunk_index)
            state, chunk_metrics = jax.block_until_ready(program.run_chunk(state, chunk_index, consulted))
            seconds = time.perf_counter() - chunk_start
            train_seconds += seconds
            table_rows = metrics.rows(config, chunk_metrics, first, consulted)
            frames_done += (phases.frames_at(update) - phases.frames_at(first)) * len(config.members)
            fps = frames_done / train_seconds  # training frames (all members) per second of training
            last = chunk_index == phases.num_chunks - 1
            broken = metrics.first_non_finite(table_rows)
            evaluation = None
            if not broken and ((chunk_index + 1) % config.eval_every == 0 or last):
                evaluation = evaluate(state.params, jax.random.fold_in(jax.random.PRNGKey(12345), update),
                                      config.eval_episodes)
            for u, per_member in enumerate(table_rows):
                for m, row in enumerate(per_member):
                    if evaluation and u == len(table_rows) - 1:
                        row.update({f"eval_{k}": v for k, v in evaluation[m].items() if k != "episodes"})
                    row.update(fps=fps, seconds=seconds, train_seconds=train_seconds,
                               compile_seconds=program.compile_seconds)
            if writer:
                metrics.append(metrics_path, table_rows)
                loggers.write(table_rows)
            if broken:
                raise Diverged(divergence(config, run, broken))
            log(metrics.progress_line(config, update, table_rows[-1], evaluation, fps,
                                      time.perf_counter() - run_start))
            if last or (chunk_index + 1) % config.checkpoint_every == 0:
                checkpoint.save(run.checkpoints, update, state)
            if on_chunk is not None:
                on_chunk(chunk_index)
    finally:
        if writer:
            loggers.close()
    return state


def divergence(config: TrainConfig, run: Run, row: dict) -> str:
    """What `Diverged` says: where, what is left, what to change."""
    what = " and ".join({"loss": "the loss", "params": "the parameters"}[name]
                        for name in ("loss", "params") if name in row["non_finite"])
    latest = run.checkpoints.latest_step()
    kept = (f"the latest checkpoint, update {latest}, holds finite parameters" if latest
            else "no checkpoint was written")
    return (f"update {row['update']} ({metrics.member_label(row['seed'], row.get('setting', {}))}) left {what} "
            f"not finite, so the run stopped there ({kept}); lower --ppo.learning-rate or --ppo.max-grad-norm and "
            f"start a new run (metrics.jsonl's rows name the values in `non_finite`)")


def train(config: TrainConfig, resume_dir: str | None = None,
          on_chunk: Callable[[int], None] | None = None, log: Callable[[str], None] = print) -> tuple[str, dict]:
    """Trains (or continues) a run; returns (run folder, final evaluation). `on_chunk(i)` is called
    after each chunk's metrics are written (tests use it to simulate a crash). A run folder that has trained
    all its frames is left as it is."""
    log = log if hosts.is_writer() else quiet
    done = finished(config, resume_dir) if resume_dir else None
    if done is not None:
        log(f"{resume_dir} is finished: {config.phases.planned_frames:,} frames per seed, its final evaluation in "
            f"{os.path.join(resume_dir, run_folder.EVALUATION)} (success {done['success_rate']:.3f}); pass "
            f"--total-frames to train it further")
        return resume_dir, done
    run = open_run(config, resume_dir, log)
    evaluate = evaluator(run.program.learner, run.program.members, config.eval_episodes)
    state = train_chunks(run, evaluate, log, on_chunk)
    final = finish(run.program, run.run_dir, state, evaluate)
    members = f", mean of {len(config.members)} members" if len(config.members) > 1 else ""
    log(f"final evaluation over {config.final_eval_episodes} episodes per member{members}: "
        f"success {final['success_rate']:.3f}, return {final['mean_return']:.3f}, length {final['mean_length']:.1f}")
    return run.run_dir, final


def keep_compiled_programs() -> None:
    """Keeps compiled programs between runs (a resumed or repeated run skips most of its compile) in
    ~/.cache/llm4teach-jax/xla, unless the caller chose a compilation cache already."""
    if not jax.config.jax_compilation_cache_dir:
        cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "llm4teach-jax", "xla")
        jax.config.update("jax_compilation_cache_dir", cache)


def quiet(line: str) -> None:
    """The log of processes other than process 0."""


def finish(program: Program, run_dir: str, state, evaluate: Callable) -> dict:
    """Writes eval.json, progress.png (and sweep.png for a sweep) and student.gif; returns the evaluation.
    `evaluate`: the run's evaluator (`evaluator`). Every process evaluates (the same episodes, on its own
    device); process 0 writes."""
    from student import report  # matplotlib only when a run ends

    config = program.config
    per_member = evaluate(state.params, jax.random.PRNGKey(FINAL_KEY), config.final_eval_episodes)
    final = {
        **over_members(config, per_member),
        "episodes": config.final_eval_episodes,
        "frames": config.phases.frames_at(int(np.asarray(state.updates_done)[0])),
        "greedy": config.eval_greedy,
        "seeds": len(config.seeds),
    }
    if not hosts.is_writer():
        return final
    run_folder.write_evaluation(run_dir, final)
    rows = metrics.read(os.path.join(run_dir, run_folder.METRICS))
    report.plot(rows, os.path.join(run_dir, "progress.png"), config)
    if len(config.settings) > 1:
        report.plot_sweep(rows, os.path.join(run_dir, "sweep.png"), config)
    if config.gif_episodes:
        first = jax.tree.map(lambda x: np.asarray(x)[0], (program.members, state.params))  # on the host
        report.animate(program.learner, *first, config.gif_episodes, os.path.join(run_dir, "student.gif"))
    return final
