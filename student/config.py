"""The training configuration: one frozen pytree, declared once, checked once at construction.

Every command-line option of `train.py` is a field here with a one-line docstring (tyro
turns them into `--help`). The configuration is itself the pytree the compiled program
takes (as in Rejax): fields that set shapes or code paths are static (`static_field`),
the numeric hyperparameters (learning rate, coefficients, λ schedule) are traced leaves,
so a sweep over them is one program over the members (`Sweep`, `members`), not a recompile.
"""

import contextlib
import contextvars
import dataclasses
import itertools
import json
import os
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro
from flax import struct

METHODS = ("llm4teach", "llm4teach-hard", "ppo")
# The authors update the distillation coefficient once per PPO iteration (≥ 10 episodes,
# ≥ 256 frames of one environment); early in training, when episodes run to 150 steps,
# an iteration is about 1,500 frames. Their schedule in frames, at that rate:
AUTHORS_FRAMES_PER_ITERATION = 1500
# Where a run folder keeps its configuration.
CONFIG_FILE = "config.json"


class ConfigError(Exception):
    """A configuration that cannot train; the message says what to change. (Not a ValueError,
    so that tyro lets it through to train.py's one-line report instead of boxing it.)"""


_CHECKS_DEFERRED = contextvars.ContextVar("checks_deferred", default=False)


@contextlib.contextmanager
def checks_deferred():
    """Within it a TrainConfig does not check itself when made. For a command line that nests one and sets
    some of its fields afterwards (a benchmark's --num-envs): checked at parse time, its
    --train.ppo.num-minibatches was held against the default environment count, not the one measured.
    Whoever uses the parsed configuration makes it anew with `replace`, which checks it."""
    token = _CHECKS_DEFERRED.set(True)
    try:
        yield
    finally:
        _CHECKS_DEFERRED.reset(token)


def static_field(default, **kwargs):
    """A field that is part of the compiled program's structure (changing it recompiles)."""
    return struct.field(pytree_node=False, default=default, **kwargs)


def is_concrete(config) -> bool:
    """Whether every traced field holds a plain number (not a tracer or a swept array):
    only then is there something to check."""
    return all(isinstance(leaf, (int, float)) for leaf in jax.tree.leaves(config))


@struct.dataclass
class PPOConfig:
    """PPO's hyperparameters."""

    learning_rate: float | None = None
    """Adam step size (default: the large-batch recipe's for --num-envs, 1e-3 up to 256 environments and
    3e-3 beyond; from --late-frame on --ppo.late-learning-rate's)."""
    late_learning_rate: float | None = None
    """Adam step size from --late-frame on (default: --ppo.learning-rate if given, else 1e-3)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's λ (bias-variance trade-off of the advantages)."""
    clip_eps: float = 0.2
    """PPO's ratio clip, also used to clip the value update."""
    ent_coef: float | None = None
    """Weight of the entropy bonus (default: the large-batch recipe's for --num-envs, 0.01 up to 4096
    environments and 0.03 beyond)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm."""
    update_epochs: int | None = static_field(None)
    """Passes over each rollout (default: the large-batch recipe for --num-envs)."""
    num_minibatches: int | None = static_field(None)
    """Minibatches per pass; must divide num_envs * num_steps (default: the large-batch recipe)."""


@struct.dataclass
class DistillConfig:
    """The distillation coefficient λ(f) = max(floor, start - decay * f) for frames f < stop_frame, then 0."""

    preset: Literal["measured", "authors", "custom"] = static_field("measured")
    """'measured': this project's default (10, falling to 0.1 by 300k frames, dropped at 400k), chosen
    with the sample-efficiency benchmark; 'authors': the authors' 10 - 0.005/iteration, floor 0.1,
    dropped after 3000 iterations, at 1,500 frames per iteration; 'custom': the four fields below."""
    start: float = 10.0
    """λ at frame 0 (custom preset)."""
    decay_per_frame: float = 3.3e-5
    """λ lost per frame (custom preset)."""
    floor: float = 0.1
    """Smallest λ before the term is dropped (custom preset)."""
    stop_frame: float = 400_000.0
    """Frame from which the term is dropped (custom preset)."""

    def resolved(self) -> "DistillConfig":
        """The schedule the preset stands for (a 'custom' preset stands for itself)."""
        if self.preset == "authors":
            per_frame = 0.005 / AUTHORS_FRAMES_PER_ITERATION
            return DistillConfig("custom", 10.0, per_frame, 0.1, 3000.0 * AUTHORS_FRAMES_PER_ITERATION)
        if self.preset == "measured":
            return DistillConfig("custom")
        return self


@struct.dataclass
class NetworkConfig:
    """The actor-critic: each cell's codes embedded, flattened, then dense layers."""

    embed: int = static_field(4)
    """Features per cell after the per-cell embedding."""
    hidden: int = static_field(64)
    """Width of the hidden layers."""
    encoding: Literal["onehot", "embed"] = static_field("onehot")
    """How a cell's codes enter the network: 'onehot', a learned vector per value of each channel
    (object, colour, state, direction), summed (matrix products on an accelerator, the same
    function as a table lookup on a CPU); 'embed', one learned vector per combination of the four.
    With 'embed' plain PPO does not learn LavaDoorKey (README, "Reproducing the paper")."""
    egocentric_radius: int = static_field(4)
    """> 0: the network sees our memory maps re-centred on the agent and turned to its heading,
    (2r+1)x(2r+1) cells (8 covers any 10x10 room from anywhere inside it; 6 down to 3 learn as fast
    and the smaller train faster; 4 is the smallest whose students end as high: README, "Measured");
    0: as they are. navix observations are always seen as they are."""


# The traced hyperparameters a sweep can vary, by option name: (section, field).
SWEEPABLE = {
    **{name: ("ppo", name) for name in ("learning_rate", "gamma", "gae_lambda", "clip_eps", "ent_coef",
                                         "vf_coef", "max_grad_norm")},
    **{f"distill_{name}": ("distill", name) for name in ("start", "decay_per_frame", "floor", "stop_frame")},
}
Sweep = dataclasses.make_dataclass(
    "Sweep",
    [
        (name, Annotated[tuple[float, ...], tyro.conf.arg(
            help=f"values of --{section}.{field.replace('_', '-')} to train side by side")],
         dataclasses.field(default=()))
        for name, (section, field) in SWEEPABLE.items()
    ],
    frozen=True,
)
Sweep.__doc__ = "A grid of hyperparameter values trained at once, each setting with every seed (one program)."


# The large-batch recipe: (up to this many environments, rollout steps, epochs, minibatches, learning rate,
# late rollout factor, entropy coefficient). Gradient steps per frame, not environments, set the pace of
# learning: as environments grow, rollouts shorten and minibatch steps grow, so that every update still takes
# dozens of small gradient steps (from 257 environments on at a learning rate 3 times larger: steps of 128
# samples up to 4096 environments, of N/64 beyond). From --late-frame on, rollouts are the late factor times
# longer (one gradient step per 256 frames from 1024 to 16384 environments) and the learning rate is
# LATE_LEARNING_RATE. Beyond 4096 environments a larger entropy bonus keeps ColoredDoorKey's seeds from
# settling below 0.9 once the teacher's term is dropped (measured: README, "Many environments").
RECIPE = ((64, 16, 4, 4, 1e-3, 4, 0.01), (256, 8, 8, 8, 1e-3, 4, 0.01), (1024, 2, 2, 16, 3e-3, 4, 0.01),
          (4096, 1, 4, 32, 3e-3, 8, 0.01), (None, 1, 4, 64, 3e-3, 4, 0.03))
LATE_LEARNING_RATE = 1e-3


def recipe(num_envs: int) -> dict:
    """The recipe's rollout steps, epochs, minibatches, early learning rate, late rollout factor and entropy
    coefficient for a number of environments."""
    for most, num_steps, update_epochs, num_minibatches, learning_rate, late_rollout_factor, ent_coef in RECIPE:
        if most is None or num_envs <= most:
            return {"num_steps": num_steps, "update_epochs": update_epochs, "num_minibatches": num_minibatches,
                    "learning_rate": learning_rate, "late_rollout_factor": late_rollout_factor,
                    "ent_coef": ent_coef}


def default_num_envs() -> int:
    """Environments per seed when --num-envs is not given: 1024 on a CPU, 4096 on an accelerator
    (README, "Many environments")."""
    return 1024 if jax.default_backend() == "cpu" else 4096


@struct.dataclass
class TrainConfig:
    """Train a student with PPO and the LLM teacher's distillation term."""

    task: str = static_field("SimpleDoorKey")
    """SimpleDoorKey, LavaDoorKey, ColoredDoorKey, or a navix id (e.g. Navix-DoorKey-8x8-v0, ppo only)."""
    method: Literal["llm4teach", "llm4teach-hard", "ppo"] = static_field("llm4teach")
    """llm4teach: soft teacher (default); llm4teach-hard: one plan drawn per step; ppo: no teacher."""
    teacher: str | None = static_field(None)
    """Teacher table file (default: the task's shipped table)."""
    total_frames: int = static_field(300_000)
    """Environment frames per seed (rounded up to whole chunks of updates)."""
    num_envs: int = struct.field(pytree_node=False, default_factory=default_num_envs)
    """Environments stepped in parallel, per seed (default: 1024 on a CPU, where it reaches 0.9 soonest in
    wall-clock time; 4096 on a GPU or TPU, where every count up to 4096 reaches it in the same ~0.2 s).
    Unless set, --num-steps, --ppo.update-epochs, --ppo.num-minibatches, --ppo.learning-rate,
    --late-rollout-factor and --ppo.ent-coef follow the large-batch recipe for this number (up to 64: 16
    steps, 4 epochs x 4 minibatches; 256: 8, 8 x 8; 1024: 2, 2 x 16 at a learning rate of 3e-3; 4096: 1,
    4 x 32 at 3e-3; more: 1, 4 x 64 at 3e-3 with an entropy coefficient of 0.03, not 0.01), and from
    --late-frame on rollouts are 4x longer (8x from 1025 to 4096 environments) and the learning rate 1e-3."""
    num_steps: int | None = static_field(None)
    """Steps per environment in each rollout (default: the large-batch recipe for --num-envs)."""
    late_frame: int = static_field(300_000)
    """Frame per seed from which training is in its late phase: rollouts --late-rollout-factor times
    longer, the same epochs x minibatches, so fewer and larger gradient steps per frame (what keeps the
    student improving once it has passed its teacher; 300,000 is where the default λ reaches its floor)."""
    late_rollout_factor: int | None = static_field(None)
    """How many times longer the late phase's rollouts are (1: no late phase; default: the large-batch
    recipe's for --num-envs, 4 or 8)."""
    seeds: tuple[int, ...] = static_field((0,))
    """Seeds trained at once, as a batch axis."""
    out: str | None = static_field(None)
    """Run folder (default: runs/<task>-<method>-<time>)."""
    eval_episodes: int = static_field(256)
    """Episodes per evaluation during training."""
    final_eval_episodes: int = static_field(1000)
    """Episodes of the final evaluation (eval.json), played eval_episodes at a time by the evaluations' program."""
    eval_greedy: bool = static_field(False)
    """Evaluate by the most likely action (True) or, as trained, by sampling the policy (False)."""
    eval_every: int = static_field(1)
    """Chunks between evaluations during training."""
    updates_per_chunk: int = static_field(10)
    """Updates per compiled chunk: progress, evaluation and metrics come between chunks."""
    checkpoint_every: int = static_field(5)
    """Chunks between checkpoints."""
    gif_episodes: int = static_field(3)
    """Episodes drawn in the final animation (0: none)."""
    devices: int | None = static_field(None)
    """Devices the environments are spread over, data parallel (default: all visible, over every process);
    --num-envs and each minibatch must divide over them. Chosen anew on resume (--devices there)."""
    distributed: bool = static_field(False)
    """Join a multi-process run (jax.distributed.initialize): coordinator, process count and id from
    JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID, or what JAX detects (SLURM, ...)."""
    ppo: PPOConfig = PPOConfig()
    distill: DistillConfig = DistillConfig()
    network: NetworkConfig = static_field(NetworkConfig())
    sweep: Sweep = static_field(Sweep())

    def __post_init__(self):
        if is_concrete(self) and not _CHECKS_DEFERRED.get():
            self.check()

    def _or_recipe(self, value: int | None, name: str) -> int:
        """`value` if the user set it, else the large-batch recipe's `name` for num_envs."""
        return recipe(self.num_envs)[name] if value is None else value

    @property
    def steps_per_rollout(self) -> int:
        """--num-steps, or the large-batch recipe's for num_envs."""
        return self._or_recipe(self.num_steps, "num_steps")

    @property
    def update_epochs(self) -> int:
        """--ppo.update-epochs, or the large-batch recipe's for num_envs."""
        return self._or_recipe(self.ppo.update_epochs, "update_epochs")

    @property
    def num_minibatches(self) -> int:
        """--ppo.num-minibatches, or the large-batch recipe's for num_envs."""
        return self._or_recipe(self.ppo.num_minibatches, "num_minibatches")

    @property
    def late_factor(self) -> int:
        """--late-rollout-factor, or the large-batch recipe's for num_envs."""
        return self._or_recipe(self.late_rollout_factor, "late_rollout_factor")

    @property
    def ent_coef(self):
        """--ppo.ent-coef (a traced number where swept), or the large-batch recipe's for num_envs."""
        return self._or_recipe(self.ppo.ent_coef, "ent_coef")

    @property
    def batch_size(self) -> int:
        """Frames per update (per seed) in the early phase."""
        return self.num_envs * self.steps_per_rollout

    @property
    def minibatch_size(self) -> int:
        """Frames per minibatch in the early phase."""
        return self.batch_size // self.num_minibatches

    @property
    def frames_per_chunk(self) -> int:
        """Frames per chunk (per seed) in the early phase."""
        return self.batch_size * self.updates_per_chunk

    # Training runs in two phases (--late-frame): the early one as configured, the late one with rollouts
    # --late-rollout-factor times longer and as many times fewer updates per chunk (at least one).
    # Phases switch at a chunk boundary; each has its own compiled chunk.

    def learning_rate(self, late: bool):
        """Adam's step size in a phase (a traced number where swept)."""
        if late and self.ppo.late_learning_rate is not None:
            return self.ppo.late_learning_rate
        if self.ppo.learning_rate is not None:
            return self.ppo.learning_rate
        return LATE_LEARNING_RATE if late else recipe(self.num_envs)["learning_rate"]

    def rollout_steps(self, late: bool) -> int:
        """Steps per environment in each rollout of a phase."""
        return self.steps_per_rollout * (self.late_factor if late else 1)

    def phase_batch_size(self, late: bool) -> int:
        """Frames per update (per seed) of a phase."""
        return self.num_envs * self.rollout_steps(late)

    def phase_minibatch_size(self, late: bool) -> int:
        return self.phase_batch_size(late) // self.num_minibatches

    def updates_in_chunk(self, late: bool) -> int:
        """Updates per compiled chunk of a phase."""
        return max(1, self.updates_per_chunk // self.late_factor) if late else self.updates_per_chunk

    @property
    def early_chunks(self) -> int | None:
        """Chunks before the late phase (None: no late phase)."""
        if self.late_factor == 1:
            return None
        return -(-self.late_frame // self.frames_per_chunk)

    @property
    def early_updates(self) -> int | None:
        return None if self.early_chunks is None else self.early_chunks * self.updates_per_chunk

    def chunk_is_late(self, chunk_index: int) -> bool:
        return self.early_chunks is not None and chunk_index >= self.early_chunks

    def updates_before_chunk(self, chunk_index: int) -> int:
        """Updates per seed done when chunk `chunk_index` starts."""
        if not self.chunk_is_late(chunk_index):
            return chunk_index * self.updates_per_chunk
        return self.early_updates + (chunk_index - self.early_chunks) * self.updates_in_chunk(True)

    def chunk_of_update(self, update: int) -> int:
        """The chunk that starts at `update` (a chunk boundary: where a checkpoint was written)."""
        if self.early_updates is None or update <= self.early_updates:
            return update // self.updates_per_chunk
        return self.early_chunks + (update - self.early_updates) // self.updates_in_chunk(True)

    def frames_at(self, updates):
        """Frames per seed after `updates` updates: an int, or float32 for a traced count."""
        early, late = self.phase_batch_size(False), self.phase_batch_size(True)
        if isinstance(updates, (int, np.integer)):
            updates, lower, upper = int(updates), min, max
        else:
            updates, lower, upper = jnp.asarray(updates).astype(jnp.float32), jnp.minimum, jnp.maximum
        switch = self.early_updates
        if switch is None:
            return updates * early
        return lower(updates, switch) * early + upper(updates - switch, 0) * late

    @property
    def num_chunks(self) -> int:
        """Chunks per run: total_frames rounded up to whole chunks."""
        early_chunks = -(-self.total_frames // self.frames_per_chunk)
        if self.early_chunks is None or early_chunks <= self.early_chunks:
            return early_chunks
        late_frames = self.total_frames - self.early_chunks * self.frames_per_chunk
        late_chunk = self.phase_batch_size(True) * self.updates_in_chunk(True)
        return self.early_chunks + -(-late_frames // late_chunk)

    @property
    def num_updates(self) -> int:
        """Updates per seed."""
        return self.updates_before_chunk(self.num_chunks)

    @property
    def planned_frames(self) -> int:
        """Frames per seed the run trains: total_frames rounded up to whole chunks."""
        return self.frames_at(self.num_updates)

    @property
    def has_late_phase(self) -> bool:
        return self.chunk_is_late(self.num_chunks - 1)

    @property
    def uses_teacher(self) -> bool:
        return self.method != "ppo"

    @property
    def settings(self) -> list[dict[str, float]]:
        """The sweep's grid: one {option: value} per setting ([{}] without a sweep)."""
        names = self.sweep_names
        return [dict(zip(names, values)) for values in itertools.product(*(getattr(self.sweep, n) for n in names))]

    @property
    def members(self) -> list[tuple[int, dict[str, float]]]:
        """What the batch axis holds: (seed, setting) for every setting and seed, settings outer."""
        return [(seed, setting) for setting in self.settings for seed in self.seeds]

    def with_setting(self, setting: dict[str, float]) -> "TrainConfig":
        """One member's configuration: a setting of the sweep applied to the traced fields (no sweep left),
        and the learning rates and entropy coefficient left to the recipe set to the recipe's numbers. A
        member is then the same pytree whether its numbers were given, taken from the recipe, or read back
        from a run folder (`read` sets them from the recorded recipe), so a resumed run's program is the one
        its first launch compiled (a persistent compilation cache hit), not a recompile."""
        config = self.replace(sweep=Sweep())
        for name, value in setting.items():
            section, field = SWEEPABLE[name]
            config = config.replace(**{section: getattr(config, section).replace(**{field: float(value)})})
        return config.replace(ppo=config.ppo.replace(learning_rate=config.learning_rate(False),
                                                     late_learning_rate=config.learning_rate(True),
                                                     ent_coef=config.ent_coef))

    def check(self):
        """Raises ConfigError, saying what to change, for a configuration that cannot train."""
        positive = {
            "total_frames": self.total_frames, "num_envs": self.num_envs, "num_steps": self.steps_per_rollout,
            "eval_episodes": self.eval_episodes, "final_eval_episodes": self.final_eval_episodes,
            "updates_per_chunk": self.updates_per_chunk, "checkpoint_every": self.checkpoint_every,
            "late_rollout_factor": self.late_factor,
            "eval_every": self.eval_every,
            "ppo.update_epochs": self.update_epochs, "ppo.num_minibatches": self.num_minibatches,
            "network.embed": self.network.embed, "network.hidden": self.network.hidden,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.network.encoding not in ("onehot", "embed"):
            raise ConfigError(f"--network.encoding must be onehot or embed, got {self.network.encoding!r}")
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.batch_size % self.num_minibatches:
            raise ConfigError(
                f"--ppo.num-minibatches {self.num_minibatches} does not divide the batch of "
                f"num_envs * num_steps = {self.num_envs} * {self.steps_per_rollout} = {self.batch_size}; "
                f"pick a divisor, e.g. {', '.join(str(d) for d in (1, 2, 4, 8, 16) if self.batch_size % d == 0)}"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must list distinct seeds, got {self.seeds}")
        if self.late_frame < 0:
            raise ConfigError(f"--late-frame must be at least 0, got {self.late_frame}")
        if self.devices is not None and self.devices < 1:
            raise ConfigError(f"--devices must be at least 1, got {self.devices}")
        if self.gif_episodes < 0 or self.gif_episodes > 16:
            raise ConfigError(f"--gif-episodes must be between 0 and 16, got {self.gif_episodes}")
        if self.teacher is not None and not self.uses_teacher:
            raise ConfigError("--teacher has no effect with --method ppo; drop it or pick llm4teach")
        if self.distill.preset != "custom":
            defaults = DistillConfig(self.distill.preset)
            changed = [f.name for f in dataclasses.fields(DistillConfig)
                       if getattr(self.distill, f.name) != getattr(defaults, f.name)]
            changed += [name for name in self.sweep_names if name.startswith("distill_")]
            if changed:
                name = changed[0].replace("distill_", "sweep.distill-") if changed[0].startswith("distill_") \
                    else f"distill.{changed[0]}"
                raise ConfigError(
                    f"--{name.replace('_', '-')} has no effect with --distill.preset {self.distill.preset}; "
                    f"add --distill.preset custom to set the schedule yourself"
                )
        if self.sweep_names:
            for setting in self.settings:
                self.with_setting(setting)  # each member's configuration is checked as it is built
        self.check_numbers()

    @property
    def sweep_names(self) -> list[str]:
        return [name for name, values in dataclasses.asdict(self.sweep).items() if values]

    def check_numbers(self):
        """The traced hyperparameters' ranges."""
        if not 0 < self.ppo.gamma <= 1 or not 0 <= self.ppo.gae_lambda <= 1:
            raise ConfigError("--ppo.gamma must be in (0, 1] and --ppo.gae-lambda in [0, 1]")
        if min(self.learning_rate(False), self.learning_rate(True), self.ppo.clip_eps, self.ppo.max_grad_norm) <= 0:
            raise ConfigError("--ppo.learning-rate, --ppo.late-learning-rate, --ppo.clip-eps and --ppo.max-grad-norm "
                              "must be positive")
        if min(self.ent_coef, self.ppo.vf_coef) < 0:
            raise ConfigError(f"--ppo.ent-coef and --ppo.vf-coef must be non-negative (a negative weight rewards "
                              f"the loss it should shrink), got {self.ent_coef} and {self.ppo.vf_coef}")
        schedule = self.distill.resolved()
        if min(schedule.start, schedule.decay_per_frame, schedule.floor, schedule.stop_frame) < 0:
            raise ConfigError("the λ schedule (--distill.*) must be non-negative")


def to_dict(config: TrainConfig) -> dict:
    """The configuration as JSON-ready values."""
    return dataclasses.asdict(config)


def from_dict(values: dict) -> TrainConfig:
    """The configuration `to_dict` wrote (checked like any other)."""
    values = dict(values)
    values["ppo"] = PPOConfig(**values["ppo"])
    values["distill"] = DistillConfig(**values["distill"])
    values["network"] = NetworkConfig(**values["network"])
    values["sweep"] = Sweep(**{name: tuple(v) for name, v in values.get("sweep", {}).items()})
    values["seeds"] = tuple(values["seeds"])
    values.setdefault("late_rollout_factor", 1)  # a run saved before the late phase existed trains without one
    return TrainConfig(**values)


def read(run_dir: str) -> TrainConfig:
    """The configuration a run folder was started with; a clear error if it is not a run folder."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isdir(run_dir):
        raise ConfigError(f"run folder {run_dir} does not exist")
    if not os.path.exists(path):
        raise ConfigError(f"{run_dir} is not a run folder (no config.json)")
    try:
        with open(path) as file:
            record = json.load(file)
        config = from_dict(record["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is damaged ({type(error).__name__}: {error}); it holds the run's configuration: "
                          f"restore it from a copy to resume or evaluate the run") from None
    # The recipe's settings the run started with (recorded under "derived"; a run saved before the
    # learning rates were recorded has its rate set), so that a later change of the recipe does not
    # change a run's hyperparameters when it resumes.
    derived = record.get("derived", {})
    kept = lambda value, name: derived.get(name) if value is None else value  # set by the user, or recorded
    ppo = config.ppo
    return config.replace(
        num_steps=kept(config.num_steps, "num_steps"),
        late_rollout_factor=kept(config.late_rollout_factor, "late_rollout_factor"),
        ppo=ppo.replace(
            update_epochs=kept(ppo.update_epochs, "update_epochs"),
            num_minibatches=kept(ppo.num_minibatches, "num_minibatches"),
            learning_rate=kept(ppo.learning_rate, "learning_rate"),
            late_learning_rate=kept(ppo.late_learning_rate, "late_learning_rate"),
            ent_coef=kept(ppo.ent_coef, "ent_coef"),  # saved before it was the recipe's: 0.01 in "config"
        ),
    )
