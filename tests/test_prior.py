"""The teacher's action prior: a distribution, jittable and vmappable; the teacher alone solves SimpleDoorKey."""

import jax
import numpy as np
import pytest

import envs
import teacher_cache
from teacher_cache.evaluate import evaluate
from tests.conftest import reset


@pytest.mark.parametrize("task", envs.TASKS)
def test_prior_sums_to_one_everywhere_over_random_rollouts(task):
    env, table = envs.make(task), teacher_cache.load(task)
    n = 128

    def body(carry, key):
        ts = carry
        soft = teacher_cache.prior(table, ts.observation)
        hard = teacher_cache.prior(table, ts.observation, hard=True, key=key)
        ts = jax.vmap(env.step)(ts, jax.random.randint(key, (n,), 0, 7))
        return ts, (soft, hard)

    ts = reset(env, jax.random.PRNGKey(0), n)
    _, (soft, hard) = jax.jit(lambda ts: jax.lax.scan(body, ts, jax.random.split(jax.random.PRNGKey(1), 40)))(ts)
    soft, hard = np.asarray(soft), np.asarray(hard)
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)
    assert (soft >= 0).all()
    np.testing.assert_array_equal(hard.sum(-1), 1.0)
    assert set(np.unique(hard)) <= {0.0, 1.0}  # the hard teacher is one plan's one-hot action


def test_prior_of_one_map_equals_the_batched_prior_and_vmaps():
    env, table = envs.make("ColoredDoorKey"), teacher_cache.load("ColoredDoorKey")
    ts = reset(env, jax.random.PRNGKey(3), 16)
    batched = jax.jit(lambda o: teacher_cache.prior(table, o))(ts.observation)
    single = jax.jit(jax.vmap(lambda o: teacher_cache.prior(table, o)))(ts.observation)
    np.testing.assert_allclose(batched, single, rtol=1e-6)
    shape_of = lambda o: jax.eval_shape(lambda o: teacher_cache.prior(table, o), o).shape  # noqa: E731
    assert shape_of(ts.observation[0]) == (7,)
    assert shape_of(ts.observation.reshape(4, 4, 10, 10, 4)) == (4, 4, 7)


def test_a_vmap_of_the_prior_is_one_batch_of_maps_whatever_is_batched():
    # vmap folds the mapped axis into the maps' batch (the search's while_loop is not batched). Whatever is
    # mapped, the answers are those of one call per slice: maps and keys (the hard teacher), maps under two
    # vmaps, the maps shared by every slice, a batch of tables.
    env, table = envs.make("ColoredDoorKey"), teacher_cache.load("ColoredDoorKey")
    ts = reset(env, jax.random.PRNGKey(4), 12)
    step = jax.jit(jax.vmap(env.step))
    for _ in range(6):
        ts = step(ts, jax.random.randint(jax.random.PRNGKey(5), (12,), 0, 3))
    maps = ts.observation.reshape(3, 4, *ts.observation.shape[1:])
    keys = jax.random.split(jax.random.PRNGKey(6), 3)

    def one_call_per_slice(fn, *args):
        return np.stack([np.asarray(jax.jit(fn)(*[a[i] for a in args])) for i in range(3)])

    hard = lambda o, k: teacher_cache.prior(table, o, hard=True, key=k)  # noqa: E731
    np.testing.assert_array_equal(jax.jit(jax.vmap(hard))(maps, keys), one_call_per_slice(hard, maps, keys))
    soft = lambda o: teacher_cache.prior(table, o)  # noqa: E731
    expected = one_call_per_slice(soft, maps)
    np.testing.assert_array_equal(jax.jit(jax.vmap(jax.vmap(soft)))(maps), expected)
    shared = jax.jit(jax.vmap(lambda _: soft(maps[0]), axis_size=3))(np.arange(3))
    np.testing.assert_array_equal(shared, np.broadcast_to(expected[0], shared.shape))
    tables = jax.tree.map(lambda x: np.stack([x] * 3), table)
    by_table = jax.jit(jax.vmap(lambda t, o: teacher_cache.prior(t, o)))(tables, maps)
    np.testing.assert_array_equal(by_table, expected)


def test_soft_prior_mixes_plans_by_probability():
    # "Agent sees <key>, <door>": 0.84 + 0.08 + 0.02 + 0.02 of the plans start by going to the key,
    # 0.04 ("pick up <key>, ...") pick up at once.
    ts = envs.from_layout("SimpleDoorKey", {"room": [6, 6], "door": [3, 0, "red"], "keys": [[4, 1, "red"]],
                                             "agent": [3, 2, 3]})
    pi = np.asarray(jax.jit(teacher_cache.prior)(teacher_cache.load("SimpleDoorKey"), ts.observation))
    assert pi[3] == pytest.approx(0.04, abs=1e-6)  # pickup
    assert pi[2] == pytest.approx(0.96, abs=1e-6)  # forward: the first step to face the key


def test_hard_teacher_needs_a_key():
    ts = envs.make("SimpleDoorKey").reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="key="):
        teacher_cache.prior(teacher_cache.load("SimpleDoorKey"), ts.observation, hard=True)


def test_the_soft_teacher_alone_solves_simple_doorkey():
    result = evaluate(teacher_cache.load("SimpleDoorKey"), "SimpleDoorKey", episodes=200, hard=False)
    assert result["success_rate"] >= 0.95
    assert 0 < result["mean_length"] < 150 and 0 < result["mean_return"] <= 1
