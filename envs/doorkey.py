"""The three LLM4Teach tasks (SimpleDoorKey, LavaDoorKey, ColoredDoorKey) as pure JAX environments.

`reset(key)` and `step(timestep, action)` return navix `Timestep`s. An episode that
ends (termination or truncation) is reset *within* the same `step`: the returned
timestep carries the ending transition's `reward` and `step_type`, the new episode's
`state` and `observation`, and the ending observation in `info["final_observation"]`
for bootstrapping a truncation. No dummy transition is ever produced.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from navix import StepType, Timestep

from envs import codes, layouts, rules, view


class DoorKeyState(struct.PyTreeNode):
    """The true state of one environment."""

    grid: jax.Array  # uint8[H, W, 3]: MiniGrid codes of the world, the agent not drawn
    agent_pos: jax.Array  # int32[2]: (x, y)
    agent_dir: jax.Array  # int32[]: 0 east, 1 south, 2 west, 3 north
    carrying: jax.Array  # uint8[3]: code of the held object, (EMPTY, 0, 0) when none
    seen: jax.Array  # bool[H, W]: cells seen so far this episode
    key: jax.Array  # PRNG key for the next automatic reset


def episode_info(observation, running_return, episode_return, episode_length, success) -> dict:
    """The `info` every timestep carries (the same keys on reset and step, so timesteps scan)."""
    return {
        "return": jnp.asarray(running_return, jnp.float32),
        "episode_return": jnp.asarray(episode_return, jnp.float32),
        "episode_length": jnp.asarray(episode_length, jnp.int32),
        "success": jnp.asarray(success, bool),
        "final_observation": observation,
    }


@dataclasses.dataclass(frozen=True)
class DoorKeyEnv:
    """One of the LLM4Teach tasks; `autoreset=False` keeps the ended state (for tests and replays).

    `info` holds `return` (this episode so far) and, valid where the timestep ends an
    episode, `episode_return`, `episode_length`, `success` and `final_observation`.
    """

    spec: layouts.TaskSpec
    autoreset: bool = True

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
        """The first timestep of an episode in the given world."""
        seen = view.visible_cells(grid, agent_pos, agent_dir)
        state = DoorKeyState(grid, agent_pos, agent_dir, carrying, seen, key)
        observation = view.memory_map(grid, seen, agent_pos, agent_dir, carrying)
        return Timestep(
            t=jnp.int32(0),
            observation=observation,
            action=jnp.int32(0),
            reward=jnp.float32(0.0),
            step_type=jnp.int32(StepType.TRANSITION),
            state=state,
            info=episode_info(observation, 0.0, 0.0, 0, False),
        )

    def reset(self, key: jax.Array) -> Timestep:
        """Draws a new episode."""
        world_key, next_key = jax.random.split(key)
        grid, agent_pos, agent_dir = layouts.random_world(world_key, self.spec)
        return self.start(grid, agent_pos, agent_dir, rules.EMPTY_CELL, next_key)

    def step(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """Applies `action`; an episode that ends is reset in the same call (unless `autoreset=False`)."""
        state = timestep.state
        action = jnp.asarray(action, jnp.int32)
        outcome = rules.apply_action(state.grid, state.agent_pos, state.agent_dir, state.carrying, action)
        t = timestep.t + 1
        terminated = outcome.opened_door | outcome.entered_lava
        truncated = ~terminated & (t >= self.spec.max_steps)
        reward = jnp.where(outcome.opened_door, 1.0 - 0.9 * t / self.spec.max_steps, 0.0).astype(jnp.float32)
        step_type = jnp.where(terminated, StepType.TERMINATION, jnp.where(truncated, StepType.TRUNCATION, 0))
        seen = state.seen | view.visible_cells(outcome.grid, outcome.agent_pos, outcome.agent_dir)
        observation = view.memory_map(outcome.grid, seen, outcome.agent_pos, outcome.agent_dir, outcome.carrying)
        episode_return = timestep.info["return"] + reward
        next_key, reset_key = jax.random.split(state.key)
        stepped = Timestep(
            t=t,
            observation=observation,
            action=action,
            reward=reward,
            step_type=step_type.astype(jnp.int32),
            state=DoorKeyState(
                outcome.grid, outcome.agent_pos, outcome.agent_dir, outcome.carrying, seen, next_key
            ),
            info=episode_info(observation, episode_return, episode_return, t, outcome.opened_door),
        )
        if not self.autoreset:
            return stepped
        done = terminated | truncated
        fresh = self.reset(reset_key)
        return stepped.replace(
            t=jnp.where(done, fresh.t, stepped.t),
            observation=jnp.where(done, fresh.observation, observation),
            state=jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh.state, stepped.state),
            info={**stepped.info, "return": jnp.where(done, 0.0, episode_return)},
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
