"""The training configuration: every option of `train.py`, declared once, filled from the recipe and checked
once, at construction.

Each field has a one-line docstring, which tyro turns into `--help` (docs/training.md says more). The
configuration is itself the pytree the compiled program takes (as in Rejax): fields that set shapes or code
paths are static (`static_field`), the numeric hyperparameters (learning rates, coefficients, the λ
schedule) are traced leaves, so a sweep over them is one program over the members (`Sweep`, `members`),
not a recompile. Fields left unset (None) that the large-batch recipe decides (`student.recipe`) are
filled when the configuration is built, and follow --num-envs when it is rebuilt with `replace`.
"""

import contextlib
import contextvars
import dataclasses
import functools
import itertools
from typing import Annotated, Literal, NamedTuple

import jax
import tyro
from flax import struct

from common.cli import UsageError
from student import recipe
from student.phases import Phases

METHODS = ("llm4teach", "llm4teach-hard", "ppo")
# The authors update the distillation coefficient once per PPO iteration (≥ 10 episodes, ≥ 256 frames of one
# environment); early in training, when episodes run to 150 steps, an iteration is about 1,500 frames.
AUTHORS_FRAMES_PER_ITERATION = 1500


class ConfigError(UsageError):
    """A configuration that cannot train; the message says what to change."""


_DECLARING = contextvars.ContextVar("declaring", default=False)


@contextlib.contextmanager
def declaring():
    """Within it a TrainConfig is only declared: not filled from the recipe, not checked. For a command line
    that nests one and sets some of its fields afterwards (a benchmark's --num-envs): the recipe and the
    checks then see the environment count it is used with. The next `replace` outside builds it whole."""
    token = _DECLARING.set(True)
    try:
        yield
    finally:
        _DECLARING.reset(token)


def declared(**fields) -> "TrainConfig":
    """A TrainConfig only declared (see `declaring`): the default of an option that nests one, so that its
    --help shows the recipe's fields unset."""
    with declaring():
        return TrainConfig(**fields)


def static_field(default, **kwargs):
    """A field that is part of the compiled program's structure (changing it recompiles)."""
    return struct.field(pytree_node=False, default=default, **kwargs)


def is_concrete(config) -> bool:
    """Whether every traced field holds a plain number (not a tracer or a stacked array)."""
    return all(isinstance(leaf, (int, float)) for leaf in jax.tree.leaves(config))


@struct.dataclass
class PPOConfig:
    """PPO's hyperparameters."""

    learning_rate: float | None = None
    """Adam step size (default: the recipe's for --num-envs)."""
    late_learning_rate: float | None = None
    """Adam step size from --late-frame on (default: --ppo.learning-rate if given, else 1e-3)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's λ (bias-variance trade-off of the advantages)."""
    clip_eps: float = 0.2
    """PPO's ratio clip, also used to clip the value update."""
    ent_coef: float | None = None
    """Weight of the entropy bonus (default: the recipe's for --num-envs)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm."""
    update_epochs: int | None = static_field(None)
    """Passes over each rollout (default: the recipe's for --num-envs)."""
    num_minibatches: int | None = static_field(None)
    """Minibatches per pass; must divide num_envs * num_steps (default: the recipe's for --num-envs)."""


class LambdaSchedule(NamedTuple):
    """λ(f) = max(floor, start - decay_per_frame * f) for frames f < stop_frame, then 0."""

    start: float
    decay_per_frame: float
    floor: float
    stop_frame: float


@struct.dataclass
class DistillConfig:
    """The distillation coefficient λ(f) = max(floor, start - decay * f) for frames f < stop_frame, then 0."""

    preset: Literal["measured", "authors", "custom"] = static_field("measured")
    """measured: 10 down to 0.1 by 300k frames, dropped at 400k; authors: the paper's, per 1,500 frames; custom."""
    start: float = 10.0
    """λ at frame 0 (custom preset)."""
    decay_per_frame: float = 3.3e-5
    """λ lost per frame (custom preset)."""
    floor: float = 0.1
    """Smallest λ before the term is dropped (custom preset)."""
    stop_frame: float = 400_000.0
    """Frame from which the term is dropped (custom preset)."""

    def schedule(self) -> LambdaSchedule:
        """The schedule the preset stands for (a preset's numbers are constants; custom ones may be traced)."""
        if self.preset == "authors":  # 10 - 0.005 per iteration, floor 0.1, dropped after 3000 iterations
            return LambdaSchedule(10.0, 0.005 / AUTHORS_FRAMES_PER_ITERATION, 0.1,
                                  3000.0 * AUTHORS_FRAMES_PER_ITERATION)
        if self.preset == "measured":
            default = DistillConfig("custom")
            return LambdaSchedule(default.start, default.decay_per_frame, default.floor, default.stop_frame)
        return LambdaSchedule(self.start, self.decay_per_frame, self.floor, self.stop_frame)


@struct.dataclass
class NetworkConfig:
    """The actor-critic: each cell's codes embedded, flattened, then dense layers."""

    embed: int = static_field(4)
    """Features per cell after the per-cell embedding."""
    hidden: int = static_field(64)
    """Width of the hidden layers."""
    encoding: Literal["onehot", "embed"] = static_field("onehot")
    """onehot: a learned vector per value of each channel, summed; embed: one per combination of the four."""
    egocentric_radius: int = static_field(4)
    """Memory maps seen from the agent, (2r+1)x(2r+1) cells turned to its heading; 0: as they are."""


@struct.dataclass
class Teaching:
    """How a member of a run is taught, traced, so that members taught differently share one program (each
    member's is set from its method; not an option)."""

    taught: float = 1.0
    """1: the distillation term applies (llm4teach, llm4teach-hard); 0: plain PPO."""
    hard: float = 0.0
    """1: one plan drawn per step (llm4teach-hard); 0: the soft teacher."""
    table: int = 0
    """The member's table, by its index in the run's `tables`."""


# The traced hyperparameters a sweep can vary, by option name: (section, field).
SWEEPABLE = {
    **{name: ("ppo", name) for name in ("learning_rate", "gamma", "gae_lambda", "clip_eps", "ent_coef",
                                         "vf_coef", "max_grad_norm")},
    **{f"distill_{name}": ("distill", name) for name in ("start", "decay_per_frame", "floor", "stop_frame")},
}
Sweep = dataclasses.make_dataclass(
    "Sweep",
    [
        ("method", Annotated[tuple[str, ...], tyro.conf.arg(
            help="methods to train side by side, each llm4teach, llm4teach-hard or ppo, a teacher's table after "
                 "@ (llm4teach@PATH; default --teacher)")], dataclasses.field(default=())),
        *[(name, Annotated[tuple[float, ...], tyro.conf.arg(
            help=f"values of --{section}.{field.replace('_', '-')} to train side by side")],
           dataclasses.field(default=()))
          for name, (section, field) in SWEEPABLE.items()],
    ],
    frozen=True,
)
Sweep.__doc__ = "A grid of hyperparameter values trained at once, each setting with every seed (one program)."

# The fields the recipe fills where the user leaves them unset, by dotted name.
RECIPE_FIELDS = ("num_steps", "late_rollout_factor", "ppo.update_epochs", "ppo.num_minibatches",
                 "ppo.learning_rate", "ppo.late_learning_rate", "ppo.ent_coef")


def default_num_envs(task: str = recipe.PAPER_TASKS[0]) -> int:
    """Environments per seed when --num-envs is not given: on the paper's rooms 1024 on a CPU, 4096 on an
    accelerator; on any other task the sparse-reward recipe's 256."""
    if recipe.sparse(task):
        return recipe.SPARSE_NUM_ENVS
    return 1024 if jax.default_backend() == "cpu" else 4096


def _get(config, dotted: str):
    section, _, name = dotted.rpartition(".")
    return getattr(getattr(config, section) if section else config, name)


@struct.dataclass
class TrainConfig:
    """Train a student with PPO and the LLM teacher's distillation term."""

    task: str = static_field("SimpleDoorKey")
    """SimpleDoorKey, LavaDoorKey, ColoredDoorKey, or a navix id such as Navix-DoorKey-16x16-v0 (`python -m envs`)."""
    observation: Literal["memory_map", "navix"] = static_field("memory_map")
    """What the student sees of a navix task: memory_map (every cell seen this episode, as on our tasks; the
    teacher reads it) or navix (navix's own observation; ppo only)."""
    method: Literal["llm4teach", "llm4teach-hard", "ppo"] = static_field("llm4teach")
    """llm4teach: soft teacher; llm4teach-hard: one plan drawn per step; ppo: no teacher."""
    teacher: str | None = static_field(None)
    """Teacher table file (default: the task's shipped table)."""
    total_frames: int = static_field(300_000)
    """Environment frames per seed (rounded up to whole chunks of updates)."""
    num_envs: int | None = static_field(None)
    """Environments per seed (default: on the paper's rooms 1024 on a CPU, 4096 on an accelerator; on any other
    task 256); sets the recipe's values."""
    num_steps: int | None = static_field(None)
    """Steps per environment in each rollout (default: the recipe's for --num-envs)."""
    late_frame: int = static_field(300_000)
    """Frame per seed from which rollouts are --late-rollout-factor times longer (the late phase)."""
    late_rollout_factor: int | None = static_field(None)
    """How many times longer the late phase's rollouts are; 1: no late phase (default: the recipe's)."""
    seeds: tuple[int, ...] = static_field((0,))
    """Seeds trained at once, as a batch axis."""
    out: str | None = static_field(None)
    """Run folder (default: runs/<task>-<method>-<time>)."""
    eval_episodes: int = static_field(256)
    """Episodes per evaluation during training."""
    final_eval_episodes: int = static_field(1000)
    """Episodes of the final evaluation (eval.json)."""
    eval_greedy: bool = static_field(False)
    """Evaluate by the most likely action instead of sampling the policy as trained."""
    eval_every: int = static_field(1)
    """Chunks between evaluations during training."""
    updates_per_chunk: int = static_field(10)
    """Updates per compiled chunk: progress, evaluation and metrics come between chunks."""
    checkpoint_every: int = static_field(5)
    """Chunks between checkpoints."""
    gif_episodes: int = static_field(3)
    """Episodes drawn in the final animation (0: none)."""
    devices: int | None = static_field(None)
    """Devices the environments are spread over, data parallel (default: all visible, over every process)."""
    distributed: bool = static_field(False)
    """Join a multi-process run (jax.distributed.initialize; see docs/scale-out.md)."""
    log: tuple[Literal["tensorboard", "wandb"], ...] = static_field(())
    """Also log each metric row to TensorBoard (event files in the run folder) and/or Weights & Biases."""
    wandb_project: str = static_field("llm4teach-jax")
    """The W&B project of --log wandb."""
    wandb_mode: Literal["offline", "online"] = static_field("offline")
    """offline: W&B writes to the run folder (upload later with `wandb sync`); online: to the W&B server."""
    ppo: PPOConfig = PPOConfig()
    distill: DistillConfig = DistillConfig()
    network: NetworkConfig = static_field(NetworkConfig())
    sweep: Sweep = static_field(Sweep())
    teaching: Annotated[Teaching, tyro.conf.Suppress] = Teaching()
    recipe_envs: Annotated[int | None, tyro.conf.Suppress] = static_field(None)
    """The environment count the recipe last filled fields for."""
    recipe_sparse: Annotated[bool | None, tyro.conf.Suppress] = static_field(None)
    """Whether the recipe last filled fields for a sparse-reward task (`recipe.sparse`)."""
    from_recipe: Annotated[tuple[tuple[str, float], ...], tyro.conf.Suppress] = static_field(())
    """Each field the recipe filled, with its value: while it keeps that value, it follows --num-envs."""

    def __post_init__(self):
        if _DECLARING.get() or not is_concrete(self):
            return  # only declared, or a pytree of traced or stacked numbers (checked when it was built)
        self._fill_from_recipe()
        self.check()

    def _fill_from_recipe(self) -> None:
        """Fills the fields left unset with the recipe's values for this task and many environments. Rebuilt for
        another environment count or kind of task (`replace`), a field still holding the value the recipe gave
        it is filled anew; a field set since is kept. A learning rate given serves both phases."""
        unchanged = {name for name, value in self.from_recipe if _get(self, name) == value}
        sparse = recipe.sparse(self.task)
        other_kind = self.recipe_sparse is not None and self.recipe_sparse != sparse
        if self.num_envs is None or (other_kind and "num_envs" in unchanged):
            object.__setattr__(self, "num_envs", default_num_envs(self.task))
            unchanged.add("num_envs")
        refill = self.recipe_envs is not None and (self.recipe_envs != self.num_envs or other_kind)
        given = lambda name: None if refill and name in unchanged else _get(self, name)  # noqa: E731
        row = recipe.row(self.num_envs, self.task)
        value = lambda name: getattr(row, name.split(".")[-1]) if given(name) is None else given(name)  # noqa: E731
        filled = unchanged | {name for name in RECIPE_FIELDS if given(name) is None}
        late_learning_rate = next(rate for rate in (given("ppo.late_learning_rate"), given("ppo.learning_rate"),
                                                    recipe.LATE_LEARNING_RATE) if rate is not None)
        object.__setattr__(self, "ppo", self.ppo.replace(
            **{field: value(f"ppo.{field}") for field in ("update_epochs", "num_minibatches", "learning_rate",
                                                          "ent_coef")},
            late_learning_rate=late_learning_rate))
        for name in ("num_steps", "late_rollout_factor"):
            object.__setattr__(self, name, value(name))
        object.__setattr__(self, "recipe_envs", self.num_envs)
        object.__setattr__(self, "recipe_sparse", sparse)
        object.__setattr__(self, "from_recipe", tuple((name, _get(self, name))
                                                      for name in ("num_envs", *RECIPE_FIELDS) if name in filled))

    @functools.cached_property
    def phases(self) -> Phases:
        """The run's updates, frames, chunks and phases."""
        return Phases(self.num_envs, self.num_steps, self.ppo.num_minibatches, self.updates_per_chunk,
                      self.late_frame, self.late_rollout_factor, self.total_frames)

    def learning_rate(self, late: bool):
        """Adam's step size in a phase (a traced number in a program)."""
        return self.ppo.late_learning_rate if late else self.ppo.learning_rate

    def variant(self, setting: dict) -> tuple[str, str | None]:
        """(method, table) of the members with `setting`: --sweep.method's or --method; the table None for ppo,
        else the one named after '@', --teacher, or the task's shipped one (by the task's name)."""
        method, _, table = str(setting.get("method", self.method)).partition("@")
        return (method, None) if method == "ppo" else (method, table or self.teacher or self.task)

    @property
    def tables(self) -> tuple[str, ...]:
        """The teacher tables of the run's members, each once, in order of first use."""
        found = (self.variant(setting)[1] for setting in self.settings)
        return tuple(dict.fromkeys(table for table in found if table is not None))

    @property
    def uses_teacher(self) -> bool:
        """Whether some member is taught (the program then computes the teacher's prior)."""
        return bool(self.tables)

    @property
    def hard(self) -> bool | None:
        """True or False where every taught member is hard or soft alike; None where they differ."""
        kinds = {self.variant(setting)[0] == "llm4teach-hard" for setting in self.settings
                 if self.variant(setting)[1] is not None}
        return kinds.pop() if len(kinds) == 1 else None

    @property
    def sweep_names(self) -> list[str]:
        return [name for name, values in dataclasses.asdict(self.sweep).items() if values]

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
        """One member's configuration: a setting of the sweep applied to the traced fields, no sweep left, and
        nothing left to the recipe (every member is then the same pytree, whatever its numbers). A learning
        rate swept serves both phases, unless the late one was given."""
        method, table = self.variant(setting)
        config = self.replace(sweep=Sweep(), teaching=Teaching(
            taught=float(table is not None), hard=float(method == "llm4teach-hard"),
            table=self.tables.index(table) if table is not None else 0))
        recipes = dict(self.from_recipe)
        for name, value in setting.items():
            if name == "method":
                continue
            section, field = SWEEPABLE[name]
            changes = {field: float(value)}
            if name == "learning_rate" and "ppo.late_learning_rate" in recipes:
                changes["late_learning_rate"] = float(value)
            config = config.replace(**{section: getattr(config, section).replace(**changes)})
        return config.replace(from_recipe=(), recipe_envs=None, recipe_sparse=None)

    def check(self):
        """Raises ConfigError, saying what to change, for a configuration that cannot train."""
        positive = {
            "total_frames": self.total_frames, "num_envs": self.num_envs, "num_steps": self.num_steps,
            "eval_episodes": self.eval_episodes, "final_eval_episodes": self.final_eval_episodes,
            "updates_per_chunk": self.updates_per_chunk, "checkpoint_every": self.checkpoint_every,
            "late_rollout_factor": self.late_rollout_factor, "eval_every": self.eval_every,
            "ppo.update_epochs": self.ppo.update_epochs, "ppo.num_minibatches": self.ppo.num_minibatches,
            "network.embed": self.network.embed, "network.hidden": self.network.hidden,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.network.encoding not in ("onehot", "embed"):
            raise ConfigError(f"--network.encoding must be onehot or embed, got {self.network.encoding!r}")
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for method, table in map(self.variant, [{"method": m} for m in self.sweep.method]):
            if method not in METHODS:
                raise ConfigError(f"--sweep.method: each must be one of {', '.join(METHODS)} (a table after @), "
                                  f"got {method!r}")
        if any(value.startswith("ppo@") for value in self.sweep.method):
            raise ConfigError("--sweep.method: ppo has no teacher; drop its @table")
        if self.sweep.method and self.method != "llm4teach":
            raise ConfigError("--method has no effect with --sweep.method; name every method there")
        batch = self.phases.batch_size()
        if batch % self.ppo.num_minibatches:
            raise ConfigError(
                f"--ppo.num-minibatches {self.ppo.num_minibatches} does not divide the batch of "
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = {batch}; "
                f"pick a divisor, e.g. {', '.join(str(d) for d in (1, 2, 4, 8, 16) if batch % d == 0)}"
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
        if self.observation != "memory_map" and self.uses_teacher:
            raise ConfigError(f"the teacher reads the memory map, not --observation {self.observation}; drop it or "
                              "train with --method ppo")
        if len(set(self.sweep.method)) != len(self.sweep.method):
            raise ConfigError(f"--sweep.method must list distinct methods, got {list(self.sweep.method)}")
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
        for setting in self.settings if self.sweep_names else ():
            self.with_setting(setting)  # each member's configuration is checked as it is built
        self.check_numbers()

    def check_numbers(self):
        """The traced hyperparameters' ranges."""
        ppo = self.ppo
        if not 0 < ppo.gamma <= 1 or not 0 <= ppo.gae_lambda <= 1:
            raise ConfigError("--ppo.gamma must be in (0, 1] and --ppo.gae-lambda in [0, 1]")
        if min(ppo.learning_rate, ppo.late_learning_rate, ppo.clip_eps, ppo.max_grad_norm) <= 0:
            raise ConfigError("--ppo.learning-rate, --ppo.late-learning-rate, --ppo.clip-eps and --ppo.max-grad-norm "
                              "must be positive")
        if min(ppo.ent_coef, ppo.vf_coef) < 0:
            raise ConfigError(f"--ppo.ent-coef and --ppo.vf-coef must be non-negative (a negative weight rewards "
                              f"the loss it should shrink), got {ppo.ent_coef} and {ppo.vf_coef}")
        if min(self.distill.schedule()) < 0:
            raise ConfigError("the λ schedule (--distill.*) must be non-negative")
