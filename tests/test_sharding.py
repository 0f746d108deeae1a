"""Data parallel over devices and processes (student/sharding.py, student/hosts.py): 1, 2 and 4
devices compute the same updates; two processes on loopback end with the same parameters as one;
a checkpoint written on 4 devices resumes exactly on 2; a batch that does not divide over the
devices is refused before anything compiles.

JAX fixes its device count when it starts, so the cases with several devices run in fresh
Python processes with XLA_FLAGS=--xla_force_host_platform_device_count=N (CPU devices)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from student import metrics, sharding
from student.config import ConfigError, PPOConfig, TrainConfig
from student.ppo import make_train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 8 environments x 4 steps, one minibatch step per update, 2 updates per chunk, two seeds.
TINY = dict(num_envs=8, num_steps=4, updates_per_chunk=2, seeds=(0, 1),
            ppo=PPOConfig(update_epochs=1, num_minibatches=1))
# The same as train.py options, for runs: 4 chunks of one update, a checkpoint every 2; the last two
# in the late phase (8-step rollouts).
RUN_ARGS = ["--num-envs", "8", "--num-steps", "4", "--ppo.update-epochs", "1", "--ppo.num-minibatches", "1",
            "--seeds", "0", "1", "--updates-per-chunk", "1", "--total-frames", "192", "--checkpoint-every", "2",
            "--eval-episodes", "8", "--final-eval-episodes", "8", "--gif-episodes", "0"]
# A resume across the switch to the late phase, without the teacher (each phase compiles its own program; the
# teacher's part of a resumed run is tested on one device in tests/test_run.py).
LATE_ARGS = [*RUN_ARGS, "--late-frame", "64", "--late-rollout-factor", "2", "--method", "ppo"]
PRELUDE = f"""
import jax
jax.config.update("jax_compilation_cache_dir", {os.path.join(ROOT, ".jax_cache")!r})
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
import numpy as np
from student.config import PPOConfig, TrainConfig
TINY = {TINY!r}
RUN_ARGS = {RUN_ARGS!r}
LATE_ARGS = {LATE_ARGS!r}


def keep_parameters(path):
    # Makes each checkpoint of a run in this process also save this process's own copy of the parameters to
    # `path` (the last is the run's final state). Through orbax: importing student.checkpoint would start
    # JAX's backend before train.py joins the other process.
    import orbax.checkpoint as ocp
    save = ocp.CheckpointManager.save

    def save_keeping_parameters(self, step, *args, **kwargs):
        params = kwargs["args"]["state"].item.params
        np.savez(path, *[x.addressable_data(0) for x in jax.tree.leaves(params)])
        return save(self, step, *args, **kwargs)

    ocp.CheckpointManager.save = save_keeping_parameters
"""


def python(code: str, devices: int, wait: bool = True, **environment):
    """Runs `code` (after PRELUDE) in a fresh Python with `devices` CPU devices; its result, or the
    process itself if not `wait`."""
    env = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           **environment}
    command = [sys.executable, "-c", PRELUDE + textwrap.dedent(code)]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def leaves(path):
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def numeric_rows(run_dir):
    """metrics.jsonl without timing, numbers apart: (rows with numbers removed, the numbers)."""
    rows = [{k: v for k, v in r.items() if k not in metrics.TIMING_FIELDS}
            for r in metrics.read(os.path.join(run_dir, "metrics.jsonl"))]
    numbers = [v for r in rows for v in r.values() if isinstance(v, float)]
    return [{k: v for k, v in r.items() if not isinstance(v, float)} for r in rows], np.asarray(numbers)


def test_one_device_lays_the_environments_on_the_mesh_and_refuses_more_devices_than_visible():
    program = make_train(TrainConfig(**TINY), compile=False)
    state = program.init()
    assert program.mesh.axis_names == (sharding.AXIS,) and program.mesh.size == jax.device_count()
    for leaf in jax.tree.leaves(state.timestep):
        assert leaf.sharding.spec == sharding.split(program.mesh, 1).spec
    for leaf in jax.tree.leaves((state.params, state.opt_state, state.key)):
        assert leaf.sharding.is_fully_replicated
    with pytest.raises(ConfigError, match="xla_force_host_platform_device_count"):
        make_train(TrainConfig(**TINY, devices=jax.device_count() + 1), compile=False)


def test_a_batch_that_does_not_divide_over_the_devices_is_refused_before_compiling(tmp_path):
    out = python(f"""
        import train
        from student import ppo
        from student.config import ConfigError
        config = TrainConfig(**{{**TINY, "num_envs": 6}})
        env, table = ppo.build(config)

        def forbidden(*args, **kwargs):
            raise AssertionError("make_train compiled a program it should have refused")

        real_jit, jax.jit = jax.jit, forbidden
        for changes in ({{"num_envs": 6}}, {{"num_steps": 1, "ppo": PPOConfig(update_epochs=1, num_minibatches=4)}}):
            try:
                ppo.make_train(TrainConfig(**{{**TINY, **changes}}), env, table)
            except ConfigError as error:
                print(error)
        jax.jit = real_jit
        print("exit", train.main(["train", "--num-envs", "6", "--out", {str(tmp_path / "run")!r}]))
    """, devices=4)
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("--num-envs 6 does not divide over 4 devices")
    assert lines[1].startswith("a minibatch of 2 frames") and "does not divide over 4 devices" in lines[1]
    assert lines[-1] == "exit 2" and "does not divide over 4 devices" in out.stderr
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow
def test_one_two_and_four_devices_compute_the_same_updates(tmp_path):
    python(f"""
        from student.ppo import make_train
        # Each program compiles for 15 s or more: the soft teacher on 4 devices, the hard one (it draws plans) on 2.
        for method, devices in [("llm4teach", 1), ("llm4teach", 4), ("llm4teach-hard", 1), ("llm4teach-hard", 2)]:
            program = make_train(TrainConfig(**TINY, method=method, devices=devices))
            state, metrics = program.chunk(program.init())
            state, metrics = program.chunk(state)
            shard = jax.tree.leaves(state.timestep)[0].addressable_shards[0].data
            assert shard.shape[:2] == (2, 8 // devices), shard.shape
            np.savez(f"{tmp_path}/params-{{method}}-{{devices}}.npz", *jax.tree.leaves(state.params))
            np.savez(f"{tmp_path}/metrics-{{method}}-{{devices}}.npz", *[metrics[k] for k in sorted(metrics)])
    """, devices=4)
    for method, devices in [("llm4teach", 4), ("llm4teach-hard", 2)]:
        for name in ("params", "metrics"):
            for one, many in zip(leaves(tmp_path / f"{name}-{method}-1.npz"),
                                 leaves(tmp_path / f"{name}-{method}-{devices}.npz")):
                np.testing.assert_allclose(many, one, rtol=1e-4, atol=1e-6,
                                           err_msg=f"{method}: {name} on {devices} devices")


def test_the_teacher_searches_each_devices_maps_without_collectives():
    out = python("""
        import hashlib
        import envs, teacher_cache
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        mesh = Mesh(np.array(jax.devices()), ("envs",))
        env, table = envs.make("SimpleDoorKey"), teacher_cache.load("SimpleDoorKey")
        maps = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 16)).observation
        maps = jax.device_put(maps, NamedSharding(mesh, PartitionSpec("envs")))
        for name, given in (("shard_map", mesh), ("gspmd", None)):
            compiled = jax.jit(lambda m: teacher_cache.prior(table, m, mesh=given)).lower(maps).compile()
            collectives = sum(compiled.as_text().count(f" {op}(") for op in ("all-gather", "all-reduce", "all-to-all",
                                                                          "collective-permute", "reduce-scatter"))
            print(name, collectives, hashlib.sha256(np.asarray(compiled(maps)).tobytes()).hexdigest())
    """, devices=2)
    (local, local_collectives, answer), (partitioned, partitioned_collectives, reference) = (
        line.split() for line in out.stdout.strip().splitlines()[-2:])
    assert (local, partitioned) == ("shard_map", "gspmd") and answer == reference
    assert int(local_collectives) == 0 < int(partitioned_collectives)  # GSPMD gathered the maps in the search


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_importing_train_leaves_jax_unstarted_for_a_multi_process_run_to_join():
    # jax.distributed.initialize must come before anything starts JAX's backend (importing navix does).
    code = "import train\nfrom jax._src import xla_bridge\nprint(bool(xla_bridge._backends))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.slow
def test_two_processes_on_loopback_train_like_one(tmp_path):
    # As the command line runs it: train.py joins the other process itself, before reading its options starts
    # JAX's backend (the default --num-envs asks for it).
    code = f"""
        import os
        import train
        keep_parameters(f"{tmp_path}/params-{{os.environ['JAX_PROCESS_ID']}}.npz")
        assert train.main(["train", *RUN_ARGS, "--out", {str(tmp_path / "run")!r}]) == 0
    """
    coordinator = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}", "JAX_NUM_PROCESSES": "2"}
    processes = [python(code, devices=2, wait=False, JAX_PROCESS_ID=str(i), **coordinator) for i in (0, 1)]
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "frames/s" in outputs[0] and "frames/s" not in outputs[1]  # process 0 alone reports

    python(f"""
        import train
        keep_parameters("{tmp_path}/params-alone.npz")
        assert train.main(["train", *RUN_ARGS, "--out", {str(tmp_path / "alone")!r}]) == 0
    """, devices=1)
    first, second, alone = (leaves(tmp_path / f"params-{name}.npz") for name in (0, 1, "alone"))
    assert len(first) == len(alone) > 0
    for a, b, c in zip(first, second, alone):
        np.testing.assert_array_equal(a, b)  # the two processes' copies of the final parameters
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6)

    recorded = json.load(open(tmp_path / "run" / "config.json"))
    assert recorded["processes"] == 2 and recorded["device_count"] == 4
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoints", "config.json", "eval.json", "metrics.jsonl",
                                                     "progress.png"]
    (labels, numbers), (labels_alone, numbers_alone) = numeric_rows(tmp_path / "run"), numeric_rows(tmp_path / "alone")
    assert labels == labels_alone  # one row per update and seed: process 1 wrote none
    np.testing.assert_allclose(numbers, numbers_alone, rtol=1e-4, atol=1e-5)


def test_when_process_0_refuses_the_run_folder_every_process_says_why_at_once(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.json").write_text("{}")  # a run folder already: process 0 refuses it
    code = f"""
        import time
        import train
        start = time.perf_counter()
        assert train.main(["train", *RUN_ARGS, "--out", {str(taken)!r}]) == 2
        print(f"ended after {{time.perf_counter() - start:.0f}} s")
    """
    coordinator = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}", "JAX_NUM_PROCESSES": "2"}
    processes = [python(code, devices=1, wait=False, JAX_PROCESS_ID=str(i), **coordinator) for i in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    for output in outputs:
        assert f"train.py: {taken} already holds a run; continue it with `train.py resume {taken}`" in output
        seconds = int(output.split("ended after ")[1].split(" s")[0])
        assert seconds < 30, output  # not JAX's heartbeat timeout


@pytest.mark.slow
def test_a_checkpoint_of_four_devices_resumes_exactly_on_two(tmp_path):
    whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
    python(f"""
        import tyro
        import train
        from student import run

        class Killed(Exception):
            pass

        def kill(index):
            if index == 2:  # 3 of 4 chunks logged; the last checkpoint is after chunk 2, the next is late
                raise Killed

        assert train.main(["train", *LATE_ARGS, "--out", {whole!r}]) == 0
        config = tyro.cli(TrainConfig, args=[*LATE_ARGS, "--out", {broken!r}])
        try:
            run.train(config, on_chunk=kill, log=lambda line: None)
            raise AssertionError("the run was not killed")
        except Killed:
            pass
    """, devices=4)
    python(f"""
        import contextlib, io
        import train
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            assert train.main(["resume", {broken!r}, "--devices", "2"]) == 0
        assert "resuming {broken} from update 2 (64 frames per seed)" in log.getvalue(), log.getvalue()
    """, devices=2)
    assert json.load(open(os.path.join(broken, "config.json")))["device_count"] == 2
    (labels, numbers), (labels_whole, numbers_whole) = numeric_rows(broken), numeric_rows(whole)
    assert labels == labels_whole
    np.testing.assert_allclose(numbers, numbers_whole, rtol=1e-4, atol=1e-5)
