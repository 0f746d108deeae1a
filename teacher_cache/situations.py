"""Situations: what the memory map shows, as the authors' mediator words it.

A situation is which keys and doors have been seen and are not carried, and what the
agent holds, rendered as `Agent sees <key>, <door>, holds <nothing>.`. SimpleDoorKey
and LavaDoorKey leave colours out (one key, one door); ColoredDoorKey names them and
abstracts them to `color1`/`color2` in order of mention, as the authors' planner does,
so two concrete situations can share one text (and one row of the LLM's table).

Keys are mentioned before doors, and several keys in the authors' scan order: by x,
then y. Each task has a finite vocabulary of concrete situations; `situation_id` maps
a memory map to its index in JAX.
"""

import dataclasses
import functools
import itertools
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs import codes

ANY_COLOUR = len(codes.COLOUR_NAMES)  # an object named without a colour
COLOUR_PATTERN = re.compile(r"\b(" + "|".join(codes.COLOUR_NAMES) + r")\b")


@dataclasses.dataclass(frozen=True)
class Thing:
    """A key or door as the situation names it: its object code and colour (ANY_COLOUR if unnamed)."""

    kind: int
    colour: int

    @property
    def text(self) -> str:
        noun = codes.OBJECT_NAMES[self.kind]
        return noun if self.colour == ANY_COLOUR else f"{codes.COLOUR_NAMES[self.colour]} {noun}"


@dataclasses.dataclass(frozen=True)
class Situation:
    """One concrete situation: what is seen (in order of mention) and what is held."""

    seen: tuple[Thing, ...]
    held: Thing | None

    @property
    def concrete_text(self) -> str:
        seen = ", ".join(f"<{thing.text}>" for thing in self.seen) or "<nothing>"
        held = f"<{self.held.text}>" if self.held else "<nothing>"
        return f"Agent sees {seen}, holds {held}."

    @property
    def colour_order(self) -> tuple[str, ...]:
        """Colour names in order of first mention: colour_order[0] is `color1`."""
        return tuple(dict.fromkeys(COLOUR_PATTERN.findall(self.concrete_text)))

    @property
    def text(self) -> str:
        """The text the LLM is asked about, colours abstracted to color1/color2."""
        text = self.concrete_text
        for i, colour in enumerate(self.colour_order):
            text = re.sub(rf"\b{colour}\b", f"color{i + 1}", text)
        return text


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """A task's situations and the things they can name."""

    name: str
    things: tuple[Thing, ...]  # the keys and doors of the task, in mention order (keys first)
    situations: tuple[Situation, ...]
    colours_named: bool

    @property
    def texts(self) -> tuple[str, ...]:
        """The distinct (abstracted) situation texts, in order of first appearance."""
        return tuple(dict.fromkeys(s.text for s in self.situations))


def _enumerate(things: tuple[Thing, ...]) -> tuple[Situation, ...]:
    """Every combination of held (at most one key) and seen (any subset of the rest), with every
    order in which several seen keys can be mentioned."""
    keys = [t for t in things if t.kind == codes.KEY]
    doors = [t for t in things if t.kind == codes.DOOR]
    situations = []
    for held in [None, *keys]:
        free_keys = [k for k in keys if k != held]
        for num_keys in range(len(free_keys) + 1):
            for key_order in itertools.permutations(free_keys, num_keys):
                for num_doors in range(len(doors) + 1):
                    for seen_doors in itertools.combinations(doors, num_doors):
                        situations.append(Situation(tuple(key_order) + seen_doors, held))
    return tuple(situations)


def _vocabulary(name: str, things: tuple[Thing, ...], colours_named: bool) -> Vocabulary:
    return Vocabulary(name, things, _enumerate(things), colours_named)


DOORKEY = _vocabulary("doorkey-v1", (Thing(codes.KEY, ANY_COLOUR), Thing(codes.DOOR, ANY_COLOUR)), False)
COLORED_DOORKEY = _vocabulary(
    "coloreddoorkey-v1",
    (Thing(codes.KEY, codes.RED), Thing(codes.KEY, codes.BLUE), Thing(codes.DOOR, codes.BLUE)),
    True,
)
VOCABULARIES = {"SimpleDoorKey": DOORKEY, "LavaDoorKey": DOORKEY, "ColoredDoorKey": COLORED_DOORKEY}


def vocabulary(task: str) -> Vocabulary:
    """The situation vocabulary of a task; a clear error for a task without one."""
    if task not in VOCABULARIES:
        raise ValueError(f"no teacher situations for task {task!r}; the teacher exists for {', '.join(VOCABULARIES)}")
    return VOCABULARIES[task]


def batch_last(observation: jax.Array) -> jax.Array:
    """uint8[H, W, 4, B] from memory maps [..., H, W, 4]: the batch as the minor axis, so that
    XLA's CPU loops run along it (the teacher's functions all take this layout)."""
    height, width, channels = observation.shape[-3:]
    flat = observation.reshape(-1, height * width, channels)
    if channels > 4:
        return jnp.moveaxis(flat.reshape(-1, height, width, channels), 0, -1)
    # A cell's channels packed into one 32-bit word, the words transposed once, then each channel
    # unpacked: transposing bytes straight from [B, ...] to [..., B], XLA's CPU backend read them a
    # cache line apiece, again in each function that reads the maps (the prior 25% slower). The
    # transpose goes through [B, 1, H * W]: a 2-D one XLA turns into a change of layout, which
    # leaves the strided reads to the unpacking (12% slower).
    words = functools.reduce(jnp.bitwise_or, [flat[..., i].astype(jnp.uint32) << (8 * i) for i in range(channels)])
    words = jax.lax.optimization_barrier(words[:, None].transpose(2, 0, 1).reshape(height * width, -1))  # [H * W, B]
    unpacked = [(words >> (8 * i)).astype(jnp.uint8) for i in range(channels)]  # the low byte of each
    return jnp.stack(unpacked, axis=1).reshape(height, width, channels, -1)


def at_agent(maps: jax.Array) -> jax.Array:
    """bool[H, W, B]: the agent's cell (where channel 3 holds a direction)."""
    return maps[:, :, 3] != codes.NO_DIRECTION


def thing_cells(maps: jax.Array, thing: Thing) -> jax.Array:
    """bool[H, W, B]: cells where the memory map shows `thing`, not counting what the agent holds."""
    matches = maps[:, :, 0] == thing.kind
    if thing.colour != ANY_COLOUR:
        matches &= maps[:, :, 1] == thing.colour
    return matches & ~at_agent(maps)


class Sight(NamedTuple):
    """What the teacher reads off a batch of memory maps, per thing of the vocabulary."""

    cells: tuple[jax.Array, ...]  # bool[H, W, B]: cells showing the thing (not held)
    visible: tuple[jax.Array, ...]  # bool[B]: the thing is seen and not held
    held: tuple[jax.Array, ...]  # bool[B]: the agent holds the thing
    first: tuple[jax.Array, ...]  # uint8[B]: the authors' scan position (x, then y) of its first cell


def look(vocab: Vocabulary, maps: jax.Array) -> Sight:
    """The things of `vocab` on memory maps uint8[H, W, 4, B]."""
    height, width = maps.shape[:2]
    ys, xs = jnp.indices((height, width))
    order = (xs * height + ys).astype(jnp.uint8)[:, :, None]  # grids up to 15x15
    held_cell = jnp.where(at_agent(maps)[:, :, None], maps[:, :, :3], 0).max(axis=(0, 1))
    cells, visible, held, first = [], [], [], []
    for thing in vocab.things:
        thing_here = thing_cells(maps, thing)
        holding = held_cell[0] == thing.kind
        if thing.colour != ANY_COLOUR:
            holding &= held_cell[1] == thing.colour
        first_cell = jnp.where(thing_here, order, jnp.uint8(height * width)).min(axis=(0, 1))
        cells.append(thing_here)
        visible.append(first_cell < height * width)  # one reduction for both
        held.append(holding)
        first.append(first_cell)
    return Sight(tuple(cells), tuple(visible), tuple(held), tuple(first))


def situation_ids(vocab: Vocabulary, sight: Sight) -> jax.Array:
    """int32[B]: the index in `vocab.situations` of what each memory map shows."""
    matches = []
    for situation in vocab.situations:
        match = jnp.ones_like(sight.visible[0])
        for i, thing in enumerate(vocab.things):
            match &= sight.visible[i] == (thing in situation.seen)
            match &= sight.held[i] == (situation.held == thing)
        keys = [vocab.things.index(t) for t in situation.seen if t.kind == codes.KEY]
        for earlier, later in zip(keys, keys[1:]):
            match &= sight.first[earlier] < sight.first[later]
        matches.append(match)
    return jnp.argmax(jnp.stack(matches), axis=0).astype(jnp.int32)


def situation_id(vocab: Vocabulary, observation: jax.Array) -> jax.Array:
    """int32[...]: situation ids of memory maps [..., H, W, 4] (any batch shape, jittable)."""
    return situation_ids(vocab, look(vocab, batch_last(observation))).reshape(observation.shape[:-3])
