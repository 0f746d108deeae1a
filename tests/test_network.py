"""What the student sees: cell codes, the egocentric view under rotation, and the network's shapes."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import codes, view as envs_view
from student import network
from student.kernels import Kernels
from tests.conftest import reset

CATEGORIES = codes.MEMORY_MAP_CATEGORIES
DIRECTION_STRIDE = int(np.prod(CATEGORIES[:3]))  # a code's direction part: code // DIRECTION_STRIDE


@functools.cache
def visited_maps(task="ColoredDoorKey", n=64, steps=12):
    """Memory maps of random play: some keys seen, some held, all four headings."""
    env = envs.make(task)
    timestep = reset(env, jax.random.PRNGKey(3), n)
    step = jax.jit(jax.vmap(env.step))
    for i in range(steps):
        timestep = step(timestep, jax.random.randint(jax.random.PRNGKey(i), (n,), 0, 6))
    return np.asarray(timestep.observation)


def rotated(maps: np.ndarray) -> np.ndarray:
    """The maps turned a quarter anticlockwise (as drawn, y down), the agent's heading turned with them."""
    turned = np.rot90(maps, k=1, axes=(1, 2)).copy()
    heading = turned[..., 3]
    # east -> north, south -> east, west -> south, north -> west
    turned[..., 3] = np.where(heading == codes.NO_DIRECTION, heading, (heading + 3) % 4)
    return turned


def view(maps, radius=6):
    return np.asarray(network.inputs(jnp.asarray(maps), maps.shape[1:], CATEGORIES, radius))


def test_cell_codes_fold_the_channels_and_clip_out_of_range_values():
    cell = jnp.array([[[[5, 2, 0, 4], [40, 9, 9, 9]]]], jnp.uint8)  # a blue key; codes past every range
    folded = network.cell_codes(cell, CATEGORIES)
    chex.assert_shape(folded, (1, 2))
    assert int(folded[0, 0]) == 5 + 11 * 2 + 66 * 0 + 198 * 4
    assert int(folded[0, 1]) == 10 + 11 * 5 + 66 * 2 + 198 * 4


def test_the_egocentric_view_is_the_same_in_a_rotated_world():
    maps = visited_maps()
    original, turned = view(maps), view(rotated(maps))
    centre = original.shape[1] // 2  # the agent's own cell: its heading changed with the world
    others = np.arange(original.shape[1]) != centre
    np.testing.assert_array_equal(original[:, others], turned[:, others])
    np.testing.assert_array_equal(original[:, centre] % DIRECTION_STRIDE, turned[:, centre] % DIRECTION_STRIDE)


def test_the_egocentric_view_puts_what_lies_ahead_above_the_agent():
    layout = {"room": [8, 8], "door": [7, 3, "red"], "keys": [[4, 3, "red"]], "agent": [2, 3, codes.EAST]}
    timestep = envs.from_layout("SimpleDoorKey", layout)
    radius = 3
    cells = view(np.asarray(timestep.observation)[None], radius)[0].reshape(2 * radius + 1, 2 * radius + 1)
    # Two cells ahead of the agent (row radius - 2, centre column): the red key, seen in its first view.
    assert cells[radius - 2, radius] % DIRECTION_STRIDE == codes.KEY + 11 * codes.RED
    assert cells[radius, radius] // DIRECTION_STRIDE == codes.EAST  # the agent's own cell: its heading
    assert cells[radius + 3, radius] == 0  # behind the agent, never seen


def test_each_view_position_shows_the_cell_so_far_ahead_and_to_the_side_or_0_off_the_grid():
    # Maps of random cells, the agent anywhere facing any way; position (i, j) of the view shows the cell
    # (radius - i) steps ahead and (j - radius) to the right of the agent, written out cell by cell here.
    rng = np.random.default_rng(0)
    size, radius, n = 7, 4, 40
    maps = rng.integers(0, [11, 6, 3, 1], (n, size, size, 4)).astype(np.uint8)
    maps[..., 3] = codes.NO_DIRECTION
    agents = rng.integers(0, size, (n, 2))
    headings = rng.integers(0, 4, n)
    maps[np.arange(n), agents[:, 1], agents[:, 0], 3] = headings
    codes_ = np.asarray(network.cell_codes(jnp.asarray(maps), CATEGORIES)).reshape(n, size, size)
    seen = view(maps, radius).reshape(n, 2 * radius + 1, 2 * radius + 1)
    for k in range(n):
        forward, right = codes.DIRECTION_VECTORS[headings[k]], codes.DIRECTION_VECTORS[(headings[k] + 1) % 4]
        for i in range(2 * radius + 1):
            for j in range(2 * radius + 1):
                x, y = agents[k] + (radius - i) * forward + (j - radius) * right
                expected = codes_[k, y, x] if 0 <= x < size and 0 <= y < size else 0
                assert seen[k, i, j] == expected, (k, i, j)


def test_the_actor_critic_gives_logits_and_a_value_per_observation():
    cells = view(visited_maps()[:5])
    model = network.ActorCritic(num_actions=7, categories=CATEGORIES, embed=4, hidden=16)
    params = model.init(jax.random.PRNGKey(0), cells[:1])
    logits, value = model.apply(params, cells)
    chex.assert_shape([logits, value], [(5, 7), (5,)])
    chex.assert_tree_all_finite((logits, value))


@pytest.mark.parametrize("rows", [16, 15])  # an odd count takes the plain product for the halves
@pytest.mark.parametrize("kernels", [Kernels(cpu=True), Kernels(cpu=True, halves=True)])
def test_the_cpu_forms_are_the_same_function_with_the_same_gradients(rows, kernels):
    cells = jnp.asarray(view(visited_maps()[:rows]))
    plain = network.ActorCritic(num_actions=7, categories=CATEGORIES, embed=4, hidden=16)
    ours = plain.clone(kernels=kernels)
    params = plain.init(jax.random.PRNGKey(0), cells[:1])
    chex.assert_trees_all_equal(params, ours.init(jax.random.PRNGKey(0), cells[:1]))
    chex.assert_trees_all_close(plain.apply(params, cells), ours.apply(params, cells), rtol=1e-5, atol=1e-6)

    def loss(model):
        return lambda p: sum(jnp.square(out).sum() for out in model.apply(p, cells))

    chex.assert_trees_all_close(jax.grad(loss(plain))(params), jax.grad(loss(ours))(params), rtol=1e-4, atol=1e-6)


def test_the_same_parameters_as_nn_dense_initialised_alike():
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 5))
    for init in (nn.initializers.lecun_normal(), nn.initializers.orthogonal(0.01)):
        for narrow in (False, True):
            ours = network.Dense(3, init, narrow, Kernels(cpu=True, halves=True)).init(jax.random.PRNGKey(2), x)
            chex.assert_trees_all_equal(ours, nn.Dense(3, kernel_init=init).init(jax.random.PRNGKey(2), x))


@pytest.mark.parametrize("encoding, cpu", [("embed", False), ("onehot", False), ("onehot", True)])
def test_each_encoding_sees_position_object_colour_state_direction_and_the_carried_item(encoding, cpu):
    layout = {"room": [8, 8], "door": [7, 3, "red"], "keys": [[4, 3, "red"]], "agent": [2, 3, codes.EAST]}
    state = envs.from_layout("SimpleDoorKey", layout).state  # the whole room as seen, door and key included
    base = np.asarray(envs_view.memory_map(state.grid, jnp.ones_like(state.seen), state.agent_pos, state.agent_dir,
                                      state.carrying))
    changed = {
        "position": np.roll(base, 1, axis=0),
        "object": np.where(base[..., :1] == codes.KEY, codes.BALL, base[..., :1]),
        "colour": np.where(base[..., 1:2] == codes.RED, codes.BLUE, base[..., 1:2]),
        "door state": np.where(base[..., 2:3] == codes.LOCKED, codes.CLOSED, base[..., 2:3]),
        "direction": np.where(base[..., 3:] == codes.EAST, codes.SOUTH, base[..., 3:]),
    }
    maps = [base]
    for name, part in changed.items():
        if name == "position":
            maps.append(part)
            continue
        channel = {"object": 0, "colour": 1, "door state": 2, "direction": 3}[name]
        edited = base.copy()
        edited[..., channel] = part[..., 0]
        maps.append(edited)
    carrying = base.copy()
    carrying[3, 2, :3] = (codes.KEY, codes.RED, 0)  # the agent's cell shows the key it holds
    maps.append(carrying)
    cells = view(np.stack(maps).astype(np.uint8), radius=8)
    model = network.ActorCritic(num_actions=7, categories=CATEGORIES, embed=4, hidden=16, encoding=encoding,
                                kernels=Kernels(cpu=cpu))
    params = model.init(jax.random.PRNGKey(0), cells[:1])
    logits, _ = model.apply(params, cells)
    for i, name in enumerate([*changed, "carried item"], start=1):
        assert not np.allclose(logits[i], logits[0], atol=1e-7), f"{encoding} does not see the {name}"
