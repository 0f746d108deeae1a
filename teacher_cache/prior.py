"""The teacher's action prior π_T(a|o): a pure, jittable function of the memory map and the table.

Soft teacher: π_T(a|o) = Σ_plan P(plan | situation(o)) · onehot(action of plan on o).
Hard teacher: one plan drawn from P(plan | situation(o)), its action one-hot.
"""

import jax
import jax.numpy as jnp

from envs import codes
from teacher_cache.options import option_table, plan_actions
from teacher_cache.situations import batch_last, look, situation_ids
from teacher_cache.table import Table


def prior(table: Table, observation: jax.Array, hard: bool = False, key: jax.Array | None = None) -> jax.Array:
    """float32[..., 7]: the teacher's action distribution for memory maps uint8[..., H, W, 4].

    Any leading batch shape works, and a whole batch is best passed at once (the search
    inside runs along the batch). `hard=True` needs a PRNG `key` to draw the plans.
    """
    if hard and key is None:
        raise ValueError("the hard teacher draws a plan: pass key=jax.random.PRNGKey(...)")
    maps = batch_last(jnp.asarray(observation))
    sight = look(table.vocabulary, maps)
    situation = situation_ids(table.vocabulary, sight)
    action_table, done_table = option_table(sight, maps)
    actions = plan_actions(action_table, done_table, table.verbs[situation], table.things[situation])
    weights = table.probabilities[situation]
    if hard:
        chosen = jax.random.categorical(key, jnp.log(weights), axis=-1)
        weights = jax.nn.one_hot(chosen, weights.shape[-1], dtype=jnp.float32)
    distribution = jnp.einsum("bp,bpa->ba", weights, jax.nn.one_hot(actions, codes.NUM_ACTIONS, dtype=jnp.float32))
    return distribution.reshape(observation.shape[:-3] + (codes.NUM_ACTIONS,))
