"""Random layouts over many resets, and explicit layouts."""

import collections

import jax
import numpy as np
import pytest

import envs
from envs import codes

NUM_RESETS = 10_000


@pytest.fixture(scope="module", params=envs.TASKS)
def worlds(request):
    """(task name, numpy state) of NUM_RESETS vmapped resets."""
    env = envs.make(request.param)
    keys = jax.random.split(jax.random.PRNGKey(7), NUM_RESETS)
    return request.param, jax.device_get(jax.jit(jax.vmap(env.reset))(keys).state)


def room_sizes(grid):
    """(widths, heights) from the walls and the door."""
    structure = np.isin(grid[..., 0], (codes.WALL, codes.DOOR))
    widths = structure.any(axis=1).sum(axis=1)
    heights = structure.any(axis=2).sum(axis=1)
    return widths, heights


def test_room_sizes_cover_5_to_10_about_uniformly(worlds):
    _, state = worlds
    for sizes in room_sizes(state.grid):
        counts = collections.Counter(sizes.tolist())
        assert sorted(counts) == list(range(5, 11))
        assert all(abs(c - NUM_RESETS / 6) < 0.15 * NUM_RESETS / 6 for c in counts.values())


def test_door_is_locked_on_the_wall_not_a_corner_on_all_four_walls(worlds):
    _, state = worlds
    widths, heights = room_sizes(state.grid)
    sides = collections.Counter()
    for grid, w, h in zip(state.grid, widths, heights):
        (door,) = np.argwhere(grid[..., 0] == codes.DOOR)
        y, x = door
        assert grid[y, x, 2] == codes.LOCKED
        corner = x in (0, w - 1) and y in (0, h - 1)
        assert not corner and (x in (0, w - 1) or y in (0, h - 1))
        sides[(x == w - 1, y == h - 1, x == 0, y == 0)] += 1
    assert len(sides) == 4 and all(c > 0.2 * NUM_RESETS for c in sides.values())


def door_front(grid):
    """(y, x) of the cell just inside the door."""
    (door,) = np.argwhere(grid[..., 0] == codes.DOOR)
    y, x = door
    widths, heights = room_sizes(grid[None])
    if x in (0, widths[0] - 1):
        return y, (1 if x == 0 else x - 1)
    return (1 if y == 0 else y - 1), x


def test_agent_keys_and_lava_inside_the_room_never_overlapping(worlds):
    name, state = worlds
    widths, heights = room_sizes(state.grid)
    expected_keys = 2 if name == "ColoredDoorKey" else 1
    expected_lava = 1 if name == "LavaDoorKey" else 0
    for grid, (ax, ay), w, h in zip(state.grid, state.agent_pos, widths, heights):
        assert 1 <= ax <= w - 2 and 1 <= ay <= h - 2
        assert grid[ay, ax, 0] == codes.EMPTY  # nothing under the agent
        for obj, count in ((codes.KEY, expected_keys), (codes.LAVA, expected_lava)):
            cells = np.argwhere(grid[..., 0] == obj)
            assert len(cells) == count
            assert all(1 <= x <= w - 2 and 1 <= y <= h - 2 for y, x in cells)


def test_keys_and_lava_avoid_the_cell_inside_the_door_where_the_task_says_so(worlds):
    name, state = worlds
    keys_at_front = lava_at_front = 0
    for grid in state.grid:
        y, x = door_front(grid)
        keys_at_front += grid[y, x, 0] == codes.KEY
        lava_at_front += grid[y, x, 0] == codes.LAVA
    assert lava_at_front == 0
    if name == "ColoredDoorKey":
        assert keys_at_front == 0
    else:
        assert keys_at_front > 0  # the authors' SimpleDoorKey and LavaDoorKey allow it


def test_colours(worlds):
    name, state = worlds
    door_colours = collections.Counter()
    for grid in state.grid:
        (door,) = np.argwhere(grid[..., 0] == codes.DOOR)
        door_colour = grid[door[0], door[1], 1]
        door_colours[int(door_colour)] += 1
        key_colours = sorted(grid[grid[..., 0] == codes.KEY][:, 1].tolist())
        if name == "ColoredDoorKey":
            assert door_colour == codes.BLUE and key_colours == [codes.RED, codes.BLUE]
        else:
            assert key_colours == [door_colour]
    if name != "ColoredDoorKey":
        assert sorted(door_colours) == list(range(6))


def test_layout_round_trip():
    layout = {
        "room": [7, 5],
        "door": [3, 4, "blue"],
        "keys": [[1, 1, "red"], [5, 3, "blue"]],
        "lava": [[2, 2]],
        "agent": [4, 1, codes.WEST],
        "carried": None,
    }
    assert envs.layout_of(envs.from_layout("ColoredDoorKey", layout)) == layout
    carrying = {**layout, "keys": [[1, 1, "red"]], "carried": "blue"}
    assert envs.layout_of(envs.from_layout("ColoredDoorKey", carrying)) == carrying


def test_random_layouts_round_trip(worlds):
    name, state = worlds
    for i in range(20):
        one = jax.tree.map(lambda a: a[i], state)
        timestep = envs.from_layout(name, envs.layouts.layout_from_world(one.grid, one.agent_pos, one.agent_dir,
                                                                         one.carrying))
        np.testing.assert_array_equal(timestep.state.grid, one.grid)


BASE = {"room": [6, 6], "door": [5, 2, "blue"], "agent": [2, 2, 0]}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"keys": [[2, 2, "blue"]]}, "overlaps"),
        ({"lava": [[3, 3]], "keys": [[3, 3, "red"]]}, "overlaps"),
        ({"door": [3, 3, "blue"]}, "not on the wall"),
        ({"door": [5, 0, "blue"]}, "not on the wall"),
        ({"door": [5, 5, "blue"]}, "not on the wall"),
        ({"room": [11, 6]}, "fit the grid"),
        ({"agent": [12, 2, 0]}, "outside the 10x10 grid"),
        ({"agent": [0, 2, 0]}, "not inside"),
        ({"agent": [2, 2, 7]}, "direction"),
        ({"keys": [[7, 2, "red"]]}, "not inside"),
        ({"keys": [[2, 3, "pink"]]}, "not one of red, green"),
        ({"door": [5, 2, "blue", "ajar"]}, "door state"),
        ({"goal": [1, 1]}, "unknown entries"),
        ({"agent": None}, "must start with [x, y]"),
    ],
)
def test_bad_layouts_get_clear_errors(change, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        envs.from_layout("SimpleDoorKey", {**BASE, **change})


def test_missing_parts_and_unknown_tasks_are_errors():
    with pytest.raises(ValueError, match="missing 'door'"):
        envs.from_layout("SimpleDoorKey", {"room": [5, 5], "agent": [2, 2, 0]})
    with pytest.raises(ValueError, match="unknown task 'DoorKey'"):
        envs.make("DoorKey")
    with pytest.raises(ValueError, match="no setting"):
        envs.make("SimpleDoorKey", room=5)
    with pytest.raises(ValueError, match="explicit layouts exist for"):
        envs.from_layout("Navix-DoorKey-8x8-v0", BASE)
