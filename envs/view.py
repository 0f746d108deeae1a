"""What the agent sees: MiniGrid's view with its occlusion rule, and the memory map.

The view is a square `size` cells deep and wide with the agent at the bottom centre:
MiniGrid's `agent_view_size`, 3 for our tasks (the authors' setting), 7 (MiniGrid's
default) for navix tasks. Walls and closed or locked doors hide what lies behind them:
a cell is seen when it neighbours (sideways, or one row further ahead) a seen cell that
can be seen through: the rule of MiniGrid's `Grid.process_vis` sweep (and of the authors'
version of it).
"""

import jax
import jax.numpy as jnp
import numpy as np

from envs import codes

VIEW_SIZE = 3
"""Our tasks' view: the authors' `agent_view_size`."""
MINIGRID_VIEW_SIZE = 7
"""MiniGrid's default `agent_view_size`, the view of navix tasks' memory maps."""


def is_transparent(cell: jax.Array) -> jax.Array:
    """Whether one can see past a cell: anything but walls and doors that are not open."""
    obj = cell[..., 0]
    shut_door = (obj == codes.DOOR) & (cell[..., 2] != codes.OPEN)
    return (obj != codes.WALL) & ~shut_door


def heading(agent_dir: jax.Array) -> tuple[jax.Array, jax.Array]:
    """int32[..., 2] twice: the (x, y) steps straight ahead and to the right of headings `agent_dir`
    (numpy arrays for a numpy `agent_dir`)."""
    vectors = codes.DIRECTION_VECTORS if isinstance(agent_dir, np.ndarray) else jnp.asarray(codes.DIRECTION_VECTORS)
    return vectors[agent_dir], vectors[(agent_dir + 1) % 4]


def view_corner(agent_pos: jax.Array, agent_dir: jax.Array, size: int = VIEW_SIZE) -> tuple[jax.Array, jax.Array]:
    """The (x, y) of the top-left cell of the square of the grid a `size`-cell view covers."""
    centre, far = size // 2, size - 1
    x0 = jnp.asarray([0, -centre, -far, -centre])[agent_dir] + agent_pos[0]
    y0 = jnp.asarray([-centre, 0, -centre, -far])[agent_dir] + agent_pos[1]
    return x0, y0


def square_to_view(square: jax.Array, agent_dir: jax.Array) -> jax.Array:
    """The view [ahead, column] (column 0 the agent's left) of the square of the grid [y, x] it covers."""
    east, south, west, north = square.T, square[:, ::-1], square.T[::-1, ::-1], square[::-1, :]
    return jnp.select([agent_dir == codes.EAST, agent_dir == codes.SOUTH, agent_dir == codes.WEST], [east, south, west],
                      north)


def view_to_square(cells: jax.Array, agent_dir: jax.Array) -> jax.Array:
    """The inverse of `square_to_view`."""
    east, south, west, north = cells.T, cells[:, ::-1], cells[::-1, ::-1].T, cells[::-1, :]
    return jnp.select([agent_dir == codes.EAST, agent_dir == codes.SOUTH, agent_dir == codes.WEST], [east, south, west],
                      north)


def as_bits(cells: jax.Array) -> jax.Array:
    """int32[size]: the rows of bool[size, size] as bit masks (bit j: column j)."""
    return (cells.astype(jnp.int32) << jnp.arange(cells.shape[-1])).sum(axis=-1)


def from_bits(rows: jax.Array, size: int) -> jax.Array:
    """bool[size, size]: the inverse of `as_bits`."""
    return ((rows[:, None] >> jnp.arange(size)) & 1) == 1


def visible_in_view(transparent: jax.Array) -> jax.Array:
    """bool[size, size] seen cells of a square view [ahead, column], given which of its cells can be seen through.

    Row 0 is the agent's own row (the agent at its centre), rows grow away from it. Each row is one
    integer, so that spreading sideways is a shift.
    """
    size = transparent.shape[0]
    full = (1 << size) - 1
    rows = as_bits(transparent)
    reach = jnp.int32(1 << (size // 2))
    seen = []
    for ahead in range(size):
        # Spread sideways through see-through cells (a path is at most size - 1 cells), then pass on to
        # the row ahead: a see-through seen cell shows the three cells beyond it.
        for _ in range(size - 1):
            lit = reach & rows[ahead]
            reach = reach | (((lit << 1) | (lit >> 1)) & full)
        # Left to itself XLA computes all rows in one loop, again for each row (a navix step with the
        # memory map a third slower on a CPU); the barrier computes each row once.
        reach = jax.lax.optimization_barrier(reach)
        seen.append(reach)
        lit = reach & rows[ahead]
        reach = (lit | (lit << 1) | (lit >> 1)) & full
    return from_bits(jnp.stack(seen), size)


def visible_cells(grid: jax.Array, agent_pos: jax.Array, agent_dir: jax.Array, size: int = VIEW_SIZE) -> jax.Array:
    """bool[H, W]: the cells of the grid the agent sees now through a `size`-cell view.

    The square of the grid the view covers is cut out and put back as `size` rows of bits (bit j: the
    square's column j), by sums and selects over the grid's rows and columns: looking up each view
    cell's grid cell (a gather), or slicing a padded copy of the grid, cost a CPU up to three times as
    long.
    """
    x0, y0 = view_corner(agent_pos, agent_dir, size)
    row = jnp.arange(grid.shape[0]) - y0  # each grid row's and column's place in the square (0..size-1 inside)
    column = jnp.arange(grid.shape[1]) - x0
    bit = jnp.where((column >= 0) & (column < size), 1 << jnp.clip(column, 0, size - 1), 0)
    # Off the grid counts as wall (MiniGrid pads its view with walls): no bit, nothing seen through it.
    grid_rows = jnp.sum(jnp.where(is_transparent(grid), bit, 0), axis=1)
    square = from_bits(jnp.stack([jnp.sum(jnp.where(row == i, grid_rows, 0)) for i in range(size)]), size)
    seen = as_bits(view_to_square(visible_in_view(square_to_view(square, agent_dir)), agent_dir))
    seen_rows = jnp.zeros(grid.shape[0], jnp.int32)
    for i in range(size):
        seen_rows = jnp.where(row == i, seen[i], seen_rows)
    return (seen_rows[:, None] & bit[None, :]) != 0


def memory_map(
    grid: jax.Array, seen: jax.Array, agent_pos: jax.Array, agent_dir: jax.Array, carrying: jax.Array
) -> jax.Array:
    """uint8[H, W, 4]: every cell seen this episode as it is now, the held object at
    the agent's cell, and the agent's direction in channel 3 (4 elsewhere)."""
    height, width = grid.shape[:2]
    grid_ys, grid_xs = jnp.indices((height, width))
    at_agent = (grid_xs == agent_pos[0]) & (grid_ys == agent_pos[1])
    cells = jnp.where(seen[..., None], grid, jnp.uint8(codes.UNSEEN))
    cells = jnp.where(at_agent[..., None], carrying, cells)
    direction = jnp.where(at_agent, agent_dir, codes.NO_DIRECTION).astype(jnp.uint8)
    return jnp.concatenate([cells, direction[..., None]], axis=-1)
