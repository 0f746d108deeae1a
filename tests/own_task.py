"""An example of a task a user brings: KeyBox, a navix environment defined and registered outside navix.

Two rooms one above the other in a 7x7 grid; the wall between them has one locked door. The agent and
the door's key start in the top room, a box in the bottom one; picking up the box ends the episode with
reward 1. The wall's row, the door's column, every position and the colours are drawn at each reset.
Importing this module registers `Navix-KeyBox-7x7-v0` (docs/own-task.md walks through it).
"""

import jax
import jax.numpy as jnp
import navix
from navix import rewards, terminations
from navix.entities import Box, Door, Key, Player
from navix.grid import random_colour, random_directions, random_positions, room
from navix.rendering.cache import RenderingCache
from navix.states import State

TASK = "Navix-KeyBox-7x7-v0"


class KeyBox(navix.Environment):
    """Pick up the key, unlock the door in the wall, pick up the box behind it."""

    def _reset(self, key: jax.Array, cache: RenderingCache | None = None) -> navix.Timestep:
        k_wall, k_door, k_player, k_direction, k_key, k_box, k_colour, key = jax.random.split(key, 8)
        grid = room(self.height, self.width)  # 0 floor, -1 wall
        rows = jnp.arange(self.height)[:, None]
        wall_row = jax.random.randint(k_wall, (), 2, self.height - 2)
        door = jnp.stack([wall_row, jax.random.randint(k_door, (), 1, self.width - 1)])
        grid = jnp.where(rows == wall_row, -1, grid).at[door[0], door[1]].set(0)
        top, bottom = jnp.where(rows < wall_row, grid, -1), jnp.where(rows > wall_row, grid, -1)

        colour = random_colour(k_colour)
        player = random_positions(k_player, top)
        entities = {
            "player": Player.create(position=player, direction=random_directions(k_direction), pocket=jnp.asarray(-1)),
            "key": Key.create(position=random_positions(k_key, top, exclude=player), id=jnp.asarray(1),
                              colour=colour),
            "door": Door.create(position=door, requires=jnp.asarray(1), colour=colour, open=jnp.asarray(False)),
            "box": Box.create(position=random_positions(k_box, bottom), colour=colour, id=jnp.asarray(2),
                              pocket=jnp.asarray(-1)),
        }
        state = State(key=key, grid=grid, cache=cache or RenderingCache.init(grid),
                      entities={name: entity[None] for name, entity in entities.items()})
        return navix.Timestep(t=jnp.asarray(0, jnp.int32), observation=self.observation_fn(state),
                              action=jnp.asarray(-1, jnp.int32), reward=jnp.asarray(0.0, jnp.float32),
                              step_type=jnp.asarray(0, jnp.int32), state=state)


def make_key_box(**overrides) -> KeyBox:
    """KeyBox at 7x7, success on picking up the box; `navix.make`'s keyword arguments override."""
    settings = {"height": 7, "width": 7, "reward_fn": rewards.on_box_pickup,
                "termination_fn": terminations.on_box_pickup}
    return KeyBox.create(**{**settings, **overrides})


navix.register_env(TASK, make_key_box)
