"""The memory-map observation: what is seen, what is remembered, what is hidden."""

import jax
import numpy as np
import pytest

import envs
from envs import codes, view
from envs.codes import FORWARD, LEFT, PICKUP, RIGHT
from tests.conftest import play, reset

ROOM = {"room": [6, 6], "door": [5, 2, "blue"], "keys": [], "lava": []}


def obs(timestep):
    return np.asarray(timestep.observation)


def test_observation_shape_dtype_and_unseen_cells():
    ts = envs.from_layout("SimpleDoorKey", {**ROOM, "agent": [2, 4, codes.NORTH]})
    o = obs(ts)
    assert o.shape == (10, 10, 4) and o.dtype == np.uint8
    seen = o[..., 0] != codes.UNSEEN
    # Facing north from (2, 4): rows 2..4, columns 1..3, all inside the room.
    expected = np.zeros((10, 10), bool)
    expected[2:5, 1:4] = True
    np.testing.assert_array_equal(seen, expected)
    assert (o[~seen][:, :3] == 0).all()


def test_memory_persists_across_steps():
    ts = envs.from_layout("SimpleDoorKey", {**ROOM, "agent": [2, 2, codes.NORTH], "keys": [[1, 1, "blue"]]})
    first = obs(ts)[..., 0] != codes.UNSEEN
    steps = play(ts, [RIGHT, RIGHT, RIGHT])
    seen = [obs(s)[..., 0] != codes.UNSEEN for s in steps]
    assert (seen[-1] >= first).all() and seen[-1].sum() > first.sum()
    assert obs(steps[-1])[1, 1, 0] == codes.KEY  # seen at the start, out of view now


def test_what_lies_behind_a_wall_is_not_seen():
    # Facing east at the wall: the wall column is seen, the cells beyond it are not.
    ts = envs.from_layout("SimpleDoorKey", {**ROOM, "agent": [4, 4, codes.EAST]})
    o = obs(ts)
    assert (o[3:6, 5, 0] == codes.WALL).all()
    assert (o[3:6, 6, 0] == codes.UNSEEN).all()


def test_what_lies_behind_a_locked_door_is_not_seen():
    ts = envs.from_layout("SimpleDoorKey", {**ROOM, "agent": [4, 2, codes.EAST]})
    o = obs(ts)
    assert o[2, 5, 0] == codes.DOOR and o[2, 5, 2] == codes.LOCKED
    assert (o[1:4, 6, 0] == codes.UNSEEN).all()


def test_carried_object_shows_at_the_agents_cell():
    ts = envs.from_layout("SimpleDoorKey", {**ROOM, "agent": [2, 2, codes.EAST], "keys": [[3, 2, "purple"]]})
    assert tuple(obs(ts)[2, 2, :3]) == (codes.EMPTY, 0, 0)
    (after,) = play(ts, [PICKUP])
    o = obs(after)
    assert tuple(o[2, 2, :3]) == (codes.KEY, codes.PURPLE, 0)
    assert tuple(o[2, 3, :3]) == (codes.EMPTY, 0, 0)  # the key left its cell


def test_direction_channel():
    ts = envs.from_layout("SimpleDoorKey", {**ROOM, "agent": [2, 2, codes.EAST]})
    steps = [ts] + play(ts, [RIGHT, RIGHT, LEFT, FORWARD])
    for s, (x, y, d) in zip(steps, [(2, 2, 0), (2, 2, 1), (2, 2, 2), (2, 2, 1), (2, 3, 1)]):
        direction = obs(s)[..., 3]
        assert direction[y, x] == d
        assert (np.delete(direction.ravel(), y * 10 + x) == codes.NO_DIRECTION).all()


def reference_visible(grid, x, y, direction):
    """The authors' rule, written out on MiniGrid's clipped 3x3 window in global coordinates."""
    height, width = grid.shape[:2]
    left, top = {0: (x, y - 1), 1: (x - 1, y), 2: (x - 2, y - 1), 3: (x - 1, y - 2)}[direction]
    xs = range(max(0, left), min(width, left + 3))
    ys = range(max(0, top), min(height, top + 3))
    mask = np.zeros((height, width), bool)
    mask[y, x] = True

    def clear(cx, cy):
        obj, state = grid[cy, cx, 0], grid[cy, cx, 2]
        return obj != codes.WALL and not (obj == codes.DOOR and state != codes.OPEN)

    step = 1 if direction in (0, 1) else -1
    lines = list(xs if direction in (0, 2) else ys)
    across = list(ys if direction in (0, 2) else xs)
    lines = lines if step == 1 else lines[::-1]
    for n, line in enumerate(lines):
        last = n == len(lines) - 1
        cell = (lambda a: (line, a)) if direction in (0, 2) else (lambda a: (a, line))
        ahead = (lambda a: (line + step, a)) if direction in (0, 2) else (lambda a: (a, line + step))
        for order, delta in ((across[:-1], 1), (across[:0:-1], -1)):
            for a in order:
                cx, cy = cell(a)
                if not mask[cy, cx] or not clear(cx, cy):
                    continue
                nx, ny = cell(a + delta)
                mask[ny, nx] = True
                if not last:
                    for b in (a, a + delta):
                        nx, ny = ahead(b)
                        mask[ny, nx] = True
    return mask


@pytest.mark.parametrize("name", envs.TASKS)
def test_visibility_matches_the_authors_rule_on_random_states(name):
    env = envs.make(name)
    ts = reset(env, jax.random.PRNGKey(3), 256)
    step = jax.jit(jax.vmap(env.step))
    visible = jax.jit(jax.vmap(view.visible_cells))
    rng = np.random.default_rng(0)
    for _ in range(30):
        ts = step(ts, rng.integers(0, 7, size=256))
        state = jax.device_get(ts.state)
        ours = np.asarray(visible(ts.state.grid, ts.state.agent_pos, ts.state.agent_dir))
        for i in range(256):
            x, y = state.agent_pos[i]
            expected = reference_visible(state.grid[i], x, y, int(state.agent_dir[i]))
            np.testing.assert_array_equal(ours[i], expected)
