"""navix's registered tasks observed through our memory map, with MiniGrid's default 7x7 view.

`envs.make("Navix-DoorKey-8x8-v0", observation="memory_map")`: navix's own dynamics, and the
observation our tasks give (`envs.view.memory_map`) on the task's own grid: every cell seen this
episode as it is now, in MiniGrid's (object, colour, state) codes (navix's `symbolic` encoding uses
the same numbers), the held object at the agent's cell, the agent's heading in channel 3. What is
seen each step is MiniGrid's `gen_obs_grid` with its default `agent_view_size` 7 and `process_vis`
occlusion, held cell for cell against MiniGrid itself (`tests/test_navix_memory_map.py`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import navix
from navix import Timestep
from navix.components import DISCARD_PILE_COORDS, EMPTY_POCKET_ID
from navix.entities import Entities
from navix.states import State

from envs import codes, rules, view
from envs.navix_tasks import NavixTask

PICKABLE = (Entities.KEY, Entities.BALL, Entities.BOX)
# (row, col) of one step forward for each direction (navix positions are (row, col)).
ROW_COL_STEPS = jnp.asarray(codes.DIRECTION_VECTORS[:, ::-1])


class MemoryMapState(State, kw_only=True):
    """navix's state (so navix's functions, `envs.render` among them, take it) and what the memory map
    remembers."""

    seen: jax.Array  # bool[H, W]: cells seen so far this episode
    held: jax.Array  # uint8[3]: MiniGrid code of the held object, (EMPTY, 0, 0) when none


def navix_fields(state: State) -> dict:
    """The fields of navix's `State` in `state`, its entities in a dict of their own (navix's `set_*` write
    into the dict in place)."""
    fields = {field.name: getattr(state, field.name) for field in dataclasses.fields(State)}
    return {**fields, "entities": dict(state.entities)}


def held_after(before: State, after: State, held: jax.Array) -> jax.Array:
    """uint8[3]: the code of what the player holds once navix has stepped `before` to `after`, `held` before.

    navix keeps only the held object's id, and an id may name two objects, one of them off the grid from
    the start (Memory's key and ball), so the object is recognised as it is taken: the one that stood in
    front of the player and now lies off the grid with the pocket's id.
    """
    player = before.get_player()
    front = player.position + ROW_COL_STEPS[player.direction]
    pocket = after.get_player().pocket
    held = jnp.where(pocket == EMPTY_POCKET_ID, rules.EMPTY_CELL, held)
    for name in PICKABLE:
        if name not in after.entities:
            continue
        was, now = before.entities[name], after.entities[name]
        taken = (
            jnp.all(was.position == front, axis=-1)
            & jnp.all(now.position == DISCARD_PILE_COORDS, axis=-1)
            & (now.id == pocket)
        )
        code = jnp.stack([was.tag, was.colour, was.symbolic_state], axis=-1).astype(jnp.uint8)
        held = jnp.where(jnp.any(taken), code[jnp.argmax(taken)], held)
    return held


@dataclasses.dataclass(frozen=True)
class NavixMemoryMap(NavixTask):
    """A navix registry task observed through the memory map (MiniGrid's 7x7 view)."""

    memory_map = True
    observation_categories = codes.MEMORY_MAP_CATEGORIES

    @classmethod
    def make(cls, name: str, autoreset: bool = True, **overrides) -> "NavixMemoryMap":
        if "observation_fn" in overrides:
            raise ValueError("observation='memory_map' sets navix's observation_fn itself; pass one or the other")
        env = navix.make(name, disable_autoreset=True, observation_fn=navix.observations.symbolic, **overrides)
        return cls(name, env, autoreset=autoreset)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (self.env.height, self.env.width, 4)

    def begin(self, key: jax.Array, previous: Timestep | None = None) -> Timestep:
        """navix's reset, seen through the view at the start."""
        timestep = super().begin(key, previous)
        return self.observed(timestep, jnp.zeros(self.observation_shape[:2], bool), rules.EMPTY_CELL)

    def transition(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """navix's step, then what the agent sees from where it ends."""
        state = timestep.state
        before = State(**navix_fields(state))  # navix's step on navix's own state
        stepped = super().transition(timestep.replace(state=before), action)
        return self.observed(stepped, state.seen, held_after(before, stepped.state, state.held))

    def observed(self, timestep: Timestep, seen: jax.Array, held: jax.Array) -> Timestep:
        """A navix timestep (its observation navix's `symbolic` grid) with the memory map as observation."""
        grid = timestep.observation
        player = timestep.state.get_player()
        agent_pos, agent_dir = player.position[::-1], player.direction
        seen = seen | view.visible_cells(grid, agent_pos, agent_dir, view.MINIGRID_VIEW_SIZE)
        state = MemoryMapState(**navix_fields(timestep.state), seen=seen, held=held)
        return timestep.replace(observation=view.memory_map(grid, seen, agent_pos, agent_dir, held), state=state)
