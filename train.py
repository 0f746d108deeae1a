"""Train a student with PPO and the LLM teacher's distillation term; resume; evaluate.

    python train.py                                   # SimpleDoorKey, soft teacher from the shipped table
    python train.py --task ColoredDoorKey --method ppo --seeds 0 1 2 --out runs/cdk-ppo
    python train.py --resume runs/cdk-ppo             # continue from the last checkpoint
    python train.py --evaluate runs/cdk-ppo           # evaluate the last checkpoint

Every option is documented by `python train.py --help`.
"""

import json
import sys

import tyro

from student.config import ConfigError, TrainConfig
from teacher_cache import TableError


def main(argv: list[str] | None = None) -> int:
    try:
        config = tyro.cli(TrainConfig, args=argv, description=__doc__)
    except ConfigError as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 2
    from student import run  # JAX starts only once the options are known to be good

    try:
        if config.evaluate:
            print(json.dumps(run.evaluate_run(config.evaluate, config.final_eval_episodes), indent=2))
        elif config.resume:
            run.train(run.read_config(config.resume), resume_dir=config.resume)
        else:
            run.train(config)
    except (ConfigError, TableError, FileNotFoundError) as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
