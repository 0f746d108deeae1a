"""Plan tables: situation -> distribution over plans, stored as versioned JSON files.

A table file is human-readable and carries everything needed to trust it:

    {"format": "llm4teach-teacher-table", "format_version": 1,
     "task": "SimpleDoorKey",
     "vocabulary": {"name": "doorkey-v1", "situations": ["Agent sees <nothing>, holds <nothing>.", ...]},
     "provenance": {"source": ..., "llm": ..., "prompt_sha256": ..., "samples_per_situation": ...,
                    "temperature": ..., "seed": ..., "date": ..., "tool_version": ...},
     "plans": {"Agent sees <key>, holds <nothing>.": [
         {"plan": "go to <key>, pick up <key>", "probability": 0.98,
          "options": [["go to", "key"], ["pick up", "key"]]}, ...], ...}}

`plan` is the LLM's words, `options` what the teacher executes. Loading checks it all
and refuses, naming the file and the problem, anything malformed or meant for
another task or vocabulary. In JAX the table is a `Table` of arrays indexed by the
task's concrete situations (colour words resolved per situation).
"""

import datetime
import json
import math
import os
import re
from importlib import metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from common import files
from common.cli import UsageError

from teacher_cache import generic_plans
from teacher_cache import plans as plan_text
from teacher_cache import task_vocabulary as any_task
from teacher_cache.options import NUM_VERBS
from teacher_cache.situations import VOCABULARIES, Vocabulary

FORMAT = "llm4teach-teacher-table"
FORMAT_VERSION = 1
TABLES_DIR = os.path.join(os.path.dirname(__file__), "tables")
PROBABILITY_TOLERANCE = 1e-4
PROVENANCE_FIELDS = (
    "source", "llm", "prompt_sha256", "samples_per_situation", "temperature", "seed", "date", "tool_version",
)


def tool_version() -> str:
    """This project's version, as installed."""
    try:
        return metadata.version("llm4teach-jax")
    except metadata.PackageNotFoundError:
        return "unknown"


class TableError(UsageError, ValueError):
    """A table file that cannot be used; the message names the file and the problem."""


@struct.dataclass
class Table:
    """A plan table as arrays over the task's concrete situations (S), plans (P), options (L)."""

    verbs: jax.Array  # int32[S, P, L]: option verb ids (plans.ALL_VERBS order); padding is "wait"
    things: jax.Array  # int32[S, P, L]: thing column of each option (len(things) = no object)
    probabilities: jax.Array  # float32[S, P]: each situation's plan distribution (padding 0)
    task: str = struct.field(pytree_node=False)
    path: str = struct.field(pytree_node=False)
    provenance_json: str = struct.field(pytree_node=False)

    @property
    def vocabulary(self) -> Vocabulary | any_task.TaskVocabulary:
        return vocabulary(self.task)

    @property
    def provenance(self) -> dict:
        return json.loads(self.provenance_json)


def vocabulary(task: str, path: str | None = None) -> Vocabulary | any_task.TaskVocabulary:
    """The situation vocabulary of a task's tables: the authors' for our three tasks, the generic teacher's
    (`task_vocabulary`) for a navix id; TableError (naming `path`, if given) where there is none."""
    where = f"teacher table {path}: " if path else ""
    if task in VOCABULARIES:
        return VOCABULARIES[task]
    if not any_task.is_navix_task(task):
        raise TableError(f"{where}unknown task {task!r} (tables exist for {', '.join(VOCABULARIES)} and navix ids, "
                         "`python -m envs` lists them)")
    try:
        return any_task.vocabulary(task)
    except any_task.UnknownTaskError as error:
        raise TableError(f"{where}{error}") from None


def default_path(task: str) -> str:
    """The shipped default table of a task: for our tasks the authors' published answer distributions, for a
    navix task the reference table written by hand (`hand_tables`)."""
    return os.path.join(TABLES_DIR, f"{task}.{'authors' if task in VOCABULARIES else 'written-by-hand'}.json")


def shipped_paths(task: str) -> list[str]:
    """Every table shipped for a task (the authors' first, then those built here), sorted."""
    names = sorted(name for name in os.listdir(TABLES_DIR) if name.startswith(f"{task}.") and name.endswith(".json"))
    default = os.path.basename(default_path(task))
    return [os.path.join(TABLES_DIR, name) for name in sorted(names, key=lambda n: n != default)]


def _check(condition: bool, path: str, problem: str):
    if not condition:
        raise TableError(f"teacher table {path}: {problem}")


def check_option(option: Any, vocab: Vocabulary | any_task.TaskVocabulary) -> str | None:
    """What is wrong with a stored option for this vocabulary, or None."""
    if isinstance(vocab, any_task.TaskVocabulary):
        return generic_plans.check_option(option, vocab)
    return plan_text.check_option(option, vocab)


def validate(document: Any, path: str, task: str | None = None) -> Vocabulary | any_task.TaskVocabulary:
    """Checks a parsed table document; returns its vocabulary or raises TableError."""
    _check(isinstance(document, dict), path, "expected a JSON object at the top level")
    _check(document.get("format") == FORMAT, path, f"not a teacher table (format should be {FORMAT!r})")
    version = document.get("format_version")
    _check(version == FORMAT_VERSION, path,
           f"format_version {version!r} is not supported (this tool reads {FORMAT_VERSION})")
    file_task = document.get("task")
    _check(isinstance(file_task, str), path, f"'task' should name a task, got {file_task!r}")
    _check(task is None or file_task == task, path,
           f"the table is for {file_task}, not {task}; build or pick one for {task}")
    vocab = vocabulary(file_task, path)
    declared = document.get("vocabulary")
    _check(isinstance(declared, dict), path, "missing 'vocabulary' ({'name': ..., 'situations': [...]})")
    _check(
        declared.get("name") == vocab.name and list(declared.get("situations", [])) == list(vocab.texts),
        path,
        f"its situation vocabulary ({declared.get('name')!r}) is not {file_task}'s ({vocab.name!r}); "
        "rebuild the table with this tool version",
    )
    provenance = document.get("provenance")
    _check(isinstance(provenance, dict), path, "missing 'provenance'")
    missing = [field for field in PROVENANCE_FIELDS if field not in provenance]
    _check(not missing, path, f"provenance lacks {missing}")
    table = document.get("plans")
    _check(isinstance(table, dict), path, "missing 'plans' (situation text -> list of plans)")
    lacking = [text for text in vocab.texts if text not in table]
    _check(not lacking, path, f"no plans for situation(s) {lacking}, which {file_task} can reach")
    unknown = [text for text in table if text not in vocab.texts]
    _check(not unknown, path, f"situation(s) {unknown} are not in {file_task}'s vocabulary")
    for text, entries in table.items():
        where = f"situation {text!r}"
        _check(isinstance(entries, list) and entries, path, f"{where}: expected a non-empty list of plans")
        total = 0.0
        for entry in entries:
            _check(isinstance(entry, dict) and {"plan", "probability", "options"} <= set(entry), path,
                   f"{where}: each plan needs 'plan', 'probability' and 'options', got {entry!r}")
            probability = entry["probability"]
            _check(isinstance(probability, (int, float)) and not isinstance(probability, bool)
                   and math.isfinite(probability) and probability >= 0, path,
                   f"{where}: probability {probability!r} of {entry['plan']!r} is not a number >= 0")
            total += probability
            _check(isinstance(entry["options"], list) and entry["options"], path,
                   f"{where}: plan {entry['plan']!r} has no options")
            for option in entry["options"]:
                problem = check_option(option, vocab)
                _check(problem is None, path, f"{where}, plan {entry['plan']!r}: {problem}")
        _check(abs(total - 1.0) <= PROBABILITY_TOLERANCE, path, f"{where}: probabilities sum to {total:.6f}, not 1")
    return vocab


def from_document(document: dict, path: str, task: str | None = None) -> Table:
    """A checked table document as JAX arrays."""
    vocab = validate(document, path, task)
    no_object = len(vocab.things)
    wait = plan_text.ALL_VERBS.index(plan_text.WAIT)
    rows = []
    for situation in vocab.situations:
        row = []
        for entry in document["plans"][situation.text]:
            options = []
            for verb, phrase in entry["options"]:
                if isinstance(vocab, any_task.TaskVocabulary):
                    thing = -1 if phrase is None else vocab.noun(phrase)
                else:
                    thing = plan_text.resolve(phrase, situation.colour_order, vocab)
                if phrase is not None and thing < 0:
                    # Names nothing in this situation (e.g. color2 where one colour is mentioned).
                    options.append((wait, no_object))
                else:
                    options.append((plan_text.ALL_VERBS.index(verb), no_object if thing < 0 else thing))
            row.append((options, float(entry["probability"])))
        rows.append(row)
    num_plans = max(len(row) for row in rows)
    length = max(len(options) for row in rows for options, _ in row)
    verbs = np.full((len(rows), num_plans, length), wait, np.int32)
    things = np.full((len(rows), num_plans, length), no_object, np.int32)
    probabilities = np.zeros((len(rows), num_plans), np.float32)
    for s, row in enumerate(rows):
        for p, (options, probability) in enumerate(row):
            for i, (verb, thing) in enumerate(options):
                verbs[s, p, i], things[s, p, i] = verb, thing
            probabilities[s, p] = probability
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    assert verbs.max() < NUM_VERBS
    return Table(
        verbs=jnp.asarray(verbs),
        things=jnp.asarray(things),
        probabilities=jnp.asarray(probabilities),
        task=document["task"],
        path=path,
        provenance_json=json.dumps(document["provenance"], sort_keys=True),
    )


def stack(tables: list[Table]) -> Table:
    """Tables of one task as one, with a leading axis over them, each padded to the most plans and options of
    any (with plans of probability 0 and options that wait): members of one run taught by different tables
    index it. Its path names them all, joined by ' + '."""
    tasks = {table.task for table in tables}
    if len(tasks) != 1:
        raise TableError(f"tables of one task only can be stacked, got tables for {', '.join(sorted(tasks))}")
    plans = max(table.verbs.shape[1] for table in tables)
    length = max(table.verbs.shape[2] for table in tables)
    wait = plan_text.ALL_VERBS.index(plan_text.WAIT)
    no_object = len(tables[0].vocabulary.things)

    def padded(array, value, size):
        return jnp.pad(array, [(0, 0)] + [(0, s - n) for s, n in zip(size, array.shape[1:])], constant_values=value)

    return Table(
        verbs=jnp.stack([padded(t.verbs, wait, (plans, length)) for t in tables]),
        things=jnp.stack([padded(t.things, no_object, (plans, length)) for t in tables]),
        probabilities=jnp.stack([padded(t.probabilities, 0.0, (plans,)) for t in tables]),
        task=tables[0].task,
        path=" + ".join(table.path for table in tables),
        provenance_json=json.dumps([table.provenance for table in tables], sort_keys=True),
    )


def read_document(path: str) -> dict:
    """The parsed JSON of a table file, with clear errors for a missing or malformed file."""
    if not os.path.exists(path):
        raise TableError(f"teacher table {path}: no such file")
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as error:
        raise TableError(f"teacher table {path}: not valid JSON ({error})") from None


def load(task_or_path: str, task: str | None = None) -> Table:
    """A table by task name (its shipped default) or by file path; `task` demands a table for that task."""
    if task_or_path in VOCABULARIES or any_task.is_navix_task(task_or_path):
        if task is not None and task != task_or_path:
            raise TableError(f"asked for a {task} table but named the task {task_or_path}")
        task, path = task_or_path, default_path(task_or_path)
        if not os.path.exists(path):
            raise TableError(f"no teacher table is shipped for {task}: build one (python -m teacher_cache.build "
                             f"--task {task} --out TABLE.json ...) and pass it with --teacher TABLE.json")
    else:
        path = task_or_path
    return from_document(read_document(path), path, task)


def document(task: str, plans: dict[str, list[dict]], provenance: dict) -> dict:
    """A table document for `task` (ours or a navix id) with its vocabulary, from plans keyed by situation text."""
    vocab = vocabulary(task)
    full_provenance = {field: None for field in PROVENANCE_FIELDS}
    full_provenance.update({"date": datetime.date.today().isoformat(), "tool_version": tool_version()})
    full_provenance.update(provenance)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": task,
        "vocabulary": {"name": vocab.name, "situations": list(vocab.texts)},
        "provenance": full_provenance,
        "plans": {text: plans[text] for text in vocab.texts if text in plans},
    }


def dumps(document: dict) -> str:
    """The document as JSON for people: indented, each option [verb, object] on one line."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    compact = re.sub(r'\[\s+("(?:[^"\\]|\\.)*"|null),\s+("(?:[^"\\]|\\.)*"|null)\s+\]', r"[\1, \2]", text)
    compact = re.sub(r'"options": \[\s+((?:\[[^\[\]\n]*\],?\s+)+)\]',
                     lambda m: '"options": [' + re.sub(r"\],\s+\[", "], [", m.group(1).strip()) + "]", compact)
    # Only whitespace between tokens may change; if anything else did, keep the plain form.
    return compact if json.loads(compact) == document else text


def save(path: str, document: dict) -> None:
    """Checks a table document and writes it atomically (a crash never leaves half a file)."""
    validate(document, path)
    files.write_text(path, dumps(document) + "\n")
