"""The student's loss: PPO's clipped objective + value loss − entropy bonus + λ(frames) · CE(π_T, π_θ).

The cross-entropy from the teacher's prior to the student has the gradient of
KL(π_T ‖ π_θ); λ follows a schedule in frames (`distill_coefficient`), so that it does
not depend on the batch size.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from student.config import DistillConfig, PPOConfig


class Batch(NamedTuple):
    """What the gradient steps learn from, one row per frame (a rollout's steps and environments flattened)."""

    cells: jax.Array
    action: jax.Array
    log_prob: jax.Array  # of the action under the policy that acted
    value: jax.Array  # the critic's estimate when the step was taken
    advantage: jax.Array
    target: jax.Array  # the value target: advantage + value
    teacher: jax.Array  # π_T (zeros without a teacher)


def distill_coefficient(distill: DistillConfig, frames: jax.Array) -> jax.Array:
    """λ at a frame count: max(floor, start - decay * frames) before stop_frame, 0 after."""
    schedule = distill.schedule()
    frames = jnp.asarray(frames, jnp.float32)
    value = jnp.maximum(schedule.floor, schedule.start - schedule.decay_per_frame * frames)
    return jnp.where(frames < schedule.stop_frame, value, 0.0)


def ppo_loss(logits: jax.Array, values: jax.Array, batch: Batch, ppo: PPOConfig, distill: jax.Array):
    """(total loss, metrics) of one minibatch, from the network's logits and values on `batch.cells`."""
    log_probs = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs, batch.action[:, None], axis=-1)[:, 0]
    ratio = jnp.exp(log_prob - batch.log_prob)
    advantage = batch.advantage
    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    clipped_ratio = jnp.clip(ratio, 1.0 - ppo.clip_eps, 1.0 + ppo.clip_eps)
    policy_loss = -jnp.minimum(ratio * advantage, clipped_ratio * advantage).mean()
    clipped_values = batch.value + jnp.clip(values - batch.value, -ppo.clip_eps, ppo.clip_eps)
    value_loss = 0.5 * jnp.maximum(jnp.square(values - batch.target), jnp.square(clipped_values - batch.target)).mean()
    entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
    cross_entropy = -(batch.teacher * log_probs).sum(-1).mean()
    total = policy_loss + ppo.vf_coef * value_loss - ppo.ent_coef * entropy + distill * cross_entropy
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "distill_loss": cross_entropy,
        "approx_kl": ((ratio - 1.0) - jnp.log(ratio)).mean(),
        "clip_fraction": (jnp.abs(ratio - 1.0) > ppo.clip_eps).astype(jnp.float32).mean(),
    }
