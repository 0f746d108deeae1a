"""The hand-written options, as JAX functions of the memory map.

- *go to X*: head for the nearest state facing a cell showing X; done when facing it.
  One shortest-path search per memory map serves every go-to: a breadth-first search
  from the agent over (cell, direction) with MiniGrid's left/right/forward, entering
  only cells the map shows as empty, goal, lava or open door, that labels each
  reachable state with the first action of a shortest path to it.
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
"""

import jax
import jax.numpy as jnp

from envs import codes
from teacher_cache.situations import Sight, at_agent

# A state's search value packs its distance and the first action of a path to it,
# 4 * steps + action, so one `min` keeps both (ties go to the lower action). uint8
# values keep the loops narrow: paths longer than 49 steps count as unreachable,
# which no path inside a 10x10 room with a few obstacles comes near.
UNREACHABLE = 200
PACK = 4
# Rows of the option table: the verbs in the order of `plans.ALL_VERBS`
# (explore, go to, pick up, drop, open, wait).
NUM_VERBS = 6


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


def path_search(maps: jax.Array) -> tuple[jax.Array, ...]:
    """Four uint8[H-2, W-2, B] arrays, one per direction: 4 * (fewest steps to stand on each
    interior cell facing that direction) + the first action of such a path."""
    inner = maps[1:-1, 1:-1]
    agent = at_agent(inner)
    agent_dir = jnp.where(agent, inner[:, :, 3], 0).max(axis=(0, 1)).astype(jnp.int32)
    free = enterable(inner)
    unreachable = jnp.uint8(UNREACHABLE)
    one, two = jnp.uint8(PACK), jnp.uint8(2 * PACK)
    # At the start: facing d costs 0 (ahead), 1 (a right or left turn) or 2 (behind).
    start = jnp.array(
        [PACK * 0 + codes.FORWARD, PACK * 1 + codes.RIGHT, PACK * 2 + codes.LEFT, PACK * 1 + codes.LEFT], jnp.uint8
    )
    values = tuple(jnp.where(agent, start[(d - agent_dir) % 4], unreachable) for d in range(4))

    def relax(values):
        moved = [
            jnp.minimum(values[d], jnp.where(free, shift(values[d], d, UNREACHABLE) + one, unreachable))
            for d in range(4)
        ]
        return tuple(
            jnp.minimum(
                jnp.minimum(moved[d], moved[(d + 2) % 4] + two),
                jnp.minimum(moved[(d + 1) % 4], moved[(d + 3) % 4]) + one,
            )
            for d in range(4)
        )

    def unsettled(carry):
        values, previous = carry
        changed = [(v != p).astype(jnp.uint8).max() for v, p in zip(values, previous)]
        return jnp.stack(changed).max() > 0  # uint8 max: a boolean `any` is far slower on CPU

    def step(carry):
        # Two relaxations per convergence check: the check reads everything once more.
        previous = relax(carry[0])
        return relax(previous), previous

    values, _ = jax.lax.while_loop(unsettled, step, (relax(values), values))
    return values


def facing_values(values: tuple[jax.Array, ...]) -> jax.Array:
    """uint8[H, W, B]: for every cell of the grid, the search value of the best state facing it."""
    best = None
    for d in range(4):
        # The state facing p along direction d stands at p - v(d): the values moved one step along d.
        full = jnp.pad(values[d], ((1, 1), (1, 1), (0, 0)), constant_values=UNREACHABLE)
        moved = shift(full, d, UNREACHABLE)
        best = moved if best is None else jnp.minimum(best, moved)
    return best


def nearest(facing: jax.Array, goals: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(steps int32[B], first action int32[B]) to the nearest state facing a cell of `goals`
    (bool[H, W, B]), given `facing_values`; steps ≥ UNREACHABLE // 4 when none is reachable."""
    best = jnp.where(goals, facing, jnp.uint8(UNREACHABLE)).min(axis=(0, 1)).astype(jnp.int32)
    return best // PACK, best % PACK


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


def explore(maps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action int32[B], done bool[B]): the authors' explore on memory maps uint8[H, W, 4, B]."""
    height, width = maps.shape[:2]
    # One plane holds all that explore reads: the objects, and at the agent's cell (which their map
    # shows as "agent", whatever it holds) AGENT + its direction. Kept apart by the barrier, it is
    # laid out batch-minor once, not re-read from the maps' own layout by every reduction below.
    cells = jax.lax.optimization_barrier(jnp.where(at_agent(maps), codes.AGENT + maps[:, :, 3], maps[:, :, 0]))
    agent = cells >= codes.AGENT
    objects = jnp.minimum(cells, jnp.uint8(codes.AGENT))
    ys, xs = (grid.astype(jnp.uint8)[:, :, None] for grid in jnp.indices((height, width)))
    none = jnp.uint8(255)

    def lowest(cells, where):
        return jnp.where(where, cells, none).min(axis=(0, 1)).astype(jnp.int32)

    def highest(cells, where):
        return jnp.where(where, cells, 0).max(axis=(0, 1)).astype(jnp.int32)

    # A few whole-map reductions, then arithmetic on [B]: on CPU the reductions are the cost.
    x, y = highest(xs, agent), highest(ys, agent)
    direction = highest(cells - codes.AGENT, agent)
    around = jnp.stack([highest(objects, shift(agent, d, False)) for d in range(4)])  # the object each way
    bot_x, bot_y = room_extent(objects)
    # Their slices of the room's extent [0, bot_x) x [0, bot_y) cut along a heading to the cells from
    # 2 on: heading east x >= x + 2, south y >= y + 2; west x < x - 1 and north y < y - 1, which
    # replace (not narrow) bot_x and bot_y. Each holds an unseen cell if the unseen cell
    # furthest that way lies in it.
    unseen = objects == codes.UNSEEN
    above_bot_y, left_of_bot_x = unseen & (ys < bot_y), unseen & (xs < bot_x)
    west_most, east_most = lowest(xs, above_bot_y), highest(xs, above_bot_y & (xs < bot_x))
    north_most, south_most = lowest(ys, left_of_bot_x), highest(ys, left_of_bot_x & (ys < bot_y))

    def unseen_towards(heading, x, y):
        east, south = east_most >= x + 2, south_most >= y + 2
        west, north = (west_most < x - 1) & (west_most != none), (north_most < y - 1) & (north_most != none)
        return jnp.choose(heading, [east, south, west, north], mode="clip")

    def towards(values, heading):
        return jnp.take_along_axis(values, heading[None], axis=0)[0]

    def one_of(objects, kinds):
        return jnp.stack([objects == kind for kind in kinds]).any(axis=0)

    left, right, behind = (direction + 3) % 4, (direction + 1) % 4, (direction + 2) % 4
    vectors = jnp.asarray(codes.DIRECTION_VECTORS)
    ahead_x, ahead_y = x + vectors[direction, 0], y + vectors[direction, 1]
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
    facing = facing_values(path_search(maps))
    explore_action, explore_done = explore(maps)
    never = jnp.zeros(batch, bool)
    wait = jnp.full(batch, codes.DONE, jnp.int32)

    actions, done = [], []
    for cells, visible, held in zip(sight.cells, sight.visible, sight.held):
        known = visible | held
        steps, first = nearest(facing, cells)
        reachable = visible & (steps < UNREACHABLE // PACK)
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


def plan_actions(
    action_table: jax.Array, done_table: jax.Array, verbs: jax.Array, things: jax.Array
) -> jax.Array:
    """int32[B, P]: each plan's action, that of its first option not yet done (6 if all are).

    `verbs`, `things`: int32[B, P, L], each option's verb and thing column.
    """
    batch, plans, length = verbs.shape
    columns = action_table.shape[1]
    combo = (verbs * columns + things).reshape(batch, plans * length)
    actions = jnp.take_along_axis(action_table.reshape(-1, batch).T, combo, axis=1).reshape(verbs.shape)
    done = jnp.take_along_axis(done_table.reshape(-1, batch).T, combo, axis=1).reshape(verbs.shape)
    first = jnp.argmax(~done, axis=-1)
    chosen = jnp.take_along_axis(actions, first[..., None], axis=-1)[..., 0]
    return jnp.where(done.all(axis=-1), codes.DONE, chosen)
