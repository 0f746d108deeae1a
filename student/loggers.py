"""Metric rows mirrored where researchers watch runs: TensorBoard (`--log tensorboard`, event files in the run
folder's `tensorboard/`, one folder per member) and Weights & Biases (`--log wandb`, offline unless
`--wandb-mode online`; the `wandb` package is the extra `.[wandb]`). metrics.jsonl stays the source of truth:
each row is mirrored as it is written there. A resumed run recomputes the rows after its checkpoint exactly,
so rows a logger already has (up to `<logger folder>/logged_through`) are not sent again: the curves go on
without duplicate steps.
"""

import os
import secrets
from typing import Protocol

from common import files
from student.config import ConfigError, TrainConfig
from student.metrics import member_label

# Row fields that label a row rather than measure something.
LABELS = ("seed", "setting", "update", "frames", "non_finite")


class Logger(Protocol):
    folder: str

    def write(self, row: dict) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def scalars(row: dict) -> dict[str, float]:
    """The row's measurements (numbers, nulls left out)."""
    return {name: float(value) for name, value in row.items()
            if name not in LABELS and isinstance(value, (int, float)) and not isinstance(value, bool)}


class TensorBoard:
    """One event-file folder per member, `tensorboard/<seed 0, setting>`; the step is frames per seed."""

    def __init__(self, run_dir: str, config: TrainConfig):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError("--log tensorboard needs tensorboardX: ./setup.sh installs it") from None
        self.folder = os.path.join(run_dir, "tensorboard")
        labels = [member_label(seed, setting) for seed, setting in config.members]
        self.writers = {label: SummaryWriter(os.path.join(self.folder, label)) for label in labels}

    def write(self, row: dict) -> None:
        writer = self.writers[member_label(row["seed"], row.get("setting", {}))]
        for name, value in scalars(row).items():
            writer.add_scalar(name, value, row["frames"])

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


class WeightsAndBiases:
    """One W&B run per run folder (its id kept in `wandb/run_id`, so that a resumed run continues it); each
    metric is logged per member as `<member>/<name>` at step = update."""

    def __init__(self, run_dir: str, config: TrainConfig):
        try:
            import wandb
        except ImportError:
            raise ConfigError("--log wandb needs the wandb package: pip install -e '.[wandb]'") from None
        self.folder = os.path.join(run_dir, "wandb")
        os.makedirs(self.folder, exist_ok=True)
        id_file = os.path.join(self.folder, "run_id")
        run_id = files.read_json(id_file) or secrets.token_hex(6)
        files.write_json(id_file, run_id)
        self.many = len(config.members) > 1
        self.run = wandb.init(project=config.wandb_project, name=os.path.basename(os.path.abspath(run_dir)),
                              id=run_id, resume="allow", dir=run_dir, mode=config.wandb_mode,
                              config={"task": config.task, "method": config.method, "seeds": list(config.seeds),
                                      "num_envs": config.num_envs, "total_frames": config.total_frames},
                              settings=wandb.Settings(console="off", silent=True))

    def write(self, row: dict) -> None:
        prefix = member_label(row["seed"], row.get("setting", {})) + "/" if self.many else ""
        self.run.log({"frames": row["frames"], **{prefix + name: value for name, value in scalars(row).items()}},
                     step=row["update"])

    def flush(self) -> None:
        """W&B writes in the background; nothing to wait for."""

    def close(self) -> None:
        self.run.finish()


KINDS = {"tensorboard": TensorBoard, "wandb": WeightsAndBiases}


class Loggers:
    """The run's loggers; `write(table)` mirrors a chunk's rows (those not mirrored before) to each."""

    def __init__(self, run_dir: str, config: TrainConfig):
        self.loggers = [KINDS[kind](run_dir, config) for kind in config.log]

    def write(self, table: list[list[dict]]) -> None:
        for logger in self.loggers:
            marker = os.path.join(logger.folder, "logged_through")
            logged = files.read_json(marker, 0)
            rows = [row for per_member in table for row in per_member if row["update"] > logged]
            for row in rows:
                logger.write(row)
            logger.flush()
            if rows:
                files.write_json(marker, max(row["update"] for row in rows))

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
