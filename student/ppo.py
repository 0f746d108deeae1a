"""PPO with the teacher's distillation term, as one compiled program.

`Learner(config, env, table)` builds the pure functions; `chunk(state, hparams)` runs
`updates_per_chunk` updates (rollout -> teacher prior -> advantages -> epochs of
minibatch steps) inside one `lax.scan` and returns the stacked metrics. Seeds are a
batch axis: `jax.vmap(learner.chunk, in_axes=(0, None))`.
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

import teacher_cache
from student import gae
from student.config import Hyperparams, TrainConfig, distill_coefficient
from student import network as student_network
from student.network import ActorCritic, categories_for


class Transition(NamedTuple):
    """One step of every environment of a rollout."""

    cells: jax.Array  # int16[N, cells]: the network's inputs for the observation
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    final_value: jax.Array  # value of the ended episode's last observation, where truncated
    teacher: jax.Array  # float32[N, A]: π_T of `observation` (zeros without a teacher)
    success: jax.Array  # the episode ended here in success
    episode_return: jax.Array  # valid where done
    episode_length: jax.Array  # valid where done


class TrainState(struct.PyTreeNode):
    """Everything a run needs to continue exactly: checkpointed whole."""

    params: dict
    opt_state: optax.OptState
    timestep: object  # the batch of environments, mid-episode
    key: jax.Array
    update: jax.Array  # int32: updates done


@dataclasses.dataclass(frozen=True)
class Learner:
    """The pure functions of one training configuration."""

    config: TrainConfig
    env: object
    table: teacher_cache.Table | None

    @property
    def network(self) -> ActorCritic:
        net = self.config.network
        num_codes = int(np.prod(categories_for(self.env.observation_shape)))
        return ActorCritic(self.env.num_actions, num_codes, net.embed, net.hidden)

    def inputs(self, observation: jax.Array) -> jax.Array:
        """The network's inputs for a batch of observations (egocentric for our memory maps)."""
        egocentric = student_network.is_memory_map(self.env.observation_shape)
        return student_network.inputs(observation, self.config.network.egocentric_radius if egocentric else 0)

    def policy(self, params, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(logits, value) for a batch of observations."""
        return self.network.apply(params, self.inputs(observation))

    @property
    def optimizer(self) -> optax.GradientTransformation:
        # The learning rate and clip norm are applied by hand, so that they can be traced.
        return optax.scale_by_adam(eps=1e-5)

    def init(self, seed: int) -> TrainState:
        """A fresh training state for one seed."""
        key = jax.random.PRNGKey(seed)
        key, param_key, env_key = jax.random.split(key, 3)
        timestep = jax.vmap(self.env.reset)(jax.random.split(env_key, self.config.num_envs))
        params = self.network.init(param_key, self.inputs(timestep.observation[:1]))
        return TrainState(params, self.optimizer.init(params), timestep, key, jnp.int32(0))

    def teacher_prior(self, observation: jax.Array, key: jax.Array) -> jax.Array:
        """π_T for a batch of observations (zeros for plain PPO)."""
        if self.table is None:
            return jnp.zeros(observation.shape[:1] + (self.env.num_actions,), jnp.float32)
        return teacher_cache.prior(self.table, observation, hard=self.config.method == "llm4teach-hard", key=key)

    def rollout(self, state: TrainState) -> tuple[TrainState, Transition]:
        """num_steps steps of every environment with the current policy."""

        def one_step(carry, _):
            timestep, key = carry
            key, action_key, teacher_key = jax.random.split(key, 3)
            cells = self.inputs(timestep.observation)
            logits, value = self.network.apply(state.params, cells)
            action = jax.random.categorical(action_key, logits)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
            teacher = self.teacher_prior(timestep.observation, teacher_key)
            following = jax.vmap(self.env.step)(timestep, action)
            done = following.is_done()
            # A truncation bootstraps from the value of the episode's last observation
            # (the env already shows the next episode's first); skipped when none truncates.
            final_value = jax.lax.cond(
                following.is_truncation().any(),
                lambda: self.policy(state.params, following.info["final_observation"])[1],
                lambda: jnp.zeros_like(value),
            )
            transition = Transition(
                cells=cells.astype(jnp.int16),
                action=action,
                log_prob=log_prob,
                value=value,
                reward=following.reward,
                terminated=following.is_termination(),
                done=done,
                final_value=final_value,
                teacher=teacher,
                success=following.info["success"] & done,
                episode_return=following.info["episode_return"],
                episode_length=following.info["episode_length"],
            )
            return (following, key), transition

        (timestep, key), transitions = jax.lax.scan(
            one_step, (state.timestep, state.key), None, length=self.config.num_steps
        )
        return state.replace(timestep=timestep, key=key), transitions

    def loss(self, params, batch: dict, hparams: Hyperparams, distill: jax.Array):
        """PPO's clipped objective + value loss - entropy bonus + λ · CE(π_T, π_θ)."""
        logits, values = self.network.apply(params, batch["cells"])
        log_probs = jax.nn.log_softmax(logits)
        log_prob = jnp.take_along_axis(log_probs, batch["action"][:, None], axis=-1)[:, 0]
        ratio = jnp.exp(log_prob - batch["log_prob"])
        advantage = batch["advantage"]
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        clipped_ratio = jnp.clip(ratio, 1.0 - hparams.clip_eps, 1.0 + hparams.clip_eps)
        policy_loss = -jnp.minimum(ratio * advantage, clipped_ratio * advantage).mean()
        clipped_values = batch["value"] + jnp.clip(values - batch["value"], -hparams.clip_eps, hparams.clip_eps)
        value_loss = 0.5 * jnp.maximum(
            jnp.square(values - batch["target"]), jnp.square(clipped_values - batch["target"])
        ).mean()
        entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
        cross_entropy = -(batch["teacher"] * log_probs).sum(-1).mean()
        total = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy + distill * cross_entropy
        return total, {
            "loss": total,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "distill_loss": cross_entropy,
            "approx_kl": ((ratio - 1.0) - jnp.log(ratio)).mean(),
        }

    def gradient_step(self, params, opt_state, batch, hparams: Hyperparams, distill):
        """One clipped Adam step on one minibatch."""
        grads, metrics = jax.grad(self.loss, has_aux=True)(params, batch, hparams, distill)
        norm = optax.tree.norm(grads)
        grads = jax.tree.map(lambda g: g * jnp.minimum(1.0, hparams.max_grad_norm / (norm + 1e-6)), grads)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: p - hparams.learning_rate * u, params, updates)
        return params, opt_state, metrics

    def update(self, state: TrainState, hparams: Hyperparams) -> tuple[TrainState, dict]:
        """One PPO update: rollout, advantages, epochs of minibatch steps; returns its metrics."""
        config = self.config
        frames = state.update.astype(jnp.float32) * config.batch_size
        distill = distill_coefficient(hparams, frames)
        state, rollout = self.rollout(state)

        _, last_value = self.policy(state.params, state.timestep.observation)
        next_values = jnp.concatenate([rollout.value[1:], last_value[None]])
        next_values = jnp.where(rollout.done, rollout.final_value, next_values)
        advantage, target = gae.advantages(
            rollout.reward, rollout.value, next_values, rollout.terminated.astype(jnp.float32),
            rollout.done.astype(jnp.float32), hparams.gamma, hparams.gae_lambda,
        )
        data = {
            "cells": rollout.cells,
            "action": rollout.action,
            "log_prob": rollout.log_prob,
            "value": rollout.value,
            "advantage": advantage,
            "target": target,
            "teacher": rollout.teacher,
        }
        data = jax.tree.map(lambda x: x.reshape((config.batch_size,) + x.shape[2:]), data)

        def epoch(carry, key):
            params, opt_state = carry
            order = jax.random.permutation(key, config.batch_size)
            minibatches = jax.tree.map(
                lambda x: x[order].reshape((config.ppo.num_minibatches, config.minibatch_size) + x.shape[1:]), data
            )

            def minibatch(carry, batch):
                params, opt_state, metrics = self.gradient_step(*carry, batch, hparams, distill)
                return (params, opt_state), metrics

            (params, opt_state), metrics = jax.lax.scan(minibatch, (params, opt_state), minibatches)
            return (params, opt_state), metrics

        key, epoch_key = jax.random.split(state.key)
        (params, opt_state), metrics = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(epoch_key, config.ppo.update_epochs)
        )
        metrics = jax.tree.map(jnp.mean, metrics)
        ended = rollout.done.astype(jnp.float32)
        metrics.update(
            distill_coefficient=distill,
            episodes=ended.sum(),
            successes=(rollout.success.astype(jnp.float32)).sum(),
            return_sum=(rollout.episode_return * ended).sum(),
            length_sum=(rollout.episode_length * ended).sum(),
            teacher_agreement=(rollout.teacher * jax.nn.one_hot(rollout.action, self.env.num_actions)).sum(-1).mean(),
        )
        state = state.replace(params=params, opt_state=opt_state, key=key, update=state.update + 1)
        return state, metrics

    def chunk(self, state: TrainState, hparams: Hyperparams) -> tuple[TrainState, dict]:
        """updates_per_chunk updates in one `lax.scan`; metrics stacked along a leading axis."""
        return jax.lax.scan(lambda s, _: self.update(s, hparams), state, None, length=self.config.updates_per_chunk)

    def act(self, params, observation: jax.Array, key: jax.Array, greedy: bool) -> jax.Array:
        """The student's actions for a batch of observations."""
        logits, _ = self.policy(params, observation)
        return jnp.argmax(logits, axis=-1) if greedy else jax.random.categorical(key, logits)
