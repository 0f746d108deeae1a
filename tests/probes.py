"""Probe environments with known answers, behind the environments' interface (tests only)."""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from navix import StepType, Timestep

from envs.doorkey import episode_info


class ProbeState(struct.PyTreeNode):
    t: jax.Array
    cue: jax.Array
    key: jax.Array


@dataclasses.dataclass(frozen=True)
class Probe:
    """A one-cell observation `cue` in {0, 1}; `kind` sets the rule:

    - "constant": reward 1 each step, terminates after one step: V = 1.
    - "cue": reward 1 when the action equals the cue, then terminates: π(cue) → 1.
    - "endless": reward 1 each step, never terminates, truncated after `max_steps`:
      with bootstrapping through truncation V = 1 / (1 - γ) at every step.
    """

    kind: str
    max_steps: int = 1
    autoreset: bool = True
    num_actions: int = 2
    observation_shape: tuple = (1, 1, 1)

    def _timestep(self, t, cue, key, reward, step_type, info):
        observation = jnp.full(self.observation_shape, cue, jnp.uint8)
        return Timestep(t=t, observation=observation, action=jnp.int32(0), reward=reward,
                        step_type=step_type, state=ProbeState(t, cue, key), info=info)

    def reset(self, key):
        key, cue_key = jax.random.split(key)
        cue = jax.random.randint(cue_key, (), 0, 2)
        observation = jnp.full(self.observation_shape, cue, jnp.uint8)
        return self._timestep(jnp.int32(0), cue, key, jnp.float32(0), jnp.int32(0),
                              episode_info(observation, 0.0, 0.0, 0, False))

    def step(self, timestep, action):
        state = timestep.state
        t = state.t + 1
        if self.kind == "cue":
            reward = (action == state.cue).astype(jnp.float32)
        else:
            reward = jnp.float32(1.0)
        terminated = jnp.asarray(self.kind != "endless")
        truncated = ~terminated & (t >= self.max_steps)
        step_type = jnp.where(terminated, StepType.TERMINATION, jnp.where(truncated, StepType.TRUNCATION, 0))
        done = terminated | truncated
        key, reset_key = jax.random.split(state.key)
        stepped = self._timestep(t, state.cue, key, reward, step_type.astype(jnp.int32),
                                 episode_info(timestep.observation, 0.0, reward, t, reward > 0))
        fresh = self.reset(reset_key)
        return stepped.replace(
            t=jnp.where(done, 0, t),
            observation=jnp.where(done, fresh.observation, stepped.observation),
            state=jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh.state, stepped.state),
        )
