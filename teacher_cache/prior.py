"""The teacher's action prior π_T(a|o): a pure, jittable function of the memory map and the table.

Soft teacher: π_T(a|o) = Σ_plan P(plan | situation(o)) · onehot(action of plan on o).
Hard teacher: one plan drawn from P(plan | situation(o)), its action one-hot.

The work splits in two: what the maps show (each map's situation and the action of every option on
it: the go-to search, explore) does not depend on the table; each plan's action and weight is then
a lookup in the table. So a batch of tables (members of a run taught by different tables) shares
the first part, and only the lookup is batched over them.
"""

import functools

import jax
import jax.numpy as jnp
from jax import custom_batching
from jax.sharding import Mesh, PartitionSpec

from envs import codes
from teacher_cache import generic_prior
from teacher_cache.options import option_table, packed_options, plan_actions
from teacher_cache.situations import VOCABULARIES, batch_last, look, situation_ids, vocabulary
from teacher_cache.table import Table


@functools.cache
def reader(task: str):
    """`read(observation) -> (situation int32[...], options int32[..., O])` for memory maps uint8[..., H, W, 4]
    of `task`: each map's situation, and the action of every option on it (+ 8 where the option is done),
    packed for `options.plan_actions`. Its `vmap` over the maps is a larger batch of maps: batched by JAX's
    rules, the go-to search's `while_loop` would become a loop that selects, at every step, between the
    states of the slices still searching and those done (the prior 1.7x slower on a CPU). A navix id's maps
    are read by the generic teacher (`generic_prior.reading`), whose maps have the task's own size."""
    if task in VOCABULARIES:
        vocab, shape = vocabulary(task), None

        def read_maps(maps: jax.Array) -> tuple[jax.Array, jax.Array]:
            sight = look(vocab, maps)
            return situation_ids(vocab, sight), packed_options(*option_table(sight, maps))
    else:
        shape, read_maps = generic_prior.reading(task)

    @custom_batching.custom_vmap
    def read(observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        if shape is not None and observation.shape[-3:] != shape:
            raise ValueError(f"{task}'s memory maps are uint8{list(shape)}, not {list(observation.shape[-3:])}")
        situations, options = read_maps(batch_last(observation))
        batch_shape = observation.shape[:-3]
        return situations.reshape(batch_shape), options.reshape(batch_shape + options.shape[1:])

    @read.def_vmap
    def _read_vmap(axis_size, in_batched, observation):
        return read(observation), (True, True)  # the maps are batched: one more leading axis of them

    return read


def plans(table: Table, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action int32[..., P], probability float32[..., P]) of each plan of the situation of memory maps
    uint8[..., H, W, 4]."""
    situation, options = reader(table.task)(observation)
    batch_shape = situation.shape
    flat = situation.reshape(-1)
    actions = plan_actions(options.reshape((-1,) + options.shape[len(batch_shape):]), table.verbs[flat],
                           table.things[flat])
    return (actions.reshape(batch_shape + actions.shape[1:]),
            table.probabilities[flat].reshape(batch_shape + table.probabilities.shape[1:]))


def draw_plan(key: jax.Array, weights: jax.Array) -> jax.Array:
    """int32[...]: a plan drawn with probabilities `weights` [..., P], by inverting their cumulative sum at one
    uniform number per map: a plan of weight 0 is never drawn, and plans of weight 0 appended to a table
    (to stack it with a longer one) change no draw."""
    cumulative = jnp.cumsum(weights, axis=-1)
    total = cumulative[..., -1:]
    u = jnp.minimum(jax.random.uniform(key, total.shape) * total, jnp.nextafter(total, 0.0))
    return (cumulative[..., :-1] <= u).sum(-1, dtype=jnp.int32)


def prior(table: Table, observation: jax.Array, hard: bool | jax.Array = False, key: jax.Array | None = None,
          mesh: Mesh | None = None) -> jax.Array:
    """float32[..., 7]: the teacher's action distribution for memory maps uint8[..., H, W, 4].

    Any leading batch shape works, and a whole batch is best passed at once (the search
    inside runs along the batch; a `vmap` over the maps is folded into that batch).
    `hard` (True, or a traced flag) draws one plan per map with the PRNG `key`. Maps whose axis 0 is
    split over the devices of a one-axis `mesh` are searched on each device alone (`shard_map`): left to
    GSPMD, the packed search gathered the maps of every device at each step of its loop.
    """
    if hard is not False and key is None:
        raise ValueError("the hard teacher draws a plan: pass key=jax.random.PRNGKey(...)")
    find = plans
    if mesh is not None and mesh.size > 1:
        split = PartitionSpec(mesh.axis_names)
        # No collective inside, so nothing for the varying-axes check to find (its loops' constant carries fail it).
        find = jax.shard_map(plans, mesh=mesh, in_specs=(PartitionSpec(), split), out_specs=(split, split),
                             check_vma=False)
    actions, weights = find(table, jnp.asarray(observation))
    if hard is not False:
        drawn = jax.nn.one_hot(draw_plan(key, weights), weights.shape[-1], dtype=jnp.float32)
        weights = drawn if hard is True else jnp.where(hard, drawn, weights)
    # Each plan's weight added to its action's, plan by plan: one elementwise pass (a one-hot product took
    # 0.05 ms per 1,024 maps on a CPU, 8% of the prior).
    every_action = jnp.arange(codes.NUM_ACTIONS)
    return sum(jnp.where(actions[..., p, None] == every_action, weights[..., p, None], 0.0)
               for p in range(actions.shape[-1]))
