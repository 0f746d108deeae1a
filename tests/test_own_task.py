"""A task the user brings (tests/own_task.py, registered with navix outside this project): the memory map,
its situations, the generated prompt, a table built by an LLM, the teacher alone and training all serve it
with nothing of ours edited."""

import jax
import navix
import numpy as np
import pytest

import envs
from envs import codes
from student import run
from student.config import PPOConfig, TrainConfig
from student.ppo import build
from teacher_cache import build as builder
from teacher_cache import hand_tables, prompt as prompts
from teacher_cache import table as tables
from teacher_cache.evaluate import evaluate
from teacher_cache.generic_plans import parse_plan
from teacher_cache.plans import WAIT, extract_answer
from teacher_cache.task_vocabulary import vocabulary
from tests.own_task import TASK  # registers the task: navix's registry lives in this process
from tests.test_build_any_task import mentioned

QUIET = lambda line: None  # noqa: E731


@pytest.fixture(scope="module")
def written_table(tmp_path_factory) -> str:
    """The reference table written by hand for the task, saved where a user would keep it."""
    path = str(tmp_path_factory.mktemp("tables") / f"{TASK}.json")
    tables.save(path, hand_tables.document(TASK))
    return path


@pytest.fixture(scope="module")
def built_table(stub, tmp_path_factory) -> str:
    """A table built by the fake LLM server, through the builder's command line as docs/own-task.md runs it."""
    path = str(tmp_path_factory.mktemp("tables") / f"{TASK}.llm.json")
    assert builder.main(["--task", TASK, "--samples", "2", "--max-new-tokens", "8", "--retries", "0",
                         "--model", "planner", "--base-url", stub.base_url, "--out", path]) == 0
    return path


def test_the_task_is_listed_and_not_one_of_ours():
    assert TASK in envs.task_ids() and TASK not in hand_tables.SHIPPED and tables.shipped_paths(TASK) == []


def test_the_memory_map_shows_what_navix_shows_where_it_has_seen():
    env = envs.make(TASK, observation="memory_map", autoreset=False)
    assert env.memory_map and env.observation_shape == (7, 7, 4) and env.max_steps == 4 * 7 * 7
    assert envs.make(TASK, observation="memory_map", max_steps=50).max_steps == 50  # navix.make's settings reach it
    n = 16
    ts = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))
    step, symbolic = jax.jit(jax.vmap(env.step)), jax.jit(jax.vmap(navix.observations.symbolic))
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(30):
        maps, grids = np.asarray(ts.observation), np.asarray(symbolic(ts.state))
        seen = (maps[..., 0] != codes.UNSEEN) & (grids[..., 0] != codes.AGENT)  # the agent's cell shows what it holds
        np.testing.assert_array_equal(maps[seen][:, :3], grids[seen][:, :3])
        compared += seen.sum()
        ts = step(ts, rng.integers(0, 7, n).astype(np.int32))
    assert compared > n * 30 * 9  # at least the 3x3 around each agent, every step
    assert (np.asarray(ts.observation) < np.asarray(env.observation_categories)).all()


def test_the_teacher_names_its_key_door_and_box():
    vocab = vocabulary(TASK)
    assert [(noun.name, noun.shown) for noun in vocab.nouns] == [
        ("key", ("key",)), ("door", ("locked door", "open door")), ("box", ("box",))]
    assert vocab.holdable == (codes.KEY, codes.BOX) and vocab.success == codes.BOX
    assert vocab.objects.door_states == (codes.LOCKED,) and not vocab.objects.blocking_balls
    assert len(vocab.situations) == 24  # key seen or not, door unseen/locked/open, box seen or not, held
    assert "Agent sees <key>, <locked door>, holds <nothing>." in vocab.texts
    assert "Agent sees <locked door>, <box>, holds <key>." in vocab.texts
    assert "Agent sees <key>, holds <key>." not in vocab.texts  # the task's only key cannot be seen and held


def test_the_generated_prompt_names_its_objects_and_success():
    prompt = prompts.for_task(TASK)
    assert prompt.path is None and "7x7 cells" in prompt.description
    assert "task is to pick up the box." in prompt.description
    objects = {"key", "door", "box"}
    assert mentioned(prompt.description) == objects and mentioned(prompt.example) <= objects
    answer = extract_answer(prompt.example)
    assert answer and all(verb != WAIT for verb, _ in parse_plan(answer, vocabulary(TASK)))


def test_the_builder_writes_a_table_over_its_situations(built_table, stub):
    table = tables.load(built_table, TASK)  # validated against the task's vocabulary
    document = tables.read_document(built_table)
    assert document["task"] == TASK and list(document["plans"]) == list(vocabulary(TASK).texts)
    assert table.provenance["source"] == "llm-built" and table.provenance["samples_per_situation"] == 2
    assert stub.requests[-1]["body"]["messages"][0]["content"] == prompts.for_task(TASK).system


def test_the_hand_written_table_alone_solves_it():
    # Measured: 1.000 soft and hard, 256 episodes, seeds 0 and 1, mean length 14.1 of 196 steps.
    result = evaluate(hand_tables.table(TASK), TASK, episodes=64, hard=False)
    assert result["success_rate"] >= 0.9, result


@pytest.mark.parametrize("teacher", ["written_table", "built_table"])
def test_training_on_it_is_configured_with_a_table_file(teacher, request):
    path = request.getfixturevalue(teacher)
    env, [table] = build(TrainConfig(task=TASK, teacher=path))
    assert env.memory_map and env.observation_shape == (7, 7, 4)
    assert table.task == TASK and table.path == path


def test_without_a_table_file_training_says_how_to_get_one():
    with pytest.raises(tables.TableError, match=f"no teacher table is shipped for {TASK}: build one"):
        build(TrainConfig(task=TASK))


# 40,960 frames of 256 environments per seed with many small updates (8-step rollouts, 8 epochs x 8 minibatches,
# as in tests/test_any_task.py), the hand-written teacher. Measured on a 2-core CPU (final
# evaluation, 128 episodes): taught 1.0 and 0.992 for seeds 0 and 1 (eval success 1.0 from 20,480 frames);
# plain PPO in the same program 0.0 and 0.0.
@pytest.mark.slow
def test_a_taught_student_learns_it(written_table, tmp_path):
    config = TrainConfig(task=TASK, num_envs=256, total_frames=40_960, seeds=(0, 1), eval_episodes=64,
                         final_eval_episodes=128, gif_episodes=0, out=str(tmp_path / "run"), teacher=written_table,
                         num_steps=8, ppo=PPOConfig(update_epochs=8, num_minibatches=8, learning_rate=1e-3))
    _, final = run.train(config, log=QUIET)
    taught = [member["success_rate"] for member in final["per_seed"]]
    assert len(taught) == 2 and min(taught) > 0.8, taught
