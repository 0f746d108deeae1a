"""Plans: the LLM's answer text parsed into a sequence of options (verb, object).

`go to <key>, pick up <key>` -> [("go to", "key"), ("pick up", "key")]. As in the
authors' mediator, a part whose verb or object is not understood becomes "wait"
(MiniGrid's `done` action: do nothing), and an answer is split on commas.
"""

import re
from typing import Callable

from envs import codes
from teacher_cache.situations import ANY_COLOUR, Thing, Vocabulary

EXPLORE, GO_TO, PICK_UP, DROP, OPEN, WAIT = "explore", "go to", "pick up", "drop", "open", "wait"
# Checked in this order, as the authors' parser does ("go to" before "open", ...).
VERBS = (EXPLORE, GO_TO, PICK_UP, DROP, OPEN)
ALL_VERBS = VERBS + (WAIT,)
NOUNS = {"key": codes.KEY, "door": codes.DOOR}
ABSTRACT_COLOURS = ("color1", "color2")
ANSWER_PATTERN = re.compile(r"Actions?\s*:\s*\{([^{}]*)\}", re.IGNORECASE)

Option = tuple[str, str | None]  # (verb, object phrase such as "key", "color1 key", "blue door")


def extract_answer(reply: str) -> str | None:
    """The plan inside `Action: {...}` in an LLM's reply, or None if there is none."""
    match = ANSWER_PATTERN.search(reply)
    return match.group(1).strip() if match else None


def object_phrase(text: str, vocab: Vocabulary) -> str | None:
    """The object a plan part names, as a phrase the vocabulary understands, or None."""
    bracketed = re.findall(r"<([^<>]*)>", text)
    candidates = bracketed or [text]
    words = re.findall(r"[a-z0-9]+", candidates[0].lower())
    nouns = [w for w in words if w in NOUNS]
    if not nouns:
        return None
    noun = nouns[-1]
    if not vocab.colours_named:
        return noun
    colours = [w for w in words if w in codes.COLOUR_NAMES or w in ABSTRACT_COLOURS]
    return f"{colours[-1]} {noun}" if colours else None


def parse_part(text: str, vocab, object_of: Callable = object_phrase) -> Option:
    """One comma-separated part of a plan as an option; anything not understood is ("wait", None).
    `object_of(text, vocab)` names the part's object for the vocabulary (a navix task's:
    `generic_plans.noun_of`)."""
    lowered = text.lower()
    verb = next((v for v in VERBS if v in lowered), None)
    if verb is None:
        return (WAIT, None)
    if verb == EXPLORE:
        return (EXPLORE, None)
    phrase = object_of(text, vocab)
    return (verb, phrase) if phrase else (WAIT, None)


def parse_plan(plan: str, vocab, object_of: Callable = object_phrase) -> list[Option]:
    """A plan text as its list of options (never empty)."""
    parts = [part for part in plan.split(",") if part.strip()]
    return [parse_part(part, vocab, object_of) for part in parts] or [(WAIT, None)]


def check_option(option, vocab: Vocabulary) -> str | None:
    """What is wrong with a stored option, or None if it is well formed for this vocabulary."""
    if not (isinstance(option, (list, tuple)) and len(option) == 2):
        return f"an option must be [verb, object], got {option!r}"
    verb, phrase = option
    if verb not in ALL_VERBS:
        return f"unknown option verb {verb!r} (known: {', '.join(ALL_VERBS)})"
    if verb in (EXPLORE, WAIT):
        return None if phrase is None else f"{verb!r} takes no object, got {phrase!r}"
    if not isinstance(phrase, str):
        return f"{verb!r} needs an object, got {phrase!r}"
    words = phrase.split()
    if vocab.colours_named:
        ok = len(words) == 2 and (words[0] in codes.COLOUR_NAMES or words[0] in ABSTRACT_COLOURS) and words[1] in NOUNS
        expected = "'<colour> key|door' or 'color1|color2 key|door'"
    else:
        ok = len(words) == 1 and words[0] in NOUNS
        expected = "'key' or 'door'"
    return None if ok else f"unknown object {phrase!r} for {verb!r} (expected {expected})"


def resolve(phrase: str | None, colour_order: tuple[str, ...], vocab: Vocabulary) -> int:
    """The index in `vocab.things` that an object phrase names in one concrete situation, or -1."""
    if phrase is None:
        return -1
    words = phrase.split()
    kind = NOUNS[words[-1]]
    colour = ANY_COLOUR
    if vocab.colours_named:
        name = words[0]
        if name in ABSTRACT_COLOURS:
            index = ABSTRACT_COLOURS.index(name)
            if index >= len(colour_order):
                return -1  # color2 in a situation that mentions one colour
            name = colour_order[index]
        colour = codes.COLOUR_NAMES.index(name)
    thing = Thing(kind, colour)
    return vocab.things.index(thing) if thing in vocab.things else -1
