"""LLM backends: an OpenAI-style server on loopback (answers, errors, timeouts) and a tiny local model."""

import socket

import pytest

from tests.fake_llm import GOOD, OTHER, requires, tiny_model
from teacher_cache import prompt as prompts
from teacher_cache.llm import BackendError, ChatServer, LocalModel, Sampling

SITUATION = "Agent sees <key>, holds <nothing>."
PROMPT = prompts.load("SimpleDoorKey")
SHORT = Sampling(temperature=1.0, max_new_tokens=3)


def test_server_sends_the_prompt_and_returns_one_reply_per_sample(stub, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "secret")
    before = len(stub.requests)
    replies = stub.client("planner", api_key_env="TEST_LLM_KEY").sample(PROMPT, SITUATION, 4, 10, SHORT)
    assert replies == [GOOD, OTHER, GOOD, OTHER]  # the stub answers by the request's seed: 10, 11, 12, 13
    sent = stub.requests[before:]
    assert len(sent) == 4 and {r["authorization"] for r in sent} == {"Bearer secret"}
    body = sent[0]["body"]
    assert body["messages"] == [{"role": "system", "content": PROMPT.system}, {"role": "user", "content": SITUATION}]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("planner", 1.0, 3)


def test_server_without_api_key_sends_no_authorization(stub, monkeypatch):
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    before = len(stub.requests)
    stub.client("planner", api_key_env="TEST_LLM_KEY").sample(PROMPT, SITUATION, 1, 0, SHORT)
    assert stub.requests[before]["authorization"] is None


def test_server_errors_are_retried_a_bounded_number_of_times(stub):
    before = len(stub.requests)
    assert stub.client("flaky", retries=3).sample(PROMPT, SITUATION, 1, 0, SHORT) == [GOOD]
    assert len(stub.requests) - before == 3  # two 503s, then an answer
    before = len(stub.requests)
    with pytest.raises(BackendError, match=r"HTTP 500.*gave up after 3 tries"):
        stub.client("broken", retries=2).sample(PROMPT, SITUATION, 1, 0, SHORT)
    assert len(stub.requests) - before == 3


def test_server_timeouts_end_in_a_clear_error(stub):
    before = len(stub.requests)
    with pytest.raises(BackendError, match=r"no reply from .* within 0.3 s \(gave up after 2 tries\)"):
        stub.client("sleepy", timeout=0.3, retries=1).sample(PROMPT, SITUATION, 1, 0, SHORT)
    assert len(stub.requests) - before == 2  # one try and one retry, then it gives up


def test_server_reply_that_is_not_a_chat_completion_is_an_error(stub):
    with pytest.raises(BackendError, match="did not send a chat completion"):
        stub.client("garbage", retries=1).sample(PROMPT, SITUATION, 1, 0, SHORT)


def test_unknown_model_fails_at_once_naming_it(stub):
    before = len(stub.requests)
    with pytest.raises(BackendError, match=r"HTTP 404.*'no-such-model' a model this server serves"):
        stub.client("no-such-model", retries=5).sample(PROMPT, SITUATION, 1, 0, SHORT)
    assert len(stub.requests) - before == 1  # a 404 is not retried


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = ChatServer(f"http://127.0.0.1:{port}/v1", "planner", retries=1, backoff=0.0, timeout=2)
    with pytest.raises(BackendError, match=r"cannot reach .*is the server running"):
        backend.sample(PROMPT, SITUATION, 1, 0, SHORT)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("tiny"))


def test_local_model_samples_a_batch_reproducibly_and_stops_at_the_answer(tiny):
    model = LocalModel(tiny, device="cpu")
    assert not model.chat and model.identity == {"backend": "transformers", "model": tiny}
    replies = model.sample(PROMPT, SITUATION, 16, 3, SHORT)
    assert len(replies) == 16 and replies == model.sample(PROMPT, SITUATION, 16, 3, SHORT)
    assert replies != model.sample(PROMPT, SITUATION, 16, 4, SHORT)
    for reply in replies:  # generation stops as soon as a reply holds `Action: {...}`
        assert reply.count("Action") <= 1
        assert "Action" not in reply or reply.rstrip().endswith("}")


def test_local_model_uses_the_chat_template_and_falls_back_when_it_refuses_a_system_turn(tmp_path):
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}"
    strict = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}"
              "{% endif %}{{ m['content'] }} {% endfor %}")
    for name, chat_template in [("chat", template), ("strict", strict)]:
        model = LocalModel(tiny_model(tmp_path / name, chat_template), device="cpu")
        assert model.chat and model.details["chat_template"]
        assert len(model.sample(PROMPT, SITUATION, 3, 0, SHORT)) == 3


def test_missing_local_model_is_a_clear_error(tmp_path):
    requires("transformers")
    with pytest.raises(BackendError, match="--download"):
        LocalModel("nobody/no-such-model-anywhere", device="cpu")
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"\0")
    with pytest.raises(BackendError, match=r"must be a \.gguf model"):
        LocalModel(str(not_gguf), device="cpu")
