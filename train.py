"""Train a student with PPO and the LLM teacher's distillation term; resume a run; evaluate one.

    python train.py                                   # = train.py train: SimpleDoorKey, soft teacher
    python train.py train --task ColoredDoorKey --method ppo --seeds 0 1 2 --out runs/cdk-ppo
    python train.py train --sweep.learning-rate 3e-4 1e-3 3e-3 --seeds 0 1    # a grid, one program
    python train.py resume runs/cdk-ppo               # continue from the last checkpoint
    python train.py resume runs/cdk-ppo --total-frames 600000                  # train further
    python train.py evaluate runs/cdk-ppo             # evaluate the last checkpoint
    python train.py train --devices 2                 # data parallel over 2 of the visible devices
    python train.py resume runs/cdk-ppo --devices 1   # a run goes on over any number of devices
    JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=0 python train.py train --out runs/x
                                                      # one process of a multi-host run (docs/scale-out.md)

Commands: train (the default), resume, evaluate; `python train.py train --help` documents every training
option, `python train.py resume --help` and `python train.py evaluate --help` theirs.
"""

import dataclasses
import json
import sys

import tyro

from common import cli
from student import hosts, run_folder
from student.config import ConfigError, TrainConfig


@dataclasses.dataclass(frozen=True)
class Resume:
    """Continue a run from its last checkpoint with the configuration saved in its folder."""

    run: tyro.conf.Positional[str]
    """The run folder."""
    total_frames: int | None = None
    """Train to this many frames per seed instead of the saved number (extends a finished run)."""
    devices: int | None = None
    """Devices to go on over (default: all visible); the checkpoint is restored onto them."""
    distributed: bool = False
    """Join a multi-process run, as for train."""


@dataclasses.dataclass(frozen=True)
class Evaluate:
    """Evaluate the last checkpoint of a run on fresh episodes (the run folder is not changed)."""

    run: tyro.conf.Positional[str]
    """The run folder."""
    episodes: int | None = None
    """Episodes per seed (default: the run's final_eval_episodes)."""
    greedy: bool | None = None
    """Act by the most likely action (default: as the run was evaluated)."""


COMMANDS = {"train": TrainConfig, "resume": Resume, "evaluate": Evaluate}
RESUMABLE = {"--total-frames", "--total_frames", "--devices", "--distributed"}


def refuse_changes_on_resume(argv: list[str]) -> None:
    """A resumed run keeps its saved configuration: any option but --total-frames is refused."""
    for argument in argv:
        name = argument.split("=")[0]
        if name.startswith("--") and name not in RESUMABLE | {"--help"}:
            raise ConfigError(f"{name} cannot change when resuming: the run continues with the configuration "
                              f"saved in its folder (only --total-frames, --devices and --distributed can "
                              f"change); start a new run to change it")


def resumed_config(command: Resume) -> TrainConfig:
    """The saved configuration with the changes `resume` allows (the devices are this launch's)."""
    saved = run_folder.read(command.run).replace(devices=command.devices, distributed=command.distributed)
    if command.total_frames is not None:
        saved = saved.replace(total_frames=command.total_frames)
    return saved


def joins_other_processes(argv: list[str]) -> bool:
    """Whether this launch is one process of a multi-process run (train or resume with --distributed, or a
    coordinator named in the environment), read from the command line itself: joining must come before
    anything starts JAX's backend, and reading the options does (the default --num-envs is the backend's)."""
    if argv[0] == "evaluate" or "-h" in argv or "--help" in argv:
        return False
    return hosts.wanted(any(a == "--distributed" or a.startswith("--distributed=") for a in argv))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    if not argv or argv[0] not in COMMANDS:
        argv = ["train", *argv]  # a bare `train.py [options]` trains
    if joins_other_processes(argv):
        hosts.initialize()  # every process reads the same options next, and refuses bad ones alike
    return cli.main("train.py", lambda: execute(argv))


def execute(argv: list[str]) -> None:
    name, options = argv[0], argv[1:]
    if name == "resume":
        refuse_changes_on_resume(options)
    command = cli.parse(COMMANDS[name], options, COMMANDS[name].__doc__, prog=f"train.py {name}")
    config = resumed_config(command) if isinstance(command, Resume) else command
    from student import evaluation, run  # JAX's devices are touched from here on (importing navix does)

    run.keep_compiled_programs()
    if isinstance(command, Evaluate):
        print(json.dumps(evaluation.evaluate_run(command.run, command.episodes, command.greedy), indent=2))
    else:
        run.train(config, resume_dir=command.run if isinstance(command, Resume) else None)

if __name__ == "__main__":
    sys.exit(main())
