"""navix registry tasks behind our interface: same-step reset, no dummy transitions."""

import jax
import numpy as np
import pytest

import envs
from tests.conftest import reset

NAME = "Navix-DoorKey-5x5-v0"


def test_navix_task_has_the_common_interface():
    env = envs.make(NAME)
    n = 64
    ts = reset(env, jax.random.PRNGKey(0), n)
    ts = jax.jit(jax.vmap(env.step))(ts, np.full(n, 2))
    assert ts.observation.shape == (n, *env.observation_shape)
    assert ts.reward.dtype == np.float32 and ts.step_type.dtype == np.int32
    assert set(ts.info) == {"return", "episode_return", "episode_length", "success", "final_observation"}
    assert env.num_actions == 7
    assert envs.render(jax.tree.map(lambda a: a[0], ts)).ndim == 3


def test_truncation_resets_in_the_same_step():
    env = envs.make(NAME, max_steps=3)
    step = jax.jit(env.step)
    ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
    types, times = [], []
    for _ in range(7):
        ts = step(ts, 6)  # "done": nothing happens
        types.append(int(ts.step_type))
        times.append(int(ts.t))
    assert types == [0, 0, 1, 0, 0, 1, 0]
    assert times == [1, 2, 0, 1, 2, 0, 1]  # navix alone would spend a step (t = 0 again) after each end


def test_unknown_navix_setting_is_an_error_naming_it():
    with pytest.raises(ValueError, match=rf"{NAME} refused the settings \['no_such_setting'\]: .*no_such_setting"):
        envs.make(NAME, no_such_setting=1)


def test_an_unknown_task_says_where_the_ids_are_listed(capsys):
    with pytest.raises(ValueError, match=r"unknown task 'DoorKey'.*`python -m envs` lists every id"):
        envs.make("DoorKey")
    ids = envs.task_ids()
    assert ids[:3] == list(envs.TASKS) and NAME in ids and len(ids) > 80
