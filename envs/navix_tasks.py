"""navix's registered MiniGrid tasks behind the same interface as ours.

navix resets on the step *after* a terminal one, ignoring that step's action, so a
rollout would carry one dummy transition per episode. Here navix's own autoreset is
switched off and the episode is reset within its ending step instead, exactly as in
`envs.doorkey`, with the same `info` keys.
"""

import dataclasses

import jax
import jax.numpy as jnp
import navix
from navix import Timestep

from envs.doorkey import episode_info


@dataclasses.dataclass(frozen=True)
class NavixTask:
    """A navix registry task (`Navix-DoorKey-8x8-v0`, ...) with navix's observations."""

    name: str
    env: navix.Environment
    autoreset: bool = True

    @classmethod
    def make(cls, name: str, autoreset: bool = True, **overrides) -> "NavixTask":
        return cls(name, navix.make(name, disable_autoreset=True, **overrides), autoreset)

    @property
    def max_steps(self) -> int:
        return self.env.max_steps

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.env.observation_space.shape)

    @property
    def num_actions(self) -> int:
        return len(self.env.action_set)

    def reset(self, key: jax.Array, cache=None) -> Timestep:
        """Draws a new episode (`cache`: navix's rendering cache to reuse, built if None)."""
        timestep = self.env.reset(key, cache)
        return timestep.replace(info=episode_info(timestep.observation, 0.0, 0.0, 0, False))

    def step(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """Applies `action`; an episode that ends is reset in the same call (unless `autoreset=False`)."""
        action = jnp.asarray(action, jnp.int32)
        stepped = self.env.step(timestep.replace(info={"return": timestep.info["return"]}), action)
        success = stepped.is_termination() & (stepped.reward > 0)
        running = stepped.info["return"]
        stepped = stepped.replace(
            step_type=jnp.asarray(stepped.step_type, jnp.int32),
            reward=jnp.asarray(stepped.reward, jnp.float32),
            info=episode_info(stepped.observation, running, running, stepped.t, success),
        )
        if not self.autoreset:
            return stepped
        done = stepped.is_done()
        reset_key, next_key = jax.random.split(stepped.state.key)
        fresh = self.reset(reset_key, stepped.state.cache)
        fresh = fresh.replace(state=fresh.state.replace(key=next_key))
        return stepped.replace(
            t=jnp.where(done, fresh.t, stepped.t),
            observation=jnp.where(done, fresh.observation, stepped.observation),
            state=jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh.state, stepped.state),
            info={**stepped.info, "return": jnp.where(done, 0.0, running)},
        )
