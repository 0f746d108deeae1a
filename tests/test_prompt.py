"""Prompt templates: the shipped file, the authors' file format, and clear errors for bad templates."""

import json

import pytest

from teacher_cache import prompt as prompts


@pytest.mark.parametrize("task", ["SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey"])
def test_shipped_templates_follow_the_authors_layout(task):
    prompt = prompts.load(task)
    assert prompt.system.startswith("In a locked 2D grid room")
    assert "Action: {go to <key>, pick up <key>}" in prompt.example
    situation = "Agent sees <key>, holds <nothing>."
    assert prompt.plain(situation) == prompt.system + "\n " + situation + " \n"


def write(tmp_path, templates) -> str:
    path = tmp_path / "task_info.json"
    path.write_text(templates if isinstance(templates, str) else json.dumps(templates))
    return str(path)


def test_the_authors_own_file_format_loads_and_edits_change_the_hash(tmp_path):
    entry = {"episode": 150, "level": "easy", "description": "Open the door.", "example": " Action: {explore}",
             "configurations": "MiniGrid-SimpleDoorKey-Min5-Max10-View3"}
    prompt = prompts.load("SimpleDoorKey", write(tmp_path, {"simpledoorkey": entry}))
    assert prompt.system == "Open the door. Action: {explore}"
    assert prompt.completion == prompts.DEFAULT_COMPLETION
    edited = prompts.load("SimpleDoorKey", write(tmp_path, {"simpledoorkey": {**entry, "description": "Open it."}}))
    assert edited.sha256 != prompt.sha256
    assert prompts.load("SimpleDoorKey", write(tmp_path, {"simpledoorkey": entry})).sha256 == prompt.sha256


def test_completion_layout_replaces_only_its_fields(tmp_path):
    entry = {"description": "D", "example": " {go to <key>}",
             "completion": "Q: {situation}\n{description}{example} {x}"}
    prompt = prompts.load("ColoredDoorKey", write(tmp_path, {"coloreddoorkey": entry}))
    assert prompt.plain("S") == "Q: S\nD {go to <key>} {x}"


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ([1, 2], "expected a JSON object"),
    ({"lavadoorkey": {"description": "d", "example": "e"}}, "no template for SimpleDoorKey"),
    ({"simpledoorkey": "text"}, "expected an object"),
    ({"simpledoorkey": {"description": "d"}}, "'example' must be a string"),
    ({"simpledoorkey": {"description": "d", "example": "e", "completion": "{description}"}},
     "must contain {situation}"),
])
def test_bad_template_files_are_refused_with_what_to_change(tmp_path, content, message):
    with pytest.raises(prompts.PromptError, match=message):
        prompts.load("SimpleDoorKey", write(tmp_path, content))
    with pytest.raises(prompts.PromptError, match="no such file"):
        prompts.load("SimpleDoorKey", str(tmp_path / "missing.json"))
