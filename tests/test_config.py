"""The configuration: filled from the large-batch recipe, sweeps, checks, and its round trip through config.json."""

import json
import os

import jax
import pytest

import teacher_cache
from student import recipe, run_folder
from student.config import ConfigError, DistillConfig, PPOConfig, Sweep, TrainConfig


def shape(config: TrainConfig) -> tuple[int, int, int]:
    return config.num_steps, config.ppo.update_epochs, config.ppo.num_minibatches


@pytest.mark.parametrize("num_envs, expected, learning_rate, late_factor, ent_coef", [
    (16, (16, 4, 4), 1e-3, 4, 0.01), (64, (16, 4, 4), 1e-3, 4, 0.01), (256, (8, 8, 8), 1e-3, 4, 0.01),
    (1024, (2, 2, 16), 3e-3, 4, 0.01), (2048, (1, 4, 32), 3e-3, 8, 0.01), (4096, (1, 4, 32), 3e-3, 8, 0.01),
    (16384, (1, 4, 64), 3e-3, 4, 0.03)])
def test_the_recipe_sets_what_the_user_leaves_unset(num_envs, expected, learning_rate, late_factor, ent_coef):
    assert shape(TrainConfig(num_envs=num_envs)) == expected
    assert shape(TrainConfig().replace(num_envs=num_envs)) == expected  # refilled when num_envs changes
    row = recipe.row(num_envs)
    assert (row.num_steps, row.update_epochs, row.num_minibatches) == expected
    assert (row.learning_rate, row.late_rollout_factor, row.ent_coef) == (learning_rate, late_factor, ent_coef)
    config = TrainConfig(num_envs=num_envs)
    assert (config.learning_rate(False), config.learning_rate(True)) == (learning_rate, 1e-3)  # late: 1e-3
    assert config.late_rollout_factor == late_factor
    assert config.phases.rollout_steps(True) == expected[0] * late_factor
    assert config.ppo.ent_coef == ent_coef
    assert TrainConfig(num_envs=num_envs, late_rollout_factor=2).late_rollout_factor == 2  # set: kept
    assert TrainConfig(num_envs=num_envs, ppo=PPOConfig(ent_coef=0.0)).ppo.ent_coef == 0.0  # set, even to 0: kept


def test_any_other_task_takes_the_sparse_reward_recipe_and_its_environment_count(monkeypatch):
    import envs

    assert recipe.PAPER_TASKS == envs.TASKS
    for backend in ("cpu", "gpu"):
        monkeypatch.setattr(jax, "default_backend", lambda backend=backend: backend)
        config = TrainConfig(task="Navix-DoorKey-16x16-v0")
        assert (config.num_envs, *shape(config)) == (256, 32, 4, 4)
        assert (config.learning_rate(False), config.late_rollout_factor, config.ppo.ent_coef) == (1e-3, 4, 0.01)
    assert shape(TrainConfig(task="Navix-DoorKey-8x8-v0", num_envs=1024)) == (32, 4, 4)  # any count: the same row
    # Rebuilt for the other kind of task, what the recipe filled follows it; what was given stays.
    paper = TrainConfig(task="SimpleDoorKey", num_envs=1024)
    assert (TrainConfig().replace(task="Navix-DoorKey-8x8-v0").num_envs, shape(paper)) == (256, (2, 2, 16))
    moved = paper.replace(task="Navix-DoorKey-8x8-v0")
    assert (moved.num_envs, *shape(moved)) == (1024, 32, 4, 4)
    assert TrainConfig().replace(task="Navix-DoorKey-8x8-v0").replace(task="SimpleDoorKey") == TrainConfig()
    given = TrainConfig(task="Navix-DoorKey-8x8-v0", num_steps=128, ppo=PPOConfig(ent_coef=0.05))
    assert (given.num_steps, given.ppo.ent_coef) == (128, 0.05)
    assert run_folder.from_dict(run_folder.to_dict(given)) == given


def test_what_the_user_sets_is_kept():
    config = TrainConfig(num_envs=1024, num_steps=16, ppo=PPOConfig(update_epochs=2))
    assert shape(config) == (16, 2, 16)
    assert shape(config.replace(num_envs=64)) == (16, 2, 4)  # the recipe's minibatches follow, the rest is kept
    changed = config.replace(ppo=config.ppo.replace(num_minibatches=8))
    assert shape(changed.replace(num_envs=64)) == (16, 2, 8)  # set since: kept
    given = TrainConfig(num_envs=1024, ppo=PPOConfig(learning_rate=5e-4))
    assert (given.learning_rate(False), given.learning_rate(True)) == (5e-4, 5e-4)  # a given rate: both phases
    late = TrainConfig(num_envs=1024, ppo=PPOConfig(late_learning_rate=2e-4))
    assert (late.learning_rate(False), late.learning_rate(True)) == (3e-3, 2e-4)


def test_a_saved_configuration_reads_back_equal(tmp_path):
    config = TrainConfig(num_envs=1024, seeds=(3, 4), distill=DistillConfig("authors"),
                         sweep=Sweep(learning_rate=(1e-3, 3e-3)))
    assert run_folder.from_dict(run_folder.to_dict(config)) == config
    assert run_folder.from_dict(run_folder.to_dict(config)).replace(num_envs=64) == config.replace(num_envs=64)


def saved_run(tmp_path, num_envs: int) -> tuple[str, dict]:
    """A run folder created with the recipe for num_envs, and its config.json record."""
    config = TrainConfig(num_envs=num_envs, out=str(tmp_path / "run"))
    run_dir = run_folder.create(config, [teacher_cache.load(config.task)], jax.devices())
    with open(os.path.join(run_dir, run_folder.CONFIG)) as file:
        return run_dir, json.load(file)


def read_back(run_dir: str, record: dict) -> TrainConfig:
    """The configuration read from run_dir once `record` (as an older run saved it) is its config.json."""
    with open(os.path.join(run_dir, run_folder.CONFIG), "w") as file:
        json.dump(record, file)
    return run_folder.read(run_dir)


def test_a_resumed_run_keeps_the_recipe_it_started_with(tmp_path, monkeypatch):
    # A run records the recipe's values in its configuration; read back after the recipe changed, it keeps them.
    run_dir, record = saved_run(tmp_path, 1024)
    assert record["config"]["ppo"]["num_minibatches"] == 16 and record["config"]["ppo"]["learning_rate"] == 3e-3
    assert ["ppo.num_minibatches", 16] in record["config"]["from_recipe"]
    changed = tuple(row._replace(num_minibatches=8, learning_rate=1e-3, late_rollout_factor=2)
                    for row in recipe.RECIPE)
    monkeypatch.setattr(recipe, "RECIPE", changed)
    assert shape(TrainConfig(num_envs=1024)) == (2, 2, 8)  # a new run takes the new recipe
    read = run_folder.read(run_dir)
    assert shape(read) == (2, 2, 16) and read.late_rollout_factor == 4
    assert (read.learning_rate(False), read.learning_rate(True)) == (3e-3, 1e-3)


def test_a_run_saved_with_the_recipe_under_derived_reads_back_with_it(tmp_path):
    # Runs saved before the recipe's values were part of the configuration left them unset there and recorded
    # them under "derived" (the entropy coefficient and late factor not at all, when they were not the recipe's).
    run_dir, record = saved_run(tmp_path, 4096)
    for name in ("num_steps", "late_rollout_factor"):
        record["config"][name] = None
    for name in ("update_epochs", "num_minibatches", "learning_rate", "late_learning_rate", "ent_coef"):
        record["config"]["ppo"][name] = None
    for name in ("from_recipe", "recipe_envs"):
        del record["config"][name]
    record["derived"].update(num_steps=2, update_epochs=8, num_minibatches=8, learning_rate=1e-3,
                             late_learning_rate=1e-3, late_rollout_factor=4, ent_coef=0.01)
    read = read_back(run_dir, record)
    assert shape(read) == (2, 8, 8) and (read.learning_rate(False), read.learning_rate(True)) == (1e-3, 1e-3)
    assert read.late_rollout_factor == 4 and read.ppo.ent_coef == 0.01
    assert shape(read.replace(num_envs=64)) == (2, 8, 8)  # now set, not the recipe's
    record["config"]["ppo"]["ent_coef"] = 0.01
    record["config"]["late_rollout_factor"] = 4
    del record["derived"]["ent_coef"], record["derived"]["late_rollout_factor"]
    read = read_back(run_dir, record)
    assert read.ppo.ent_coef == 0.01 and read.late_rollout_factor == 4


def test_traced_and_static_fields():
    config = TrainConfig(ppo=PPOConfig(learning_rate=1e-3))
    leaves = jax.tree.leaves(config)
    assert len(leaves) == 8 + 4 + 3  # PPO's numbers, the λ schedule, how it is taught; the rest shapes the program
    assert config.ppo.learning_rate in leaves and config.num_envs not in leaves


def test_a_sweep_is_a_grid_of_settings_times_seeds():
    config = TrainConfig(seeds=(0, 1), sweep=Sweep(learning_rate=(1e-3, 3e-3), ent_coef=(0.0, 0.01, 0.1)))
    assert len(config.settings) == 6 and len(config.members) == 12
    seed, setting = config.members[5]  # settings outer, seeds inner: setting 2, seed 1
    member = config.with_setting(setting)
    assert (seed, member.ppo.learning_rate, member.ppo.ent_coef) == (1, 1e-3, 0.1)
    assert member.ppo.late_learning_rate == 1e-3 and member.sweep == Sweep()
    # A learning rate swept serves both phases, even where it equals the recipe's (3e-3 at 1024 environments).
    member = TrainConfig(num_envs=1024, sweep=Sweep(learning_rate=(3e-3,))).with_setting({"learning_rate": 3e-3})
    assert (member.learning_rate(False), member.learning_rate(True)) == (3e-3, 3e-3)
    given = TrainConfig(ppo=PPOConfig(late_learning_rate=2e-4), sweep=Sweep(learning_rate=(3e-3,)))
    assert given.with_setting({"learning_rate": 3e-3}).learning_rate(True) == 2e-4  # unless the late one was given


def test_config_checks_say_what_to_change():
    with pytest.raises(ConfigError, match="pick a divisor, e.g. 1, 2, 4"):
        TrainConfig(num_envs=3, num_steps=4, ppo=PPOConfig(num_minibatches=8))
    with pytest.raises(ConfigError, match="--ppo.gamma must be in"):
        TrainConfig(sweep=Sweep(gamma=(0.9, 1.5)))
    with pytest.raises(ConfigError, match="got 0.03 and -0.5"):  # the recipe's entropy bonus beyond 4096
        TrainConfig(num_envs=8192, ppo=PPOConfig(vf_coef=-0.5))
    with pytest.raises(ConfigError, match="--ppo.ent-coef and --ppo.vf-coef must be non-negative"):
        TrainConfig(sweep=Sweep(ent_coef=(0.0, -0.1)))


def test_a_run_saved_before_the_late_phase_existed_reads_back_without_one():
    values = run_folder.to_dict(TrainConfig(num_envs=1024, total_frames=1_000_000))
    del values["late_rollout_factor"], values["from_recipe"], values["recipe_envs"]
    assert run_folder.from_dict(values).late_rollout_factor == 1


def test_the_default_environment_count_follows_the_backend(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert TrainConfig().num_envs == 1024
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert TrainConfig().num_envs == 4096 and TrainConfig(num_envs=64).num_envs == 64
