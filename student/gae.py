"""Generalised advantage estimation over a rollout that may cross episode ends."""

import jax
import jax.numpy as jnp


def advantages(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: jax.Array,
    gae_lambda: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """(advantages, value targets), float32[T, N].

    `next_values[t]` is the value of the state transition t led to: of the next stored
    observation, or, where the episode ended at t, of its final observation. A
    termination bootstraps nothing; a truncation bootstraps that final value; and no
    advantage flows back across an episode end (`done`).
    """
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    carry_on = gamma * gae_lambda * (1.0 - done)

    def backwards(following, step):
        delta, keep = step
        advantage = delta + keep * following
        return advantage, advantage

    _, result = jax.lax.scan(backwards, jnp.zeros_like(deltas[0]), (deltas, carry_on), reverse=True)
    return result, result + values
