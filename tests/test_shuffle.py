"""The epochs' shuffle: a permutation, and minibatches as mixed as a uniform shuffle makes them."""

import jax
import numpy as np
import pytest

from student import shuffle


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 4097, 16384])
def test_it_is_a_permutation_of_the_batch_for_any_size(n):
    draw = jax.jit(shuffle.permutation, static_argnums=1)
    orders = [np.asarray(draw(jax.random.PRNGKey(seed), n)) for seed in range(3)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    if n > 3:
        assert not np.array_equal(orders[0], orders[1])  # each key its own order


@pytest.mark.parametrize("n, minibatches", [(16384, 4), (12000, 4), (8192, 8)])
def test_frames_any_power_of_two_apart_share_a_minibatch_as_often_as_under_a_uniform_shuffle(n, minibatches):
    # A rollout's frames lie [steps, environments]: neighbouring environments are 1 apart, one environment's
    # consecutive steps num_envs apart. Under a uniform shuffle two given frames share one of the minibatches
    # with probability (size - 1) / (n - 1), and the share of the n - stride pairs that do is within 0.01 of
    # it (two standard deviations or so); with every one of 30 keys a power-of-two stride comes within 0.03.
    size = n // minibatches
    expected = (size - 1) / (n - 1)
    draw = jax.jit(shuffle.permutation, static_argnums=1)
    blocks = np.stack([np.asarray(draw(jax.random.PRNGKey(seed), n)) // size for seed in range(30)])
    for stride in [2 ** j for j in range(n.bit_length()) if 2 ** j < n]:
        shared = (blocks[:, :-stride] == blocks[:, stride:]).mean(1)
        assert np.abs(shared - expected).max() < 0.03, (stride, shared, expected)
    positions = blocks.mean(0)  # where each frame lands, on average: nowhere in particular
    assert abs(np.corrcoef(np.arange(n), positions)[0, 1]) < 0.05
