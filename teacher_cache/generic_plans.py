"""Plans over a navix task's nouns (`task_vocabulary`): an LLM's plan text parsed into options [verb, noun].

A navix task's table file is the format of `teacher_cache/table.py` with a navix id as the task and
options over the verbs of `plans.ALL_VERBS` and the task's nouns, e.g. `["pick up", "blocking ball"]`:

    "Agent sees <key>, <locked door>, holds <nothing>.": [
        {"plan": "go to <key>, pick up <key>", "probability": 1.0, "options": [["go to", "key"], ["pick up", "key"]]}]

Colour words are ignored: every task the generic teacher names has at most one object of a kind that
a plan can name apart (`<blue ball>` in BlockedUnlockPickup is its blocking ball).
"""

import re
from typing import Any

from teacher_cache import plans
from teacher_cache.plans import ALL_VERBS, EXPLORE, WAIT
from teacher_cache.task_vocabulary import TaskVocabulary

# The nouns an object phrase may mean, the first that the task has: a plan may call a blocking ball "ball".
PHRASE_NOUNS = (
    (("ball block", "blocking ball", "blocking the door", "blocking a door"), ("blocking ball", "ball")),
    (("door",), ("door", "locked door")),
    (("ball",), ("ball", "blocking ball")),
    (("key",), ("key",)),
    (("box",), ("box",)),
    (("goal",), ("goal",)),
)

Option = tuple[str, str | None]  # (verb, noun name)


def noun_of(text: str, vocab: TaskVocabulary) -> str | None:
    """The noun of `vocab` that an object phrase (`<locked door>`, `the blue key`) names, or None."""
    bracketed = re.findall(r"<([^<>]*)>", text.lower())
    phrase = (bracketed or [text.lower()])[0]
    for words, nouns in PHRASE_NOUNS:
        if any(word in phrase for word in words):
            return next((noun for noun in nouns if vocab.noun(noun) >= 0), None)
    return None


def parse_plan(plan: str, vocab: TaskVocabulary) -> list[Option]:
    """A plan text as its list of options over the task's nouns (never empty): `plans.parse_plan`'s verbs."""
    return plans.parse_plan(plan, vocab, noun_of)


def check_option(option: Any, vocab: TaskVocabulary) -> str | None:
    """What is wrong with a stored option, or None if it is well formed for this vocabulary."""
    if not (isinstance(option, (list, tuple)) and len(option) == 2):
        return f"an option must be [verb, noun], got {option!r}"
    verb, noun = option
    if verb not in ALL_VERBS:
        return f"unknown option verb {verb!r} (known: {', '.join(ALL_VERBS)})"
    if verb in (EXPLORE, WAIT):
        return None if noun is None else f"{verb!r} takes no object, got {noun!r}"
    names = [n.name for n in vocab.nouns]
    return None if noun in names else f"unknown object {noun!r} for {verb!r} (this task's: {', '.join(names)})"


def entry(plan: str, probability: float, vocab: TaskVocabulary) -> dict:
    """One plan of a table document: its words, probability and parsed options."""
    return {"plan": plan, "probability": probability, "options": [list(option) for option in parse_plan(plan, vocab)]}
