"""Orbax checkpoints of the full training state, each with a checksum of what it must restore.

Orbax writes a checkpoint to a temporary folder and renames it when complete, so a process killed while
writing leaves the checkpoints before it as they were. A checkpoint that cannot be restored, or whose
contents no longer match their checksum (a disk fault, a copy cut short: orbax reads overwritten bytes
without complaint), is named in one line and skipped: training goes on from the newest one that restores.
"""

import hashlib
import os
from typing import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from student.config import ConfigError
from student.ppo import TrainState, all_finite

# Where a checkpoint that cannot be restored is moved (kept, out of the way of the checkpoints written next).
UNREADABLE_SUFFIX = ".unreadable"


class Damaged(Exception):
    """A checkpoint restored, but not to what was saved."""


def manager(run_dir: str) -> ocp.CheckpointManager:
    """The run's checkpoint manager (keeps the last two)."""
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True)
    return ocp.CheckpointManager(os.path.join(os.path.abspath(run_dir), "checkpoints"), options=options)


def checksum(state: TrainState) -> str:
    """sha256 of the state's replicated parts (parameters, optimizer state, key, counter), the same on any
    number of devices or processes; the environments, split over the devices, are left out."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves((state.params, state.opt_state, state.key, state.updates_done)):
        value = np.asarray(jax.device_get(leaf))
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def save(checkpoints: ocp.CheckpointManager, update: int, state: TrainState) -> None:
    """Writes the state and its checksum as checkpoint `update` and waits until it is on disk."""
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), checksum=ocp.args.JsonSave(checksum(state)))
    checkpoints.save(update, args=args, force=True)
    checkpoints.wait_until_finished()


def restore(checkpoints: ocp.CheckpointManager, update: int, template: TrainState) -> TrainState:
    """Checkpoint `update`, checked against its checksum (one written without one, by older versions, is
    restored as it is) and for parameters that are not finite."""
    folder = os.path.join(str(checkpoints.directory), str(update))
    if os.path.isdir(os.path.join(folder, "state")):
        restored = checkpoints.restore(update, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(template), checksum=ocp.args.JsonRestore()))
        state = restored.state
        if restored.checksum != checksum(state):
            raise Damaged("its contents do not match the checksum written with it")
    else:
        state = checkpoints.restore(update, args=ocp.args.StandardRestore(template))
    if not bool(all_finite(state.params)):
        raise Damaged("its parameters are not all finite")
    return state


def restore_latest(checkpoints: ocp.CheckpointManager, template: TrainState, log: Callable[[str], None],
                   set_aside: bool = False) -> tuple[int, TrainState] | None:
    """(update, state) of the newest checkpoint that restores, None if there is none; `template` gives the
    structure. Each checkpoint that cannot be restored is named through `log` (and, if `set_aside`, renamed
    with UNREADABLE_SUFFIX, so that the run can write that step again); if none restores, a ConfigError."""
    steps = sorted(checkpoints.all_steps(), reverse=True)
    unreadable = []
    for step in steps:
        try:
            state = restore(checkpoints, step, template)
        except Exception as error:  # orbax and tensorstore raise many kinds for damaged files
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            log(f"checkpoint {os.path.join(str(checkpoints.directory), str(step))} cannot be restored ({reason})"
                f"{'; trying the one before' if step != steps[-1] else ''}")
            unreadable.append(step)
            continue
        for bad in unreadable if set_aside else ():  # only once one restores: with none, nothing is moved
            folder = os.path.join(str(checkpoints.directory), str(bad))
            os.rename(folder, folder + UNREADABLE_SUFFIX)
            log(f"checkpoint {bad} moved to {folder}{UNREADABLE_SUFFIX}")
        if unreadable and set_aside:
            checkpoints.reload()
        return step, state
    if steps:
        raise ConfigError(f"no checkpoint in {checkpoints.directory} can be restored (tried updates "
                          f"{', '.join(map(str, steps))}); start a new run, or restore the folder from a copy")
    return None
