"""Comparing two plan tables: by what the teacher executes, not by wording."""

import json

import pytest

from teacher_cache import compare
from teacher_cache import table as tables


def test_a_table_against_itself_and_against_a_changed_copy(tmp_path):
    authors = tables.default_path("SimpleDoorKey")
    assert all(row["distance"] == 0 for row in compare.compare(authors, authors))
    with open(authors) as file:
        document = json.load(file)
    key = "Agent sees <key>, holds <nothing>."
    # Same options in other words: no difference. A different plan: all of its mass moves.
    document["plans"][key] = [{"plan": "go to the <key>, then pick up <key>", "probability": 1.0,
                               "options": [["go to", "key"], ["pick up", "key"]]}]
    nothing = "Agent sees <nothing>, holds <nothing>."
    document["plans"][nothing] = [{"plan": "explore", "probability": 0.25, "options": [["explore", None]]},
                                  {"plan": "wait", "probability": 0.75, "options": [["wait", None]]}]
    both = "Agent sees <key>, <door>, holds <nothing>."
    document["plans"][both] = [{"plan": "go to <key>", "probability": 1.0, "options": [["go to", "key"]]}]
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    rows = {row["situation"]: row for row in compare.compare(authors, str(changed))}
    assert rows[key]["distance"] == pytest.approx(0.02)  # the authors' 2% "pick up <key>" alone
    assert rows[key]["top_b"] == ("go to key, pick up key", 1.0)
    assert rows[nothing]["distance"] == pytest.approx(0.75) and rows[nothing]["top_b"] == ("wait", 0.75)
    # No plan in common, but the authors' plans there start with "go to key" but for 0.04 ("pick up key").
    assert rows[both]["distance"] == pytest.approx(1.0) and rows[both]["first_option_distance"] == pytest.approx(0.04)


def test_tables_of_different_vocabularies_are_refused():
    with pytest.raises(tables.TableError, match="different situations"):
        compare.compare(tables.default_path("SimpleDoorKey"), tables.default_path("ColoredDoorKey"))
