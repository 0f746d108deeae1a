"""The generic options on hand-made layouts, played by a small world with navix's rules and MiniGrid's 7x7
view: across rooms, through closed doors, with a locked door and its key, a ball in a doorway, exploring a
second room, and the choices they make (drop a key first, prefer a locked door leading somewhere unseen,
never cross lava)."""

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import codes, view
from teacher_cache import generic_options, hand_tables
from teacher_cache.generic_plans import parse_plan
from teacher_cache.options import MAX_STEPS, packed_options, plan_actions
from teacher_cache.situations import batch_last
from teacher_cache.task_vocabulary import TaskObjects, look, situation_ids, vocabulary_of

Y = codes.YELLOW
CELLS = {
    "#": (codes.WALL, codes.GREY, 0), ".": (codes.EMPTY, 0, 0), "G": (codes.GOAL, 0, 0), "~": (codes.LAVA, 0, 0),
    "K": (codes.KEY, Y, 0), "k": (codes.KEY, codes.RED, 0), "B": (codes.BALL, codes.GREEN, 0),
    "X": (codes.BOX, codes.PURPLE, 0), "L": (codes.DOOR, Y, codes.LOCKED), "l": (codes.DOOR, codes.RED, codes.LOCKED),
    "C": (codes.DOOR, Y, codes.CLOSED), "O": (codes.DOOR, Y, codes.OPEN),
}
HEADINGS = ">v<^"
NOTHING = (codes.EMPTY, 0, 0)
visible_cells = jax.jit(view.visible_cells, static_argnums=3)
memory_map = jax.jit(view.memory_map)


def objects(**counts) -> TaskObjects:
    """What a hand-made task shows: e.g. objects(key=1, door=1, goal=1, door_states=(LOCKED,), success=GOAL)."""
    kinds = {"door": codes.DOOR, "key": codes.KEY, "ball": codes.BALL, "box": codes.BOX, "goal": codes.GOAL}
    door_states = counts.pop("door_states", (codes.LOCKED,))
    success = counts.pop("success", codes.GOAL)
    blocking = counts.pop("blocking_balls", False)
    return TaskObjects("hand-made", 0, 0, 100, tuple((kinds[k], n) for k, n in counts.items()), door_states,
                       blocking, success)


DOORKEY = vocabulary_of(objects(door=1, key=1, goal=1))
CORRIDOR = vocabulary_of(objects(door=3, key=1, goal=1))  # many doors: only the locked one is named
BLOCKED = vocabulary_of(objects(door=1, key=1, ball=1, box=1, blocking_balls=True, success=codes.BOX))


class World:
    """A grid with navix's rules (pickup overwrites the pocket, unlocking consumes the key, toggle never closes)
    and a memory map seen through MiniGrid's 7x7 view."""

    def __init__(self, rows: list[str], seen_all: bool = False, held=NOTHING):
        self.grid = np.array([[CELLS.get(c, CELLS["."]) for c in row] for row in rows], np.uint8)
        (y,), (x,) = np.nonzero([[c in HEADINGS for c in row] for row in rows])
        self.pos, self.dir = np.array([x, y]), HEADINGS.index(rows[y][x])
        self.held = np.array(held, np.uint8)
        self.seen = np.ones(self.grid.shape[:2], bool) if seen_all else np.zeros(self.grid.shape[:2], bool)
        self.success, self.toggles = False, []
        self.look()

    def look(self):
        self.seen |= np.asarray(visible_cells(self.grid, self.pos, self.dir, view.MINIGRID_VIEW_SIZE))

    @property
    def observation(self) -> np.ndarray:
        return np.asarray(memory_map(self.grid, self.seen, self.pos, self.dir, self.held))

    @property
    def front(self) -> tuple[int, int]:
        dx, dy = codes.DIRECTION_VECTORS[self.dir]
        return self.pos[1] + dy, self.pos[0] + dx

    def step(self, action: int):
        front = self.grid[self.front].copy()
        if action in (codes.LEFT, codes.RIGHT):
            self.dir = (self.dir + (1 if action == codes.RIGHT else 3)) % 4
        elif action == codes.FORWARD:
            if front[0] in (codes.EMPTY, codes.GOAL, codes.LAVA) or (front[0] == codes.DOOR and front[2] == codes.OPEN):
                self.pos = np.array(self.front[::-1])
                self.success |= front[0] == codes.GOAL
        elif action == codes.PICKUP and front[0] in (codes.KEY, codes.BALL, codes.BOX):
            self.held, self.grid[self.front] = front.copy(), NOTHING
            self.success |= front[0] == codes.BOX
        elif action == codes.DROP and self.held[0] != codes.EMPTY and front[0] == codes.EMPTY:
            self.grid[self.front], self.held = self.held, np.array(NOTHING, np.uint8)
        elif action == codes.TOGGLE and front[0] == codes.DOOR and front[2] != codes.OPEN:
            self.toggles.append((self.front, int(front[2])))
            key_fits = self.held[0] == codes.KEY and self.held[1] == front[1]
            if front[2] == codes.CLOSED or key_fits:
                self.grid[self.front][2] = codes.OPEN
                if front[2] == codes.LOCKED:
                    self.held = np.array(NOTHING, np.uint8)
        self.look()


PLAN_LENGTH = 3  # longer than any plan here; padded with waits, which act as "nothing left to do" does


@functools.cache
def acting(vocab):
    """A jitted `(observation uint8[H, W, 4], verbs, things) -> (action, situation)`: a plan's action on one map."""

    def act(observation, verbs, things):
        maps = batch_last(observation[None])
        sight = look(vocab, maps)
        packed = packed_options(*generic_options.option_table(vocab, sight, maps))
        return plan_actions(packed, verbs[None, None], things[None, None])[0, 0], situation_ids(vocab, sight)[0]

    return jax.jit(act)


def plan_arrays(vocab, plan: str) -> tuple[np.ndarray, np.ndarray]:
    """A plan's verbs and things int32[PLAN_LENGTH]."""
    options = parse_plan(plan, vocab) + [("wait", None)] * PLAN_LENGTH
    verbs = [generic_options.VERBS.index(verb) for verb, _ in options[:PLAN_LENGTH]]
    things = [len(vocab.nouns) if noun is None else vocab.noun(noun) for _, noun in options[:PLAN_LENGTH]]
    return np.asarray(verbs, np.int32), np.asarray(things, np.int32)


def run(world: World, vocab, plan: str | None = None, steps: int = 60, until=None) -> list[int]:
    """Acts with `plan` (None: the hand-written table's plan of each step's situation) until `until(world)`,
    success, or a wait (the plan has nothing left to do); the actions taken."""
    actions = []
    for _ in range(steps):
        if world.success or (until and until(world)):
            break
        if plan is None:
            _, situation = acting(vocab)(world.observation, *plan_arrays(vocab, "wait"))
            step_plan = hand_tables.plan(vocab, vocab.situations[int(situation)])
        else:
            step_plan = plan
        action, _ = acting(vocab)(world.observation, *plan_arrays(vocab, step_plan))
        if int(action) == codes.DONE:
            break
        actions.append(int(action))
        world.step(int(action))
    return actions


def fewest_steps(world: World, goal_cells: set, enter_goal: bool = False) -> int:
    """Breadth-first search on the true grid over (x, y, direction), closed doors costing a toggle: the steps to
    face a goal cell (and step onto it)."""
    start = (int(world.pos[0]), int(world.pos[1]), world.dir, False)
    queue, visited = collections.deque([(start, 0)]), {start}
    while queue:
        (x, y, d, opening), steps = queue.popleft()
        dx, dy = codes.DIRECTION_VECTORS[d]
        if (x + dx, y + dy) in goal_cells and not opening:
            return steps + enter_goal
        ahead = world.grid[y + dy, x + dx]
        moves = [(x, y, (d + 1) % 4, False), (x, y, (d + 3) % 4, False)]
        if ahead[0] == codes.DOOR and ahead[2] == codes.CLOSED and not opening:
            moves.append((x, y, d, True))  # the toggle, then the step through
        elif ahead[0] in (codes.EMPTY, codes.GOAL) or (ahead[0] == codes.DOOR and ahead[2] != codes.LOCKED):
            moves.append((x + dx, y + dy, d, False))
        for state in moves:
            if state not in visited:
                visited.add(state)
                queue.append((state, steps + 1))
    raise AssertionError("no path")


def test_go_to_crosses_an_open_door_into_the_next_room():
    world = World(["#########",
                   "#>..#...#",
                   "#...O.K.#",
                   "#...#...#",
                   "#########"], seen_all=True)
    expected = fewest_steps(world, {(6, 2)})
    actions = run(world, DOORKEY, "go to <key>")
    assert len(actions) == expected and tuple(world.pos) == (5, 2) and world.dir == codes.EAST


def test_a_closed_door_on_the_path_is_opened_by_toggling_when_facing_it():
    world = World(["#########",
                   "#>..#...#",
                   "#...C..G#",
                   "#...#...#",
                   "#########"], seen_all=True)
    expected = fewest_steps(world, {(7, 2)}, enter_goal=True)
    actions = run(world, DOORKEY, "go to <goal>")
    assert world.success and len(actions) == expected
    assert world.toggles == [((2, 4), codes.CLOSED)] and actions.count(codes.TOGGLE) == 1


def test_a_locked_door_is_opened_with_its_key_then_the_goal_reached():
    world = World(["#########",
                   "#>..#...#",
                   "#...L..G#",
                   "#.K.#...#",
                   "#########"])
    actions = run(world, DOORKEY)
    assert world.success and actions.count(codes.PICKUP) == 1
    assert world.toggles == [((2, 4), codes.LOCKED)]  # toggled once, holding the key


def test_open_a_locked_door_without_its_key_has_nothing_to_do():
    world = World(["#######",
                   "#>.L..#",
                   "#######"], seen_all=True)
    assert run(world, DOORKEY, "open <locked door>") == []
    held = World(["#######",
                  "#>.L..#",
                  "#######"], seen_all=True, held=CELLS["k"])  # a key of another colour
    assert run(held, DOORKEY, "open <locked door>") == []
    fits = World(["#######",
                  "#>.L..#",
                  "#######"], seen_all=True, held=CELLS["K"])
    assert run(fits, DOORKEY, "open <locked door>") == [codes.FORWARD, codes.TOGGLE]


def test_a_ball_in_the_doorway_is_taken_away_before_the_door_is_opened():
    world = World(["###########",
                   "#....#....#",
                   "#>..BL..X.#",
                   "#.K..#....#",
                   "###########"])
    actions = run(world, BLOCKED, steps=80)
    assert world.success  # picked up the box behind the door
    assert world.toggles == [((2, 5), codes.LOCKED)]  # once: the ball was gone, the key in hand
    assert actions.index(codes.TOGGLE) > actions.index(codes.PICKUP)


def test_drop_moves_a_ball_out_of_a_doorway_onto_a_cell_no_door_touches():
    world = World(["#########",
                   "#...#...#",
                   "#.>BL...#",
                   "#...#...#",
                   "#########"], seen_all=True)
    run(world, BLOCKED, "pick up <ball blocking a door>", until=lambda w: w.held[0] == codes.BALL)
    assert world.held[0] == codes.BALL
    run(world, BLOCKED, "drop <ball>", until=lambda w: w.held[0] == codes.EMPTY)
    (y,), (x,) = np.nonzero(world.grid[..., 0] == codes.BALL)
    assert world.held[0] == codes.EMPTY
    assert all(world.grid[y + dy, x + dx, 0] != codes.DOOR for dx, dy in codes.DIRECTION_VECTORS)


def test_pick_up_while_holding_a_key_drops_the_key_first():
    fetch = vocabulary_of(objects(key=1, ball=1, door=1, success=codes.BALL))  # a task whose mission is a ball
    world = World(["#########",
                   "#.......#",
                   "#.>.B...#",
                   "#.......#",
                   "#########"], seen_all=True, held=CELLS["K"])
    actions = run(world, fetch, "pick up <ball>", until=lambda w: w.held[0] == codes.BALL)
    assert world.held[0] == codes.BALL
    assert actions.index(codes.DROP) < actions.index(codes.PICKUP)
    assert (world.grid[..., 0] == codes.KEY).sum() == 1  # the key lies on the floor, not lost to navix's pocket


def test_explore_reaches_the_second_room_through_a_closed_door():
    world = World(["###########",
                   "#>...#....#",
                   "#....C....#",
                   "#....#....#",
                   "###########"])
    run(world, DOORKEY, "explore", steps=100)
    assert world.seen.all()  # done only when nothing unseen can be reached
    assert world.toggles == [((2, 5), codes.CLOSED)]


def test_explore_looks_past_a_ball_at_what_only_it_shows():
    world = World(["#########",
                   "#...BL..#",
                   "#.v..#..#",
                   "#....#..#",
                   "#########"], seen_all=True)
    world.seen[1, 5:] = world.seen[2:4, 6:] = False  # the door and the room behind: seen only past the ball
    world.seen[1, 5] = False
    run(world, BLOCKED, "explore", until=lambda w: w.seen[1, 5])
    assert world.seen[1, 5]


def test_open_prefers_the_locked_door_that_leads_somewhere_unseen():
    world = World(["#########",
                   "#...L...#",
                   "#.>.#...#",
                   "#...L...#",
                   "#########"], seen_all=True, held=CELLS["K"])
    world.seen[3, 5:8] = False  # behind the lower door: unseen
    world.seen[2, 5:8] = False
    actions = run(world, CORRIDOR, "open <locked door>")
    assert world.toggles == [((3, 4), codes.LOCKED)]
    assert actions[-1] == codes.TOGGLE


def test_paths_never_cross_lava():
    world = World(["#######",
                   "#>~..G#",
                   "#.....#",
                   "#######"], seen_all=True)
    run(world, DOORKEY, "go to <goal>")
    assert world.success and tuple(world.pos) != (2, 1)


def test_passable_and_ahead():
    world = World(["######",
                   "#>C~L#",
                   "######"], seen_all=True)
    maps = batch_last(jnp.asarray(world.observation)[None])
    passable = generic_options.passable(maps)
    assert passable[1, 2, 2, 0] == codes.OPEN and passable[1, 3, 0, 0] == codes.WALL
    assert passable[1, 4, 2, 0] == codes.LOCKED
    obj, state = generic_options.ahead(maps)
    assert (int(obj[0]), int(state[0])) == (codes.DOOR, codes.CLOSED)


@pytest.mark.parametrize("size", [7, 16, 30])
def test_option_table_shapes_on_any_grid(size):
    rows = ["#" * size] + ["#" + "." * (size - 2) + "#"] * (size - 2) + ["#" * size]
    rows[1] = "#>" + rows[1][2:]
    rows[size - 2] = rows[size - 2][:-2] + "G#"
    world = World(rows, seen_all=True)
    maps = batch_last(jnp.asarray(np.stack([world.observation] * 3)))
    actions, done = generic_options.option_table(DOORKEY, look(DOORKEY, maps), maps)
    assert actions.shape == done.shape == (len(generic_options.VERBS), len(DOORKEY.nouns) + 1, 3)
    goal = DOORKEY.noun("goal")
    go_to = generic_options.VERBS.index("go to")
    reachable = fewest_steps(world, {(size - 2, size - 2)}) < MAX_STEPS  # the search counts longer paths as none
    assert bool(done[go_to, goal, 0]) == (not reachable) and reachable == (size < 30)
