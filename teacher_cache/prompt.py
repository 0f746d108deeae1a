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

A navix task (any id of `navix.registry()`, "navix-doorkey-8x8-v0" in a file) that the file has no
entry for gets one generated from the task itself (`for_task`): its objects, door states, success and
grid size as `task_vocabulary` reads them, in the authors' words, and a worked example over its own nouns.
"""

import hashlib
import json
import os
from dataclasses import dataclass

from common.cli import UsageError
from envs import codes
from teacher_cache import hand_tables
from teacher_cache.plans import EXPLORE
from teacher_cache.task_vocabulary import TaskVocabulary, UnknownTaskError, is_navix_task, vocabulary

DEFAULT_FILE = os.path.join(os.path.dirname(__file__), "prompts", "task_info.json")
DEFAULT_COMPLETION = "{description}{example}\n {situation} \n"
FIELDS = ("description", "example", "completion")
# What a generated description says a navix task's success is, by the object it concerns.
SUCCESS = {codes.GOAL: "reach the goal", codes.BOX: "pick up the box", codes.BALL: "pick up the ball",
           codes.DOOR: "open the door"}
# The authors' closing request, word for word.
REQUEST = ("Please clarify which object the agent has seen and is holding given the information provided. "
           "Then, please inference what the agent should do in current state. Finally, please select the correct "
           "agent action.")


class PromptError(UsageError, ValueError):
    """A template file that cannot be used; the message names the file and what to change."""


@dataclass(frozen=True)
class Prompt:
    """One task's prompt template."""

    description: str
    example: str
    completion: str
    path: str | None  # the template file; None for a prompt generated from the task

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


def read_templates(path: str | None = None) -> dict[str, object]:
    """A template file's entries by task name (default: the shipped file)."""
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
    return templates


def load(task: str, path: str | None = None) -> Prompt:
    """The prompt template for `task` from a template file (default: the shipped one)."""
    path = path or DEFAULT_FILE
    templates = read_templates(path)
    entry = {name.lower(): entry for name, entry in templates.items()}.get(task.lower())
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


def for_task(task: str, path: str | None = None) -> Prompt:
    """The prompt of `task`: its entry in the template file (default: the shipped one) or, for a navix task
    the file has no entry for, the one generated from the task (`generated`)."""
    if is_navix_task(task) and task.lower() not in {name.lower() for name in read_templates(path)}:
        return generated(task)
    return load(task, path)


def generated(task: str) -> Prompt:
    """A navix task's prompt in the authors' words, from what the task shows (`task_vocabulary`): its
    objects, their rules, its success and grid size, the actions that apply, and a worked example."""
    try:
        vocab = vocabulary(task)
    except UnknownTaskError as error:
        raise PromptError(str(error)) from None
    return Prompt(description(vocab), example(vocab), DEFAULT_COMPLETION, None)


def description(vocab: TaskVocabulary) -> str:
    """What the task is and what the agent can do, naming only objects the task has."""
    objects = vocab.objects
    doors, door_states = objects.count(codes.DOOR), " or ".join(
        codes.DOOR_STATE_NAMES[s] for s in sorted(objects.door_states, reverse=True))  # locked, closed, open
    things, rules = [], []
    if objects.count(codes.KEY):
        things.append("a key")
    if doors == 1:
        things.append(f"{'an' if door_states[0] in 'aeiou' else 'a'} {door_states} door")
    elif doors:
        things.append(f"doors ({door_states})")
    if objects.success == codes.BALL:
        things.append("the ball")
    if objects.blocking_balls:
        things.append("a ball in front of a door")
    if objects.count(codes.BOX):
        things.append("a box")
    if objects.count(codes.GOAL):
        things.append("the goal")
    if objects.count(codes.LAVA):
        things.append("lava")
    if codes.LOCKED in objects.door_states:
        rules.append(f"{'The door' if doors == 1 else 'A locked door'} can only be opened while agent holds the key.")
    if codes.CLOSED in objects.door_states:
        rules.append("A closed door opens without a key." if objects.count(codes.KEY)
                     else "Agent can open a closed door.")
    if objects.blocking_balls:
        rules.append("A ball in front of a door blocks it: agent must pick the ball up to pass.")
    if objects.count(codes.BOX) and objects.success != codes.BOX:
        rules.append("A box may hide an object: open the box to see inside.")
    if objects.count(codes.LAVA):
        rules.append("Agent must never step into lava.")
    if vocab.holdable:
        rules.append("Agent can only hold one object.")
    actions = ["explore", "go to <object>"]
    actions += ["pick up <object>", "drop <object>"] if vocab.holdable else []
    actions += ["open <object>"] if doors or objects.count(codes.BOX) else []
    shown = ", ".join(f"<{text}>" for noun in vocab.nouns for text in noun.shown)
    return " ".join([
        f"In a 2D grid world of {objects.width}x{objects.height} cells, there is an agent whose task is to "
        f"{SUCCESS[objects.success]}.", f"The world has {listed(things)}.", *rules,
        f"The agent can perform the following actions: {listed(actions, 'or')}.",
        f"Agent may see {shown}.", REQUEST])


def example(vocab: TaskVocabulary) -> str:
    """A worked example in the authors' layout: empty-handed, one object in sight, and the reference plan
    for it (`hand_tables.plan`), preferring a plan that does more than explore."""
    alone = [s for s in vocab.situations if s.held == codes.EMPTY and sum(map(bool, s.seen)) == 1]
    situation = min(alone, key=lambda s: (hand_tables.plan(vocab, s) == EXPLORE, [not v for v in s.seen], s.seen))
    plan = hand_tables.plan(vocab, situation)
    seen = [noun.shown[value - 1] for noun, value in zip(vocab.nouns, situation.seen) if value]
    unseen = [noun.name if len(noun.shown) > 1 else noun.shown[0]
              for noun, value in zip(vocab.nouns, situation.seen) if not value]
    sights = f"Agent sees {seen[0]}, holds nothing" + (f", has not seen {listed(unseen, 'or')} yet." if unseen else ".")
    steps = plan.replace("<", "the ").replace(">", "").split(", ")
    return (f"\n Example: \n {situation.text} \n 1. What agent sees and holds: {sights} \n 2. What should the agent "
            f"do: the agent should {', and then '.join(steps)}. \n 3. Action: {{{plan}}} \n.")


def listed(words: list[str], conjunction: str = "and") -> str:
    """`a`, `a and b`, `a, b, and c` (the authors' list of actions)."""
    if len(words) < 3:
        return f" {conjunction} ".join(words)
    return f"{', '.join(words[:-1])}, {conjunction} {words[-1]}"
