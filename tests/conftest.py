"""Shared test set-up: JAX's persistent compilation cache, jitted environments, an LLM server stub."""

import functools
import os

# torch's OpenMP threads wait for work by spinning: beside the other test worker, the Gemma test's
# decoding ran five times slower (a table build: 213-252 s, against 42 s when they sleep instead).
# Read once, when torch loads, so set before anything imports it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

import envs  # noqa: E402
from tests.fake_llm import ChatServerStub  # noqa: E402


# The modules that take longest (minutes on 2 cores, summed over their tests), handed to the two
# workers first: a long module dealt last would keep one worker busy while the other idles.
# pyproject.toml turns off xdist's own order (most tests first), which deals them last.
LONGEST_FIRST = ("test_ppo.py", "test_sharding.py", "test_build.py", "test_run.py", "test_bench.py",
                 "test_reproduce.py", "test_navix_memory_map.py", "test_any_task.py", "test_generic_prior.py",
                 "test_task_vocabulary.py", "test_own_task.py", "test_generic_options.py", "test_loggers.py",
                 "test_prior.py", "test_doorkey.py", "test_options.py", "test_episodes.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a module's tests keep their order


@pytest.fixture(scope="module")
def stub():
    """An OpenAI-style chat server on loopback (tests/fake_llm.py), one per test module."""
    with ChatServerStub() as server:
        yield server


@functools.cache
def jitted_step(name: str, autoreset: bool = False):
    """`env.step` of a task, jitted once per test session."""
    return jax.jit(envs.make(name, autoreset=autoreset).step)


def reset(env, key, n: int):
    """`n` environments of `env` reset from the keys `jax.random.split(key, n)`, jitted: run op by op, a
    batched reset compiles some 130 small programs."""
    return jax.jit(jax.vmap(env.reset))(jax.random.split(key, n))


def play(timestep, actions, name="SimpleDoorKey", autoreset=False):
    """Steps one environment through a list of actions; returns every timestep after the first."""
    step = jitted_step(name, autoreset)
    out = []
    for action in actions:
        timestep = step(timestep, action)
        out.append(timestep)
    return out
