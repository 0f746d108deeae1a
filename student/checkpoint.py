"""Orbax checkpoints of the full training state, written atomically (orbax writes to a
temporary folder and renames it when complete, so a crash never leaves half a checkpoint)."""

import os

import orbax.checkpoint as ocp

from student.ppo import TrainState


def manager(run_dir: str) -> ocp.CheckpointManager:
    """The run's checkpoint manager (keeps the last two)."""
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True)
    return ocp.CheckpointManager(os.path.join(os.path.abspath(run_dir), "checkpoints"), options=options)


def save(checkpoints: ocp.CheckpointManager, update: int, state: TrainState) -> None:
    """Writes the state as checkpoint `update` and waits until it is on disk."""
    checkpoints.save(update, args=ocp.args.StandardSave(state), force=True)
    checkpoints.wait_until_finished()


def restore_latest(checkpoints: ocp.CheckpointManager, template: TrainState) -> tuple[int, TrainState] | None:
    """(update, state) of the newest checkpoint, None if there is none; `template` gives the structure."""
    update = checkpoints.latest_step()
    if update is None:
        return None
    return update, checkpoints.restore(update, args=ocp.args.StandardRestore(template))
