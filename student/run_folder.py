"""The run folder: created once with `config.json` (the configuration, the teacher's
provenance, package versions, devices), never overwritten."""

import dataclasses
import datetime
import json
import os
from importlib import metadata

import jax

from student import config as configuration
from teacher_cache.table import write_atomically
from student.config import ConfigError, TrainConfig

METRICS = "metrics.jsonl"
EVALUATION = "eval.json"


def default_path(config: TrainConfig) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{config.task}-{config.method}-{stamp}")


def versions() -> dict:
    """Installed versions of the packages a run depends on."""
    found = {}
    for name in ("jax", "jaxlib", "flax", "optax", "navix", "orbax-checkpoint", "llm4teach-jax"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def hardware(devices: list) -> dict:
    """The devices a launch of the run trains on: how many, of what kind, over how many processes."""
    return {"devices": [str(d) for d in devices], "device_count": len(devices),
            "device_kind": f"{devices[0].platform} ({devices[0].device_kind})", "processes": jax.process_count()}


def create(config: TrainConfig, table, devices: list) -> str:
    """Creates the run folder and writes config.json; refuses one that already holds a run.
    `devices`: those the run trains on (the data-parallel mesh's)."""
    run_dir = config.out or default_path(config)
    if os.path.exists(os.path.join(run_dir, configuration.CONFIG_FILE)):
        raise ConfigError(f"{run_dir} already holds a run; continue it with `train.py resume {run_dir}` "
                          f"or pick another --out")
    os.makedirs(run_dir, exist_ok=True)
    record = {
        "config": configuration.to_dict(config),
        "derived": {
            "num_steps": config.steps_per_rollout, "update_epochs": config.update_epochs,
            "num_minibatches": config.num_minibatches, "learning_rate": config.learning_rate(False),
            "late_learning_rate": config.learning_rate(True), "late_rollout_factor": config.late_factor,
            "ent_coef": config.ent_coef,
            "batch_size": config.batch_size, "minibatch_size": config.minibatch_size,
            **lengths(config),
            "distill_schedule": dataclasses.asdict(config.distill.resolved()),
            "members": [{"seed": seed, "setting": setting} for seed, setting in config.members],
        },
        "teacher": None if table is None else {"path": table.path, "provenance": table.provenance},
        "versions": versions(),
        **hardware(devices),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    with open(os.path.join(run_dir, configuration.CONFIG_FILE), "w") as file:
        json.dump(record, file, indent=2)
    return run_dir


def lengths(config: TrainConfig) -> dict:
    """What the run's length derives from its configuration: updates, frames and the late phase."""
    late = None
    if config.has_late_phase:
        late = {"from_frame": config.frames_at(config.early_updates), "num_steps": config.rollout_steps(True),
                "batch_size": config.phase_batch_size(True), "minibatch_size": config.phase_minibatch_size(True)}
    return {"num_updates": config.num_updates, "frames_per_seed": config.planned_frames, "late_phase": late}


def extend(run_dir: str, config: TrainConfig, devices: list) -> None:
    """Records a configuration changed on resume (e.g. more frames) and the devices it now trains on
    in config.json."""
    path = os.path.join(run_dir, configuration.CONFIG_FILE)
    with open(path) as file:
        record = json.load(file)
    record["config"] = configuration.to_dict(config)
    record["derived"].update(lengths(config))
    record.update(hardware(devices))
    write_atomically(path, json.dumps(record, indent=2))
