"""The learner pinned on probes with known answers, and on the teacher."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import teacher_cache
from student.config import DistillConfig, Hyperparams, NetworkConfig, PPOConfig, TrainConfig, distill_coefficient
from student.ppo import Learner
from tests.probes import Probe


def trained(env, config, table=None, chunks=1, seed=0):
    learner = Learner(config, env, table)
    hparams = Hyperparams.from_config(config)
    state = learner.init(seed)
    chunk = jax.jit(learner.chunk)
    for _ in range(chunks):
        state, metrics = chunk(state, hparams)
    return learner, state, metrics


def probe_config(**ppo):
    return TrainConfig(method="ppo", num_envs=32, num_steps=8, updates_per_chunk=60,
                       ppo=PPOConfig(**{"learning_rate": 3e-3, **ppo}))


def values_and_policy(learner, state, cue):
    logits, value = learner.policy(state.params, jnp.full((1, 1, 1, 1), cue, jnp.uint8))
    return float(value[0]), np.asarray(jax.nn.softmax(logits[0]))


def test_probe_constant_reward_learns_its_value():
    learner, state, _ = trained(Probe("constant"), probe_config(ent_coef=0.0))
    for cue in (0, 1):
        assert values_and_policy(learner, state, cue)[0] == pytest.approx(1.0, abs=0.1)


def test_probe_observation_dependent_reward_learns_the_policy():
    learner, state, _ = trained(Probe("cue"), probe_config(ent_coef=0.0))
    for cue in (0, 1):
        value, policy = values_and_policy(learner, state, cue)
        assert policy[cue] > 0.9 and value == pytest.approx(1.0, abs=0.15)


def test_probe_truncation_is_bootstrapped_not_treated_as_an_end():
    # Reward 1 forever, cut off every 4 steps: V = 1 / (1 - γ) = 2, not the 1..2 of a 4-step horizon.
    learner, state, _ = trained(Probe("endless", max_steps=4), probe_config(gamma=0.5, ent_coef=0.0), chunks=2)
    for cue in (0, 1):
        assert values_and_policy(learner, state, cue)[0] == pytest.approx(2.0, abs=0.15)


class Unrewarded:
    """A task with its rewards removed (its teacher still speaks)."""

    def __init__(self, env):
        self.env = env
        self.max_steps, self.num_actions, self.observation_shape = env.max_steps, env.num_actions, env.observation_shape

    def reset(self, key):
        return self.env.reset(key)

    def step(self, timestep, action):
        return self.env.step(timestep, action).replace(reward=jnp.float32(0.0))


def test_with_a_large_lambda_and_no_reward_the_policy_converges_to_the_teacher():
    env, table = envs.make("SimpleDoorKey"), teacher_cache.load("SimpleDoorKey")
    # A network that sees the whole room from anywhere (radius 8), so it can represent the teacher exactly.
    config = TrainConfig(num_envs=64, num_steps=16, updates_per_chunk=40, network=NetworkConfig(8, 64, 8),
                         distill=DistillConfig("custom", 10.0, 0.0, 10.0, 10**9), ppo=PPOConfig(ent_coef=0.0))
    learner = Learner(config, Unrewarded(env), table)

    def kl_to_teacher(state):
        observations = state.timestep.observation
        teacher = teacher_cache.prior(table, observations)
        logits, _ = learner.policy(state.params, observations)
        return float((teacher * (jnp.log(teacher + 1e-9) - jax.nn.log_softmax(logits))).sum(-1).mean())

    untrained = kl_to_teacher(learner.init(0))
    _, state, _ = trained(Unrewarded(env), config, table, chunks=2)
    print(f"KL(teacher || student): untrained {untrained:.3f}, trained {kl_to_teacher(state):.3f}")
    assert untrained > 1.0 and kl_to_teacher(state) < 0.2 * untrained


def test_distillation_schedule_in_frames():
    config = TrainConfig(distill=DistillConfig("custom", start=10.0, decay_per_frame=0.01, floor=0.1, stop_frame=2000))
    hparams = Hyperparams.from_config(config)
    at = lambda frames: float(distill_coefficient(hparams, frames))
    assert at(0) == pytest.approx(10.0) and at(500) == pytest.approx(5.0)
    assert at(1999) == pytest.approx(0.1) and at(2000) == 0.0
    authors = DistillConfig("authors").resolved()
    assert authors.start == 10.0 and authors.floor == 0.1 and authors.stop_frame == 3000 * 1500
    assert Hyperparams.from_config(TrainConfig(method="ppo")).lambda_start == 0.0


def test_seeds_are_a_batch_axis():
    config = TrainConfig(num_envs=16, num_steps=8, updates_per_chunk=2, seeds=(0, 1, 2))
    learner = Learner(config, envs.make("SimpleDoorKey"), teacher_cache.load("SimpleDoorKey"))
    states = jax.vmap(learner.init)(jnp.asarray(config.seeds))
    states, metrics = jax.jit(jax.vmap(learner.chunk, in_axes=(0, None)))(states, Hyperparams.from_config(config))
    assert metrics["loss"].shape == (3, 2)
    assert not np.allclose(metrics["loss"][0], metrics["loss"][1])  # the seeds differ


def test_a_sweep_over_numeric_hyperparameters_is_a_vmap():
    config = TrainConfig(num_envs=16, num_steps=4, updates_per_chunk=2)
    learner = Learner(config, envs.make("SimpleDoorKey"), teacher_cache.load("SimpleDoorKey"))
    base = Hyperparams.from_config(config)
    sweep = jax.tree.map(lambda x: jnp.stack([x, x]), base).replace(
        learning_rate=jnp.array([1e-4, 1e-2]), lambda_start=jnp.array([0.0, 10.0]))
    states = jax.vmap(learner.init)(jnp.array([0, 0]))  # one seed twice: only the hyperparameters differ
    start = learner.init(0).params
    states, metrics = jax.jit(jax.vmap(learner.chunk))(states, sweep)
    np.testing.assert_allclose(metrics["distill_coefficient"][:, 0], [0.1, 10.0])  # 0.1: the floor

    def moved(i):
        squares = jax.tree.map(lambda p, q: jnp.sum((p[i] - q) ** 2), states.params, start)
        return float(sum(jax.tree.leaves(squares)))

    assert moved(1) > 10 * moved(0)  # the larger learning rate moved the parameters further
