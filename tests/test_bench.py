"""The command lines besides train.py: each benchmark refuses bad counts before measuring anything and runs
end to end on a small configuration, printing its rows (the figures themselves are the machine's); the
teacher's evaluation and the demo refuse bad input with a message; bench/gpu.sh writes each table it measures."""

import os
import re
import subprocess
import sys

import jax
import pytest

import bench
import envs
from bench import env_throughput, go_to_search, reproduce, sample_efficiency, scaling, train_throughput
from common.cli import UsageError
from student.config import ConfigError, PPOConfig, TrainConfig

# One update of 16 x 4 frames and one minibatch step a chunk: compiles and runs in seconds.
TINY = TrainConfig(num_steps=4, updates_per_chunk=1, ppo=PPOConfig(update_epochs=1, num_minibatches=1))


@pytest.mark.parametrize(
    "main, options, message",
    [
        (train_throughput.main, train_throughput.Options(num_envs=(64, 0)),
         r"--num-envs must be at least 1, got \[64, 0\]"),
        (train_throughput.main, train_throughput.Options(chunks=0), "--chunks must be at least 1, got 0"),
        (sample_efficiency.main, sample_efficiency.Options(threshold=2.0),
         r"--threshold is an evaluation success rate in \(0, 1\]"),
        (sample_efficiency.main, sample_efficiency.Options(methods=()), "--methods must name at least one"),
        (sample_efficiency.main, sample_efficiency.Options(eval_frames=0), "--eval-frames must be at least 1"),
        (env_throughput.main, env_throughput.Options(repeats=0), "--repeats must be at least 1, got 0"),
        (env_throughput.main, env_throughput.Options(tasks=("SimpleDoorKey", "DoorKey")),
         r"--tasks must name tasks \(ours or navix ids, .*\), got \['SimpleDoorKey', 'DoorKey'\]"),
        (env_throughput.main, env_throughput.Options(tasks=()), r"--tasks must name tasks .*, got \[\]"),
        (scaling.main, scaling.Options(devices=(1, 0)), r"--devices must be at least 1, got \[1, 0\]"),
        (go_to_search.main, go_to_search.Options(sizes=()), r"--sizes must be at least 1, got \[\]"),
    ],
)
def test_a_benchmark_refuses_a_count_below_one_before_measuring(main, options, message, capsys):
    with pytest.raises(UsageError, match=message):
        main(options)
    assert capsys.readouterr().out == ""  # not even the header


def test_every_configuration_is_checked_before_the_first_is_measured(capsys):
    with pytest.raises(ConfigError, match="--method must be one of"):  # bench.cli says it without a traceback
        sample_efficiency.main(sample_efficiency.Options(methods=("ppo", "foo")))
    with pytest.raises(ConfigError, match="--ppo.num-minibatches 16 does not divide the batch of num_envs"):
        train_throughput.main(train_throughput.Options(num_envs=(16, 10), train=TINY.replace(
            ppo=PPOConfig(update_epochs=1, num_minibatches=16))))  # 16 x 4 frames divide by 16, 10 x 4 do not
    assert capsys.readouterr().out == ""


def test_the_command_line_says_what_the_trainer_refused_without_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["bench.sample_efficiency", "--methods", "ppo", "foo"])
    with pytest.raises(SystemExit) as exit:
        bench.cli(sample_efficiency.Options, sample_efficiency.main, "", "bench.sample_efficiency")
    assert exit.value.code == 2
    assert re.fullmatch("bench.sample_efficiency: --method must be one of .*, got 'foo'\n", capsys.readouterr().err)


def test_the_training_options_are_checked_with_the_benchmarks_own_environment_count(monkeypatch, capsys):
    """2,048 minibatches divide 4,096 environments' 1-step rollouts, not the default count's: accepted, and only
    the count measured is held against them."""
    parsed = []
    argv = ["bench.train_throughput", "--num-envs", "4096", "--train.num-steps", "1",
            "--train.ppo.num-minibatches", "2048"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit:
        bench.cli(train_throughput.Options, parsed.append, "", "bench.train_throughput")
    assert exit.value.code == 0
    assert parsed[0].num_envs == (4096,) and parsed[0].train.ppo.num_minibatches == 2048
    monkeypatch.setattr("sys.argv", argv[:2] + ["16"] + argv[3:])
    with pytest.raises(SystemExit) as exit:
        bench.cli(train_throughput.Options, train_throughput.main, "", "bench.train_throughput")
    assert exit.value.code == 2
    assert re.search(r"num-minibatches 2048 does not divide the batch of num_envs \* num_steps = 16 \* 1",
                     capsys.readouterr().err)
    with pytest.raises(ConfigError, match="--num-envs must be at least 1"):  # checked again once parsed
        TrainConfig(num_envs=0)


def test_a_reproduction_with_a_bad_budget_makes_no_folder(tmp_path):
    out = tmp_path / "results"
    assert reproduce.main(["--frames.SimpleDoorKey", "0", "--out", str(out)]) == 2
    assert reproduce.main(["--train.ppo.num-minibatches", "7", "--out", str(out)]) == 2
    assert reproduce.main(["--train.seeds", "3", "--out", str(out)]) == 2  # the reproduction's own: --seeds
    assert not out.exists()


def test_the_throughput_benchmark_prints_each_method(capsys):
    train_throughput.main(train_throughput.Options(num_envs=(16,), chunks=1, train=TINY))
    rows = [line.split("|")[3].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("| SimpleDoorKey")]
    assert rows == ["llm4teach", "llm4teach, λ = 0", "ppo"]


@pytest.mark.slow
def test_the_scaling_benchmark_measures_each_device_count_in_its_own_process(capsys, monkeypatch):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", jax.config.jax_compilation_cache_dir)  # the processes' too
    scaling.main(scaling.Options(devices=(1, 2), num_envs=16, chunks=1, train=TINY))
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert [(r[1].strip(), r[3].strip(), r[4].strip()) for r in rows] == [("1", "16", "64"), ("2", "8", "64")]
    fps = [float(r[-3].replace(",", "")) for r in rows]
    assert float(rows[1][-2].strip()[:-1]) == pytest.approx(fps[1] / fps[0], abs=0.01)  # the ratio of the rates


@pytest.mark.slow
def test_the_sample_efficiency_benchmark_prints_a_row_per_method_and_size(capsys):
    sample_efficiency.main(sample_efficiency.Options(methods=("ppo",), seeds=(0, 1), num_envs=(16, 32), max_frames=256,
                                                     eval_frames=128, eval_episodes=4, train=TINY))
    lines = capsys.readouterr().out.splitlines()
    header = next(line.split("|") for line in lines if line.startswith("| method |"))
    rows = [line.split("|") for line in lines if line.startswith("| ppo |")]
    assert [(r[2].strip(), r[4].strip()) for r in rows] == [("16", "2"), ("32", "2")]  # envs, seeds
    rate = header.index(" frames/s ")
    assert all(float(r[rate].replace(",", "")) > 0 for r in rows)


@pytest.mark.slow
def test_the_environment_benchmark_prints_each_task_with_and_without_its_teacher(capsys):
    assert env_throughput.Options().tasks == envs.TASKS  # every task unless told (each row compiles for seconds)
    navix_task = "Navix-DoorKey-5x5-v0"
    env_throughput.main(env_throughput.Options(sizes=(8,), steps=2, repeats=1, tasks=("LavaDoorKey", navix_task)))
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]
    assert [row[1].strip() for row in rows] == [
        f"{env_throughput.REFERENCE} (navix's own step)", "LavaDoorKey, vmapped step", "LavaDoorKey",
        "LavaDoorKey + teacher prior", f"{navix_task} (navix's own step)", f"{navix_task}, memory map",
        f"{navix_task}, memory map + teacher prior"]
    assert rows[4][5].strip() == "100%"  # a navix task's rows are compared with its own navix row


@pytest.mark.parametrize(
    "module, arguments, message",
    [
        ("teacher_cache.evaluate", ["--episodes", "0"], "--episodes must be at least 1, got 0"),
        ("teacher_cache.evaluate", ["--table", "README.md"], "teacher table README.md: not valid JSON"),
        ("envs.demo", ["--steps", "0"], "--num-envs and --steps must be at least 1"),
    ],
)
def test_the_other_command_lines_refuse_bad_input_with_a_message(module, arguments, message, monkeypatch, capsys):
    main = __import__(module, fromlist=["main"]).main
    assert main([*arguments, *(["--out", "never"] if module == "envs.demo" else [])]) == 2
    error = capsys.readouterr().err
    assert error == f"{module}: {error.split(': ', 1)[1]}" and message in error  # one line, named
    assert not os.path.exists("never")


GPU_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "gpu.sh")


def test_the_accelerator_script_refuses_a_table_it_does_not_know(tmp_path):
    result = subprocess.run([GPU_SCRIPT, str(tmp_path / "out")], env={**os.environ, "ONLY": "sample_eff"},
                            capture_output=True, text=True)
    assert result.returncode == 2 and "ONLY names no table 'sample_eff'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_accelerator_script_never_writes_over_an_earlier_table(tmp_path):
    (tmp_path / "go_to_search.md").write_text("an earlier run's table")
    result = subprocess.run([GPU_SCRIPT, "."], env={**os.environ, "ONLY": "go_to_search train_recipe"}, cwd=tmp_path,
                            capture_output=True, text=True)  # OUT relative to where it is called from
    assert result.returncode == 2 and f"{tmp_path}/go_to_search.md is there from an earlier run" in result.stderr
    assert os.listdir(tmp_path) == ["go_to_search.md"]
    assert (tmp_path / "go_to_search.md").read_text() == "an earlier run's table"


@pytest.mark.slow
def test_the_accelerator_script_writes_each_table_it_measures(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "SIZES": "16", "ONLY": "go_to_search",
           "JAX_COMPILATION_CACHE_DIR": jax.config.jax_compilation_cache_dir}
    result = subprocess.run([GPU_SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["go_to_search.md"]
    table = (tmp_path / "go_to_search.md").read_text()
    assert table.startswith("== python -m bench.go_to_search --sizes 16") and "| 16 | until-done |" in table
