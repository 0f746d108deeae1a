"""The configuration: the large-batch recipe, sweeps, checks, and its round trip through config.json."""

import json
import os

import jax
import pytest

from student import config as configuration
from student import run_folder
from student.config import ConfigError, DistillConfig, PPOConfig, Sweep, TrainConfig, recipe


def shape(config: TrainConfig) -> tuple[int, int, int]:
    return config.steps_per_rollout, config.update_epochs, config.num_minibatches


@pytest.mark.parametrize("num_envs, expected, learning_rate, late_factor, ent_coef", [
    (16, (16, 4, 4), 1e-3, 4, 0.01), (64, (16, 4, 4), 1e-3, 4, 0.01), (256, (8, 8, 8), 1e-3, 4, 0.01),
    (1024, (2, 2, 16), 3e-3, 4, 0.01), (2048, (1, 4, 32), 3e-3, 8, 0.01), (4096, (1, 4, 32), 3e-3, 8, 0.01),
    (16384, (1, 4, 64), 3e-3, 4, 0.03)])
def test_the_recipe_sets_what_the_user_leaves_unset(num_envs, expected, learning_rate, late_factor, ent_coef):
    assert shape(TrainConfig(num_envs=num_envs)) == expected
    assert shape(TrainConfig().replace(num_envs=num_envs)) == expected  # refilled when num_envs changes
    assert recipe(num_envs) == {**dict(zip(("num_steps", "update_epochs", "num_minibatches"), expected)),
                                "learning_rate": learning_rate, "late_rollout_factor": late_factor,
                                "ent_coef": ent_coef}
    config = TrainConfig(num_envs=num_envs)
    assert (config.learning_rate(False), config.learning_rate(True)) == (learning_rate, 1e-3)  # late: 1e-3
    assert config.late_factor == late_factor and config.rollout_steps(True) == expected[0] * late_factor
    assert config.ent_coef == ent_coef
    assert TrainConfig(num_envs=num_envs, late_rollout_factor=2).late_factor == 2  # set: kept
    assert TrainConfig(num_envs=num_envs, ppo=PPOConfig(ent_coef=0.0)).ent_coef == 0.0  # set, even to 0: kept


def test_what_the_user_sets_is_kept():
    config = TrainConfig(num_envs=1024, num_steps=16, ppo=PPOConfig(update_epochs=2))
    assert shape(config) == (16, 2, 16) and config.num_steps == 16 and config.ppo.num_minibatches is None
    assert shape(config.replace(num_envs=64)) == (16, 2, 4)
    given = TrainConfig(num_envs=1024, ppo=PPOConfig(learning_rate=5e-4))
    assert (given.learning_rate(False), given.learning_rate(True)) == (5e-4, 5e-4)  # a given rate: both phases
    late = TrainConfig(num_envs=1024, ppo=PPOConfig(late_learning_rate=2e-4))
    assert (late.learning_rate(False), late.learning_rate(True)) == (3e-3, 2e-4)


def test_a_saved_configuration_reads_back_equal(tmp_path):
    config = TrainConfig(num_envs=1024, seeds=(3, 4), distill=DistillConfig("authors"),
                         sweep=Sweep(learning_rate=(1e-3, 3e-3)))
    assert configuration.from_dict(configuration.to_dict(config)) == config


def saved_run(tmp_path, num_envs: int) -> tuple[str, dict]:
    """A run folder created with the recipe for num_envs, and its config.json record."""
    run_dir = run_folder.create(TrainConfig(num_envs=num_envs, out=str(tmp_path / "run")), None, jax.devices())
    with open(os.path.join(run_dir, configuration.CONFIG_FILE)) as file:
        return run_dir, json.load(file)


def read_back(run_dir: str, record: dict) -> TrainConfig:
    """The configuration read from run_dir once `record` (as an older run saved it) is its config.json."""
    with open(os.path.join(run_dir, configuration.CONFIG_FILE), "w") as file:
        json.dump(record, file)
    return configuration.read(run_dir)


def test_a_resumed_run_keeps_the_recipe_it_started_with(tmp_path):
    # A run started at 1024 environments when the recipe there was 2 steps with 8 x 8 at 1e-3 (recorded in
    # config.json's "derived"), read back after the recipe changed to 2 x 16 at 3e-3: it keeps 8 x 8 at 1e-3.
    run_dir, record = saved_run(tmp_path, 1024)
    assert record["config"]["ppo"]["num_minibatches"] is None  # unset: the recipe's
    assert record["config"]["ppo"]["learning_rate"] is None
    assert (record["derived"]["learning_rate"], record["derived"]["late_learning_rate"]) == (3e-3, 1e-3)
    record["derived"].update(num_steps=2, update_epochs=8, num_minibatches=8, learning_rate=1e-3)
    read = read_back(run_dir, record)
    assert shape(read) == (2, 8, 8) and (read.learning_rate(False), read.learning_rate(True)) == (1e-3, 1e-3)
    assert shape(read.replace(num_envs=4096)) == (2, 8, 8)  # now set, not the recipe's


def test_a_resumed_run_keeps_the_late_rollout_factor_it_started_with(tmp_path):
    # A run at 4096 environments whose recipe gave it 4x longer late rollouts (recorded in config.json's
    # "derived"), read back when the recipe there gives 8x: it keeps 4x; a run started now records 8x. A run
    # saved before the factor was the recipe's has it in its configuration (4) and no "derived" factor.
    run_dir, record = saved_run(tmp_path, 4096)
    assert record["config"]["late_rollout_factor"] is None and record["derived"]["late_rollout_factor"] == 8
    assert configuration.read(run_dir).late_rollout_factor == 8
    record["derived"]["late_rollout_factor"] = 4
    assert read_back(run_dir, record).late_factor == 4
    record["config"]["late_rollout_factor"] = 4
    del record["derived"]["late_rollout_factor"]
    assert read_back(run_dir, record).late_factor == 4


def test_a_resumed_run_keeps_the_entropy_coefficient_it_started_with(tmp_path):
    # A run beyond 4096 environments records the recipe's 0.03 and reads back with it. One saved before the
    # coefficient was the recipe's has 0.01 in its configuration and nothing under "derived": it keeps 0.01.
    run_dir, record = saved_run(tmp_path, 16384)
    assert record["config"]["ppo"]["ent_coef"] is None and record["derived"]["ent_coef"] == 0.03
    assert configuration.read(run_dir).ent_coef == 0.03
    record["config"]["ppo"]["ent_coef"] = 0.01
    del record["derived"]["ent_coef"]
    assert read_back(run_dir, record).ent_coef == 0.01


def test_traced_and_static_fields():
    config = TrainConfig(ppo=PPOConfig(learning_rate=1e-3))
    leaves = jax.tree.leaves(config)
    assert len(leaves) == 6 + 4  # PPO's numbers and the λ schedule; everything else shapes the program
    assert config.ppo.learning_rate in leaves and config.num_envs not in leaves
    assert len(jax.tree.leaves(TrainConfig())) == 5 + 4  # the recipe's learning rate and entropy: constants


def test_a_sweep_is_a_grid_of_settings_times_seeds():
    config = TrainConfig(seeds=(0, 1), sweep=Sweep(learning_rate=(1e-3, 3e-3), ent_coef=(0.0, 0.01, 0.1)))
    assert len(config.settings) == 6 and len(config.members) == 12
    seed, setting = config.members[5]  # settings outer, seeds inner: setting 2, seed 1
    member = config.with_setting(setting)
    assert (seed, member.ppo.learning_rate, member.ppo.ent_coef) == (1, 1e-3, 0.1)
    assert member.sweep == Sweep()


def test_config_checks_say_what_to_change():
    with pytest.raises(ConfigError, match="pick a divisor, e.g. 1, 2, 4"):
        TrainConfig(num_envs=3, num_steps=4, ppo=PPOConfig(num_minibatches=8))
    with pytest.raises(ConfigError, match="--ppo.gamma must be in"):
        TrainConfig(sweep=Sweep(gamma=(0.9, 1.5)))
    with pytest.raises(ConfigError, match="got 0.03 and -0.5"):  # the recipe's entropy bonus beyond 4096
        TrainConfig(num_envs=8192, ppo=PPOConfig(vf_coef=-0.5))
    with pytest.raises(ConfigError, match="--ppo.ent-coef and --ppo.vf-coef must be non-negative"):
        TrainConfig(sweep=Sweep(ent_coef=(0.0, -0.1)))


def test_the_late_phase_lengthens_rollouts_from_a_chunk_boundary():
    config = TrainConfig(num_envs=1024, total_frames=1_000_000)  # recipe: 2-step rollouts, 2,048 frames an update
    assert config.early_chunks == 15 and config.frames_at(config.early_updates) == 307_200  # first boundary ≥ 300k
    assert (config.rollout_steps(True), config.phase_batch_size(True),
            config.phase_minibatch_size(True)) == (8, 8192, 512)
    assert config.updates_in_chunk(True) == 2 and config.has_late_phase
    assert [config.updates_before_chunk(i) for i in (0, 14, 15, 16)] == [0, 140, 150, 152]
    assert all(config.chunk_of_update(config.updates_before_chunk(i)) == i for i in range(config.num_chunks + 1))
    assert config.frames_at(152) == 307_200 + 2 * 8192 and float(config.frames_at(jax.numpy.int32(152))) == 323_584
    assert config.planned_frames >= 1_000_000 > config.frames_at(config.updates_before_chunk(config.num_chunks - 1))
    assert not TrainConfig().has_late_phase  # the default run ends before 300k frames
    unchanged = TrainConfig(num_envs=1024, total_frames=1_000_000, late_rollout_factor=1)
    assert unchanged.early_chunks is None and unchanged.planned_frames == unchanged.num_updates * 2048


def test_a_run_saved_before_the_late_phase_existed_reads_back_without_one():
    values = configuration.to_dict(TrainConfig(num_envs=1024, total_frames=1_000_000))
    del values["late_rollout_factor"]
    assert configuration.from_dict(values).late_rollout_factor == 1


def test_the_default_environment_count_follows_the_backend(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert TrainConfig().num_envs == 1024
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert TrainConfig().num_envs == 4096 and TrainConfig(num_envs=64).num_envs == 64
