"""The large-batch recipe: rollout length, epochs, minibatches, learning rate, late-phase rollout factor and
entropy bonus for a number of environments per seed (docs/training.md, "The large-batch recipe").

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


def row(num_envs: int) -> Row:
    """The recipe's row for `num_envs` environments per seed."""
    return next(row for row in RECIPE if row.up_to_envs is None or num_envs <= row.up_to_envs)
