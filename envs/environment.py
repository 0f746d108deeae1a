"""The interface every task shares, with episode statistics and automatic reset written once.

A task implements two pure functions: `begin(key, previous)` draws a new episode's first
`Timestep` (its `state` carries a PRNG `key`), and `transition(timestep, action)` applies one
action (it sets `t`, `observation`, `reward`, `step_type`, `state` and `info["success"]`). An
episode is truncated only by its time limit, at `t >= max_steps` (the student relies on it:
at most one truncation per environment in any `max_steps` consecutive steps).
`Environment.reset` and `Environment.step` add what every consumer reads in `info`: `return`
(this episode so far) and, valid where the step ends an episode, `episode_return`,
`episode_length`, `success` and `final_observation`.

Automatic reset happens *within* the ending step (unless `autoreset=False`): the returned
timestep carries the ending transition's `reward` and `step_type` with the next episode's
`t`, `state` and `observation`, so a rollout never holds a dummy transition. navix resets
on the step after instead, ignoring that step's action; our navix tasks switch that off.
"""

import dataclasses

import jax
import jax.numpy as jnp
from navix import Timestep


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
class Environment:
    """Base of every task. Subclasses declare `max_steps`, `observation_shape`, `num_actions`,
    `observation_categories` (categories per observation channel) and `memory_map` (whether the
    observation is our memory map, with the agent's heading in channel 3)."""

    autoreset: bool = dataclasses.field(default=True, kw_only=True)
    """Reset within the ending step (True) or keep the ended state (False: evaluation, replays)."""

    def begin(self, key: jax.Array, previous: Timestep | None = None) -> Timestep:
        """A new episode's first timestep (`previous`: the timestep being reset, if any)."""
        raise NotImplementedError

    def transition(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """One action applied, without episode statistics or reset."""
        raise NotImplementedError

    def reset(self, key: jax.Array) -> Timestep:
        """Draws a new episode."""
        timestep = self.begin(key)
        return timestep.replace(info=episode_info(timestep.observation, 0.0, 0.0, 0, False))

    def step(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """Applies `action`; an episode that ends is reset in the same call (unless `autoreset=False`)."""
        stepped = self.transition(timestep, jnp.asarray(action, jnp.int32))
        running = timestep.info["return"] + stepped.reward
        stepped = stepped.replace(
            step_type=jnp.asarray(stepped.step_type, jnp.int32),
            reward=jnp.asarray(stepped.reward, jnp.float32),
            info=episode_info(stepped.observation, running, running, stepped.t, stepped.info["success"]),
        )
        if not self.autoreset:
            return stepped
        done = stepped.is_done()
        fresh = self.begin(jax.random.split(stepped.state.key)[1], stepped)
        return stepped.replace(
            t=jnp.where(done, fresh.t, stepped.t),
            observation=jnp.where(done, fresh.observation, stepped.observation),
            state=jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh.state, stepped.state),
            info={**stepped.info, "return": jnp.where(done, 0.0, running)},
        )
