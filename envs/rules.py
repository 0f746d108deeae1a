"""MiniGrid's rules for one action on a grid of (object, colour, state) codes.

navix 4.x departs from MiniGrid here (pickup overwrites a full hand, unlocking
consumes the key, toggle never closes a door), so our tasks apply these rules
instead. Everything is a pure function of arrays; the agent is never drawn into
the grid.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs import codes

EMPTY_CELL = jnp.array([codes.EMPTY, 0, 0], dtype=jnp.uint8)


class Outcome(NamedTuple):
    """The world after one action, and what the action did."""

    grid: jax.Array  # uint8[H, W, 3]
    agent_pos: jax.Array  # int32[2], (x, y)
    agent_dir: jax.Array  # int32[]
    carrying: jax.Array  # uint8[3], EMPTY_CELL when the hand is empty
    opened_door: jax.Array  # bool[]: a toggle opened the door in front
    entered_lava: jax.Array  # bool[]: the agent walked onto lava


def front_position(agent_pos: jax.Array, agent_dir: jax.Array) -> jax.Array:
    """The (x, y) of the cell the agent faces."""
    return agent_pos + jnp.asarray(codes.DIRECTION_VECTORS)[agent_dir]


def cell_mask(shape: tuple[int, int], position: jax.Array) -> jax.Array:
    """bool[H, W], true only at `position` (x, y)."""
    ys, xs = jnp.indices(shape)
    return (xs == position[0]) & (ys == position[1])


def is_passable(cell: jax.Array) -> jax.Array:
    """Whether the agent may step onto a cell: empty, floor, goal, lava or an open door."""
    obj = cell[..., 0]
    open_door = (obj == codes.DOOR) & (cell[..., 2] == codes.OPEN)
    return (
        (obj == codes.EMPTY) | (obj == codes.FLOOR) | (obj == codes.GOAL) | (obj == codes.LAVA) | open_door
    )


def apply_action(
    grid: jax.Array, agent_pos: jax.Array, agent_dir: jax.Array, carrying: jax.Array, action: jax.Array
) -> Outcome:
    """Applies one of MiniGrid's seven actions under MiniGrid's object rules."""
    front_pos = front_position(agent_pos, agent_dir)
    front = grid[front_pos[1], front_pos[0]]
    obj, colour, state = front[0], front[1], front[2]
    hand_empty = carrying[0] == codes.EMPTY

    turned = jnp.where(
        action == codes.LEFT, (agent_dir + 3) % 4, jnp.where(action == codes.RIGHT, (agent_dir + 1) % 4, agent_dir)
    )
    moves = (action == codes.FORWARD) & is_passable(front)
    new_pos = jnp.where(moves, front_pos, agent_pos)

    # Pickup needs an empty hand; drop needs an empty cell in front.
    picks = (action == codes.PICKUP) & hand_empty & ((obj == codes.KEY) | (obj == codes.BALL) | (obj == codes.BOX))
    drops = (action == codes.DROP) & ~hand_empty & (obj == codes.EMPTY)

    # A locked door opens only for a key of its colour, which stays in the hand;
    # an unlocked door flips between open and closed.
    toggles_door = (action == codes.TOGGLE) & (obj == codes.DOOR)
    unlocks = toggles_door & (state == codes.LOCKED) & (carrying[0] == codes.KEY) & (carrying[1] == colour)
    flips = toggles_door & (state != codes.LOCKED)
    new_state = jnp.where(
        unlocks,
        codes.OPEN,
        jnp.where(flips, jnp.where(state == codes.OPEN, codes.CLOSED, codes.OPEN), state),
    ).astype(jnp.uint8)
    toggled_front = front.at[2].set(new_state)

    new_front = jnp.where(picks, EMPTY_CELL, jnp.where(drops, carrying, toggled_front))
    new_carrying = jnp.where(picks, front, jnp.where(drops, EMPTY_CELL, carrying))
    at_front = cell_mask(grid.shape[:2], front_pos)[..., None]
    new_grid = jnp.where(at_front, new_front, grid)

    return Outcome(
        grid=new_grid,
        agent_pos=new_pos,
        agent_dir=turned,
        carrying=new_carrying,
        opened_door=toggles_door & (state != codes.OPEN) & (new_state == codes.OPEN),
        entered_lava=moves & (obj == codes.LAVA),
    )
