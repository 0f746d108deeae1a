"""The recipes: rollout length, epochs, minibatches, learning rate, late-phase rollout factor and entropy bonus
for a number of environments per seed. The paper's three rooms take the large-batch recipe (docs/training.md,
"The large-batch recipe"); any other task, navix's sparse-reward ones, the sparse-reward recipe (`SPARSE`).

Gradient steps per frame, not environments, set the pace of learning: as environments grow, rollouts
shorten and minibatches grow in number, so that every update still takes dozens of small gradient steps
(from 257 environments on at a learning rate 3 times larger: steps of 128 samples up to 4096 environments,
of N/64 beyond). From --late-frame on, rollouts are `late_rollout_factor` times longer (one gradient step
per 256 frames from 1024 to 16384 environments) and the learning rate is `LATE_LEARNING_RATE`. Beyond 4096
environments a larger entropy bonus keeps ColoredDoorKey's seeds from settling below 0.9 once the
teacher's term is dropped.
"""

from typing import NamedTuple


class Row(NamedTuple):
    """The recipe for up to `up_to_envs` environments per seed (None: any number)."""

    up_to_envs: int | None
    num_steps: int
    update_epochs: int
    num_minibatches: int
    learning_rate: float
    late_rollout_factor: int
    ent_coef: float


RECIPE = (
    Row(up_to_envs=64, num_steps=16, update_epochs=4, num_minibatches=4, learning_rate=1e-3, late_rollout_factor=4,
        ent_coef=0.01),
    Row(up_to_envs=256, num_steps=8, update_epochs=8, num_minibatches=8, learning_rate=1e-3, late_rollout_factor=4,
        ent_coef=0.01),
    Row(up_to_envs=1024, num_steps=2, update_epochs=2, num_minibatches=16, learning_rate=3e-3,
        late_rollout_factor=4, ent_coef=0.01),
    Row(up_to_envs=4096, num_steps=1, update_epochs=4, num_minibatches=32, learning_rate=3e-3,
        late_rollout_factor=8, ent_coef=0.01),
    Row(up_to_envs=None, num_steps=1, update_epochs=4, num_minibatches=64, learning_rate=3e-3,
        late_rollout_factor=4, ent_coef=0.03),
)
# Adam's step size in the late phase, unless --ppo.learning-rate or --ppo.late-learning-rate says otherwise.
LATE_LEARNING_RATE = 1e-3


# The paper's three rooms (envs.TASKS; named here, since importing envs starts JAX's backend).
PAPER_TASKS = ("SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey")

# Any other task: long rollouts. On a sparse reward the large-batch recipe's short rollouts leave PPO at 0 where
# 32 steps learn (Navix-DoorKey-8x8-v0, PPO, 2M frames, 3 seeds, final success: 0.052 with 1024 environments x
# 8 steps, 0.667 with 64 x 128, 0.988 with 256 x 32; docs/any-task.md, "The recipe").
SPARSE = Row(up_to_envs=None, num_steps=32, update_epochs=4, num_minibatches=4, learning_rate=1e-3,
             late_rollout_factor=4, ent_coef=0.01)
# Environments per seed on a sparse-reward task when --num-envs is not given, on any device (the figures above).
SPARSE_NUM_ENVS = 256


def sparse(task: str) -> bool:
    """Whether `task` takes the sparse-reward recipe: any task but the paper's three rooms."""
    return task not in PAPER_TASKS


def row(num_envs: int, task: str = PAPER_TASKS[0]) -> Row:
    """The recipe's row for `num_envs` environments per seed on `task`."""
    if sparse(task):
        return SPARSE
    return next(row for row in RECIPE if row.up_to_envs is None or num_envs <= row.up_to_envs)
