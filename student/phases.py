"""A run's length in updates and chunks, and its two phases (docs/training.md, "Two phases").

Training runs in chunks of updates, each one compiled `lax.scan`: progress, evaluations and checkpoints
come between chunks. From --late-frame on, a run is in its late phase: rollouts `late_rollout_factor`
times longer and as many times fewer updates per chunk (at least one), the same epochs and minibatches.
Phases switch at a chunk boundary, the first after --late-frame is reached, and each has its own compiled
chunk. Frames are counted per seed.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Phases:
    """The arithmetic of updates, frames and chunks of one configuration."""

    num_envs: int
    num_steps: int
    num_minibatches: int
    updates_per_chunk: int
    late_frame: int
    late_rollout_factor: int
    total_frames: int

    def rollout_steps(self, late: bool) -> int:
        """Steps per environment in each rollout of a phase."""
        return self.num_steps * (self.late_rollout_factor if late else 1)

    def batch_size(self, late: bool = False) -> int:
        """Frames per update of a phase."""
        return self.num_envs * self.rollout_steps(late)

    def minibatch_size(self, late: bool = False) -> int:
        """Frames per minibatch of a phase."""
        return self.batch_size(late) // self.num_minibatches

    def updates_in_chunk(self, late: bool) -> int:
        """Updates per compiled chunk of a phase."""
        return max(1, self.updates_per_chunk // self.late_rollout_factor) if late else self.updates_per_chunk

    @property
    def frames_per_chunk(self) -> int:
        """Frames per chunk in the early phase."""
        return self.batch_size(False) * self.updates_per_chunk

    @property
    def early_chunks(self) -> int | None:
        """Chunks before the late phase (None: no late phase)."""
        if self.late_rollout_factor == 1:
            return None
        return -(-self.late_frame // self.frames_per_chunk)

    @property
    def early_updates(self) -> int | None:
        """Updates before the late phase (None: no late phase)."""
        return None if self.early_chunks is None else self.early_chunks * self.updates_per_chunk

    def is_late(self, chunk: int) -> bool:
        """Whether chunk `chunk` belongs to the late phase."""
        return self.early_chunks is not None and chunk >= self.early_chunks

    def updates_before(self, chunk: int) -> int:
        """Updates done when chunk `chunk` starts."""
        if not self.is_late(chunk):
            return chunk * self.updates_per_chunk
        return self.early_updates + (chunk - self.early_chunks) * self.updates_in_chunk(True)

    def chunk_at(self, update: int) -> int:
        """The chunk that starts at `update` (a chunk boundary: where a checkpoint was written)."""
        if self.early_updates is None or update <= self.early_updates:
            return update // self.updates_per_chunk
        return self.early_chunks + (update - self.early_updates) // self.updates_in_chunk(True)

    def frames_at(self, updates):
        """Frames after `updates` updates: an int, or float32 for a traced count."""
        early, late = self.batch_size(False), self.batch_size(True)
        if isinstance(updates, (int, np.integer)):
            updates, lower, upper = int(updates), min, max
        else:
            updates, lower, upper = jnp.asarray(updates).astype(jnp.float32), jnp.minimum, jnp.maximum
        switch = self.early_updates
        if switch is None:
            return updates * early
        return lower(updates, switch) * early + upper(updates - switch, 0) * late

    @property
    def num_chunks(self) -> int:
        """Chunks of the run: total_frames rounded up to whole chunks."""
        early_chunks = -(-self.total_frames // self.frames_per_chunk)
        if self.early_chunks is None or early_chunks <= self.early_chunks:
            return early_chunks
        late_frames = self.total_frames - self.early_chunks * self.frames_per_chunk
        late_chunk = self.batch_size(True) * self.updates_in_chunk(True)
        return self.early_chunks + -(-late_frames // late_chunk)

    @property
    def num_updates(self) -> int:
        """Updates of the run."""
        return self.updates_before(self.num_chunks)

    @property
    def planned_frames(self) -> int:
        """Frames the run trains: total_frames rounded up to whole chunks."""
        return self.frames_at(self.num_updates)

    @property
    def has_late_phase(self) -> bool:
        return self.is_late(self.num_chunks - 1)
