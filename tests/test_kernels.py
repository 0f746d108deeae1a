"""The CPU forms: the epochs' shuffle is a permutation whose minibatches are as mixed as a uniform shuffle's, the
action draw has the softmax's frequencies, the lookup's gradient is autodiff's (the network's are in test_network)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from student import kernels


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 4097, 16384])
def test_it_is_a_permutation_of_the_batch_for_any_size(n):
    draw = jax.jit(kernels.bijective_permutation, static_argnums=1)
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
    draw = jax.jit(kernels.bijective_permutation, static_argnums=1)
    blocks = np.stack([np.asarray(draw(jax.random.PRNGKey(seed), n)) // size for seed in range(30)])
    for stride in [2 ** j for j in range(n.bit_length()) if 2 ** j < n]:
        shared = (blocks[:, :-stride] == blocks[:, stride:]).mean(1)
        assert np.abs(shared - expected).max() < 0.03, (stride, shared, expected)
    positions = blocks.mean(0)  # where each frame lands, on average: nowhere in particular
    assert abs(np.corrcoef(np.arange(n), positions)[0, 1]) < 0.05


def test_draw_samples_the_softmax_of_the_logits():
    """The rollout's action draw (the inverse of the cumulative distribution at one uniform number) has
    the frequencies of softmax(logits), over any batch shape, and never draws an action of probability 0."""
    logits = jnp.array([[0.0, 1.0, -1.0, 2.0, 0.5, -jnp.inf, 0.0],
                        [-jnp.inf, 3.0, -jnp.inf, -jnp.inf, 3.0, -jnp.inf, -jnp.inf],
                        [-jnp.inf] * 6 + [5.0]])
    draws = 200_000
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    actions = jax.jit(jax.vmap(lambda key: kernels.inverse_cdf_draw(key, logits)))(keys)
    assert actions.shape == (draws, 3) and actions.dtype == jnp.int32
    frequencies = jax.vmap(lambda a: jnp.bincount(a, length=7) / draws, in_axes=1)(actions)
    expected = jax.nn.softmax(logits)
    # 200,000 draws: a frequency's standard error is at most 0.0011; 0.006 is over 5 of them.
    np.testing.assert_allclose(frequencies, expected, atol=0.006)
    assert not bool(jnp.any((expected == 0) & (frequencies > 0)))
    assert kernels.inverse_cdf_draw(jax.random.PRNGKey(1), jnp.zeros((2, 4, 7))).shape == (2, 4)


def test_the_lookups_gradient_is_autodiffs_added_into_each_code_row():
    # Codes repeat (as they do in observations), in a batch of any shape, stored as int16 as a rollout keeps them.
    cells = jax.random.randint(jax.random.PRNGKey(1), (2, 3, 81), 0, 12).astype(jnp.int16)
    table = jax.random.normal(jax.random.PRNGKey(2), (20, 4))
    weights = jax.random.normal(jax.random.PRNGKey(3), (2, 3, 81, 4))
    ours = jax.jit(jax.grad(lambda t: (kernels._rows(t, cells) * weights).sum()))(table)
    autodiff = jax.jit(jax.grad(lambda t: (jnp.take(t, cells, axis=0) * weights).sum()))(table)
    np.testing.assert_array_equal(ours, autodiff)
    assert (ours[12:] == 0).all() and (ours[:12] != 0).all()


def test_the_switch_picks_the_cpu_forms_on_a_cpu_only(monkeypatch):
    assert kernels.Kernels.for_devices(1) == kernels.Kernels(cpu=True, halves=True)  # these tests run on a CPU
    assert kernels.Kernels.for_devices(2) == kernels.Kernels(cpu=True, halves=False)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert kernels.Kernels.for_devices(1) == kernels.Kernels()
    order = kernels.Kernels().permutation(jax.random.PRNGKey(0), 100)
    np.testing.assert_array_equal(np.sort(np.asarray(order)), np.arange(100))
    assert kernels.Kernels().draw(jax.random.PRNGKey(0), jnp.zeros((5, 7))).dtype == jnp.int32
