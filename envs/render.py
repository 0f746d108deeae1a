"""RGB pictures of our tasks, drawn with navix's sprites (host side, for plots and GIFs)."""

import functools
import os

import numpy as np
from navix.rendering.registry import SPRITES_DIR
from PIL import Image

from envs import codes

TILE = 32


@functools.cache
def sprite(name: str) -> np.ndarray:
    """uint8[TILE, TILE, 3] sprite from navix's assets."""
    image = Image.open(os.path.join(SPRITES_DIR, f"{name}.png")).convert("RGB")
    return np.asarray(image.resize((TILE, TILE), Image.NEAREST))


def cell_sprite(cell: np.ndarray) -> np.ndarray:
    """The sprite of one (object, colour, state) cell."""
    obj, colour, state = (int(v) for v in cell)
    colour_name = codes.COLOUR_NAMES[colour]
    if obj == codes.WALL:
        return sprite("wall")
    if obj == codes.DOOR:
        return sprite(f"door_{codes.DOOR_STATE_NAMES[state]}_{colour_name}")
    if obj in (codes.KEY, codes.BALL, codes.BOX):
        return sprite(f"{codes.OBJECT_NAMES[obj]}_{colour_name}")
    if obj == codes.LAVA:
        return sprite("lava")
    if obj == codes.GOAL:
        return sprite("goal")
    return sprite("floor")


def render_world(grid, agent_pos, agent_dir, carrying, seen) -> np.ndarray:
    """uint8[H*TILE, W*TILE, 3]: the world, unseen cells dimmed, the held key drawn small on the agent."""
    grid, seen = np.asarray(grid), np.asarray(seen)
    height, width = grid.shape[:2]
    structure = np.argwhere(np.isin(grid[..., 0], (codes.WALL, codes.DOOR)))
    room_h, room_w = structure.max(axis=0) + 1
    image = np.zeros((height * TILE, width * TILE, 3), np.uint8)
    for y in range(min(height, room_h)):
        for x in range(min(width, room_w)):
            tile = cell_sprite(grid[y, x])
            if (x, y) == tuple(int(v) for v in agent_pos):
                tile = sprite(f"player_{codes.DIRECTION_NAMES[int(agent_dir)]}").copy()
                if int(carrying[0]) == codes.KEY:
                    small = cell_sprite(carrying)[::2, ::2]
                    tile[TILE // 2 :, TILE // 2 :] = small
            if not seen[y, x]:
                tile = tile // 3
            image[y * TILE : (y + 1) * TILE, x * TILE : (x + 1) * TILE] = tile
    return image
