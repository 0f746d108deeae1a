"""MiniGrid's rules as our tasks apply them, one test per rule."""

import numpy as np
import pytest

import envs
from envs import codes
from envs.codes import DONE, DROP, FORWARD, LEFT, PICKUP, RIGHT, TOGGLE
from tests.conftest import play

ROOM = {"room": [6, 6], "door": [5, 2, "blue"], "keys": [], "lava": []}


def start(**parts):
    return envs.from_layout("SimpleDoorKey", {**ROOM, **parts})


def position(timestep):
    return envs.layout_of(timestep)["agent"][:2]


def test_walls_block():
    ts = start(agent=[1, 2, codes.WEST])
    (after,) = play(ts, [FORWARD])
    assert position(after) == [1, 2]


def test_locked_door_blocks_and_open_door_does_not():
    (after,) = play(start(agent=[4, 2, codes.EAST]), [FORWARD])
    assert position(after) == [4, 2]
    (after,) = play(envs.from_layout("SimpleDoorKey", {**ROOM, "door": [5, 2, "blue", "open"], "agent": [4, 2, 0]}),
                    [FORWARD])
    assert position(after) == [5, 2]


def test_keys_block_and_turns_change_direction():
    ts = start(agent=[1, 1, codes.EAST], keys=[[2, 1, "blue"]])
    steps = play(ts, [FORWARD, RIGHT, RIGHT, LEFT])
    assert position(steps[0]) == [1, 1]
    assert [envs.layout_of(s)["agent"][2] for s in steps[1:]] == [codes.SOUTH, codes.WEST, codes.SOUTH]


def test_pickup_takes_the_key_in_front():
    (after,) = play(start(agent=[1, 1, codes.EAST], keys=[[2, 1, "blue"]]), [PICKUP])
    layout = envs.layout_of(after)
    assert layout["carried"] == "blue" and layout["keys"] == []


def test_pickup_needs_an_empty_hand():
    ts = start(agent=[1, 1, codes.EAST], keys=[[2, 1, "red"]], carried="blue")
    (after,) = play(ts, [PICKUP])
    layout = envs.layout_of(after)
    assert layout["carried"] == "blue" and layout["keys"] == [[2, 1, "red"]]


@pytest.mark.parametrize("front", ["wall", "key", "door"])
def test_drop_needs_an_empty_cell_in_front(front):
    agent = {"wall": [1, 1, codes.NORTH], "key": [1, 1, codes.EAST], "door": [4, 2, codes.EAST]}[front]
    ts = start(agent=agent, keys=[[2, 1, "red"]], carried="blue")
    (after,) = play(ts, [DROP])
    layout = envs.layout_of(after)
    assert layout["carried"] == "blue" and layout["keys"] == [[2, 1, "red"]]


def test_drop_onto_an_empty_cell():
    (after,) = play(start(agent=[1, 1, codes.SOUTH], carried="blue"), [DROP])
    layout = envs.layout_of(after)
    assert layout["carried"] is None and layout["keys"] == [[1, 2, "blue"]]


def test_wrong_colour_key_does_not_open():
    (after,) = play(start(agent=[4, 2, codes.EAST], carried="red"), [TOGGLE])
    assert envs.layout_of(after)["door"] == [5, 2, "blue"]
    assert not after.is_done() and after.reward == 0


def test_toggle_without_a_key_does_not_open():
    (after,) = play(start(agent=[4, 2, codes.EAST]), [TOGGLE])
    assert envs.layout_of(after)["door"] == [5, 2, "blue"] and not after.is_done()


@pytest.mark.parametrize("turns", [0, 4, 9])
def test_matching_key_opens_ends_with_time_discounted_reward_and_is_kept(turns):
    ts = start(agent=[4, 2, codes.EAST], carried="blue")
    steps = play(ts, [LEFT, RIGHT] * (turns // 2) + [DONE] * (turns % 2) + [TOGGLE])
    last = steps[-1]
    t = turns + 1
    assert all(not s.is_done() for s in steps[:-1])
    assert last.is_termination() and not last.is_truncation()
    np.testing.assert_allclose(last.reward, 1 - 0.9 * t / 150, rtol=1e-6)
    layout = envs.layout_of(last)
    assert layout["door"] == [5, 2, "blue", "open"] and layout["carried"] == "blue"
    assert bool(last.info["success"])


def test_lava_ends_with_reward_zero():
    ts = start(agent=[1, 1, codes.EAST], lava=[[2, 1]])
    (after,) = play(ts, [FORWARD])
    assert after.is_termination() and after.reward == 0 and not bool(after.info["success"])
    assert position(after) == [2, 1]


def test_step_150_truncates():
    steps = play(start(agent=[1, 1, codes.EAST]), [DONE] * 150)
    assert not any(bool(s.is_done()) for s in steps[:149])
    assert steps[-1].is_truncation() and not steps[-1].is_termination()
    assert steps[-1].reward == 0 and int(steps[-1].t) == 150


def test_opening_at_the_last_step_is_a_success_not_a_truncation():
    steps = play(start(agent=[4, 2, codes.EAST], carried="blue"), [DONE] * 149 + [TOGGLE])
    assert steps[-1].is_termination() and not steps[-1].is_truncation()
    np.testing.assert_allclose(steps[-1].reward, 0.1, rtol=1e-5)
