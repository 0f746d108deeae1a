"""Many processes in one run (one per host, or several on one machine): joining them, and who writes.

Every process runs the same program on its own devices (JAX's multi-controller model); the
compiled program and checkpoints are collective, so every process takes part in them, and each
plays the evaluation episodes on its own first device. Only process 0 writes the run folder's
files (config.json, metrics, eval.json, plots, gif) and prints progress; orbax has each process
write its own shards of a checkpoint.
"""

import json
import os
from typing import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from common.cli import UsageError

# Variables read when JAX itself does not (it reads JAX_COORDINATOR_ADDRESS, and detects SLURM,
# Open MPI, Kubernetes and Cloud TPU on its own).
NUM_PROCESSES = "JAX_NUM_PROCESSES"
PROCESS_ID = "JAX_PROCESS_ID"


def wanted(distributed: bool) -> bool:
    """Whether to join a multi-process run: asked for (--distributed) or a coordinator is named."""
    return distributed or "JAX_COORDINATOR_ADDRESS" in os.environ


def initialize() -> None:
    """jax.distributed.initialize with the process count and id from the environment where given
    (whatever is left unset, JAX detects). Call before anything else touches JAX's devices; a second
    call does nothing."""
    if jax.distributed.is_initialized():
        return
    number = lambda name: int(os.environ[name]) if name in os.environ else None  # noqa: E731
    jax.distributed.initialize(num_processes=number(NUM_PROCESSES), process_id=number(PROCESS_ID))


def is_writer() -> bool:
    """Whether this process writes the run folder's files (process 0)."""
    return jax.process_index() == 0


def agree(text: str, size: int = 4096) -> str:
    """Process 0's `text` on every process (e.g. a run folder named by the time it was made); also a
    barrier: no process goes on before process 0 has reached it."""
    if jax.process_count() == 1:
        return text
    encoded = np.frombuffer(text.encode(), np.uint8)
    if len(encoded) > size:
        raise ValueError(f"agree: {len(encoded)} bytes, more than {size}")
    buffer = np.zeros(size, np.uint8)
    buffer[:len(encoded)] = encoded
    buffer, length = multihost_utils.broadcast_one_to_all((buffer, np.int32(len(encoded))))
    return bytes(np.asarray(buffer)[:int(length)]).decode()


class Refused(UsageError):
    """Process 0 refused to go on; every process raises it, with process 0's message."""


def on_writer(write: Callable[[], str]) -> str:
    """`write()` run by process 0 alone, its result on every process; if it refuses (a UsageError), every
    process raises its message at once, instead of waiting for process 0 until the heartbeat times out."""
    result, refusal = "", ""
    if is_writer():
        try:
            result = write()
        except UsageError as error:
            refusal = str(error)
    if jax.process_count() > 1:
        result, refusal = json.loads(agree(json.dumps([result, refusal])))
    if refusal:
        raise Refused(refusal)
    return result
