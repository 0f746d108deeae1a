"""What the agent sees: a 3×3 view with the authors' occlusion rule, and the memory map.

The view is MiniGrid's `agent_view_size=3`: three cells deep, three wide, the agent
at the bottom centre. Walls and closed or locked doors hide what lies behind them:
a cell is seen when it neighbours (sideways, or one row further ahead) a seen cell
that can be seen through, which is the rule of the authors' `process_vis` sweep.
"""

import jax
import jax.numpy as jnp
import numpy as np

from envs import codes

VIEW_DEPTH = 3
VIEW_WIDTH = 3


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


def view_positions(agent_pos: jax.Array, agent_dir: jax.Array) -> jax.Array:
    """int32[3, 3, 2]: the (x, y) of view cell [ahead, sideways], sideways -1 = the agent's left."""
    forward, right = heading(agent_dir)
    ahead = jnp.arange(VIEW_DEPTH)[:, None, None]
    side = (jnp.arange(VIEW_WIDTH) - VIEW_WIDTH // 2)[None, :, None]
    return agent_pos + ahead * forward + side * right


def visible_in_view(transparent: jax.Array) -> jax.Array:
    """bool[3, 3] seen cells of the view, given which of its cells can be seen through.

    Row 0 is the agent's own row (the agent at its centre), rows grow away from it.
    """
    centre = VIEW_WIDTH // 2
    rows = []
    reach = [jnp.asarray(i == centre) for i in range(VIEW_WIDTH)]
    for ahead in range(VIEW_DEPTH):
        # Spread sideways through see-through cells, then pass on to the row ahead.
        for i in range(VIEW_WIDTH - 1):
            reach[i + 1] = reach[i + 1] | (reach[i] & transparent[ahead, i])
        for i in range(VIEW_WIDTH - 1, 0, -1):
            reach[i - 1] = reach[i - 1] | (reach[i] & transparent[ahead, i])
        rows.append(jnp.stack(reach))
        lit = [reach[i] & transparent[ahead, i] for i in range(VIEW_WIDTH)]
        reach = [
            jnp.any(jnp.stack([lit[j] for j in range(max(0, i - 1), min(VIEW_WIDTH, i + 2))]))
            for i in range(VIEW_WIDTH)
        ]
    return jnp.stack(rows)


def visible_cells(grid: jax.Array, agent_pos: jax.Array, agent_dir: jax.Array) -> jax.Array:
    """bool[H, W]: the cells of the grid the agent sees now."""
    height, width = grid.shape[:2]
    positions = view_positions(agent_pos, agent_dir)
    xs, ys = positions[..., 0], positions[..., 1]
    on_grid = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    cells = grid[jnp.clip(ys, 0, height - 1), jnp.clip(xs, 0, width - 1)]
    # Off the grid counts as wall: nothing is seen there, and nothing through it.
    seen = visible_in_view(is_transparent(cells) & on_grid) & on_grid
    # Each grid cell's place in the view (rows ahead, columns from the left), then the view's verdict
    # there: 9 comparisons per cell of two small integers (comparing every cell with every view
    # position's (x, y) instead cost an environment step a third of its time on a CPU).
    forward, right = heading(agent_dir)
    grid_ys, grid_xs = jnp.indices((height, width))
    dx, dy = grid_xs - agent_pos[0], grid_ys - agent_pos[1]
    ahead = dx * forward[0] + dy * forward[1]
    column = dx * right[0] + dy * right[1] + VIEW_WIDTH // 2
    visible = jnp.zeros((height, width), bool)
    for row in range(VIEW_DEPTH):
        for col in range(VIEW_WIDTH):
            visible = visible | ((ahead == row) & (column == col) & seen[row, col])
    return visible


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
