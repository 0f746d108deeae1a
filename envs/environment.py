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


def reset_budget(num_envs: int) -> int | None:
    """The `budget` of `Environment.step_batch` for `num_envs` environments on this backend: on a CPU a
    sixteenth of them (resets cost a CPU in proportion to how many are drawn); elsewhere None, all at
    once (an accelerator draws them in parallel, in the time of one)."""
    return max(1, num_envs // 16) if jax.default_backend() == "cpu" else None


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
        stepped = self.advance(timestep, action)
        if not self.autoreset:
            return stepped
        done = stepped.is_done()
        return jax.tree.map(lambda new, old: jnp.where(done, new, old), self.renewed(stepped), stepped)

    def step_batch(self, timestep: Timestep, action: jax.Array, budget: int | None = None) -> Timestep:
        """`jax.vmap(self.step)` over the leading axis, bit for bit, drawing new episodes `budget` at a
        time for the environments whose episode ends (None: for all of them at once). Under `vmap` a
        reset is computed for every environment at every step, ending or not; on a CPU that is most of
        the step's cost, and a budget of a few per cent of the batch skips almost all of it (a step
        in which more episodes end draws them in as many rounds as it takes)."""
        stepped = jax.vmap(self.advance)(timestep, action)
        size = stepped.t.shape[0]
        if not self.autoreset:
            return stepped
        if budget is None or budget >= size:
            done = stepped.is_done()
            renewed = jax.vmap(self.renewed)(stepped)
            return jax.tree.map(lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (old.ndim - 1)), new, old),
                                renewed, stepped)

        def renew_some(carry):
            batch, pending = carry
            index = jnp.nonzero(pending, size=budget, fill_value=size)[0]  # `size`: no environment, dropped
            rows = jax.tree.map(lambda x: x[jnp.minimum(index, size - 1)], stepped)
            renewed = jax.vmap(self.renewed)(rows)
            batch = jax.tree.map(lambda x, new: x.at[index].set(new, mode="drop"), batch, renewed)
            return batch, pending.at[index].set(False, mode="drop")

        batch, _ = jax.lax.while_loop(lambda carry: carry[1].any(), renew_some, (stepped, stepped.is_done()))
        return batch

    def advance(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """`action` applied with the episode statistics, without reset."""
        stepped = self.transition(timestep, jnp.asarray(action, jnp.int32))
        running = timestep.info["return"] + stepped.reward
        return stepped.replace(
            step_type=jnp.asarray(stepped.step_type, jnp.int32),
            reward=jnp.asarray(stepped.reward, jnp.float32),
            info=episode_info(stepped.observation, running, running, stepped.t, stepped.info["success"]),
        )

    def renewed(self, stepped: Timestep) -> Timestep:
        """An ended step with the next episode's `t`, `observation` and `state` (and return 0) in it."""
        fresh = self.begin(jax.random.split(stepped.state.key)[1], stepped)
        return stepped.replace(t=fresh.t, observation=fresh.observation, state=fresh.state,
                               info={**stepped.info, "return": jnp.zeros_like(stepped.info["return"])})
