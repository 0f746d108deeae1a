"""navix tasks seen through the memory map, held cell for cell against MiniGrid 3.2.0's own view."""

import functools

import jax
import jax.numpy as jnp
import navix
import numpy as np
import pytest
from minigrid.core.constants import IDX_TO_COLOR
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Ball, Box, Door, Goal, Key, Lava, Wall
from minigrid.minigrid_env import MiniGridEnv

import envs
from envs import codes, navix_memory_map, rules, view
from student import network

# DoorKey at three sizes, locked and closed doors (KeyCorridor, UnlockPickup, MultiRoom), boxes and balls
# (UnlockPickup, ObstructedMaze), lava (LavaGap).
TASKS = (
    "Navix-DoorKey-5x5-v0",
    "Navix-DoorKey-8x8-v0",
    "Navix-DoorKey-16x16-v0",
    "Navix-KeyCorridorS3R2-v0",
    "Navix-MultiRoom-N2-S4-v0",
    "Navix-UnlockPickup-v0",
    "Navix-ObstructedMaze-1Dlhb-v0",
    "Navix-LavaGapS5-v0",
)
PICKABLE = (codes.KEY, codes.BALL, codes.BOX)


class BlankMiniGrid(MiniGridEnv):
    """A MiniGrid environment whose grid, agent and carried object the tests set by hand."""

    def __init__(self, height: int, width: int):
        super().__init__(mission_space=MissionSpace(mission_func=lambda: ""), width=width, height=height, max_steps=1)

    def _gen_grid(self, width, height):
        self.grid = Grid(width, height)


@functools.cache
def blank_minigrid(height: int, width: int) -> BlankMiniGrid:
    """One `BlankMiniGrid` per grid size (making one builds gymnasium spaces)."""
    return BlankMiniGrid(height, width)


def minigrid_object(cell):
    """MiniGrid's object for a cell's (object, colour, state) code: the kind and, for the kinds that take them,
    the colour and door state; walls, goals and lava keep MiniGrid's own colours, so MiniGrid's encoding
    of them checks navix's."""
    obj, colour, state = map(int, cell)
    if obj in (codes.EMPTY, codes.AGENT):
        return None
    kinds = {codes.WALL: Wall, codes.GOAL: Goal, codes.LAVA: Lava}
    if obj in kinds:
        return kinds[obj]()
    coloured = {codes.KEY: Key, codes.BALL: Ball, codes.BOX: Box}
    if obj in coloured:
        return coloured[obj](IDX_TO_COLOR[colour])
    assert obj == codes.DOOR, f"navix cell {tuple(cell)} has no MiniGrid object"
    return Door(IDX_TO_COLOR[colour], is_open=state == codes.OPEN, is_locked=state == codes.LOCKED)


def minigrid_sees(world, agent_pos, agent_dir, held):
    """What MiniGrid's `gen_obs` shows of `world` (uint8[H, W, 3] codes, the agent's cell as navix draws it)
    from `agent_pos` (x, y) facing `agent_dir` holding `held`: bool[H, W] the cells in the image, their
    uint8[H, W, 3] codes there, and uint8[H, W, 3] MiniGrid's encoding of the whole grid."""
    height, width = world.shape[:2]
    env = blank_minigrid(height, width)
    env.grid = Grid(width, height)
    for y, row in enumerate(world.tolist()):
        for x, cell in enumerate(row):
            env.grid.set(x, y, minigrid_object(cell))
    env.agent_pos, env.agent_dir = (int(agent_pos[0]), int(agent_pos[1])), int(agent_dir)
    env.carrying = minigrid_object(held)
    sub_grid, vis_mask = env.gen_obs_grid()
    image = sub_grid.encode(vis_mask)
    seen, shown = np.zeros((height, width), bool), np.zeros((height, width, 3), np.uint8)
    reach = env.agent_view_size - 1  # no cell further than this from the agent is in its view
    for y in range(max(0, env.agent_pos[1] - reach), min(height, env.agent_pos[1] + reach + 1)):
        for x in range(max(0, env.agent_pos[0] - reach), min(width, env.agent_pos[0] + reach + 1)):
            place = env.relative_coords(x, y)
            if place is not None and vis_mask[place]:
                seen[y, x], shown[y, x] = True, image[place]
    return seen, shown, env.grid.encode().transpose(1, 0, 2)


@functools.cache
def task(name: str, **settings):
    """The memory-map environment of `name` (no automatic reset unless `settings` say), its jitted batched
    reset and step, and navix's whole grid."""
    env = envs.make(name, observation="memory_map", **{"autoreset": False, **settings})
    symbolic = jax.jit(jax.vmap(navix.observations.symbolic))
    return env, jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step)), symbolic


def poses(timestep):
    """Host arrays of a batch: the agent's (x, y), heading and pocket."""
    player = jax.device_get(timestep.state.entities["player"])
    return player.position[:, 0, ::-1], player.direction[:, 0], player.pocket[:, 0]


@pytest.mark.parametrize("name", TASKS)
def test_what_is_seen_matches_minigrid_from_random_poses(name):
    """MiniGrid's view rule from random poses on the task's grids, doors randomly open, closed or locked."""
    env, reset, _, symbolic = task(name)
    n = 48
    ts = reset(jax.random.split(jax.random.PRNGKey(1), n))
    worlds = np.array(symbolic(ts.state))
    rng = np.random.default_rng(0)
    doors = worlds[..., 0] == codes.DOOR
    worlds[..., 2] = np.where(doors, rng.integers(0, 3, worlds.shape[:3]), worlds[..., 2])
    worlds[..., 0] = np.where(worlds[..., 0] == codes.AGENT, codes.EMPTY, worlds[..., 0])
    worlds[..., 2] = np.where(worlds[..., 0] == codes.EMPTY, 0, worlds[..., 2])
    agents = []
    for world in worlds:  # the agent on any empty cell
        ys, xs = np.nonzero(world[..., 0] == codes.EMPTY)
        i = rng.integers(len(xs))
        agents.append((xs[i], ys[i], rng.integers(4)))
    agents = np.asarray(agents, np.int32)
    visible = jax.jit(jax.vmap(lambda g, p, d: view.visible_cells(g, p, d, view.MINIGRID_VIEW_SIZE)))
    ours = np.asarray(visible(worlds, agents[:, :2], agents[:, 2]))
    doors_seen = set()
    for i in range(n):
        expected, shown, _ = minigrid_sees(worlds[i], agents[i, :2], agents[i, 2], (codes.EMPTY, 0, 0))
        np.testing.assert_array_equal(ours[i], expected, err_msg=f"{name}, world {i}, agent {agents[i]}")
        doors_seen |= {state == codes.OPEN for obj, _, state in shown[expected] if obj == codes.DOOR}
    if doors.any():  # the views showed doors open (seen through) and shut (hiding what lies behind)
        assert doors_seen == {True, False}


def expected_memory_maps(worlds, agents, pockets, actions, starts):
    """The memory map MiniGrid's view gives, step by step, for one environment's sequence of true grids:
    every cell MiniGrid has shown this episode with its current code, what the agent holds at its cell
    (followed independently of ours: what a pickup took from in front of it, until the pocket empties),
    its heading in channel 3. Also counts what the views showed: open doors, shut doors, held objects."""
    maps, held, seen, shown = [], (codes.EMPTY, 0, 0), None, {"open door": 0, "shut door": 0, "held": 0}
    for t in range(len(worlds)):
        (x, y, direction), world = agents[t], worlds[t]
        if starts[t]:
            held, seen = (codes.EMPTY, 0, 0), np.zeros(world.shape[:2], bool)
        elif pockets[t] < 0:
            held = (codes.EMPTY, 0, 0)
        elif actions[t] == codes.PICKUP:
            fx, fy = np.array([x, y]) + codes.DIRECTION_VECTORS[direction]
            before, now = worlds[t - 1][fy, fx], world[fy, fx]
            if before[0] in PICKABLE and now[0] not in PICKABLE:
                held = tuple(before)
        now_seen, now_shown, whole = minigrid_sees(world, (x, y), direction, held)
        seen = seen | now_seen
        expected = np.where(seen[..., None], whole, 0).astype(np.uint8)
        expected[y, x] = held
        direction_channel = np.full(world.shape[:2] + (1,), codes.NO_DIRECTION, np.uint8)
        direction_channel[y, x] = direction
        maps.append((np.concatenate([expected, direction_channel], axis=-1), now_seen, now_shown))
        doors = now_seen & (now_shown[..., 0] == codes.DOOR)
        shown["open door"] += (doors & (now_shown[..., 2] == codes.OPEN)).sum()
        shown["shut door"] += (doors & (now_shown[..., 2] != codes.OPEN)).sum()
        shown["held"] += held[0] != codes.EMPTY
    return maps, shown


@pytest.mark.parametrize("name", TASKS)
def test_memory_map_matches_minigrid_over_random_episodes(name):
    """Random play: each step's map is MiniGrid's view accumulated over the episode, cell for cell."""
    autoreset = name == TASKS[0]  # one task's episodes end and restart within the run: the map starts afresh
    env, reset, step, symbolic = task(name, **({"autoreset": True, "max_steps": 15} if autoreset else {}))
    n, steps = 24, 40
    rng = np.random.default_rng(1)
    ts = reset(jax.random.split(jax.random.PRNGKey(2), n))
    record, actions = [], [np.zeros(n, np.int32)]  # actions[t]: the action that led to step t
    for t in range(steps + 1):
        record.append((np.asarray(ts.observation), np.asarray(symbolic(ts.state)), *poses(ts), np.asarray(ts.t)))
        if t < steps:
            actions.append(rng.integers(0, 7, n).astype(np.int32))
            ts = step(ts, actions[-1])
    observations, worlds, positions, directions, pockets, times = (np.stack(field) for field in zip(*record))
    actions = np.stack(actions)
    totals = {}
    for i in range(n):
        agents = np.concatenate([positions[:, i], directions[:, i, None]], axis=-1)
        maps, shown = expected_memory_maps(worlds[:, i], agents, pockets[:, i], actions[:, i], times[:, i] == 0)
        totals = {k: totals.get(k, 0) + v for k, v in shown.items()}
        for t, (expected, now_seen, now_shown) in enumerate(maps):
            where = f"{name}, environment {i}, step {t}"
            np.testing.assert_array_equal(observations[t, i], expected, err_msg=where)
            np.testing.assert_array_equal(observations[t, i][now_seen][:, :3], now_shown[now_seen], err_msg=where)
    assert (observations < np.asarray(env.observation_categories)).all()
    if autoreset:
        assert (times[1:] == 0).any()  # episodes did restart
    if np.isin(worlds[..., 0], PICKABLE).any():
        assert totals["held"] > 0, totals
    if (worlds[..., 0] == codes.DOOR).any():
        assert totals["shut door"] > 0, totals


@pytest.mark.parametrize("seed", [0, 6])  # a ball, a key in the start room
def test_the_held_object_is_the_one_taken_though_navix_ids_repeat(seed):
    """Memory's key and ball share navix ids, and the copy not in play waits off the grid with the id of the
    one in play: picking that one up (navix's pickup; Memory's own actions leave it out) holds it, ball or key."""
    env = navix.make("Navix-MemoryS7-v0")
    state = env.reset(jax.random.PRNGKey(seed)).state
    row = env.height // 2
    player = state.get_player().replace(position=jnp.asarray([row, 1]), direction=jnp.asarray(codes.NORTH))
    before = state.set_player(player)
    in_front = np.asarray(navix.observations.symbolic(before))[row - 1, 1]
    assert in_front[0] == (codes.BALL if seed == 0 else codes.KEY)
    after = navix.actions.pickup(before.replace(entities=dict(before.entities)))  # pickup writes into the dict
    np.testing.assert_array_equal(navix_memory_map.held_after(before, after, rules.EMPTY_CELL), in_front)


def test_the_map_remembers_what_it_has_seen_as_it_is_now():
    """Cells stay in the map once seen, out of view too, showing their current content (a key picked up
    is gone from its cell and shows at the agent's)."""
    env, reset, step, _ = task("Navix-DoorKey-5x5-v0")
    ts = reset(jax.random.split(jax.random.PRNGKey(0), 1))
    # DoorKey-5x5 from this key: the agent at (1, 1) facing east at the door, the key at (1, 3).
    seen = [np.asarray(ts.observation[0, ..., 0]) != codes.UNSEEN]
    for action in (codes.RIGHT, codes.FORWARD, codes.PICKUP, codes.RIGHT):
        ts = step(ts, np.array([action]))
        seen.append(np.asarray(ts.observation[0, ..., 0]) != codes.UNSEEN)
    assert all((later >= earlier).all() for earlier, later in zip(seen, seen[1:]))
    final = np.asarray(ts.observation[0])  # the agent at (1, 2) facing west, the door out of its view
    assert tuple(final[2, 1]) == (codes.KEY, codes.YELLOW, 0, codes.WEST)  # held, shown at the agent's cell
    assert tuple(final[3, 1, :3]) == (codes.EMPTY, 0, 0)  # where the key lay, now empty
    assert tuple(final[1, 2, :3]) == (codes.DOOR, codes.YELLOW, codes.LOCKED)  # seen at the start


def test_the_environment_declares_a_memory_map_of_its_grid():
    env = envs.make("Navix-DoorKey-16x16-v0", observation="memory_map")
    assert env.memory_map and env.observation_shape == (16, 16, 4)
    assert env.observation_categories == codes.MEMORY_MAP_CATEGORIES
    assert not envs.make("Navix-DoorKey-16x16-v0").memory_map  # navix's own observation stays the default
    assert envs.make("Navix-KeyCorridorS3R2-v0", observation="memory_map").observation_shape == (5, 7, 4)


def test_bad_observation_options_are_refused():
    with pytest.raises(ValueError, match="unknown observation"):
        envs.make("Navix-DoorKey-5x5-v0", observation="pixels")
    with pytest.raises(ValueError, match="memory map only"):
        envs.make("SimpleDoorKey", observation="navix")
    with pytest.raises(ValueError, match="observation_fn"):
        envs.make("Navix-DoorKey-5x5-v0", observation="memory_map", observation_fn=navix.observations.rgb)
    assert envs.make("SimpleDoorKey", observation="memory_map").memory_map


def test_the_student_reads_a_16x16_map_from_the_agent():
    """`student.network.inputs`, egocentric, on a 16x16 memory map: the agent's cell at the centre of the
    view, the cell in front of it just above."""
    env, reset, step, _ = task("Navix-DoorKey-16x16-v0")
    ts = step(reset(jax.random.split(jax.random.PRNGKey(0), 8)), np.full(8, codes.RIGHT, np.int32))
    radius = 4
    cells = np.asarray(network.inputs(ts.observation, env.observation_shape, env.observation_categories, radius))
    side = 2 * radius + 1
    assert cells.shape == (8, side * side)
    whole = np.asarray(network.cell_codes(ts.observation, env.observation_categories)).reshape(8, 16, 16)
    positions, directions, _ = poses(ts)
    for i, ((x, y), d) in enumerate(zip(positions, directions)):
        fx, fy = np.array([x, y]) + codes.DIRECTION_VECTORS[d]
        assert cells[i, radius * side + radius] == whole[i, y, x]
        assert cells[i, (radius - 1) * side + radius] == whole[i, fy, fx]
