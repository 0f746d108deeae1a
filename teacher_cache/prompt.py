"""Prompts for the LLM planner, from template files in the authors' `prompt/task_info.json` format.

A template file maps a task (lower-case, as the authors write it: "simpledoorkey") to

    {"description": "In a locked 2D grid room, ...",       # what the task is, what the agent can do
     "example": "\\n Example: \\n Agent see <key>, ... 3. Action: {go to <key>, pick up <key>} \\n.",
     "completion": "{description}{example}\\n {situation} \\n"}   # optional, see below

As in the authors' planner, a chat model gets `description + example` as the system
message and the situation text ("Agent sees <key>, holds <nothing>.") as the user's
question. A model without a chat template gets one plain text instead, laid out by
`completion` (its three fields are replaced literally; other braces are left alone).
Other keys (the authors' "episode", "level", ...) are ignored, so their file works as is.
"""

import hashlib
import json
import os
from dataclasses import dataclass

from common.cli import UsageError

DEFAULT_FILE = os.path.join(os.path.dirname(__file__), "prompts", "task_info.json")
DEFAULT_COMPLETION = "{description}{example}\n {situation} \n"
FIELDS = ("description", "example", "completion")


class PromptError(UsageError, ValueError):
    """A template file that cannot be used; the message names the file and what to change."""


@dataclass(frozen=True)
class Prompt:
    """One task's prompt template."""

    description: str
    example: str
    completion: str
    path: str

    @property
    def system(self) -> str:
        """The system message: the task description and the worked example."""
        return self.description + self.example

    def plain(self, situation: str) -> str:
        """The whole prompt as one text, for a model without a chat template."""
        text = self.completion.replace("{description}", self.description).replace("{example}", self.example)
        return text.replace("{situation}", situation)

    def as_dict(self) -> dict:
        return {"description": self.description, "example": self.example, "completion": self.completion}

    @property
    def sha256(self) -> str:
        """A hash of everything the model is shown besides the situation (canonical JSON of the template)."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load(task: str, path: str | None = None) -> Prompt:
    """The prompt template for `task` from a template file (default: the shipped one)."""
    path = path or DEFAULT_FILE
    if not os.path.isfile(path):
        raise PromptError(f"prompt file {path}: no such file")
    try:
        with open(path, encoding="utf-8") as file:
            templates = json.load(file)
    except json.JSONDecodeError as error:
        raise PromptError(f"prompt file {path}: not valid JSON ({error})") from None
    if not isinstance(templates, dict):
        raise PromptError(f"prompt file {path}: expected a JSON object mapping task names to templates")
    entries = {name.lower(): entry for name, entry in templates.items()}
    entry = entries.get(task.lower())
    if entry is None:
        raise PromptError(f"prompt file {path}: no template for {task} (add a {task.lower()!r} entry; "
                          f"it has {', '.join(templates) or 'none'})")
    if not isinstance(entry, dict):
        raise PromptError(f"prompt file {path}, {task.lower()!r}: expected an object with 'description' and 'example'")
    entry = {"completion": DEFAULT_COMPLETION, **entry}
    for field in FIELDS:
        if not isinstance(entry.get(field), str):
            raise PromptError(f"prompt file {path}, {task.lower()!r}: {field!r} must be a string, "
                              f"got {entry.get(field)!r}")
    if "{situation}" not in entry["completion"]:
        raise PromptError(f"prompt file {path}, {task.lower()!r}: 'completion' must contain {{situation}}")
    return Prompt(entry["description"], entry["example"], entry["completion"], path)
