"""What a navix task's memory maps show the generic teacher: `reader(task)`, the table-free half of the prior.

`prior.prior` serves both kinds of task: it hands a navix id's maps to `reader` here (the generic
situations and options) and our three tasks' to `prior.reader`, then looks each plan up in the table.
"""

import functools

import jax
from jax import custom_batching

from teacher_cache.generic_options import option_table
from teacher_cache.options import packed_options
from teacher_cache.situations import batch_last
from teacher_cache.task_vocabulary import look, situation_ids, vocabulary


@functools.cache
def reader(task: str):
    """`read(observation) -> (situation int32[...], options int32[..., O])` for memory maps uint8[..., H, W, 4]
    of navix task `task`: each map's situation, and the action of every option on it (+ 8 where it is done),
    packed for `options.plan_actions`. Its `vmap` over the maps is a larger batch of maps, as `prior.reader`'s."""
    vocab = vocabulary(task)
    shape = (vocab.objects.height, vocab.objects.width, 4)

    @custom_batching.custom_vmap
    def read(observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        if observation.shape[-3:] != shape:
            raise ValueError(f"{task}'s memory maps are uint8{list(shape)}, not {list(observation.shape[-3:])}")
        maps = batch_last(observation)
        sight = look(vocab, maps)
        batch_shape = observation.shape[:-3]
        options = packed_options(*option_table(vocab, sight, maps))
        return situation_ids(vocab, sight).reshape(batch_shape), options.reshape(batch_shape + options.shape[1:])

    @read.def_vmap
    def _read_vmap(axis_size, in_batched, observation):
        return read(observation), (True, True)  # the maps are batched: one more leading axis of them

    return read
