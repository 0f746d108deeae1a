"""Whole evaluation episodes (envs/episodes.py): each episode's first end is what is recorded,
whether the batch plays on after it or stops once every episode has ended."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import teacher_cache
from envs import codes
from envs.episodes import run_episodes, summary
from teacher_cache.prior import prior

MAX_STEPS = 60


@pytest.fixture(scope="module")
def env():
    return envs.make("SimpleDoorKey", autoreset=False, max_steps=MAX_STEPS)


def play(env, policy, episodes=64, seed=0):
    return jax.device_get(jax.jit(lambda key: run_episodes(env, policy, episodes, key))(jax.random.PRNGKey(seed)))


def random_policy(observations, key):
    return jax.random.randint(key, observations.shape[:1], 0, codes.DONE)  # left ... toggle


def test_an_episode_that_never_ends_is_cut_at_the_step_limit(env):
    outcome = play(env, lambda observations, key: jnp.full(observations.shape[:1], codes.LEFT))
    assert (outcome["length"] == MAX_STEPS).all() and not outcome["success"].any()
    assert (outcome["return"] == 0).all()


def test_each_episode_records_its_own_end(env):
    outcome = play(env, random_policy, episodes=256)
    lengths, successes, returns = outcome["length"], outcome["success"], outcome["return"]
    assert ((lengths >= 1) & (lengths <= MAX_STEPS)).all()
    # SimpleDoorKey ends early only by opening the door, rewarded 1 - 0.9 t / max_steps.
    np.testing.assert_allclose(returns[successes], 1 - 0.9 * lengths[successes] / MAX_STEPS, rtol=1e-5)
    assert (lengths[~successes] == MAX_STEPS).all() and (returns[~successes] == 0).all()


def test_a_good_policy_ends_every_episode_early_and_keeps_each_end(env):
    table = teacher_cache.load("SimpleDoorKey")

    def teacher(observations, key):
        return jax.random.categorical(key, jnp.log(prior(table, observations)), axis=-1)

    outcome = play(env, teacher, episodes=128)
    lengths, successes = outcome["length"], outcome["success"]
    assert summary(outcome)["success_rate"] > 0.9 and (lengths >= 1).all()
    assert len(np.unique(lengths[successes])) > 3  # episodes ended at different steps, each kept its own
    np.testing.assert_allclose(outcome["return"][successes], 1 - 0.9 * lengths[successes] / MAX_STEPS, rtol=1e-5)
