"""Reference plan tables for navix tasks, written by hand: one plan per situation, from the rules below.

They are what a capable planner answers, labelled `written by hand` in their provenance (never an
LLM's): the default teacher of a navix task (`tables/<task>.written-by-hand.json`, written by
`python -m teacher_cache.hand_tables`), beside which a user builds their own with an LLM. The rules read a situation's nouns the same way on
every task, first match wins:

1. the goal in sight: go to it;
2. the mission's box or ball in sight: pick it up;
3. holding a key: pick up a ball blocking a door (the key is dropped first), else open the locked door,
   else explore;
4. otherwise: pick up a ball blocking a door (empty-handed), else pick up a key (over a held ball), else
   open a box that is not the mission's (a key hides in it), else explore.

Plans end with explore where the option before it may find nothing to do (an unreachable goal).
"""

import functools
import sys

from envs import codes
from teacher_cache import table as tables
from teacher_cache.generic_plans import entry
from teacher_cache.task_vocabulary import Situation, TaskVocabulary, vocabulary

PROVENANCE = {"source": "written by hand", "llm": None, "prompt_sha256": None, "samples_per_situation": None,
              "temperature": None, "seed": None}
# The navix tasks whose table ships (tables/), by family: the hard tasks the recipe is chosen on, and small ones.
SHIPPED = ("Navix-DoorKey-5x5-v0", "Navix-DoorKey-8x8-v0", "Navix-DoorKey-16x16-v0", "Navix-KeyCorridorS3R3-v0",
           "Navix-Unlock-v0", "Navix-UnlockPickup-v0", "Navix-BlockedUnlockPickup-v0", "Navix-ObstructedMaze-1Dlh-v0",
           "Navix-MultiRoom-N4-S5-v0")


def plan(vocab: TaskVocabulary, situation: Situation) -> str:
    """The hand-written plan for one situation."""
    seen = {noun.shown[value - 1] for noun, value in zip(vocab.nouns, situation.seen) if value}
    held, success = situation.held, vocab.success
    blocking = "ball blocking a door" in seen
    if "goal" in seen:
        return "go to <goal>, explore"
    if success == codes.BOX and "box" in seen:
        return "pick up <box>, explore"
    if success == codes.BALL and "ball" in seen:
        return "pick up <ball>, explore"
    if held == codes.KEY:
        if blocking:
            return "pick up <ball blocking a door>"
        if "locked door" in seen:
            return "explore, open <locked door>"
        return "explore"
    if blocking and held == codes.EMPTY:
        return "pick up <ball blocking a door>"
    if "key" in seen:
        return "go to <key>, pick up <key>"
    if "box" in seen and success != codes.BOX:
        return "open <box>"
    return "explore"


def plans(task: str) -> dict[str, list[dict]]:
    """Situation text -> its one plan (`generic_plans.entry`, probability 1) for every situation of a navix task."""
    vocab = vocabulary(task)
    return {situation.text: [entry(plan(vocab, situation), 1.0, vocab)] for situation in vocab.situations}


def document(task: str) -> dict:
    """The hand-written table document of a navix task."""
    return tables.document(task, plans(task), PROVENANCE)


@functools.cache
def table(task: str) -> tables.Table:
    """The hand-written table of a navix task, as the prior takes it (without reading a file)."""
    return tables.from_document(document(task), f"<written by hand for {task}>")


def main(argv: list[str] | None = None) -> int:
    """Writes the shipped tables (or those of the tasks named) to `tables/`."""
    for task in (argv if argv is not None else sys.argv[1:]) or SHIPPED:
        path = tables.default_path(task)
        tables.save(path, document(task))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
