"""Makes tests/data/explore_reference.npz: memory maps and the authors' explore action on each.

Two steps, in two environments (see tests/data/README.md):

    # 1. maps, with the project's environment (JAX episodes of the three tasks, and random maps)
    PYTHONPATH=. .venv/bin/python tests/data/make_explore_reference.py maps /tmp/explore_maps.npz
    # 2. actions, with numpy and minigrid only, from a checkout of the authors' code (never vendored)
    python tests/data/make_explore_reference.py label /tmp/explore_maps.npz \\
        --authors /path/to/LLM4Teach --out tests/data/explore_reference.npz

Maps are stored in our layout, uint8[N, H, W, 4] indexed [y, x]; step 2 hands their code
each map transposed to its [x, y] layout. `source` says where a map came from:
0 episodes, 1 random rooms, 2 random cells. An action of -1 means their explore is done
(it returned no action).
"""

import argparse
import sys
import types

import numpy as np

GRID = 10
EPISODE_MAPS = 300  # per task and policy
ROOM_MAPS = 1200
NOISE_MAPS = 400


def episode_maps(seed: int) -> np.ndarray:
    """Distinct memory maps met in episodes of the three tasks under three policies."""
    import jax
    import jax.numpy as jnp

    import envs
    import teacher_cache

    rng = np.random.default_rng(seed)
    chosen = []
    for task in envs.TASKS:
        env, table = envs.make(task), teacher_cache.load(task)

        def random_policy(obs, key):
            return jax.random.randint(key, obs.shape[:1], 0, 7)

        def teacher(obs, key):
            pi = teacher_cache.prior(table, obs, hard=True, key=key)
            return jax.random.categorical(jax.random.fold_in(key, 1), jnp.log(pi), axis=-1)

        def teacher_with_noise(obs, key):
            noisy = jax.random.uniform(jax.random.fold_in(key, 2), obs.shape[:1]) < 0.3
            return jnp.where(noisy, random_policy(obs, key), teacher(obs, key))

        for index, policy in enumerate((random_policy, teacher, teacher_with_noise)):

            def rollout(key, policy=policy):
                def body(timestep, key):
                    action = policy(timestep.observation, key)
                    return jax.vmap(env.step)(timestep, action), timestep.observation

                reset_key, key = jax.random.split(key)
                timestep = jax.vmap(env.reset)(jax.random.split(reset_key, 64))
                return jax.lax.scan(body, timestep, jax.random.split(key, 150))[1]

            key = jax.random.PRNGKey(seed * 100 + envs.TASKS.index(task) * 10 + index)
            observations = np.asarray(jax.jit(rollout)(key)).reshape(-1, GRID, GRID, 4)
            distinct = np.unique(observations, axis=0)
            chosen.append(distinct[rng.choice(len(distinct), EPISODE_MAPS, replace=False)])
    return np.concatenate(chosen)


def place_agent(rng, cells: np.ndarray) -> np.ndarray:
    """A memory map from object cells uint8[H, W]: the agent inside the border, holding something or not."""
    x, y = rng.integers(1, GRID - 1, size=2)
    memory = np.zeros((GRID, GRID, 4), np.uint8)
    memory[:, :, 0] = cells
    memory[:, :, 1] = np.where(np.isin(cells, (4, 5, 6, 7)), rng.integers(0, 6, cells.shape), 0)
    memory[:, :, 2] = np.where(cells == 4, rng.integers(0, 3, cells.shape), 0)
    memory[:, :, 3] = 4
    memory[y, x, :3] = (rng.choice([1, 1, 5, 6]), 0, 0)
    memory[y, x, 3] = rng.integers(0, 4)
    return memory


def room_maps(rng, count: int) -> list[np.ndarray]:
    """Rooms at the top-left corner with doors, a few objects, stray walls, partly seen."""
    maps = []
    for _ in range(count):
        width, height = rng.integers(3, GRID + 1, size=2)
        world = np.ones((GRID, GRID), np.uint8)
        world[:height, [0, width - 1]] = 2
        world[[0, height - 1], :width] = 2
        for _ in range(rng.integers(0, 3)):  # doors, anywhere on the walls
            walls = np.argwhere(world == 2)
            y, x = walls[rng.integers(len(walls))]
            world[y, x] = 4
        for kind in rng.choice([2, 4, 5, 6, 7, 9], size=rng.integers(0, 6)):
            y, x = rng.integers(1, GRID - 1, size=2)
            world[y, x] = kind
        seen = rng.random((GRID, GRID)) < rng.uniform(0.1, 1.0)
        if rng.random() < 0.5:  # or a seen rectangle
            top, left = rng.integers(0, GRID, size=2)
            seen[:] = False
            seen[top : top + rng.integers(1, GRID + 1), left : left + rng.integers(1, GRID + 1)] = True
        maps.append(place_agent(rng, np.where(seen, world, 0)))
    return maps


def noise_maps(rng, count: int) -> list[np.ndarray]:
    """Every cell drawn at random among unseen, empty, wall, door, key, ball, box, lava."""
    kinds = np.array([0, 1, 2, 4, 5, 6, 7, 9])
    maps = []
    for _ in range(count):
        weights = rng.dirichlet(np.ones(len(kinds)))
        maps.append(place_agent(rng, rng.choice(kinds, size=(GRID, GRID), p=weights)))
    return maps


def make_maps(out: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    episodes = episode_maps(seed)
    synthetic = np.stack(room_maps(rng, ROOM_MAPS) + noise_maps(rng, NOISE_MAPS))
    maps = np.concatenate([episodes, synthetic])
    source = np.repeat([0, 1, 2], [len(episodes), ROOM_MAPS, NOISE_MAPS]).astype(np.uint8)
    np.savez_compressed(out, maps=maps, source=source)
    print(f"{len(maps)} maps ({len(episodes)} from episodes) -> {out}")


def label(maps_file: str, authors: str, out: str) -> None:
    # Their skill package imports torch (and torch.nn) without using them in these files.
    torch = types.ModuleType("torch")
    torch.nn = types.ModuleType("torch.nn")
    sys.modules.setdefault("torch", torch)
    sys.modules.setdefault("torch.nn", torch.nn)
    sys.path.insert(0, authors)
    from skill.explore import Explore

    data = np.load(maps_file)
    actions = []
    for memory in data["maps"]:
        action, done = Explore(agent_view_size=3)(memory.transpose(1, 0, 2).copy())
        assert done == (action is None)
        actions.append(-1 if action is None else action)
    actions = np.array(actions, np.int8)
    np.savez_compressed(out, maps=data["maps"], source=data["source"], action=actions)
    names = {-1: "done", 0: "left", 1: "right", 2: "forward"}
    counts = {names[a]: int((actions == a).sum()) for a in names}
    print(f"{len(actions)} maps, actions {counts} -> {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    maps = steps.add_parser("maps", help="make the memory maps (the project's environment)")
    maps.add_argument("out")
    maps.add_argument("--seed", type=int, default=0)
    labels = steps.add_parser("label", help="label each map with the authors' explore (numpy + minigrid)")
    labels.add_argument("maps")
    labels.add_argument("--authors", required=True, help="a checkout of ZJLAB-AMMI/LLM4Teach")
    labels.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.step == "maps":
        make_maps(args.out, args.seed)
    else:
        label(args.maps, args.authors, args.out)


if __name__ == "__main__":
    main()
