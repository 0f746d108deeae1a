"""The options on hand-built layouts: shortest go-to paths, exploration, and the one-step options;
explore against the authors' explore on reference maps (tests/data/README.md)."""

import collections
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import teacher_cache
from envs import codes, view
from teacher_cache import options
from teacher_cache import table as tables
from teacher_cache.options import explore
from teacher_cache.situations import batch_last, vocabulary

EXPLORE_REFERENCE = os.path.join(os.path.dirname(__file__), "data", "explore_reference.npz")


@functools.cache
def single_plan_table(task: str, plan: str) -> teacher_cache.Table:
    """A table whose every situation answers `plan`."""
    from teacher_cache import plans

    vocab = vocabulary(task)
    entry = {"plan": plan, "probability": 1.0, "options": [list(o) for o in plans.parse_plan(plan, vocab)]}
    document = tables.document(task, {text: [entry] for text in vocab.texts}, {"source": "test"})
    return tables.from_document(document, "<test>")


@functools.cache
def jitted_prior(task, plan):
    table = single_plan_table(task, plan)
    return jax.jit(lambda obs: teacher_cache.prior(table, obs))


def fully_seen(timestep):
    """The memory map of a timestep as if every cell had been seen."""
    s = timestep.state
    return view.memory_map(s.grid, jnp.ones_like(s.seen), s.agent_pos, s.agent_dir, s.carrying)


def fewest_steps(layout, goal_cells):
    """Breadth-first search on the true layout over (x, y, direction): steps to face a goal cell."""
    ts = envs.from_layout("SimpleDoorKey", layout)
    grid = np.asarray(ts.state.grid)
    x, y, d = layout["agent"]
    start = (x, y, d)
    queue, seen = collections.deque([(start, 0)]), {start}
    while queue:
        (x, y, d), steps = queue.popleft()
        dx, dy = codes.DIRECTION_VECTORS[d]
        if (x + dx, y + dy) in goal_cells:
            return steps
        nxt = [(x, y, (d + 1) % 4), (x, y, (d + 3) % 4)]
        if grid[y + dy, x + dx, 0] in (codes.EMPTY, codes.LAVA):
            nxt.append((x + dx, y + dy, d))
        for state in nxt:
            if state not in seen:
                seen.add(state)
                queue.append((state, steps + 1))
    return None


LAYOUTS = [
    {"room": [10, 10], "door": [9, 5, "red"], "keys": [[8, 8, "red"]], "agent": [1, 1, codes.NORTH]},
    {"room": [10, 6], "door": [0, 3, "red"], "keys": [[1, 1, "red"]], "agent": [8, 4, codes.EAST]},
    {"room": [7, 7], "door": [3, 0, "red"], "keys": [[3, 3, "red"]], "agent": [3, 5, codes.SOUTH]},
    # Keys block and lava does not: a detour around the key, a path through the lava.
    {"room": [9, 5], "door": [8, 2, "red"], "keys": [[4, 2, "red"]], "lava": [[4, 1]], "agent": [1, 2, codes.EAST]},
    {"room": [6, 9], "door": [5, 4, "red"], "keys": [[2, 7, "red"]], "lava": [[2, 2], [3, 3]],
     "agent": [4, 1, codes.WEST]},
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("target", ["key", "door"])
def test_go_to_reaches_its_target_in_the_fewest_steps_without_bumping(layout, target):
    ts = envs.from_layout("SimpleDoorKey", layout)
    goal = {tuple(layout["keys"][0][:2])} if target == "key" else {tuple(layout["door"][:2])}
    expected = fewest_steps(layout, goal)
    prior = jitted_prior("SimpleDoorKey", f"go to <{target}>, pick up <{target}>")
    step = jax.jit(envs.make("SimpleDoorKey", autoreset=False).step)
    for steps in range(40):
        action = int(np.argmax(prior(fully_seen(ts))))
        if action == codes.PICKUP:  # go to is done: the agent faces its target
            break
        assert action in (codes.LEFT, codes.RIGHT, codes.FORWARD)
        before = envs.layout_of(ts)["agent"]
        ts = step(ts, action)
        if action == codes.FORWARD:
            assert envs.layout_of(ts)["agent"] != before, "walked into something"
    x, y, d = envs.layout_of(ts)["agent"]
    dx, dy = codes.DIRECTION_VECTORS[d]
    assert (x + dx, y + dy) in goal
    assert steps == expected


UNREACHABLE_STEPS = options.MAX_STEPS  # the search's "no path" (paths this long count as none)


def shortest_go_to(memory_map: np.ndarray, goal: np.ndarray) -> tuple[int, int | None]:
    """(steps, first action) of a shortest path to face a cell of `goal`, by a breadth-first search
    from each first action in turn (left, right, forward: the first shortest wins), over the
    interior's enterable cells; (UNREACHABLE_STEPS, None) if none, (0, FORWARD) if already facing one."""
    height, width = goal.shape
    obj, state, heading = memory_map[..., 0], memory_map[..., 2], memory_map[..., 3]
    agent = heading != codes.NO_DIRECTION
    free = np.isin(obj, (codes.EMPTY, codes.GOAL, codes.LAVA)) | ((obj == codes.DOOR) & (state == codes.OPEN)) | agent
    (y0,), (x0,) = np.nonzero(agent)
    start = (int(x0), int(y0), int(heading[y0, x0]))

    def faces_goal(x, y, d):
        dx, dy = codes.DIRECTION_VECTORS[d]
        return goal[y + dy, x + dx]

    def after(x, y, d):  # the states after left, right and forward (None: forward is blocked)
        dx, dy = codes.DIRECTION_VECTORS[d]
        ahead = (x + dx, y + dy)
        inside = 1 <= ahead[0] <= width - 2 and 1 <= ahead[1] <= height - 2
        return [(x, y, (d + 3) % 4), (x, y, (d + 1) % 4), (*ahead, d) if inside and free[ahead[1], ahead[0]] else None]

    if faces_goal(*start):
        return 0, codes.FORWARD
    best = (UNREACHABLE_STEPS, None)
    for action, first in enumerate(after(*start)):
        if first is None:
            continue
        queue, seen = collections.deque([(first, 1)]), {first}
        while queue:
            here, steps = queue.popleft()
            if faces_goal(*here):
                best = min(best, (steps, action)) if steps < UNREACHABLE_STEPS else best
                break
            for there in after(*here):
                if there is not None and there not in seen:
                    seen.add(there)
                    queue.append((there, steps + 1))
    return best


def test_go_to_search_matches_a_breadth_first_search_on_every_reference_map():
    maps = np.load(EXPLORE_REFERENCE)["maps"]  # from episodes of all three tasks, random rooms and cells
    objects, agent = maps[..., 0], maps[..., 3] != codes.NO_DIRECTION
    goals = {"key": (objects == codes.KEY) & ~agent, "door": objects == codes.DOOR, "goal": objects == codes.GOAL}

    @jax.jit
    def search(maps, goals):
        steps, first = options.go_to_search(batch_last(maps), tuple(jnp.moveaxis(goal, 0, -1) for goal in goals))
        return jnp.stack([steps, first], axis=1)

    found = np.asarray(search(maps, tuple(goals.values())))  # [goal, (steps, first action), map]
    # Eight maps share a byte and the search runs until the slowest map of the batch is done:
    # a map's answer must not depend on its batch-mates (13 maps: the last byte 5 maps and 3 blanks).
    few = np.asarray(search(maps[-13:], tuple(goal[-13:] for goal in goals.values())))
    np.testing.assert_array_equal(few, found[..., -13:])
    counts = collections.Counter()
    for t, (name, goal) in enumerate(goals.items()):
        for i in range(len(maps)):
            steps, first = shortest_go_to(maps[i], goal[i])
            if steps == UNREACHABLE_STEPS:
                assert found[t, 0, i] >= UNREACHABLE_STEPS, f"go to {name} on map {i}: found a path, there is none"
            else:
                assert tuple(found[t, :, i]) == (steps, first), f"go to {name} on map {i}"
            counts[{0: "facing", UNREACHABLE_STEPS: "unreachable"}.get(steps, first)] += 1
    assert set(counts) == {codes.LEFT, codes.RIGHT, codes.FORWARD, "facing", "unreachable"}  # all pinned


def serpentine_map() -> np.ndarray:
    """A 15x15 memory map whose interior is one winding corridor, the agent at its start facing east:
    paths along it run past the search's limit."""
    size = 15
    memory_map = np.zeros((size, size, 4), np.uint8)
    memory_map[..., 0], memory_map[..., 3] = codes.EMPTY, codes.NO_DIRECTION
    memory_map[[0, -1], :, 0] = memory_map[:, [0, -1], 0] = codes.WALL
    for i, y in enumerate(range(2, size - 1, 2)):
        memory_map[y, 1:-1, 0] = codes.WALL
        memory_map[y, size - 2 if i % 2 == 0 else 1, 0] = codes.EMPTY  # the corridor turns at alternate ends
    memory_map[1, 1, 3] = codes.EAST
    return memory_map


@pytest.mark.parametrize("fixed_steps", [False, True])
def test_go_to_search_counts_paths_of_the_limit_or_more_as_none(fixed_steps):
    memory_map = serpentine_map()
    goals = []
    for y in (1, 7):  # 3, 5 and 11 steps; 50 (the limit), 50 and 46
        for x in (1, 7, 13):
            goal = np.zeros(memory_map.shape[:2], bool)
            goal[y, x] = True  # odd rows are the corridor's
            goals.append(goal)
    expected = [shortest_go_to(memory_map, goal) for goal in goals]
    assert {steps < UNREACHABLE_STEPS for steps, _ in expected} == {True, False}  # the limit is crossed
    steps, first = jax.jit(lambda maps, goals: options.go_to_search(maps, goals, fixed_steps))(
        batch_last(memory_map[None]), tuple(goal[..., None] for goal in goals))
    for t, (want_steps, want_first) in enumerate(expected):
        if want_steps == UNREACHABLE_STEPS:
            assert (int(steps[t, 0]), int(first[t, 0])) == (UNREACHABLE_STEPS, codes.FORWARD), f"goal {t}"
        else:
            assert (int(steps[t, 0]), int(first[t, 0])) == (want_steps, want_first), f"goal {t}"


def random_memory_maps(seed: int, count: int, height: int, width: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(uint8[count, height, width, 4], three goal masks bool[count, height, width]): cells of every kind the
    search tells apart, walls on 0-60% of them (the denser, the longer and rarer the paths), the agent on an
    interior cell facing any way; goal cells from a few to many."""
    rng = np.random.default_rng(seed)
    kinds = [codes.EMPTY, codes.WALL, codes.DOOR, codes.KEY, codes.BALL, codes.GOAL, codes.LAVA, codes.UNSEEN]
    objects = rng.choice(kinds, (count, height, width), p=[0.5, 0.2, 0.08, 0.05, 0.02, 0.05, 0.05, 0.05])
    walls = rng.random((count, height, width)) < rng.uniform(0, 0.6, (count, 1, 1))
    maps = np.zeros((count, height, width, 4), np.uint8)
    maps[..., 0] = np.where(walls, codes.WALL, objects)
    maps[..., 2] = rng.integers(codes.OPEN, codes.LOCKED + 1, (count, height, width))
    maps[..., 3] = codes.NO_DIRECTION
    ys, xs = rng.integers(1, height - 1, count), rng.integers(1, width - 1, count)
    maps[np.arange(count), ys, xs, 3] = rng.integers(0, 4, count)
    return maps, tuple(rng.random((count, height, width)) < p for p in (0.005, 0.03, 0.15))


def maze_map(seed: int, height: int, width: int) -> np.ndarray:
    """A memory map height x width (both odd) whose interior is a random maze of corridors one cell wide, the
    agent in a random corner of it: paths along it run up to and past the search's limit."""
    rng = np.random.default_rng(seed)
    memory_map = np.zeros((height, width, 4), np.uint8)
    memory_map[..., 0], memory_map[..., 3] = codes.WALL, codes.NO_DIRECTION
    # The maze's cells lie at odd (x, y); a random walk that backs up at dead ends knocks down walls between them.
    stack, visited = [(0, 0)], {(0, 0)}
    memory_map[1, 1, 0] = codes.EMPTY
    while stack:
        x, y = stack[-1]
        around = [(x + dx, y + dy) for dx, dy in codes.DIRECTION_VECTORS
                  if 0 <= x + dx < width // 2 and 0 <= y + dy < height // 2 and (x + dx, y + dy) not in visited]
        if not around:
            stack.pop()
            continue
        nx, ny = around[rng.integers(len(around))]
        memory_map[2 * ny + 1, 2 * nx + 1, 0] = memory_map[y + ny + 1, x + nx + 1, 0] = codes.EMPTY
        visited.add((nx, ny))
        stack.append((nx, ny))
    memory_map[rng.choice([1, height - 2]), rng.choice([1, width - 2]), 3] = rng.integers(0, 4)
    return memory_map


@pytest.mark.parametrize("height, width", [(10, 10), (4, 5), (17, 23)])
def test_go_to_search_answers_the_same_growing_a_fixed_number_of_steps_or_until_nothing_grows(height, width):
    # The reference maps (10 x 10) or random ones, and, on a grid of odd sizes, mazes; each with
    # several goal sets. On 4 x 5 no path passes more than 24 states: the fixed count is below the limit.
    if (height, width) == (10, 10):
        maps = np.load(EXPLORE_REFERENCE)["maps"]
        objects, agent = maps[..., 0], maps[..., 3] != codes.NO_DIRECTION
        goals = ((objects == codes.KEY) & ~agent, objects == codes.DOOR, objects == codes.GOAL)
        goals += random_memory_maps(0, len(maps), height, width)[1]
    else:
        maps, goals = random_memory_maps(height * width, 512, height, width)
        if height % 2 and width % 2:
            mazes = np.stack([maze_map(seed, height, width) for seed in range(64)])
            maps = np.concatenate([maps[: -len(mazes)], mazes])

    @jax.jit
    def search(maps, goals):
        maps, goals = batch_last(maps), tuple(jnp.moveaxis(goal, 0, -1) for goal in goals)
        return [jnp.stack(options.go_to_search(maps, goals, fixed_steps)) for fixed_steps in (False, True)]

    until_done, fixed = (np.asarray(found) for found in search(maps, goals))  # [(steps, first action), goal, map]
    np.testing.assert_array_equal(fixed, until_done)
    if (height, width) != (10, 10):  # (the reference maps' own test checks them against the plain search)
        for i in range(0, len(maps), 4):
            for t, goal in enumerate(goals):
                steps, first = shortest_go_to(maps[i], goal[i])
                expected = (steps, codes.FORWARD if first is None else first)
                assert tuple(fixed[:, t, i]) == expected, f"goal {t} on map {i}"
    steps, first = until_done
    moving = (0 < steps) & (steps < UNREACHABLE_STEPS)
    assert (steps == 0).any() and (steps == UNREACHABLE_STEPS).any()  # every outcome is pinned
    assert set(first[moving]) == {codes.LEFT, codes.RIGHT, codes.FORWARD}


@pytest.mark.parametrize("backend, loop", [("cpu", "while"), ("gpu", "scan"), ("tpu", "while")])
def test_go_to_search_runs_a_fixed_trip_count_on_a_gpu_and_stops_once_nothing_grows_elsewhere(
        backend, loop, monkeypatch):
    maps, goals = batch_last(serpentine_map()[None]), (np.zeros((15, 15, 1), bool),)
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    program = str(jax.make_jaxpr(lambda maps, goals: options.go_to_search(maps, goals))(maps, goals))  # traced anew
    assert [kind for kind in ("while", "scan") if kind in program] == [loop]


def test_go_to_an_unseen_or_unreachable_target_does_nothing():
    layout = {"room": [8, 8], "door": [7, 5, "red"], "keys": [[6, 6, "red"]], "agent": [1, 1, codes.WEST]}
    prior = jitted_prior("SimpleDoorKey", "go to <key>, pick up <key>")
    ts = envs.from_layout("SimpleDoorKey", layout)
    assert int(np.argmax(prior(ts.observation))) == codes.DONE  # the key has not been seen


def test_explore_reveals_the_whole_room_without_bumping():
    layout = {"room": [9, 8], "door": [8, 3, "red"], "keys": [[4, 4, "red"]], "agent": [1, 6, codes.NORTH]}
    prior = jitted_prior("SimpleDoorKey", "explore")
    step = jax.jit(envs.make("SimpleDoorKey", autoreset=False).step)
    ts = envs.from_layout("SimpleDoorKey", layout)
    seen_counts = [int(ts.state.seen.sum())]
    for _ in range(80):
        action = int(np.argmax(prior(ts.observation)))
        if action == codes.DONE:  # explore is done: no unseen cell is left in the slices it counts
            break
        before = envs.layout_of(ts)["agent"]
        ts = step(ts, action)
        if action == codes.FORWARD:
            assert envs.layout_of(ts)["agent"] != before
        seen_counts.append(int(ts.state.seen.sum()))
    seen = np.asarray(ts.state.seen)[:8, :9]
    corners = np.zeros_like(seen)
    corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True  # no cell faces a corner, so none is sought
    assert (seen | corners).all(), "every cell of the room but its corners was seen"
    assert seen_counts[-1] > seen_counts[0] and action == codes.DONE


def test_explore_acts_as_the_authors_explore_on_every_reference_map():
    reference = np.load(EXPLORE_REFERENCE)
    action, done = jax.jit(lambda maps: explore(batch_last(maps)))(reference["maps"])
    ours = np.where(np.asarray(done), -1, np.asarray(action))  # -1: done, as the reference writes it
    expected = reference["action"]
    assert set(np.unique(expected)) == {-1, codes.LEFT, codes.RIGHT, codes.FORWARD}  # every outcome is pinned
    differ = np.flatnonzero(ours != expected)
    assert differ.size == 0, (
        f"{differ.size} of {len(expected)} maps differ, e.g. map {differ[:1]}: "
        f"ours {ours[differ[:1]]}, theirs {expected[differ[:1]]}"
    )


@pytest.mark.parametrize(
    "plan, layout, action",
    [
        ("go to <key>, pick up <key>", {"keys": [[3, 2, "red"]], "agent": [2, 2, codes.EAST]}, codes.PICKUP),
        ("drop <key>", {"agent": [2, 2, codes.EAST], "carried": "red"}, codes.DROP),
        ("go to <door>, open <door>", {"agent": [4, 2, codes.EAST], "carried": "red"}, codes.TOGGLE),
        ("open <door>", {"agent": [4, 2, codes.EAST], "carried": "red"}, codes.TOGGLE),
        ("use <key>", {"agent": [4, 2, codes.EAST], "carried": "red"}, codes.DONE),
        ("drop <key>", {"agent": [2, 2, codes.EAST]}, codes.DONE),  # nothing known to drop
    ],
)
def test_one_step_options_emit_their_actions(plan, layout, action):
    ts = envs.from_layout("SimpleDoorKey", {"room": [6, 6], "door": [5, 2, "red"], **layout})
    assert int(np.argmax(jitted_prior("SimpleDoorKey", plan)(ts.observation))) == action


def test_a_plan_moves_on_to_its_next_option():
    # Facing the key: "go to" is done, so the plan's action is the pickup.
    ts = envs.from_layout("SimpleDoorKey", {"room": [6, 6], "door": [5, 2, "red"], "keys": [[3, 2, "red"]],
                                            "agent": [2, 2, codes.EAST]})
    pi = jitted_prior("SimpleDoorKey", "go to <key>, pick up <key>, go to <door>, open <door>")(ts.observation)
    assert int(np.argmax(pi)) == codes.PICKUP
