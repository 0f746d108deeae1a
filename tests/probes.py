"""Probe environments with known answers, behind the environments' interface (tests only)."""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from navix import StepType, Timestep

from envs.environment import Environment


class ProbeState(struct.PyTreeNode):
    t: jax.Array
    cue: jax.Array
    key: jax.Array


@dataclasses.dataclass(frozen=True)
class Probe(Environment):
    """A one-cell observation `cue` in {0, 1}; `kind` sets the rule:

    - "constant": reward 1 each step, terminates after one step: V = 1.
    - "cue": reward 1 when the action equals the cue, then terminates: π(cue) → 1.
    - "endless": reward 1 each step, never terminates, truncated after `max_steps`:
      with bootstrapping through truncation V = 1 / (1 - γ) at every step.
    """

    kind: str
    max_steps: int = 1
    num_actions = 2
    observation_shape = (1, 1, 1)
    observation_categories = (2,)
    memory_map = False

    def _timestep(self, t, cue, key, reward, step_type, success):
        observation = jnp.full(self.observation_shape, cue, jnp.uint8)
        return Timestep(t=t, observation=observation, action=jnp.int32(0), reward=reward,
                        step_type=step_type, state=ProbeState(t, cue, key), info={"success": success})

    def begin(self, key, previous=None):
        key, cue_key = jax.random.split(key)
        cue = jax.random.randint(cue_key, (), 0, 2)
        return self._timestep(jnp.int32(0), cue, key, jnp.float32(0), jnp.int32(0), False)

    def transition(self, timestep, action):
        state = timestep.state
        t = state.t + 1
        if self.kind == "cue":
            reward = (action == state.cue).astype(jnp.float32)
        else:
            reward = jnp.float32(1.0)
        terminated = jnp.asarray(self.kind != "endless")
        truncated = ~terminated & (t >= self.max_steps)
        step_type = jnp.where(terminated, StepType.TERMINATION, jnp.where(truncated, StepType.TRUNCATION, 0))
        return self._timestep(t, state.cue, state.key, reward, step_type, reward > 0)
