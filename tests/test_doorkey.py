"""The environment interface: automatic reset, episode statistics, batching, rendering."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import codes
from envs.codes import TOGGLE
from tests.conftest import play, reset


def test_an_ending_step_resets_within_itself():
    ts = envs.from_layout(
        "SimpleDoorKey",
        {"room": [6, 6], "door": [5, 2, "blue"], "agent": [4, 2, codes.EAST], "carried": "blue"},
        key=jax.random.PRNGKey(5),
    )
    (ended,) = play(ts, [TOGGLE], autoreset=True)
    assert ended.is_termination() and ended.reward > 0
    # The ending transition's reward and type, the new episode's state and observation.
    assert int(ended.t) == 0 and float(ended.info["return"]) == 0.0
    new_world = envs.layout_of(ended)
    assert len(new_world["door"]) == 3 and new_world["carried"] is None  # a locked door, an empty hand
    fresh = envs.from_layout("SimpleDoorKey", new_world)
    np.testing.assert_array_equal(ended.observation, fresh.observation)
    final = np.asarray(ended.info["final_observation"])
    assert tuple(final[2, 5, :3]) == (codes.DOOR, codes.BLUE, codes.OPEN)
    assert bool(ended.info["success"]) and int(ended.info["episode_length"]) == 1
    np.testing.assert_allclose(ended.info["episode_return"], 1 - 0.9 / 150, rtol=1e-6)
    # The next step is a real transition of the new episode, not a dummy one.
    (after,) = play(ended, [codes.LEFT], autoreset=True)
    assert int(after.t) == 1 and not after.is_done()


def test_batched_random_play_counts_real_episodes_only():
    env = envs.make("LavaDoorKey", max_steps=20)
    n, steps = 512, 60
    ts = reset(env, jax.random.PRNGKey(0), n)

    def body(ts, key):
        ts = jax.vmap(env.step)(ts, jax.random.randint(key, (n,), 0, 7))
        return ts, (ts.is_done(), ts.info["episode_length"], ts.t)

    keys = jax.random.split(jax.random.PRNGKey(1), steps)
    _, (done, lengths, ts_t) = jax.jit(lambda ts: jax.lax.scan(body, ts, keys))(ts)
    done, lengths, ts_t = map(np.asarray, (done, lengths, ts_t))
    assert done.sum() >= 2 * n  # at 20 steps each, every env ended at least twice in 60 steps
    assert (lengths[done] <= 20).all() and (lengths[done] >= 1).all()
    assert (ts_t[done] == 0).all()
    # Frames add up: each env's steps are exactly the lengths of its ended episodes plus the open one.
    np.testing.assert_array_equal(np.where(done, lengths, 0).sum(axis=0) + ts_t[-1], steps)


@pytest.mark.parametrize("task", ["LavaDoorKey", "Navix-DoorKey-5x5-v0"])
def test_step_batch_is_vmapped_step_bit_for_bit_drawing_new_episodes_a_few_at_a_time(task):
    # All episodes start together, and those still running at 20 steps are truncated together: over 64
    # to draw with a budget of 8, in as many rounds; other steps end none or (in lava) a few.
    env = envs.make(task, max_steps=20)
    n, steps = 256, 50
    ts = reset(env, jax.random.PRNGKey(0), n)

    def body(carry, key):
        vmapped, batched = carry
        action = jax.random.randint(key, (n,), 0, env.num_actions)
        vmapped, batched = jax.vmap(env.step)(vmapped, action), env.step_batch(batched, action, budget=8)
        same = jnp.stack([(a == b).all() for a, b in zip(jax.tree.leaves(vmapped), jax.tree.leaves(batched))])
        return (vmapped, batched), (same.all(), vmapped.is_done().sum())

    keys = jax.random.split(jax.random.PRNGKey(1), steps)
    _, (same, ended) = jax.jit(lambda ts: jax.lax.scan(body, (ts, ts), keys))(ts)
    assert np.asarray(same).all()
    ended = np.asarray(ended)
    assert ended.max() > 64 and (ended == 0).any()
    if task == "LavaDoorKey":  # random play walks into lava: episodes also end a few at a time
        assert ((ended > 0) & (ended <= 8)).any()


def test_jit_vmap_step_over_4096_environments():
    env = envs.make("ColoredDoorKey")
    n = 4096
    step = jax.jit(jax.vmap(env.step))
    ts = reset(env, jax.random.PRNGKey(0), n)
    for i in range(3):
        ts = step(ts, jax.random.randint(jax.random.PRNGKey(i), (n,), 0, 7))
    assert ts.observation.shape == (n, 10, 10, 4) and ts.observation.dtype == jnp.uint8
    assert ts.reward.shape == (n,) and ts.step_type.shape == (n,)
    assert env.observation_shape == (10, 10, 4) and env.num_actions == 7


def test_render_draws_the_grid_with_sprites():
    ts = envs.from_layout("LavaDoorKey", {"room": [5, 5], "door": [4, 2, "red"], "agent": [1, 1, 0], "lava": [[2, 2]]})
    image = envs.render(ts)
    assert image.shape == (320, 320, 3) and image.dtype == np.uint8
    assert image[:160, :160].std() > 0  # the room is drawn
    assert (image[200:, 200:] == 0).all()  # outside the room is black
