"""Any navix task's vocabulary: what each task shows, its situations, every situation met in play mapped to
one of them (the JAX reading against a plain one), and the tasks the generic teacher refuses, with why."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import codes
from teacher_cache import hand_tables
from teacher_cache.prior import prior
from teacher_cache.task_vocabulary import UnknownTaskError, read_task, situation_id, situation_text, vocabulary

# Situations per task (the tasks the teacher is measured on, and one of each other family).
SIZES = {
    "Navix-DoorKey-8x8-v0": 18,
    "Navix-DoorKey-16x16-v0": 18,
    "Navix-KeyCorridorS3R3-v0": 12,
    "Navix-UnlockPickup-v0": 24,
    "Navix-BlockedUnlockPickup-v0": 60,
    "Navix-ObstructedMaze-1Dlhb-v0": 144,
    "Navix-MultiRoom-N2-S4-v0": 6,
    "Navix-LockedRoom-v0": 12,
}


@pytest.mark.parametrize("task", SIZES)
def test_each_task_enumerates_a_small_vocabulary(task):
    vocab = vocabulary(task)
    assert len(vocab.situations) == SIZES[task]
    assert len(set(vocab.texts)) == len(vocab.texts)
    assert "Agent sees <nothing>, holds <nothing>." in vocab.texts
    assert all(text.startswith("Agent sees <") and text.endswith(">.") for text in vocab.texts)
    assert vocab.code_to_situation.max() == len(vocab.situations) - 1


def test_doorkey_reads_as_the_authors_doorkey_plus_the_door_state_and_the_goal():
    vocab = vocabulary("Navix-DoorKey-8x8-v0")
    objects = vocab.objects
    assert (objects.count(codes.KEY), objects.count(codes.DOOR), objects.success) == (1, 1, codes.GOAL)
    assert [noun.shown for noun in vocab.nouns] == [("key",), ("locked door", "open door"), ("goal",)]
    assert "Agent sees <key>, <locked door>, holds <nothing>." in vocab.texts
    assert "Agent sees <open door>, <goal>, holds <key>." in vocab.texts
    assert "Agent sees <key>, <locked door>, holds <key>." not in vocab.texts  # one key: held or seen


def test_each_family_names_what_its_mission_needs():
    nouns = {task: [noun.name for noun in vocabulary(task).nouns] for task in SIZES}
    assert nouns["Navix-KeyCorridorS3R3-v0"] == ["key", "locked door", "goal"]  # closed doors are not named
    assert nouns["Navix-BlockedUnlockPickup-v0"] == ["key", "door", "blocking ball", "box"]
    assert nouns["Navix-ObstructedMaze-1Dlhb-v0"] == ["key", "door", "ball", "blocking ball", "box"]
    assert vocabulary("Navix-ObstructedMaze-1Dlhb-v0").holdable == (codes.KEY, codes.BALL, codes.BOX)
    assert vocabulary("Navix-UnlockPickup-v0").success == codes.BOX
    assert vocabulary("Navix-ObstructedMaze-1Dlhb-v0").success == codes.BALL


def plain_text(vocab, observation: np.ndarray) -> str:
    """The situation of one memory map read in plain numpy, as the module's docstring defines it."""
    obj, colour, state, heading = (observation[..., i].astype(int) for i in range(4))
    agent = heading != codes.NO_DIRECTION
    held, held_colour = obj[agent][0], colour[agent][0]
    door = (obj == codes.DOOR) & ~agent
    padded = np.pad(door, 1)
    near_door = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    key = (obj == codes.KEY) & ~agent
    key_colours = set(colour[key]) | ({held_colour} if held == codes.KEY else set())
    locked = door & (state == codes.LOCKED)
    fitting = locked & (np.isin(colour, list(key_colours)) if key_colours else True)
    cells = {"key": key, "door": door, "locked door": fitting, "ball": (obj == codes.BALL) & ~agent & ~near_door,
             "blocking ball": (obj == codes.BALL) & ~agent & near_door, "box": (obj == codes.BOX) & ~agent,
             "goal": (obj == codes.GOAL) & ~agent}
    seen = []
    for noun in vocab.nouns:
        shown = cells[noun.name]
        if not shown.any() or vocab.excludes(noun, held):
            seen.append(0)
        elif noun.states:
            seen.append(1 + noun.states.index(int(state[shown][0])))
        else:
            seen.append(1)
    return situation_text(vocab.nouns, tuple(seen), held)


@functools.cache
def played_maps(task: str, episodes: int = 32, steps: int = 120) -> np.ndarray:
    """Memory maps met by the hand-written teacher taking a random action a third of the time."""
    env = envs.make(task, observation="memory_map")
    table = hand_tables.table(task)

    def one_step(carry, key):
        timestep = carry
        teacher_key, random_key, choose_key = jax.random.split(key, 3)
        teacher = jax.random.categorical(teacher_key, jnp.log(prior(table, timestep.observation)))
        randomly = jax.random.randint(random_key, teacher.shape, 0, 7)
        action = jnp.where(jax.random.uniform(choose_key, teacher.shape) < 1 / 3, randomly, teacher)
        return jax.vmap(env.step)(timestep, action), timestep.observation

    @jax.jit
    def play(key):
        timestep = jax.vmap(env.reset)(jax.random.split(key, episodes))
        return jax.lax.scan(one_step, timestep, jax.random.split(key, steps))[1]

    return np.asarray(play(jax.random.PRNGKey(0))).reshape((-1,) + env.observation_shape)


@pytest.mark.parametrize("task", ["Navix-DoorKey-8x8-v0", "Navix-KeyCorridorS3R3-v0",
                                  "Navix-BlockedUnlockPickup-v0", "Navix-ObstructedMaze-1Dlhb-v0"])
def test_every_situation_met_in_play_is_one_of_the_vocabulary(task):
    vocab = vocabulary(task)
    maps = played_maps(task)
    ids = np.asarray(jax.jit(lambda o: situation_id(vocab, o))(maps))
    assert ids.min() >= 0 and ids.max() < len(vocab.situations)
    sample = np.random.default_rng(0).choice(len(maps), 600, replace=False)
    assert [vocab.texts[ids[i]] for i in sample] == [plain_text(vocab, maps[i]) for i in sample]
    assert len(set(ids)) >= 6  # play reaches beyond the start: keys held, doors opened


def test_situation_ids_take_any_batch_shape():
    vocab = vocabulary("Navix-DoorKey-8x8-v0")
    maps = played_maps("Navix-DoorKey-8x8-v0")[:12]
    flat = situation_id(vocab, maps)
    assert situation_id(vocab, maps.reshape(3, 4, 8, 8, 4)).shape == (3, 4)
    np.testing.assert_array_equal(situation_id(vocab, maps.reshape(3, 4, 8, 8, 4)).reshape(-1), flat)
    assert situation_id(vocab, maps[0]).shape == ()


@pytest.mark.parametrize("task, missing", [
    ("Navix-Fetch-5x5-N2-v0", "fetching a ball only"),
    ("Navix-Dynamic-Obstacles-5x5-v0", "balls that move"),
    ("Navix-ObstructedMaze-2Dl-v0", "several keys by colour"),
    ("Navix-GoToDoor-5x5-v0", "on_door_done"),
    ("SimpleDoorKey", "not a navix task id"),
])
def test_a_task_the_teacher_cannot_name_is_refused_saying_what_is_missing(task, missing):
    with pytest.raises(UnknownTaskError, match=missing):
        read_task(task)
