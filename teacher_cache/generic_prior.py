"""What a navix task's memory maps show the generic teacher: `reading(task)`, the table-free half of the prior.

`prior.reader` serves both kinds of task: it reads a navix id's maps with the generic situations and
options here and our three tasks' with theirs, then `prior.plans` looks each plan up in the table.
"""

from typing import Callable

import jax

from teacher_cache.generic_options import option_table
from teacher_cache.options import packed_options
from teacher_cache.task_vocabulary import look, situation_ids, vocabulary


def reading(task: str) -> tuple[tuple[int, int, int], Callable[[jax.Array], tuple[jax.Array, jax.Array]]]:
    """(the shape of navix task `task`'s memory maps, `read_maps`): `read_maps(maps)` gives, for maps
    uint8[H, W, 4, B] (batch-last), each map's situation int32[B] and the action of every option on it
    (+ 8 where it is done) packed for `options.plan_actions`."""
    vocab = vocabulary(task)

    def read_maps(maps: jax.Array) -> tuple[jax.Array, jax.Array]:
        sight = look(vocab, maps)
        return situation_ids(vocab, sight), packed_options(*option_table(vocab, sight, maps))

    return (vocab.objects.height, vocab.objects.width, 4), read_maps
