"""The three LLM4Teach tasks (SimpleDoorKey, LavaDoorKey, ColoredDoorKey) as pure JAX environments.

Each implements `begin` (draw a world) and `transition` (MiniGrid's rules, the authors'
3x3 view and memory map); episode statistics and automatic reset within the ending step
come from `envs.environment.Environment`.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from navix import StepType, Timestep

from envs import codes, layouts, rules, view
from envs.environment import Environment, episode_info


class DoorKeyState(struct.PyTreeNode):
    """The true state of one environment."""

    grid: jax.Array  # uint8[H, W, 3]: MiniGrid codes of the world, the agent not drawn
    agent_pos: jax.Array  # int32[2]: (x, y)
    agent_dir: jax.Array  # int32[]: 0 east, 1 south, 2 west, 3 north
    carrying: jax.Array  # uint8[3]: code of the held object, (EMPTY, 0, 0) when none
    seen: jax.Array  # bool[H, W]: cells seen so far this episode
    key: jax.Array  # PRNG key of the next automatic reset


@dataclasses.dataclass(frozen=True)
class DoorKeyEnv(Environment):
    """One of the LLM4Teach tasks, observed through the authors' memory map."""

    spec: layouts.TaskSpec
    memory_map = True
    observation_categories = codes.MEMORY_MAP_CATEGORIES

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def max_steps(self) -> int:
        return self.spec.max_steps

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (self.spec.grid_size, self.spec.grid_size, 4)

    @property
    def num_actions(self) -> int:
        return codes.NUM_ACTIONS

    def start(self, grid, agent_pos, agent_dir, carrying, key) -> Timestep:
        """The first timestep of an episode in the given world (with `info` as `reset` gives it)."""
        seen = view.visible_cells(grid, agent_pos, agent_dir)
        observation = view.memory_map(grid, seen, agent_pos, agent_dir, carrying)
        return Timestep(
            t=jnp.int32(0),
            observation=observation,
            action=jnp.int32(0),
            reward=jnp.float32(0.0),
            step_type=jnp.int32(StepType.TRANSITION),
            state=DoorKeyState(grid, agent_pos, agent_dir, carrying, seen, key),
            info=episode_info(observation, 0.0, 0.0, 0, False),
        )

    def begin(self, key: jax.Array, previous: Timestep | None = None) -> Timestep:
        """Draws a new world."""
        world_key, next_key = jax.random.split(key)
        grid, agent_pos, agent_dir = layouts.random_world(world_key, self.spec)
        return self.start(grid, agent_pos, agent_dir, rules.EMPTY_CELL, next_key)

    def transition(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """MiniGrid's rules for `action`; the door opened with its key ends the episode in success."""
        state = timestep.state
        outcome = rules.apply_action(state.grid, state.agent_pos, state.agent_dir, state.carrying, action)
        t = timestep.t + 1
        terminated = outcome.opened_door | outcome.entered_lava
        truncated = ~terminated & (t >= self.spec.max_steps)
        reward = jnp.where(outcome.opened_door, 1.0 - 0.9 * t / self.spec.max_steps, 0.0)
        step_type = jnp.where(terminated, StepType.TERMINATION, jnp.where(truncated, StepType.TRUNCATION, 0))
        seen = state.seen | view.visible_cells(outcome.grid, outcome.agent_pos, outcome.agent_dir)
        return Timestep(
            t=t,
            observation=view.memory_map(outcome.grid, seen, outcome.agent_pos, outcome.agent_dir, outcome.carrying),
            action=action,
            reward=reward,
            step_type=step_type,
            state=DoorKeyState(outcome.grid, outcome.agent_pos, outcome.agent_dir, outcome.carrying, seen, state.key),
            info={"success": outcome.opened_door},
        )

    def from_layout(self, layout: dict, key: jax.Array | None = None) -> Timestep:
        """The first timestep of an episode in an explicit layout (see `envs.layouts`)."""
        world = layouts.world_from_layout(layout, self.spec.grid_size)
        key = jax.random.PRNGKey(0) if key is None else key
        return self.start(
            jnp.asarray(world["grid"]),
            jnp.asarray(world["agent_pos"]),
            jnp.asarray(world["agent_dir"]),
            jnp.asarray(world["carrying"]),
            key,
        )
