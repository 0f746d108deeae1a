"""The plan parser: every shipped plan text parses to the intended options; garbage to "wait"."""

import json

import pytest

from teacher_cache import plans, situations, table

SIMPLE = situations.DOORKEY
COLORED = situations.COLORED_DOORKEY
EXPECTED_SIMPLE = {
    "explore": [("explore", None)],
    "go to <key>, pick up <key>": [("go to", "key"), ("pick up", "key")],
    "pick up <key>": [("pick up", "key")],
    "go to <door>, open <door>": [("go to", "door"), ("open", "door")],
    "explore, go to <door>, open <door>": [("explore", None), ("go to", "door"), ("open", "door")],
    "explore, go to <door>": [("explore", None), ("go to", "door")],
    "explore, open <door>": [("explore", None), ("open", "door")],
    "go to <door>, pick up <handle>, use <key>": [("go to", "door"), ("wait", None), ("wait", None)],
    "go to <door>, open <door> with <key>": [("go to", "door"), ("open", "door")],
    "go to <key>, pick up <key>, go to <door>, open <door>":
        [("go to", "key"), ("pick up", "key"), ("go to", "door"), ("open", "door")],
    "go to <key>, pick up <key>, open <door>": [("go to", "key"), ("pick up", "key"), ("open", "door")],
    "pick up <key>, go to <door>, open <door>": [("pick up", "key"), ("go to", "door"), ("open", "door")],
    "go to <key>, go to <door>, use <key>": [("go to", "key"), ("go to", "door"), ("wait", None)],
    "go to <key>, pick up <key>, explore": [("go to", "key"), ("pick up", "key"), ("explore", None)],
}
EXPECTED_COLORED = {
    "explore": [("explore", None)],
    "go to east": [("wait", None)],
    "go to <color1 key>, pick up <color1 key>": [("go to", "color1 key"), ("pick up", "color1 key")],
    "pick up <color1 key>": [("pick up", "color1 key")],
    "go to <color1 door>, open <color1 door>": [("go to", "color1 door"), ("open", "color1 door")],
    "open <color1 door>": [("open", "color1 door")],
    "go to <color2 key>": [("go to", "color2 key")],
    "drop <color2 key>, go to <color1 key>, pick up <color1 key>":
        [("drop", "color2 key"), ("go to", "color1 key"), ("pick up", "color1 key")],
    "drop <color2 key>, pick up <color1 key>": [("drop", "color2 key"), ("pick up", "color1 key")],
    "go to <color2 door>, open <color2 door>": [("go to", "color2 door"), ("open", "color2 door")],
    "go to <color2 key>, pick up <color2 key>": [("go to", "color2 key"), ("pick up", "color2 key")],
    "pick up <color2 key>": [("pick up", "color2 key")],
}


@pytest.mark.parametrize("task, vocab, expected", [
    ("SimpleDoorKey", SIMPLE, EXPECTED_SIMPLE), ("LavaDoorKey", SIMPLE, EXPECTED_SIMPLE),
    ("ColoredDoorKey", COLORED, EXPECTED_COLORED)])
def test_every_shipped_plan_parses_to_the_intended_options(task, vocab, expected):
    with open(table.default_path(task)) as file:
        document = json.load(file)
    shipped = {entry["plan"]: entry["options"] for entries in document["plans"].values() for entry in entries}
    assert set(shipped) == set(expected)
    for plan, options in expected.items():
        assert plans.parse_plan(plan, vocab) == options
        assert [tuple(o) for o in shipped[plan]] == options


@pytest.mark.parametrize("garbage", ["", "dance", "fly to the moon", "jump over <lava>", "go to", ",,,", "pick up"])
def test_garbage_parses_to_wait(garbage):
    assert all(option == ("wait", None) for option in plans.parse_plan(garbage, SIMPLE))


def test_colour_words_are_required_where_colours_are_named():
    assert plans.parse_plan("go to <key>", COLORED) == [("wait", None)]
    assert plans.parse_plan("go to the blue key", COLORED) == [("go to", "blue key")]
    assert plans.parse_plan("go to <blue key>", SIMPLE) == [("go to", "key")]


def test_answers_are_found_in_replies():
    assert plans.extract_answer("3. Action: {go to <key>, pick up <key>}\n") == "go to <key>, pick up <key>"
    assert plans.extract_answer("actions:{explore}") == "explore"
    assert plans.extract_answer("I would explore.") is None


def test_object_phrases_resolve_per_situation():
    red_first = [s for s in COLORED.situations if s.concrete_text.startswith("Agent sees <red key>, <blue key>")][0]
    assert COLORED.things[plans.resolve("color1 key", red_first.colour_order, COLORED)].colour == 0  # red
    assert COLORED.things[plans.resolve("color2 door", red_first.colour_order, COLORED)].colour == 2  # blue
    one_colour = [s for s in COLORED.situations if s.concrete_text == "Agent sees <red key>, holds <nothing>."][0]
    assert plans.resolve("color2 key", one_colour.colour_order, COLORED) == -1
    assert plans.resolve("green key", one_colour.colour_order, COLORED) == -1
