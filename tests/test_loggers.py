"""Metric rows mirrored to TensorBoard and Weights & Biases: the same values as metrics.jsonl, and a resumed run
continues the same curves without duplicate steps."""

import glob
import json
import os
import struct

import pytest

import train
from student import metrics, run
from tests.fake_llm import requires
from student.config import PPOConfig, TrainConfig

# 4 chunks of 2 updates of 16 x 8 frames, a checkpoint every 2 chunks, two seeds.
SMALL = dict(total_frames=4 * 2 * 16 * 8, num_envs=16, num_steps=8, updates_per_chunk=2, checkpoint_every=2,
             late_rollout_factor=1, eval_episodes=8, final_eval_episodes=8, gif_episodes=0, seeds=(0, 1),
             ppo=PPOConfig(update_epochs=1, num_minibatches=1))


def tensorboard_scalars(folder: str) -> dict[tuple[str, int], list[float]]:
    """{(tag, step): [values in the order written]} of every event file under `folder` (TFRecord framing: length,
    its CRC, the serialized Event, its CRC)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        data, offset = open(path, "rb").read(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault((value.tag, event.step), []).append(value.simple_value)
    return scalars


def expected_scalars(rows: list[dict], seed: int) -> dict[tuple[str, int], float]:
    return {(name, row["frames"]): value for row in rows if row["seed"] == seed
            for name, value in row.items()
            if name not in ("seed", "update", "frames") and isinstance(value, (int, float))}


class Killed(Exception):
    pass


def kill_after(chunk):
    def on_chunk(index):
        if index == chunk:
            raise Killed

    return on_chunk


def test_tensorboard_holds_the_metrics_rows_and_a_resumed_run_adds_no_duplicate_step(tmp_path):
    out = str(tmp_path / "run")
    config = TrainConfig(**SMALL, out=out, log=("tensorboard",))
    with pytest.raises(Killed):  # 3 of 4 chunks logged and mirrored; the checkpoint is after chunk 2
        run.train(config, on_chunk=kill_after(2), log=lambda line: None)
    assert train.main(["resume", out]) == 0  # recomputes chunk 3 exactly; TensorBoard has it already
    rows = metrics.read(os.path.join(out, "metrics.jsonl"))
    assert [row["update"] for row in rows] == [u for u in range(1, 9) for _ in (0, 1)]
    for seed in (0, 1):
        logged = tensorboard_scalars(os.path.join(out, "tensorboard", f"seed {seed}"))
        expected = expected_scalars(rows, seed)
        assert {key for key, values in logged.items() if len(values) > 1} == set()  # no step written twice
        timing = {key for key in expected if key[0] in metrics.TIMING_FIELDS}
        assert set(logged) == set(expected)
        for key, value in expected.items():
            if key not in timing or key[1] > 6 * 16 * 8:  # chunk 3's timing is its first launch's
                assert logged[key][0] == pytest.approx(value, rel=1e-6, abs=1e-7), key


def test_weights_and_biases_writes_an_offline_run_in_the_run_folder(tmp_path, monkeypatch):
    requires("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = str(tmp_path / "run")
    config = TrainConfig(**{**SMALL, "total_frames": 2 * 16 * 8, "seeds": (0,)}, out=out, log=("wandb",))
    run.train(config, log=lambda line: None)
    runs = glob.glob(os.path.join(out, "wandb", "offline-run-*"))
    assert len(runs) == 1 and glob.glob(os.path.join(runs[0], "*.wandb"))  # the run's records, for `wandb sync`
    assert json.load(open(os.path.join(out, "wandb", "logged_through"))) == 2
    assert runs[0].endswith(json.load(open(os.path.join(out, "wandb", "run_id"))))
