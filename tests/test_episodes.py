"""Whole episodes (envs/episodes.py): in evaluation each episode's first end is what is recorded,
whether the batch plays on after it or stops once every episode has ended; a GIF's episodes,
played in one program, are drawn as stepping one at a time draws them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import teacher_cache
from envs import codes
from envs.episodes import episodes_frames, run_episodes, summary
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


def one_step_at_a_time(env, act, key, max_frames):
    """An episode's pictures drawn as the environment is stepped from the host, one action at a time."""
    step, act = jax.jit(env.step), jax.jit(act)
    key, reset_key = jax.random.split(key)
    timestep = jax.jit(env.reset)(reset_key)
    frames = [envs.render(timestep)]
    while len(frames) < max_frames and not timestep.is_done():
        key, action_key = jax.random.split(key)
        timestep = step(timestep, act(timestep.observation, action_key))
        frames.append(envs.render(timestep))
    return frames


@pytest.mark.parametrize("task, policy, max_frames", [("SimpleDoorKey", "teacher", MAX_STEPS + 1),
                                                      ("SimpleDoorKey", "random", 8),
                                                      ("Navix-DoorKey-5x5-v0", "random", 8)])
def test_a_gifs_episodes_are_drawn_as_one_step_at_a_time_draws_them(env, task, policy, max_frames):
    if task != "SimpleDoorKey":
        env = envs.make(task, autoreset=False)
    table = teacher_cache.load("SimpleDoorKey")

    def act(observation, key, table):  # the table an argument of the program, as a student's parameters are
        if policy == "random":
            return random_policy(observation[None], key)[0]
        return jax.random.categorical(key, jnp.log(prior(table, observation[None])), axis=-1)[0]

    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    drawn = episodes_frames(env, act, keys, max_frames, table)
    for key, frames in zip(keys, drawn):
        expected = one_step_at_a_time(env, lambda observation, key: act(observation, key, table), key, max_frames)
        assert len(frames) == len(expected) and frames[0].ndim == 3
        for frame, expected_frame in zip(frames, expected):
            np.testing.assert_array_equal(frame, expected_frame)
    lengths = [len(frames) for frames in drawn]
    if policy == "teacher":  # each episode ends where it succeeds, at different steps
        assert max(lengths) < max_frames and len(set(lengths)) > 1
    else:  # cut at max_frames
        assert lengths == [max_frames] * 3
