"""Stand-ins for real LLMs in tests: a tiny local transformers model and an OpenAI-style server on loopback."""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

GOOD = " 3. Action: {go to <key>, pick up <key>}"
OTHER = " Action: {explore}"
NOISE = " hmm"


def requires(module: str):
    """Imports a module that ./setup.sh --llm installs, or skips the test (fails it where LLM4TEACH_REQUIRE_LLM is
    set, as in CI)."""
    if os.environ.get("LLM4TEACH_REQUIRE_LLM"):
        return __import__(module)
    return pytest.importorskip(module, reason="needs ./setup.sh --llm")


def tiny_model(folder, chat_template: str | None = None) -> str:
    """A 1-layer GPT-2 with random weights whose output layer is set so that each generated token is
    GOOD, OTHER or NOISE with equal chance (never end-of-text). Saved with its tokenizer to `folder`."""
    torch = requires("torch")
    transformers = requires("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<eos>", "<unk>", GOOD, OTHER, NOISE]
    tokenizer = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    if chat_template is not None:
        fast.chat_template = chat_template
    config = transformers.GPT2Config(vocab_size=len(words), n_positions=512, n_embd=8, n_layer=1, n_head=1,
                                     tie_word_embeddings=False, bos_token_id=1, eos_token_id=1)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():  # the final norm outputs a constant unit vector, so logits = lm_head column 0
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[:, 0] = torch.tensor([-30.0, -30.0, -30.0, 0.0, 0.0, 0.0])
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


class ChatHandler(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions according to the requested model name:

    - "planner": a plan chosen by the request's seed (GOOD if even, OTHER if odd);
    - "mumbler": text without `Action: {...}`;
    - "sleepy": waits longer than any test's timeout;
    - "flaky": HTTP 503 for its first 2 requests, then like "planner";
    - "broken": HTTP 500 always;  "garbage": a 200 reply that is not JSON;
    - anything else: 404 model not found.
    """

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
            model = body.get("model")
            count = sum(request["body"].get("model") == model for request in server.requests)
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": f"no route {self.path}"})
        if model == "planner" or (model == "flaky" and count > 2):
            return self.answer(GOOD if body["seed"] % 2 == 0 else OTHER)
        if model == "mumbler":
            return self.answer("I am not sure what the agent should do.")
        if model == "sleepy":
            time.sleep(server.sleep)
            return self.answer(GOOD)
        if model in ("flaky", "broken"):
            return self.reply(503 if model == "flaky" else 500, {"error": "overloaded"})
        if model == "garbage":
            return self.reply(200, "<html>not json</html>")
        return self.reply(404, {"error": f"model {model!r} not found"})

    def answer(self, text: str):
        self.reply(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})

    def reply(self, status: int, payload):
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout tests)

    def log_message(self, *args):
        pass


class ChatServerStub:
    """A ChatHandler server on 127.0.0.1 in a background thread (a context manager)."""

    def __init__(self, sleep: float = 2.0):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
        self.server.daemon_threads = True
        self.server.lock = threading.Lock()
        self.server.requests = []
        self.server.sleep = sleep
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def client(self, model: str = "planner", **options):
        """A ChatServer backend for this stub (no waiting between retries unless asked)."""
        from teacher_cache.llm import ChatServer

        return ChatServer(self.base_url, model, **{"backoff": 0.0, **options})

    @property
    def requests(self) -> list[dict]:
        return self.server.requests

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
