"""A run's updates, frames and chunks, and its two phases."""

import jax

from student.config import TrainConfig


def test_the_late_phase_lengthens_rollouts_from_a_chunk_boundary():
    phases = TrainConfig(num_envs=1024, total_frames=1_000_000).phases  # the recipe: 2-step rollouts, 2,048 frames
    assert phases.early_chunks == 15 and phases.frames_at(phases.early_updates) == 307_200  # first boundary ≥ 300k
    assert (phases.rollout_steps(True), phases.batch_size(True), phases.minibatch_size(True)) == (8, 8192, 512)
    assert phases.updates_in_chunk(True) == 2 and phases.has_late_phase
    assert [phases.updates_before(i) for i in (0, 14, 15, 16)] == [0, 140, 150, 152]
    assert all(phases.chunk_at(phases.updates_before(i)) == i for i in range(phases.num_chunks + 1))
    assert phases.frames_at(152) == 307_200 + 2 * 8192 and float(phases.frames_at(jax.numpy.int32(152))) == 323_584
    assert phases.planned_frames >= 1_000_000 > phases.frames_at(phases.updates_before(phases.num_chunks - 1))
    assert not TrainConfig().phases.has_late_phase  # the default run ends before 300k frames
    unchanged = TrainConfig(num_envs=1024, total_frames=1_000_000, late_rollout_factor=1).phases
    assert unchanged.early_chunks is None and unchanged.planned_frames == unchanged.num_updates * 2048


def test_a_run_of_whole_chunks_reaches_at_least_the_frames_asked_for():
    for total in (1, 2048, 20_480, 20_481, 307_200, 307_201, 1_000_000):
        phases = TrainConfig(num_envs=1024, total_frames=total).phases
        last_start = phases.frames_at(phases.updates_before(phases.num_chunks - 1))
        assert last_start < total <= phases.planned_frames
