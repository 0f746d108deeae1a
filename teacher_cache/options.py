"""The hand-written options, as JAX functions of the memory map.

- *go to X*: head for the nearest state facing a cell showing X; done when facing it.
  One search per memory map serves every go-to: a breadth-first search from the agent
  over (cell, direction) with MiniGrid's left/right/forward, entering only cells the map
  shows as empty, goal, lava or open door, grown one step at a time for each first
  action apart, one bit a map: until nothing more is reachable, or on a GPU as many
  steps as a path can take.
- *explore*: the authors' heuristic (their `skill/explore.py`), reproduced with its
  quirks: turn away from a key, ball or box ahead; else forward, left, right or left
  again as unseen cells lie ahead, to the left, to the right or behind, counted in
  room-wide slices bounded by the room's extent as their scan reads it off the map;
  done when no slice holds an unseen cell.
- *pick up X / drop X / open X*: pickup / drop / toggle (if X is known); *wait*: done (6).

The search runs on the room's possible interior (the grid less its border: rooms sit
at the top-left corner, so their walls, door and the never-seen outside are all that
the border can hold) and on maps laid out batch-last, uint8[H, W, 4, B], so that XLA's
CPU loops run along the batch (measured: 3x faster than vmapping a single-map search).
The search packs eight maps into a byte, so a step of it is a few shifts, ands and ors
on one uint8[4 directions, H-2, W-2, 3 first actions, B / 8].
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs import codes, view
from teacher_cache.situations import Sight, at_agent

# Paths of this many steps or more count as unreachable (none inside a 10x10 room with a few
# obstacles comes near).
MAX_STEPS = 50
# The first actions of a path, in the order that breaks ties between equally short paths.
FIRST_ACTIONS = (codes.LEFT, codes.RIGHT, codes.FORWARD)
assert FIRST_ACTIONS == tuple(range(3))
# Maps per byte in the search: one bit a map.
LANES = 8
STEP_BITS = MAX_STEPS.bit_length()
# Rows of the option table: the verbs in the order of `plans.ALL_VERBS`
# (explore, go to, pick up, drop, open, wait).
NUM_VERBS = 6


class Found(NamedTuple):
    """The go-to search's findings so far, packed: uint8[T, B / 8] each."""

    any: jax.Array  # the goal is faced by a state reached
    right: jax.Array  # ... first by a path starting with a right turn
    forward: jax.Array  # ... first by one starting with forward (or already facing it)
    steps: tuple[jax.Array, ...]  # the bits of the step count where it was first faced


def enterable(maps: jax.Array) -> jax.Array:
    """bool[H, W, B]: cells a path may enter (empty, goal, lava, open door) and the agent's own."""
    obj = maps[:, :, 0]
    open_door = (obj == codes.DOOR) & (maps[:, :, 2] == codes.OPEN)
    return (obj == codes.EMPTY) | (obj == codes.GOAL) | (obj == codes.LAVA) | open_door | at_agent(maps)


def shift(cells: jax.Array, direction: int, fill) -> jax.Array:
    """cells[H, W, ...] moved one step along `direction` (out[p] = cells[p - v]), `fill` coming in."""
    dx, dy = (int(v) for v in codes.DIRECTION_VECTORS[direction])
    height, width = cells.shape[:2]
    padded = jnp.pad(cells, ((1, 1), (1, 1)) + ((0, 0),) * (cells.ndim - 2), constant_values=fill)
    return padded[1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]


def pack(cells: jax.Array) -> jax.Array:
    """uint8[..., ceil(B / 8)] of bool[..., B]: bit i of byte w is map 8w + i (missing maps are 0)."""
    batch = cells.shape[-1]
    cells = jnp.pad(cells, ((0, 0),) * (cells.ndim - 1) + ((0, -batch % LANES),))
    cells = cells.reshape(cells.shape[:-1] + (-1, LANES))
    return jnp.where(cells, jnp.uint8(1) << jnp.arange(LANES, dtype=jnp.uint8), jnp.uint8(0)).sum(-1, jnp.uint8)


def unpack(words: jax.Array, batch: int) -> jax.Array:
    """bool[..., batch] of `pack`'s bytes."""
    bits = (words[..., None] >> jnp.arange(LANES, dtype=jnp.uint8)) & 1
    return bits.reshape(words.shape[:-1] + (-1,))[..., :batch].astype(bool)


def fold_or(words: jax.Array, axes: int) -> jax.Array:
    """The bitwise or over the leading `axes` axes, folded in halves: elementwise ors, which XLA's CPU
    backend runs along the minor axis (its loop for an or-`reduce` over major axes is far slower)."""
    words = words.reshape((-1,) + words.shape[axes:])
    while len(words) > 1:
        if len(words) % 2:
            words = jnp.concatenate([words[:1] | words[-1:], words[1:-1]])
        words = words[: len(words) // 2] | words[len(words) // 2 :]
    return words[0]


def go_to_search(maps: jax.Array, goals: tuple[jax.Array, ...],
                 fixed_steps: bool | None = None) -> tuple[jax.Array, jax.Array]:
    """(steps int32[T, B], first action int32[T, B]): for each of the goal masks bool[H, W, B], the
    fewest of MiniGrid's left/right/forward to stand facing one of its cells, entering only `enterable`
    cells of the interior, and the first action of such a path (ties: left, then right, then forward;
    forward if already facing one); steps = MAX_STEPS where no path is shorter.

    A breadth-first search over (cell, direction), one bit a map: the states reachable within k steps
    by a path starting with each first action are one byte array uint8[4 directions, H-2, W-2, 3 first
    actions, B / 8]. It grows one step at a time; a goal that it faces for the first time after k steps
    is reached in k steps, by the lowest first action that reaches it then.

    `fixed_steps`: grow it as many steps as a path can take (a loop of known trip count) rather than
    until nothing more is reachable; the same answers. None: fixed on a GPU only, whose XLA backend reads
    a loop's condition back on the host at every step; elsewhere stopping early is faster
    (`bench.go_to_search` times both).
    """
    if fixed_steps is None:
        fixed_steps = jax.default_backend() == "gpu"
    height, width, _, batch = maps.shape
    inner = maps[1:-1, 1:-1]
    agent = at_agent(inner)
    heading = jnp.where(agent, inner[:, :, 3], 0).max(axis=(0, 1))
    # Packed a few at a time (a pack is a pass over the maps); shifts commute with packing.
    free, agent = jnp.moveaxis(pack(jnp.stack([enterable(inner), agent], axis=2)), 2, 0)
    start = (agent & pack(heading == jnp.arange(4)[:, None])[:, None, None])[:, :, :, None]
    goal_words = jnp.moveaxis(pack(jnp.stack(goals, axis=2)), 2, 0)
    # uint8[4, H-2, W-2, T, 1, B / 8], the states facing each goal: standing at p facing d, the goal lies at p + v(d).
    facing = jnp.stack([jnp.stack([shift(goal, (d + 2) % 4, 0)[1:-1, 1:-1] for goal in goal_words], axis=2)
                        for d in range(4)])[:, :, :, :, None]
    free = free[None, :, :, None]

    def moved(states):  # each direction's states one cell forward, where it is free
        return jnp.stack([shift(states[d], d, 0) for d in range(4)]) & free

    def faced(states):  # uint8[T, first actions, B / 8]: maps where a state of each first action faces each goal
        return fold_or(states[:, :, :, None] & facing, 3)

    def record(k, reached, found):
        # Kept packed until the end: which goals are found, by which first action, and the step
        # count in binary, one byte array a bit.
        hit = faced(reached)
        new = (hit[:, 0] | hit[:, 1] | hit[:, 2]) & ~found.any
        right = found.right | (new & ~hit[:, 0] & hit[:, 1])
        forward = found.forward | (new & ~hit[:, 0] & ~hit[:, 1])
        bits = tuple(jnp.where((k >> j) & 1 == 1, bit | new, bit) for j, bit in enumerate(found.steps))
        return Found(found.any | new, right, forward, bits)

    def one_step(k, reached, found):  # the states within k steps, from those within k - 1
        grown = reached | jnp.roll(reached, 1, axis=0) | jnp.roll(reached, -1, axis=0) | moved(reached)
        return grown, record(k, grown, found)

    def growing(carry):
        return (carry[0] < MAX_STEPS - 1) & carry[-1]

    def until_done(carry):
        k, reached, found, _ = carry
        grown, found = one_step(k + 1, reached, found)
        # Forward's states hold the start itself, so once they stop growing they hold every reachable
        # state, and every goal that can be faced has been.
        more = fold_or(grown[:, :, :, 2] ^ reached[:, :, :, 2], 4)
        return k + 1, grown, found, more > 0

    # After one step, in FIRST_ACTIONS order: turned left, turned right, or the start and the cell ahead.
    reached = jnp.concatenate([jnp.roll(start, -1, axis=0), jnp.roll(start, 1, axis=0), start | moved(start)], axis=3)
    facing_now = faced(start)[:, 0]
    none = jnp.zeros_like(facing_now)
    found = record(jnp.int32(1), reached, Found(facing_now, none, facing_now, (none,) * STEP_BITS))
    if fixed_steps:
        # A shortest path passes no state twice: it takes fewer steps than there are states.
        last = min(MAX_STEPS - 1, 4 * (height - 2) * (width - 2) - 1)
        _, found = jax.lax.fori_loop(2, last + 1, lambda k, carry: one_step(k, *carry), (reached, found))
    else:
        _, _, found, _ = jax.lax.while_loop(growing, until_done, (jnp.int32(1), reached, found, jnp.bool_(True)))
    steps = sum(unpack(bit, batch).astype(jnp.int32) << j for j, bit in enumerate(found.steps))
    steps = jnp.where(unpack(found.any, batch), steps, MAX_STEPS)
    first = jnp.where(unpack(found.right, batch), codes.RIGHT, codes.LEFT)
    return steps, jnp.where(unpack(found.forward | ~found.any, batch), codes.FORWARD, first)


def room_extent(objects: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(bot_x, bot_y) int32[B]: the room's extent as the authors' explore reads it off the objects uint8[H, W, B].

    Their scan visits the cells x = 1..W-2, then y = 1..H-2: the first wall or door with
    another just below it sets bot_x = x + 1; failing that, the first with another just to
    its right sets bot_y = y + 1 (so the cell that set bot_x cannot also set bot_y).
    Either stays the grid's size if no cell sets it.
    """
    height, width = objects.shape[:2]
    wall = (objects == codes.WALL) | (objects == codes.DOOR)
    here, below, right = wall[1:-1, 1:-1], wall[2:, 1:-1], wall[1:-1, 2:]
    ys, xs = jnp.indices((height - 2, width - 2)) + 1
    order = (xs * height + ys).astype(jnp.uint8)[:, :, None]  # the scan's order; grids up to 15x15
    never = jnp.uint8(255)
    first_column = jnp.where(here & below, order, never).min(axis=(0, 1))
    first_row = jnp.where(here & right & (order != first_column), order, never).min(axis=(0, 1))
    bot_x = jnp.where(first_column < never, first_column // height + 1, width)
    bot_y = jnp.where(first_row < never, first_row % height + 1, height)
    return bot_x.astype(jnp.int32), bot_y.astype(jnp.int32)


def highest_bit(words: jax.Array, none: int = 0) -> jax.Array:
    """int32: the index of the highest set bit of uint32 `words` (`none` where no bit is set)."""
    return jnp.where(words == 0, none, 31 - jax.lax.clz(words).astype(jnp.int32))


def lowest_bit(words: jax.Array, none: int = 0) -> jax.Array:
    """int32: the index of the lowest set bit of uint32 `words` (`none` where no bit is set)."""
    return highest_bit(words & (~words + 1), none)


def explore(maps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action int32[B], done bool[B]): the authors' explore on memory maps uint8[H, W, 4, B].

    On a CPU its cost is its passes over the maps, so it makes few: one plane of what it reads; a
    reduction each for the agent's cell and heading; the objects around the agent gathered, not
    reduced from shifted maps; the room's extent; and the unseen cells as bits, a word per row and per
    column, from which the furthest unseen cell each way is a bit's index (0.25 ms per 1,024 maps
    with a masked reduction for each of these, 0.10 now; the same actions, tests/test_options.py)."""
    height, width, _, batch = maps.shape
    # One plane holds all that explore reads: the objects, and at the agent's cell AGENT + its direction.
    # Kept apart by the barrier, it is laid out batch-minor once, not re-read from the maps' own layout
    # by every pass below.
    plane = jax.lax.optimization_barrier(jnp.where(at_agent(maps), codes.AGENT + maps[:, :, 3], maps[:, :, 0]))
    agent = plane >= codes.AGENT
    objects = jnp.minimum(plane, jnp.uint8(codes.AGENT))
    ys, xs = jnp.indices((height, width))
    place = (ys * width + xs).astype(jnp.uint8)[:, :, None]  # grids up to 16x16
    cell = jnp.where(agent, place, 0).max(axis=(0, 1)).astype(jnp.int32)
    direction = jnp.where(agent, plane - codes.AGENT, 0).max(axis=(0, 1)).astype(jnp.int32)
    x, y = cell % width, cell // width
    cells = objects.reshape(height * width, batch)
    # The object each way (the agent never stands on the border, so each neighbour is on the grid).
    around = jnp.stack([jnp.take_along_axis(cells, (cell + int(dy) * width + int(dx))[None], axis=0)[0]
                        for dx, dy in codes.DIRECTION_VECTORS]).astype(jnp.int32)
    bot_x, bot_y = room_extent(objects)
    # Their slices of the room's extent [0, bot_x) x [0, bot_y) cut along a heading to the cells from
    # 2 on: heading east x >= x + 2, south y >= y + 2; west x < x - 1 and north y < y - 1, which
    # replace (not narrow) bot_x and bot_y. Each holds an unseen cell if the unseen cell
    # furthest that way lies in it: bit x of a row's word, bit y of a column's, is that cell unseen.
    unseen = (objects == codes.UNSEEN).astype(jnp.uint32)
    row_words = (unseen << xs.astype(jnp.uint32)[:, :, None]).sum(axis=1, dtype=jnp.uint32)  # [H, B]
    column_words = (unseen << ys.astype(jnp.uint32)[:, :, None]).sum(axis=0, dtype=jnp.uint32)  # [W, B]
    above_bot_y = fold_or(jnp.where(jnp.arange(height)[:, None] < bot_y, row_words, 0), 1)  # columns x with one
    left_of_bot_x = fold_or(jnp.where(jnp.arange(width)[:, None] < bot_x, column_words, 0), 1)  # rows y with one
    below = lambda n: (jnp.uint32(1) << n.astype(jnp.uint32)) - 1
    none = 255
    west_most, east_most = lowest_bit(above_bot_y, none), highest_bit(above_bot_y & below(bot_x))
    north_most, south_most = lowest_bit(left_of_bot_x, none), highest_bit(left_of_bot_x & below(bot_y))

    def unseen_towards(heading, x, y):
        east, south = east_most >= x + 2, south_most >= y + 2
        west, north = (west_most < x - 1) & (west_most != none), (north_most < y - 1) & (north_most != none)
        return jnp.choose(heading, [east, south, west, north], mode="clip")

    def towards(values, heading):
        return jnp.take_along_axis(values, heading[None], axis=0)[0]

    def one_of(objects, kinds):
        return jnp.stack([objects == kind for kind in kinds]).any(axis=0)

    left, right, behind = (direction + 3) % 4, (direction + 1) % 4, (direction + 2) % 4
    forward, _ = view.heading(direction)
    ahead_x, ahead_y = x + forward[:, 0], y + forward[:, 1]
    movable = (codes.KEY, codes.BALL, codes.BOX)  # lava ahead is walked into
    blocked_left = one_of(towards(around, left), (codes.WALL, codes.DOOR) + movable)
    reasons = [
        one_of(towards(around, direction), movable),
        unseen_towards(direction, x, y),
        unseen_towards(left, x, y),
        unseen_towards(right, x, y),
        unseen_towards(behind, ahead_x, ahead_y),  # counted from the cell ahead, as theirs does
    ]
    turn_away = jnp.where(blocked_left, codes.RIGHT, codes.LEFT)
    action = jnp.select(reasons, [turn_away, codes.FORWARD, codes.LEFT, codes.RIGHT, codes.LEFT], codes.DONE)
    return action.astype(jnp.int32), ~jnp.stack(reasons).any(axis=0)


def option_table(sight: Sight, maps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action int32[6, T + 1, B], done bool[6, T + 1, B]) of every option (verb, thing).

    Column t is the vocabulary's thing t (as `sight` saw it); the last column is "no object". An option that is
    done hands over to the next one of its plan; one that is not done acts.
    """
    batch = maps.shape[-1]
    steps_to, first_actions = go_to_search(maps, sight.cells)
    explore_action, explore_done = explore(maps)
    never = jnp.zeros(batch, bool)
    wait = jnp.full(batch, codes.DONE, jnp.int32)

    actions, done = [], []
    for visible, held, steps, first in zip(sight.visible, sight.held, steps_to, first_actions):
        known = visible | held
        reachable = visible & (steps < MAX_STEPS)
        actions.append([
            explore_action,
            jnp.where(reachable, first, codes.DONE),
            jnp.where(known, codes.PICKUP, codes.DONE),
            jnp.where(known, codes.DROP, codes.DONE),
            jnp.where(known, codes.TOGGLE, codes.DONE),
            wait,
        ])
        done.append([explore_done, visible & (steps == 0), never, never, never, never])
    actions.append([explore_action] + [wait] * 5)
    done.append([explore_done] + [never] * 5)
    action_table = jnp.stack([jnp.stack(column) for column in actions], axis=1).astype(jnp.int32)
    done_table = jnp.stack([jnp.stack(column) for column in done], axis=1)
    return action_table, done_table


def packed_options(action_table: jax.Array, done_table: jax.Array) -> jax.Array:
    """int32[B, 6 * C]: `option_table`'s tables as one row per map, each option's action plus 8 where it is done
    (one gather for both in `plan_actions`)."""
    return (action_table + 8 * done_table).reshape(-1, action_table.shape[-1]).T


def plan_actions(options: jax.Array, verbs: jax.Array, things: jax.Array) -> jax.Array:
    """int32[B, P]: each plan's action, that of its first option not yet done (6 if all are).

    `options`: `packed_options` int32[B, 6 * C]; `verbs`, `things`: int32[B, P, L], each option's verb and
    thing column.
    """
    batch, plans, length = verbs.shape
    columns = options.shape[1] // NUM_VERBS
    combo = (verbs * columns + things).reshape(batch, plans * length)
    chosen_options = jnp.take_along_axis(options, combo, axis=1).reshape(verbs.shape)
    chosen = jnp.full((batch, plans), codes.DONE, chosen_options.dtype)
    for position in reversed(range(length)):  # ends at the first option not done
        chosen = jnp.where(chosen_options[..., position] >= 8, chosen, chosen_options[..., position])
    return chosen
