"""The table builder on any navix task: its situations, its generated prompt, plans over its nouns, bad ids,
resuming."""

import json
import os
import re

import pytest

from teacher_cache import build as builder
from teacher_cache import prompt as prompts
from teacher_cache import table as tables
from teacher_cache.generic_plans import parse_plan
from teacher_cache.plans import WAIT, extract_answer
from teacher_cache.task_vocabulary import UnknownTaskError, read_task, vocabulary
from tests.test_build import SHORT, InterruptAfter, replies_log, server

OBJECT_WORDS = ("key", "door", "ball", "box", "goal", "lava")


@pytest.mark.parametrize("task", ["Navix-DoorKey-8x8-v0", "Navix-BlockedUnlockPickup-v0"])
def test_server_build_of_a_navix_task_writes_a_table_over_its_situations_and_nouns(stub, tmp_path, task):
    settings = builder.BuildSettings(task, samples=2, seed=1, batch_size=2, sampling=SHORT)
    out = str(tmp_path / "table.json")
    document = builder.build(settings, server(stub), out, progress=False)
    table = tables.load(out, task)  # validates against the task's generic vocabulary
    vocab = vocabulary(task)
    assert list(document["plans"]) == list(vocab.texts)
    provenance = table.provenance
    assert provenance["llm"]["model"] == "planner" and provenance["samples_per_situation"] == 2
    prompt = prompts.for_task(task)
    assert provenance["prompt_sha256"] == prompt.sha256 and provenance["prompt"] == prompt.as_dict()
    assert provenance["prompt_file"].startswith("generated from the task")
    assert stub.requests[-1]["body"]["messages"][0]["content"] == prompt.system
    options = {entry["plan"]: entry["options"] for entries in document["plans"].values() for entry in entries}
    assert options == {"go to <key>, pick up <key>": [["go to", "key"], ["pick up", "key"]],
                       "explore": [["explore", None]]}
    assert replies_log(out)[0]["header"]["task"] == task


def mentioned(text: str) -> set[str]:
    return {word for word in OBJECT_WORDS if re.search(rf"\b{word}s?\b", text)}


@pytest.mark.parametrize("task, objects, success", [
    ("Navix-DoorKey-8x8-v0", {"key", "door", "goal"}, "reach the goal"),
    ("Navix-BlockedUnlockPickup-v0", {"key", "door", "ball", "box"}, "pick up the box"),
    ("Navix-LavaGapS5-v0", {"goal", "lava"}, "reach the goal"),
    ("Navix-MultiRoom-N2-S4-v0", {"door", "goal"}, "reach the goal"),
])
def test_the_generated_prompt_names_the_tasks_objects_and_success_and_nothing_else(task, objects, success):
    prompt = prompts.for_task(task)
    assert prompt.path is None and f"task is to {success}." in prompt.description
    assert mentioned(prompt.description) == objects and mentioned(prompt.example) <= objects
    # The worked example answers in the task's own nouns: every option of it is understood.
    answer = extract_answer(prompt.example)
    assert answer and all(verb != WAIT for verb, _ in parse_plan(answer, vocabulary(task)))
    assert prompt.example.startswith("\n Example: \n Agent sees <")


def test_a_prompt_file_entry_overrides_the_generated_prompt(stub, tmp_path, capsys):
    task = "Navix-DoorKey-8x8-v0"
    entry = {"description": "Reach the goal.", "example": " Action: {explore}"}
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps({task.lower(): entry}))
    assert prompts.for_task(task, str(path)).system == "Reach the goal. Action: {explore}"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"simpledoorkey": entry}))
    assert prompts.for_task(task, str(other)) == prompts.generated(task)
    out = str(tmp_path / "cli.json")
    assert builder.main(["--task", task, "--samples", "1", "--max-new-tokens", "8", "--retries", "0",
                         "--model", "planner", "--base-url", stub.base_url, "--out", out, "--prompts", str(path)]) == 0
    assert "wrote " + out in capsys.readouterr().out
    provenance = tables.load(out, task).provenance
    assert provenance["prompt"]["description"] == "Reach the goal." and provenance["prompt_file"] == str(path)
    assert stub.requests[-1]["body"]["messages"][0]["content"] == "Reach the goal. Action: {explore}"


@pytest.mark.parametrize("task, message", [
    ("Navix-NoSuchTask-v0", "unknown task 'Navix-NoSuchTask-v0'"),
    ("Navix-ObstructedMaze-2Dl-v0", "up to 2 keys"),
    ("Navix-Fetch-5x5-N2-v0", "the generic teacher knows fetching a ball only"),
])
def test_a_task_the_builder_cannot_name_is_a_one_line_usage_error(stub, tmp_path, capsys, task, message):
    if task != "Navix-NoSuchTask-v0":
        with pytest.raises(UnknownTaskError):
            read_task(task)
    out = str(tmp_path / "t.json")
    assert builder.main(["--task", task, "--model", "planner", "--base-url", stub.base_url, "--out", out]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("teacher_cache.build: ") and message in error
    assert not os.path.exists(out) and not os.path.exists(builder.replies_path(out))


def test_an_interrupted_navix_build_resumes_to_the_table_of_an_uninterrupted_one(stub, tmp_path):
    task = "Navix-DoorKey-8x8-v0"
    settings = builder.BuildSettings(task, samples=3, seed=7, batch_size=2, reasks=1, sampling=SHORT)
    (tmp_path / "whole").mkdir()
    (tmp_path / "resumed").mkdir()
    whole = builder.build(settings, server(stub), str(tmp_path / "whole" / "table.json"), progress=False)
    out = str(tmp_path / "resumed" / "table.json")
    with pytest.raises(KeyboardInterrupt):
        builder.build(settings, InterruptAfter(server(stub), 9), out, progress=False)
    assert not os.path.exists(out)
    done = len(replies_log(out)) - 1
    assert 0 < done < 2 * len(vocabulary(task).texts)
    with open(out + ".replies.jsonl", "a") as file:
        file.write('{"situation": 5, "batch": 1, "repl')  # a line cut short when the process was killed
    resumed = builder.build(settings, server(stub), out, progress=False)
    assert resumed == whole
    assert replies_log(out) == replies_log(tmp_path / "whole" / "table.json")
