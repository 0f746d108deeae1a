"""Any navix task's situation vocabulary, read off the task itself, and its situations in JAX.

The task is read by resetting it many times and reading its grids (`read_task`): which objects it
shows (keys, doors locked/closed, balls, boxes, goal, lava), how many of each an episode has, whether
a ball stands in front of a door, and, from its reward function, what success is (reach the goal,
pick up the box, fetch the mission's ball, open the door). From that a vocabulary of *nouns* follows
(`vocabulary`), each shown in the authors' words:

- `key`: a key; `door` (one-door tasks, its state named: `<locked door>`, `<open door>`) or, where
  many doors are, only `locked door`: a locked door of a seen or held key's colour (any locked door
  while no key is known) — closed doors are the options' business, not the situation's;
- `ball`: the mission's ball (ObstructedMaze); `blocking ball`: a ball in front of a door, shown as
  `<ball blocking a door>`; `box`; `goal`.

Colours are left out: every task read here has at most one key, and the one relation the teacher
needs (the key opens the door of its colour) is in the definition of `locked door`. A task the
teacher cannot name (several keys, balls that move, a success it does not know, ...) is refused by
`read_task` with what is missing.

A situation is which nouns are seen (not held) and in which state, and what is held:
`Agent sees <key>, <locked door>, holds <nothing>.` Situations are enumerated for the table builder
(`TaskVocabulary.texts`) and a memory map's is found in JAX (`situation_ids`), batch-last like the
rest of the teacher (`situations.batch_last`).
"""

import dataclasses
import functools
import hashlib
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import navix
import numpy as np

from envs import codes
from teacher_cache.options import fold_or, shift
from teacher_cache.situations import at_agent, batch_last

HOLDABLE = (codes.KEY, codes.BALL, codes.BOX)
KNOWN_OBJECTS = (codes.EMPTY, codes.WALL, codes.DOOR, codes.KEY, codes.BALL, codes.BOX, codes.GOAL, codes.LAVA,
                 codes.AGENT)
# navix's reward functions that say what success is, by the object it concerns; those that only shape
# the reward (a step cost) say nothing.
SUCCESS_REWARDS = {"on_goal_reached": codes.GOAL, "on_box_pickup": codes.BOX, "on_door_open": codes.DOOR,
                   "on_target_fetched": None}  # None: the object at the mission's position
SHAPING_REWARDS = ("free", "time_cost", "action_cost", "wall_hit_cost")
# Nouns in the order situations mention them.
NOUN_ORDER = ("key", "door", "locked door", "ball", "blocking ball", "box", "goal")
VOCABULARY_FORMAT = "any-task-v1"


class UnknownTaskError(ValueError):
    """A task the generic teacher cannot name; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class TaskObjects:
    """What a navix task's episodes show at their start, as the generic teacher needs it."""

    task: str
    height: int
    width: int
    max_steps: int
    counts: tuple[tuple[int, int], ...]  # (object code, most cells of it in one episode), codes present only
    door_states: tuple[int, ...]  # door states seen at the start (codes.LOCKED, CLOSED, OPEN)
    blocking_balls: bool  # some episode starts with a ball in front of a door
    success: int  # what ends an episode well: codes.GOAL, BOX, BALL (fetched) or DOOR (opened)

    def count(self, kind: int) -> int:
        return dict(self.counts).get(kind, 0)


@dataclasses.dataclass(frozen=True)
class Noun:
    """Something a situation names: how plans call it, its object code, the texts it is shown by."""

    name: str
    kind: int
    shown: tuple[str, ...]  # one text per way it can be seen (a one-door task's door: one per state)
    states: tuple[int, ...] = ()  # the door states matching `shown` (the one-door `door` only)


@dataclasses.dataclass(frozen=True)
class Situation:
    """One situation: per noun 0 (not seen) or i (seen as `noun.shown[i - 1]`), and the object held."""

    seen: tuple[int, ...]
    held: int  # object code, codes.EMPTY for nothing
    text: str


@dataclasses.dataclass(frozen=True)
class TaskVocabulary:
    """A task's nouns and every situation they make."""

    task: str
    objects: TaskObjects
    nouns: tuple[Noun, ...]
    holdable: tuple[int, ...]  # object codes the agent can hold
    situations: tuple[Situation, ...]

    @property
    def things(self) -> tuple[Noun, ...]:
        """The nouns (the name `table.stack` uses for a vocabulary's objects)."""
        return self.nouns

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(s.text for s in self.situations)

    @property
    def name(self) -> str:
        """Names the vocabulary's content: a table built for another vocabulary is refused."""
        digest = hashlib.sha256("\n".join(self.texts).encode()).hexdigest()[:12]
        return f"{VOCABULARY_FORMAT}/{digest}"

    @property
    def success(self) -> int:
        return self.objects.success

    def noun(self, name: str) -> int:
        """The index of the noun called `name`, or -1."""
        return next((i for i, noun in enumerate(self.nouns) if noun.name == name), -1)

    def excludes(self, noun: Noun, held: int) -> bool:
        """Whether holding `held` rules out seeing `noun`: the task has one object of its kind."""
        return noun.kind == held and self.objects.count(held) == 1

    @property
    def radices(self) -> tuple[int, ...]:
        """Values per noun (unseen and each way it is shown), then per held object (nothing first)."""
        return tuple(len(n.shown) + 1 for n in self.nouns) + (len(self.holdable) + 1,)

    @functools.cached_property
    def code_to_situation(self) -> np.ndarray:
        """int32[prod(radices)]: the situation of each mixed-radix code of (seen..., held); a code no
        situation has (a noun seen that the held object rules out) maps to the situation without it."""
        index = {(s.seen, s.held): i for i, s in enumerate(self.situations)}
        held_codes = (codes.EMPTY,) + self.holdable
        out = []
        for values in itertools.product(*(range(r) for r in self.radices)):
            held = held_codes[values[-1]]
            seen = tuple(0 if self.excludes(n, held) else v for n, v in zip(self.nouns, values[:-1]))
            out.append(index[(seen, held)])
        return np.asarray(out, np.int32)


def success_objects(reward_fn) -> list[str]:
    """The names of navix's reward functions inside `reward_fn` (itself, or the parts of a `rewards.compose`)."""
    parts = []
    for cell in getattr(reward_fn, "__closure__", None) or ():
        contents = cell.cell_contents
        parts += list(contents) if isinstance(contents, tuple) else [contents]
    parts = [part for part in parts if callable(part) and getattr(part, "__module__", "") == navix.rewards.__name__]
    return [part.__name__ for part in parts or [reward_fn]]


def is_navix_task(task) -> bool:
    """Whether `task` is a navix registry id (whose teacher is the generic one, not one of our three tasks')."""
    return isinstance(task, str) and task in navix.registry()


@functools.cache
def read_task(task: str, episodes: int = 64, seed: int = 0) -> TaskObjects:
    """What the task's first `episodes` episodes show, from its navix grids; `UnknownTaskError` (what is
    missing) for a task the generic teacher cannot name."""
    if not is_navix_task(task):
        raise UnknownTaskError(f"{task!r} is not a navix task id (`python -m envs` lists every id)")
    env = navix.make(task, observation_fn=navix.observations.symbolic)

    def first_grid(key):
        state = env.reset(key).state
        grid = navix.observations.symbolic(state)
        mission = state.mission[0].position if state.mission else jnp.asarray([0, 0])
        return grid, grid[mission[0], mission[1], 0]

    # One reset compiled and run per episode: vmapped, the resets of MultiRoom (a retried layout search)
    # took minutes to compile, against seconds.
    first_grid = jax.jit(first_grid)
    firsts = [first_grid(key) for key in jax.random.split(jax.random.PRNGKey(seed), episodes)]
    grids, mission_kinds = (np.stack(arrays) for arrays in zip(*jax.device_get(firsts)))
    kinds = grids[..., 0]
    unknown = sorted(set(np.unique(kinds)) - set(KNOWN_OBJECTS))
    if unknown:
        raise UnknownTaskError(f"{task} shows objects the generic teacher does not know: codes {unknown}")
    # Keys hidden in boxes (ObstructedMaze) are not on the grid at the start: count navix's key entities too.
    hidden_keys = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).state.entities.get("key")
    most = {kind: int((kinds == kind).sum(axis=(1, 2)).max()) for kind in
            (codes.DOOR, codes.KEY, codes.BALL, codes.BOX, codes.GOAL, codes.LAVA)}
    most[codes.KEY] = max(most[codes.KEY], 0 if hidden_keys is None else hidden_keys.position.shape[0])
    counts = tuple((kind, count) for kind, count in most.items() if count)
    door = kinds == codes.DOOR
    near_door = np.zeros_like(door)
    near_door[:, 1:] |= door[:, :-1]
    near_door[:, :-1] |= door[:, 1:]
    near_door[:, :, 1:] |= door[:, :, :-1]
    near_door[:, :, :-1] |= door[:, :, 1:]
    ball = kinds == codes.BALL
    objects = TaskObjects(
        task=task, height=env.height, width=env.width, max_steps=int(env.max_steps), counts=counts,
        door_states=tuple(sorted({int(s) for s in grids[..., 2][door]})),
        blocking_balls=bool((ball & near_door).any()),
        success=_success(task, env, mission_kinds),
    )
    _check_nameable(objects, env, ball & ~near_door)
    return objects


def _success(task: str, env, mission_kinds: np.ndarray) -> int:
    names = success_objects(env.reward_fn)
    known = [name for name in names if name in SUCCESS_REWARDS]
    other = [name for name in names if name not in SUCCESS_REWARDS and name not in SHAPING_REWARDS]
    if other or len(known) != 1:
        raise UnknownTaskError(
            f"{task}: its success ({', '.join(names) or 'an unnamed reward function'}) is not one the generic "
            "teacher knows (reach the goal, pick up the box, fetch the mission's ball, open the door)")
    success = SUCCESS_REWARDS[known[0]]
    if success is None:
        fetched = set(int(k) for k in np.unique(mission_kinds))
        if fetched != {codes.BALL}:
            raise UnknownTaskError(f"{task}: the mission fetches {sorted(fetched)} (object codes); the generic "
                                   "teacher knows fetching a ball only")
        success = codes.BALL
    return success


def _check_nameable(objects: TaskObjects, env, free_balls: np.ndarray):
    task = objects.task
    if objects.count(codes.KEY) > 1:
        raise UnknownTaskError(
            f"{task} has up to {objects.count(codes.KEY)} keys in an episode; the generic teacher names one key "
            "and the door of its colour, not several keys by colour")
    if objects.count(codes.KEY) and codes.LOCKED not in objects.door_states:
        raise UnknownTaskError(f"{task} has keys but no locked door: the generic teacher knows keys as door openers")
    if objects.count(codes.BALL) and env.transitions_fn is navix.transitions.stochastic_transition:
        raise UnknownTaskError(f"{task} has balls that move (navix's stochastic transition); the generic "
                               "teacher's options assume objects stay put")
    most_free_balls = int(free_balls.sum(axis=(1, 2)).max()) if objects.count(codes.BALL) else 0
    if objects.success == codes.BALL and most_free_balls > 1:
        raise UnknownTaskError(f"{task}: the mission names its ball among several, which the memory map does not "
                               "show")
    if objects.success != codes.BALL and most_free_balls:
        raise UnknownTaskError(f"{task} has balls that neither block a door nor are the mission's: the generic "
                               "teacher has no noun for them")
    if objects.count(codes.BOX) > 1:
        raise UnknownTaskError(f"{task} has up to {objects.count(codes.BOX)} boxes; the generic teacher names one")


def nouns_of(objects: TaskObjects) -> tuple[Noun, ...]:
    """The nouns a task's situations name (see the module's docstring)."""
    nouns = []
    if objects.count(codes.KEY):
        nouns.append(Noun("key", codes.KEY, ("key",)))
    if objects.count(codes.DOOR) == 1:
        states = tuple(s for s in (codes.LOCKED, codes.CLOSED) if s in objects.door_states) + (codes.OPEN,)
        nouns.append(Noun("door", codes.DOOR, tuple(f"{codes.DOOR_STATE_NAMES[s]} door" for s in states), states))
    elif codes.LOCKED in objects.door_states:
        nouns.append(Noun("locked door", codes.DOOR, ("locked door",)))
    if objects.success == codes.BALL:
        nouns.append(Noun("ball", codes.BALL, ("ball",)))
    if objects.blocking_balls:
        nouns.append(Noun("blocking ball", codes.BALL, ("ball blocking a door",)))
    if objects.count(codes.BOX):
        nouns.append(Noun("box", codes.BOX, ("box",)))
    if objects.count(codes.GOAL):
        nouns.append(Noun("goal", codes.GOAL, ("goal",)))
    return tuple(sorted(nouns, key=lambda noun: NOUN_ORDER.index(noun.name)))


def situation_text(nouns: tuple[Noun, ...], seen: tuple[int, ...], held: int) -> str:
    """`Agent sees <key>, <locked door>, holds <nothing>.`"""
    shown = [f"<{noun.shown[value - 1]}>" for noun, value in zip(nouns, seen) if value]
    holding = codes.OBJECT_NAMES[held] if held != codes.EMPTY else "nothing"
    return f"Agent sees {', '.join(shown) or '<nothing>'}, holds <{holding}>."


@functools.cache
def vocabulary(task: str) -> TaskVocabulary:
    """The situation vocabulary of a navix task (read from the task; cached)."""
    return vocabulary_of(read_task(task))


def vocabulary_of(objects: TaskObjects) -> TaskVocabulary:
    """The situation vocabulary of a task that shows `objects`."""
    nouns = nouns_of(objects)
    holdable = tuple(kind for kind in HOLDABLE if objects.count(kind))
    partial = TaskVocabulary(objects.task, objects, nouns, holdable, ())
    situations = []
    for held in (codes.EMPTY,) + holdable:
        ranges = [range(1) if partial.excludes(noun, held) else range(len(noun.shown) + 1) for noun in nouns]
        for seen in itertools.product(*ranges):
            situations.append(Situation(seen, held, situation_text(nouns, seen, held)))
    return dataclasses.replace(partial, situations=tuple(situations))


class Sight(NamedTuple):
    """What the generic teacher reads off a batch of memory maps uint8[H, W, 4, B]."""

    cells: tuple[jax.Array, ...]  # per noun bool[H, W, B]: the cells showing it (not held)
    seen: tuple[jax.Array, ...]  # per noun int32[B]: 0 unseen, i shown as noun.shown[i - 1]
    held: jax.Array  # int32[B]: the object code held (codes.EMPTY for nothing)
    held_colour: jax.Array  # int32[B]
    near_door: jax.Array  # bool[H, W, B]: cells next to a door (in front of it from one side)


def neighbours(cells: jax.Array) -> jax.Array:
    """bool[H, W, ...]: the cells next to (one step in one of four directions from) a cell of `cells`."""
    return functools.reduce(jnp.logical_or, [shift(cells, d, False) for d in range(4)])


def look(vocab: TaskVocabulary, maps: jax.Array) -> Sight:
    """The nouns of `vocab` on memory maps uint8[H, W, 4, B]."""
    obj, colour, state = maps[:, :, 0], maps[:, :, 1].astype(jnp.int32), maps[:, :, 2]
    agent = at_agent(maps)
    held = jnp.where(agent, obj, 0).max(axis=(0, 1)).astype(jnp.int32)
    held_colour = jnp.where(agent, colour, 0).max(axis=(0, 1))
    on_map = ~agent
    door = (obj == codes.DOOR) & on_map
    near_door = neighbours(door)
    key = (obj == codes.KEY) & on_map
    ball = (obj == codes.BALL) & on_map
    # A bit per colour of the keys seen or held: the doors they open.
    key_colours = jnp.where(key, jnp.left_shift(1, colour), 0).max(axis=(0, 1)) | jnp.where(
        held == codes.KEY, jnp.left_shift(1, held_colour), 0)
    locked = door & (state == codes.LOCKED)
    fits_known_key = (jnp.right_shift(key_colours, colour) & 1) == 1
    cells_of = {
        "key": key,
        "door": door,
        "locked door": locked & (fits_known_key | (key_colours == 0)),
        "ball": ball & ~near_door,
        "blocking ball": ball & near_door,
        "box": (obj == codes.BOX) & on_map,
        "goal": (obj == codes.GOAL) & on_map,
    }
    cells = tuple(cells_of[noun.name] for noun in vocab.nouns)
    # Elementwise ors folded over the cells: XLA's CPU backend runs an `any` over major axes 10x slower.
    visible = fold_or(jnp.stack(cells, axis=2), 2) if cells else jnp.zeros((0, maps.shape[-1]), bool)
    seen = []
    for noun, cell, shows in zip(vocab.nouns, cells, visible):
        if noun.states:  # the one door: which of its states it shows
            door_state = jnp.where(cell, state, 255).min(axis=(0, 1))
            value = jnp.select([door_state == s for s in noun.states], list(range(1, len(noun.states) + 1)), 0)
        else:
            value = shows.astype(jnp.int32)
        seen.append(jnp.where(shows, value, 0).astype(jnp.int32))
    return Sight(cells, tuple(seen), held, held_colour, near_door)


def situation_ids(vocab: TaskVocabulary, sight: Sight) -> jax.Array:
    """int32[B]: the index in `vocab.situations` of what each memory map shows."""
    held_index = sum(jnp.where(sight.held == kind, i + 1, 0) for i, kind in enumerate(vocab.holdable))
    code = jnp.zeros_like(sight.held)
    for value, radix in zip(sight.seen + (held_index,), vocab.radices):
        code = code * radix + value
    return jnp.asarray(vocab.code_to_situation)[code]


def situation_id(vocab: TaskVocabulary, observation: jax.Array) -> jax.Array:
    """int32[...]: situation ids of memory maps [..., H, W, 4] (any batch shape, jittable)."""
    return situation_ids(vocab, look(vocab, batch_last(observation))).reshape(observation.shape[:-3])
