"""Layouts of the LLM4Teach tasks: random generation in JAX, and explicit layouts.

A room of random width and height with its top-left corner at (0, 0), one locked
door on its wall (not a corner), the agent, keys and lava on free cells inside.
An explicit layout is a plain dict, for tests, demos and debugging:

    {"room": [w, h], "door": [x, y, colour], "keys": [[x, y, colour], ...],
     "lava": [[x, y], ...], "agent": [x, y, direction], "carried": colour or None}

with x to the right, y down, directions 0 east, 1 south, 2 west, 3 north. A door
that is not locked is written `[x, y, colour, "open"]` (or "closed").
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs import codes

# The cell just inside the door, as (dx, dy) from the door, for each wall:
# 0 right, 1 bottom, 2 left, 3 top.
INWARD = np.array([[-1, 0], [0, -1], [1, 0], [0, 1]], dtype=np.int32)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """How one task draws its episodes."""

    name: str
    door_colour: int | None  # None: uniform over the six colours
    extra_key_colours: tuple[int, ...]  # keys besides the one matching the door
    num_lava: int
    keys_avoid_door_front: bool  # keys never on the cell just inside the door
    grid_size: int = 10
    min_room: int = 5
    max_room: int = 10
    max_steps: int = 150

    def __post_init__(self):
        if not 3 <= self.min_room <= self.max_room <= self.grid_size:
            raise ValueError(
                f"{self.name}: need 3 <= min_room <= max_room <= grid_size, "
                f"got min_room={self.min_room}, max_room={self.max_room}, grid_size={self.grid_size}"
            )
        if self.max_steps < 1:
            raise ValueError(f"{self.name}: max_steps must be at least 1, got {self.max_steps}")


TASK_SPECS = {
    "SimpleDoorKey": TaskSpec("SimpleDoorKey", None, (), 0, keys_avoid_door_front=False),
    "LavaDoorKey": TaskSpec("LavaDoorKey", None, (), 1, keys_avoid_door_front=False),
    "ColoredDoorKey": TaskSpec("ColoredDoorKey", codes.BLUE, (codes.RED,), 0, keys_avoid_door_front=True),
}


def _uniform_int(bits: jax.Array, low, high) -> jax.Array:
    """An integer in [low, high) from 32 random bits (modulo bias below 1e-8 for these ranges)."""
    return low + (bits % jnp.asarray(high - low, jnp.uint32)).astype(jnp.int32)


def _sample_inside(bits: jax.Array, width, height, taken: list[jax.Array]) -> jax.Array:
    """A uniform (x, y) inside the room, avoiding the `taken` cells (exact, from 32 random bits).

    Inside cells are numbered row by row; a uniform rank among the free ones is
    shifted past each taken number in increasing order. Repeats in `taken` count once.
    """
    inner_width = width - 2
    if not taken:
        rank = (bits % (inner_width * (height - 2)).astype(jnp.uint32)).astype(jnp.int32)
        return jnp.stack([1 + rank % inner_width, 1 + rank // inner_width]).astype(jnp.int32)
    numbers = jnp.sort(jnp.stack([(y - 1) * inner_width + (x - 1) for x, y in taken]))
    distinct = jnp.concatenate([jnp.array([True]), numbers[1:] != numbers[:-1]])
    free = inner_width * (height - 2) - distinct.sum()
    rank = (bits % free.astype(jnp.uint32)).astype(jnp.int32)
    for number, counts in zip(numbers, distinct):
        rank = rank + (counts & (rank >= number))
    return jnp.stack([1 + rank % inner_width, 1 + rank // inner_width]).astype(jnp.int32)


def random_world(key: jax.Array, spec: TaskSpec) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draws one episode's start: (grid uint8[H, W, 3], agent_pos int32[2], agent_dir int32[]).

    All the randomness comes from one draw of 32-bit words and no per-cell sampling:
    under vmap a reset is computed at every step, so its cost is the environment's cost.
    """
    size = spec.grid_size
    num_keys = 1 + len(spec.extra_key_colours)
    bits = jax.random.bits(key, (8 + num_keys + spec.num_lava,), jnp.uint32)
    width = _uniform_int(bits[0], spec.min_room, spec.max_room + 1)
    height = _uniform_int(bits[1], spec.min_room, spec.max_room + 1)
    wall_side = _uniform_int(bits[2], 0, 4)
    along_x = _uniform_int(bits[3], 1, width - 1)
    along_y = _uniform_int(bits[4], 1, height - 1)
    door_x = jnp.select([wall_side == 0, wall_side == 2], [width - 1, 0], along_x)
    door_y = jnp.select([wall_side == 1, wall_side == 3], [height - 1, 0], along_y)
    door_front = jnp.stack([door_x, door_y]) + jnp.asarray(INWARD)[wall_side]
    if spec.door_colour is None:
        door_colour = _uniform_int(bits[5], 0, len(codes.COLOUR_NAMES))
    else:
        door_colour = jnp.asarray(spec.door_colour)

    ys, xs = jnp.indices((size, size))
    in_room = (xs < width) & (ys < height)
    border = in_room & ((xs == 0) | (ys == 0) | (xs == width - 1) | (ys == height - 1))
    at_door = (xs == door_x) & (ys == door_y)
    objects = jnp.select([at_door, border], [codes.DOOR, codes.WALL], codes.EMPTY)
    colours = jnp.select([at_door, border], [door_colour, codes.GREY], 0)
    states = jnp.where(at_door, codes.LOCKED, 0)

    agent_pos = _sample_inside(bits[6], width, height, [])
    agent_dir = _uniform_int(bits[7], 0, 4)

    placements = [(codes.KEY, door_colour, spec.keys_avoid_door_front)]
    placements += [(codes.KEY, jnp.asarray(c), spec.keys_avoid_door_front) for c in spec.extra_key_colours]
    placements += [(codes.LAVA, jnp.asarray(codes.RED), True)] * spec.num_lava
    taken = [agent_pos]
    for i, (obj, colour, avoid_door_front) in enumerate(placements):
        pos = _sample_inside(bits[8 + i], width, height, taken + ([door_front] if avoid_door_front else []))
        here = (xs == pos[0]) & (ys == pos[1])
        objects = jnp.where(here, obj, objects)
        colours = jnp.where(here, colour, colours)
        taken.append(pos)

    grid = jnp.stack([objects, colours, states], axis=-1).astype(jnp.uint8)
    return grid, agent_pos, agent_dir


def _fail(message: str):
    raise ValueError(f"bad layout: {message}")


def _xy(value: Any, what: str, size: int) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        _fail(f"{what} must start with [x, y], got {value!r}")
    x, y = value[0], value[1]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (x, y)):
        _fail(f"{what} position must be integers, got {value!r}")
    if not (0 <= x < size and 0 <= y < size):
        _fail(f"{what} at ({x}, {y}) is outside the {size}x{size} grid")
    return int(x), int(y)


def _colour(value: Any, what: str) -> int:
    if value not in codes.COLOUR_NAMES:
        _fail(f"{what} colour {value!r} is not one of {', '.join(codes.COLOUR_NAMES)}")
    return codes.COLOUR_NAMES.index(value)


def world_from_layout(layout: dict, grid_size: int) -> dict[str, np.ndarray]:
    """Checks an explicit layout and returns its world as numpy arrays
    (grid, agent_pos, agent_dir, carrying); every problem is a ValueError saying what to change."""
    if not isinstance(layout, dict):
        _fail(f"expected a dict, got {type(layout).__name__}")
    known = {"room", "door", "keys", "lava", "agent", "carried"}
    unknown = set(layout) - known
    if unknown:
        _fail(f"unknown entries {sorted(unknown)}; allowed: {sorted(known)}")
    for required in ("room", "door", "agent"):
        if required not in layout:
            _fail(f"missing {required!r}")

    room = layout["room"]
    if not (isinstance(room, (list, tuple)) and len(room) == 2 and all(isinstance(v, int) for v in room)):
        _fail(f"room must be [width, height], got {room!r}")
    width, height = room
    if not (3 <= width <= grid_size and 3 <= height <= grid_size):
        _fail(f"room {width}x{height} must be between 3x3 and {grid_size}x{grid_size} to fit the grid")

    grid = np.zeros((grid_size, grid_size, 3), np.uint8)
    grid[..., 0] = codes.EMPTY
    grid[:height, [0, width - 1], :] = (codes.WALL, codes.GREY, 0)
    grid[[0, height - 1], :width, :] = (codes.WALL, codes.GREY, 0)
    taken = {}

    def claim(position, what):
        if position in taken:
            _fail(f"{what} at {position} overlaps {taken[position]}")
        taken[position] = what

    def inside(position, what):
        x, y = position
        if not (1 <= x <= width - 2 and 1 <= y <= height - 2):
            _fail(f"{what} at {position} is not inside the {width}x{height} room")

    door = layout["door"]
    door_pos = _xy(door, "door", grid_size)
    if len(door) not in (3, 4):
        _fail(f"door must be [x, y, colour] or [x, y, colour, state], got {door!r}")
    door_state = codes.LOCKED
    if len(door) == 4:
        if door[3] not in codes.DOOR_STATE_NAMES:
            _fail(f"door state {door[3]!r} is not one of {', '.join(codes.DOOR_STATE_NAMES)}")
        door_state = codes.DOOR_STATE_NAMES.index(door[3])
    dx, dy = door_pos
    on_vertical_wall = dx in (0, width - 1) and 1 <= dy <= height - 2
    on_horizontal_wall = dy in (0, height - 1) and 1 <= dx <= width - 2
    if not (on_vertical_wall or on_horizontal_wall):
        _fail(f"door at {door_pos} is not on the wall of the {width}x{height} room (corners excluded)")
    grid[dy, dx] = (codes.DOOR, _colour(door[2], "door"), door_state)
    claim(door_pos, "the door")

    agent = layout["agent"]
    agent_pos = _xy(agent, "agent", grid_size)
    if len(agent) != 3 or agent[2] not in range(4):
        _fail(f"agent must be [x, y, direction] with direction 0..3 (east, south, west, north), got {agent!r}")
    inside(agent_pos, "agent")
    claim(agent_pos, "the agent")

    for entry in layout.get("keys", []):
        position = _xy(entry, "key", grid_size)
        if len(entry) != 3:
            _fail(f"a key must be [x, y, colour], got {entry!r}")
        inside(position, "key")
        claim(position, f"a key {entry!r}")
        grid[position[1], position[0]] = (codes.KEY, _colour(entry[2], "key"), 0)
    for entry in layout.get("lava", []):
        position = _xy(entry, "lava", grid_size)
        if len(entry) != 2:
            _fail(f"a lava cell must be [x, y], got {entry!r}")
        inside(position, "lava")
        claim(position, f"lava {entry!r}")
        grid[position[1], position[0]] = (codes.LAVA, codes.RED, 0)

    carrying = np.array([codes.EMPTY, 0, 0], np.uint8)
    if layout.get("carried") is not None:
        carrying = np.array([codes.KEY, _colour(layout["carried"], "carried key"), 0], np.uint8)
    return {
        "grid": grid,
        "agent_pos": np.array(agent_pos, np.int32),
        "agent_dir": np.int32(agent[2]),
        "carrying": carrying,
    }


def layout_from_world(grid: np.ndarray, agent_pos: np.ndarray, agent_dir: int, carrying: np.ndarray) -> dict:
    """Describes a world (numpy arrays, one environment) as an explicit layout."""
    grid = np.asarray(grid)
    objects = grid[..., 0]
    walls = np.argwhere(objects == codes.WALL)
    doors = np.argwhere(objects == codes.DOOR)
    cells = np.concatenate([walls, doors])
    height, width = cells[:, 0].max() + 1, cells[:, 1].max() + 1
    layout: dict[str, Any] = {"room": [int(width), int(height)]}
    if len(doors) != 1:
        raise ValueError(f"expected one door in the world, found {len(doors)}")
    dy, dx = doors[0]
    door = [int(dx), int(dy), codes.COLOUR_NAMES[grid[dy, dx, 1]]]
    if grid[dy, dx, 2] != codes.LOCKED:
        door.append(codes.DOOR_STATE_NAMES[grid[dy, dx, 2]])
    layout["door"] = door
    layout["keys"] = [
        [int(x), int(y), codes.COLOUR_NAMES[grid[y, x, 1]]] for y, x in np.argwhere(objects == codes.KEY)
    ]
    layout["lava"] = [[int(x), int(y)] for y, x in np.argwhere(objects == codes.LAVA)]
    layout["agent"] = [int(agent_pos[0]), int(agent_pos[1]), int(agent_dir)]
    carrying = np.asarray(carrying)
    layout["carried"] = codes.COLOUR_NAMES[carrying[1]] if carrying[0] == codes.KEY else None
    return layout
