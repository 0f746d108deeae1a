"""Situations: memory map -> the authors' situation text, for every situation of every task."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import teacher_cache
from envs import codes
from teacher_cache import situations
from teacher_cache.situations import ANY_COLOUR

AUTHORS_SIMPLE_TEXTS = {
    "Agent sees <nothing>, holds <nothing>.",
    "Agent sees <door>, holds <nothing>.",
    "Agent sees <key>, holds <nothing>.",
    "Agent sees <nothing>, holds <key>.",
    "Agent sees <door>, holds <key>.",
    "Agent sees <key>, <door>, holds <nothing>.",
}


def memory_map(seen_things, held, agent=(4, 4, codes.EAST)):
    """A hand-built uint8[10, 10, 4] memory map: walls of a 10x10 room seen, the floor around the
    agent seen, the things at fixed places (keys in the order given, by increasing x), `held` at the agent."""
    obs = np.zeros((10, 10, 4), np.uint8)
    obs[..., 3] = codes.NO_DIRECTION
    obs[3:6, 3:8, :3] = (codes.EMPTY, 0, 0)
    x, y, direction = agent
    key_x = 2
    for thing in seen_things:
        colour = codes.GREY if thing.colour == ANY_COLOUR else thing.colour
        if thing.kind == codes.KEY:
            obs[7, key_x, :3] = (codes.KEY, colour, 0)
            key_x += 3
        else:
            obs[0, 6, :3] = (codes.DOOR, colour, codes.LOCKED)
    obs[y, x, :3] = ((codes.EMPTY, 0, 0) if held is None
                     else (codes.KEY, codes.GREY if held.colour == ANY_COLOUR else held.colour, 0))
    obs[y, x, 3] = direction
    return obs


@pytest.mark.parametrize("task", envs.TASKS)
def test_every_situation_is_recognised_from_a_hand_built_map(task):
    vocab = situations.vocabulary(task)
    maps = np.stack([memory_map(s.seen, s.held) for s in vocab.situations])
    ids = np.asarray(situations.situation_id(vocab, jnp.asarray(maps)))
    assert [vocab.situations[i].concrete_text for i in ids] == [s.concrete_text for s in vocab.situations]


def test_texts_match_the_authors_tables():
    assert set(situations.DOORKEY.texts) == AUTHORS_SIMPLE_TEXTS
    table = teacher_cache.load("ColoredDoorKey")
    assert len(situations.COLORED_DOORKEY.situations) == 18 and len(situations.COLORED_DOORKEY.texts) == 14
    assert table.verbs.shape[0] == 18


@pytest.mark.parametrize(
    "concrete, abstract",
    [
        ("Agent sees <red key>, <blue key>, <blue door>, holds <nothing>.",
         "Agent sees <color1 key>, <color2 key>, <color2 door>, holds <nothing>."),
        ("Agent sees <blue key>, <red key>, <blue door>, holds <nothing>.",
         "Agent sees <color1 key>, <color2 key>, <color1 door>, holds <nothing>."),
        ("Agent sees <red key>, holds <blue key>.", "Agent sees <color1 key>, holds <color2 key>."),
        ("Agent sees <nothing>, holds <red key>.", "Agent sees <nothing>, holds <color1 key>."),
    ],
)
def test_colours_are_abstracted_in_order_of_mention(concrete, abstract):
    (situation,) = [s for s in situations.COLORED_DOORKEY.situations if s.concrete_text == concrete]
    assert situation.text == abstract


def test_situations_of_real_episodes():
    layout = {"room": [8, 8], "door": [7, 3, "blue"], "keys": [[2, 3, "red"], [4, 3, "blue"]],
              "agent": [3, 3, codes.EAST]}
    vocab = situations.COLORED_DOORKEY
    text = lambda ts: vocab.situations[int(situations.situation_id(vocab, ts.observation))].concrete_text
    ts = envs.from_layout("ColoredDoorKey", layout)
    assert text(ts) == "Agent sees <blue key>, holds <nothing>."  # the red key is behind the agent
    held = envs.from_layout("ColoredDoorKey", {**layout, "keys": [[2, 3, "red"]], "carried": "blue"})
    assert text(held) == "Agent sees <nothing>, holds <blue key>."
    unknown = situations.vocabulary
    with pytest.raises(ValueError, match="no teacher situations"):
        unknown("Navix-DoorKey-8x8-v0")


@pytest.mark.parametrize("shape", [(6, 10, 10, 4), (2, 3, 8, 8, 4), (5, 7, 7, 3), (4, 5, 5, 6)])
def test_batch_last_moves_the_batch_to_the_minor_axis_whatever_the_channels(shape):
    maps = jax.random.randint(jax.random.PRNGKey(0), shape, 0, 256).astype(jnp.uint8)
    expected = jnp.moveaxis(maps.reshape((-1,) + shape[-3:]), 0, -1)
    np.testing.assert_array_equal(jax.jit(situations.batch_last)(maps), expected)
