"""train.py end to end: a run folder that learns, kill-and-resume, evaluation, and config errors."""

import json
import os

import pytest

import train
from student import run
from student.config import ConfigError, PPOConfig, TrainConfig

QUIET = lambda line: None  # noqa: E731


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A short SimpleDoorKey run with the soft teacher."""
    out = str(tmp_path_factory.mktemp("runs") / "short")
    config = TrainConfig(total_frames=60_000, num_envs=64, num_steps=16, updates_per_chunk=15,
                         eval_episodes=100, final_eval_episodes=200, gif_episodes=1, out=out)
    run_dir, final = run.train(config, log=QUIET)
    return run_dir, final


def test_a_short_run_learns_and_fills_its_run_folder(short_run):
    run_dir, final = short_run
    assert sorted(os.listdir(run_dir)) == ["checkpoints", "config.json", "eval.json", "metrics.jsonl",
                                           "progress.png", "student.gif"]
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert [r["update"] for r in rows] == list(range(1, 61))
    for field in ("frames", "success_rate", "mean_return", "mean_length", "distill_coefficient", "loss",
                  "policy_loss", "value_loss", "entropy", "distill_loss"):
        assert field in rows[0]
    evaluations = [r["eval_success_rate"] for r in rows if "eval_success_rate" in r]
    assert evaluations[0] < 0.2  # the untrained policy almost never opens the door
    assert final["success_rate"] > 0.6  # well above it after 60k frames
    saved = json.load(open(os.path.join(run_dir, "eval.json")))
    assert {"success_rate", "mean_return", "mean_length", "episodes", "frames"} <= set(saved)
    assert saved["frames"] == 61_440 and saved["episodes"] == 200


def test_evaluate_reads_the_last_checkpoint(short_run, capsys):
    run_dir, final = short_run
    assert train.main(["--evaluate", run_dir, "--final-eval-episodes", "200"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 61_440 and report["episodes"] == 200
    assert report["success_rate"] == pytest.approx(final["success_rate"])  # same checkpoint, same key


def strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in run.TIMING_FIELDS} for r in rows]


def test_a_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    config = dict(total_frames=6 * 2 * 16 * 8, num_envs=16, num_steps=8, updates_per_chunk=2, checkpoint_every=2,
                  eval_episodes=20, final_eval_episodes=20, gif_episodes=0, seeds=(0, 1))
    whole, _ = run.train(TrainConfig(out=str(tmp_path / "whole"), **config), log=QUIET)

    class Killed(Exception):
        pass

    def crash_after_chunk(index):
        if index == 2:  # chunk 3 of 6 ran and was logged, but the last checkpoint is after chunk 2
            raise Killed

    with pytest.raises(Killed):
        run.train(TrainConfig(out=str(tmp_path / "broken"), **config), on_chunk=crash_after_chunk, log=QUIET)
    assert train.main(["--resume", str(tmp_path / "broken")]) == 0
    read = lambda name: [json.loads(line) for line in open(tmp_path / name / "metrics.jsonl")]
    assert strip_timing(read("broken")) == strip_timing(read("whole"))
    assert json.load(open(tmp_path / "broken" / "eval.json")) == json.load(open(os.path.join(whole, "eval.json")))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--num-envs", "10", "--num-steps", "3", "--ppo.num-minibatches", "4"], "does not divide the batch"),
        (["--num-envs", "0"], "--num-envs must be at least 1"),
        (["--method", "ppo", "--teacher", "x.json"], "--teacher has no effect"),
        (["--seeds", "1", "1"], "distinct seeds"),
        (["--distill.start", "5"], "--distill.start has no effect with --distill.preset measured"),
        (["--task", "Navix-DoorKey-5x5-v0"], "no teacher exists"),
        (["--task", "DoorKey"], "unknown task"),
        (["--task", "SimpleDoorKey", "--teacher", "teacher_cache/tables/ColoredDoorKey.authors.json"],
         "the table is for ColoredDoorKey, not SimpleDoorKey"),
        (["--resume", "/no/such/run"], "does not exist"),
        (["--evaluate", "/tmp"], "not a run folder"),
    ],
)
def test_bad_configurations_are_refused_before_anything_compiles(arguments, message, capsys, tmp_path):
    assert train.main(arguments + ["--out", str(tmp_path / "never")]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "never" / "checkpoints")


def test_a_run_folder_is_never_overwritten(short_run, capsys):
    run_dir, _ = short_run
    before = open(os.path.join(run_dir, "metrics.jsonl")).read()
    assert train.main(["--out", run_dir, "--total-frames", "1000"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert open(os.path.join(run_dir, "metrics.jsonl")).read() == before


def test_config_checks_say_what_to_change():
    with pytest.raises(ConfigError, match="pick a divisor, e.g. 1, 2, 4"):
        TrainConfig(num_envs=3, num_steps=4, ppo=PPOConfig(num_minibatches=8))
