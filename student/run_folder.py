"""The run folder on disk: `config.json` (the configuration, what derives from it, the teacher's provenance,
package versions, devices), written when the run is created and never overwritten by another run; the saved
configuration read back for `resume` and `evaluate`; `eval.json`. Every file is written atomically."""

import dataclasses
import datetime
import json
import os
from importlib import metadata

import jax

from common import files
from student import recipe
from student.config import ConfigError, DistillConfig, NetworkConfig, PPOConfig, Sweep, Teaching, TrainConfig

CONFIG = "config.json"
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


def to_dict(config: TrainConfig) -> dict:
    """The configuration as JSON-ready values."""
    return dataclasses.asdict(config)


def declaration(config: TrainConfig) -> dict:
    """The configuration as JSON-ready values, as it was declared: the fields the recipe filled unset."""
    values = to_dict(config)
    for name, _ in config.from_recipe:
        section, _, field = name.rpartition(".")
        (values[section] if section else values)[field] = None
    values.update(from_recipe=[], recipe_envs=None, recipe_sparse=None)
    return values


def from_dict(values: dict) -> TrainConfig:
    """The configuration `to_dict` wrote (checked like any other)."""
    values = dict(values)
    values["ppo"] = PPOConfig(**values["ppo"])
    values["distill"] = DistillConfig(**values["distill"])
    values["network"] = NetworkConfig(**values["network"])
    values["sweep"] = Sweep(**{name: tuple(v) for name, v in values.get("sweep", {}).items()})
    values["teaching"] = Teaching(**values.get("teaching", {}))
    values["seeds"] = tuple(values["seeds"])
    values["log"] = tuple(values.get("log", ()))
    values["from_recipe"] = tuple((name, value) for name, value in values.get("from_recipe", ()))  # JSON: lists
    values.setdefault("late_rollout_factor", 1)  # a run saved before the late phase existed trains without one
    # A navix run saved before the memory map was offered for navix tasks saw navix's own observation (our tasks
    # named by `recipe`, not `envs`: importing navix starts JAX's backend, which train.py must not do before
    # joining the other processes of a multi-process run).
    values.setdefault("observation", "memory_map" if values.get("task") in recipe.PAPER_TASKS else "navix")
    return TrainConfig(**values)


def lengths(config: TrainConfig) -> dict:
    """What the run's length derives from its configuration: updates, frames and the late phase."""
    phases, late = config.phases, None
    if phases.has_late_phase:
        late = {"from_frame": phases.frames_at(phases.early_updates), "num_steps": phases.rollout_steps(True),
                "batch_size": phases.batch_size(True), "minibatch_size": phases.minibatch_size(True)}
    return {"num_updates": phases.num_updates, "frames_per_seed": phases.planned_frames, "late_phase": late}


def derived(config: TrainConfig) -> dict:
    """What follows from the configuration, for people reading config.json."""
    return {"batch_size": config.phases.batch_size(), "minibatch_size": config.phases.minibatch_size(),
            **lengths(config), "distill_schedule": config.distill.schedule()._asdict(),
            "members": [{"seed": seed, "setting": setting} for seed, setting in config.members]}


def create(config: TrainConfig, tables: list, devices: list) -> str:
    """Creates the run folder and writes config.json; refuses a folder that already holds a run, or a path that
    is not a folder. `tables`: the teacher tables of its members; `devices`: those the run trains on (the
    data-parallel mesh's)."""
    run_dir = config.out or default_path(config)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ConfigError(f"--out {run_dir} is a file, not a folder; pick another --out")
    if os.path.exists(os.path.join(run_dir, CONFIG)):
        raise ConfigError(f"{run_dir} already holds a run; continue it with `train.py resume {run_dir}` "
                          f"or pick another --out")
    record = {
        "config": to_dict(config),
        "derived": derived(config),
        "teachers": [{"table": name, "path": table.path, "provenance": table.provenance}
                     for name, table in zip(config.tables, tables)],
        "versions": versions(),
        **hardware(devices),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    files.write_json(os.path.join(run_dir, CONFIG), record)
    return run_dir


def read_record(run_dir: str) -> dict:
    """config.json of a run folder; a clear error if it is not a run folder or the file is damaged."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise ConfigError(f"run folder {run_dir} does not exist")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no {CONFIG})")
    try:
        with open(path, encoding="utf-8") as file:
            record = json.load(file)
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ValueError("no configuration in it")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path} is damaged ({type(error).__name__}: {error}); it holds the run's configuration: "
                          f"restore it from a copy to resume or evaluate the run") from None
    return record


def read(run_dir: str) -> TrainConfig:
    """The configuration a run folder was started with."""
    record = read_record(run_dir)
    values = dict(record["config"])
    # A run saved before the recipe's values were part of its configuration recorded them under "derived"
    # (some not at all: those it had set); they are kept, so that a change of the recipe since does not
    # change the run's hyperparameters when it resumes.
    saved = record.get("derived", {})
    for name in ("num_steps", "late_rollout_factor"):
        if values.get(name) is None and name in saved:
            values[name] = saved[name]
    values["ppo"] = {name: saved.get(name) if value is None else value for name, value in values["ppo"].items()}
    try:
        return from_dict(values)
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{os.path.join(run_dir, CONFIG)} is damaged ({type(error).__name__}: {error}); it holds "
                          f"the run's configuration: restore it from a copy to resume or evaluate the run") from None


def extend(run_dir: str, config: TrainConfig, devices: list) -> None:
    """Records a configuration changed on resume (e.g. more frames) and the devices it now trains on."""
    record = read_record(run_dir)
    record["config"] = to_dict(config)
    record["derived"] = {**record.get("derived", {}), **derived(config)}
    record.update(hardware(devices))
    files.write_json(os.path.join(run_dir, CONFIG), record)


def write_evaluation(run_dir: str, evaluation: dict) -> None:
    files.write_json(os.path.join(run_dir, EVALUATION), evaluation)
