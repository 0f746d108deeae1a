"""Training configuration: frozen dataclasses, checked once at construction.

Every command-line option of `train.py` is a field here with a one-line docstring
(tyro turns them into `--help`). Shape-setting fields are static; the numeric ones
the learner reads (learning rate, coefficients, λ schedule) travel as a traced
`Hyperparams` pytree, so a sweep over them is a `vmap`, not a recompile.
"""

import dataclasses
from typing import Literal

import jax.numpy as jnp
from flax import struct

METHODS = ("llm4teach", "llm4teach-hard", "ppo")
# The authors update the distillation coefficient once per PPO iteration (≥ 10 episodes,
# ≥ 256 frames of one environment); early in training, when episodes run to 150 steps,
# an iteration is about 1,500 frames. Their schedule in frames, at that rate:
AUTHORS_FRAMES_PER_ITERATION = 1500


class ConfigError(Exception):
    """A configuration that cannot train; the message says what to change. (Not a ValueError,
    so that tyro lets it through to train.py's one-line report instead of boxing it.)"""


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO's hyperparameters."""

    learning_rate: float = 1e-3
    """Adam step size."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's λ (bias-variance trade-off of the advantages)."""
    clip_eps: float = 0.2
    """PPO's ratio clip, also used to clip the value update."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this global norm."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass; must divide num_envs * num_steps."""


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """The distillation coefficient λ(f) = max(floor, start - decay * f) for frames f < stop_frame, then 0."""

    preset: Literal["measured", "authors", "custom"] = "measured"
    """'measured': this project's default (10, falling to 0.1 by 300k frames, dropped at 400k), chosen
    with the sample-efficiency benchmark; 'authors':
    the authors' 10 - 0.005/iteration, floor 0.1, dropped after 3000 iterations, at 1,500 frames per
    iteration; 'custom': the four fields below."""
    start: float = 10.0
    """λ at frame 0 (custom preset)."""
    decay_per_frame: float = 3.3e-5
    """λ lost per frame (custom preset)."""
    floor: float = 0.1
    """Smallest λ before the term is dropped (custom preset)."""
    stop_frame: int = 400_000
    """Frame from which the term is dropped (custom preset)."""

    def resolved(self) -> "DistillConfig":
        """The schedule the preset stands for (a 'custom' preset stands for itself)."""
        if self.preset == "authors":
            per_frame = 0.005 / AUTHORS_FRAMES_PER_ITERATION
            return DistillConfig("custom", 10.0, per_frame, 0.1, 3000 * AUTHORS_FRAMES_PER_ITERATION)
        if self.preset == "measured":
            return DistillConfig("custom")
        return self


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """The actor-critic: each cell's codes embedded, flattened, then dense layers."""

    embed: int = 4
    """Features per cell after the per-cell embedding."""
    hidden: int = 64
    """Width of the hidden layers."""
    egocentric_radius: int = 6
    """> 0: the network sees our memory maps re-centred on the agent and turned to its heading,
    (2r+1)x(2r+1) cells (8 covers any 10x10 room from anywhere inside it; 6 learns as fast and
    trains twice as fast); 0: as they are. navix observations are always seen as they are."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Train a student with PPO and the LLM teacher's distillation term."""

    task: str = "SimpleDoorKey"
    """SimpleDoorKey, LavaDoorKey, ColoredDoorKey, or a navix id (e.g. Navix-DoorKey-8x8-v0, ppo only)."""
    method: Literal["llm4teach", "llm4teach-hard", "ppo"] = "llm4teach"
    """llm4teach: soft teacher (default); llm4teach-hard: one plan drawn per step; ppo: no teacher."""
    teacher: str | None = None
    """Teacher table file (default: the task's shipped table)."""
    total_frames: int = 300_000
    """Environment frames per seed (rounded up to whole chunks of updates)."""
    num_envs: int = 64
    """Environments stepped in parallel, per seed (64: the best sample efficiency measured; raise it
    for throughput on a GPU)."""
    num_steps: int = 16
    """Steps per environment in each rollout."""
    seeds: tuple[int, ...] = (0,)
    """Seeds trained at once, as a batch axis."""
    out: str | None = None
    """Run folder (default: runs/<task>-<method>-<time>)."""
    resume: str | None = None
    """Continue the run in this folder from its last checkpoint (other options are read from it)."""
    evaluate: str | None = None
    """Evaluate the last checkpoint of this run folder and exit."""
    eval_episodes: int = 256
    """Episodes per evaluation during training."""
    final_eval_episodes: int = 1000
    """Episodes of the final evaluation (eval.json) and of --evaluate."""
    eval_greedy: bool = False
    """Evaluate by the most likely action (True) or, as trained, by sampling the policy (False)."""
    eval_every: int = 1
    """Chunks between evaluations during training."""
    updates_per_chunk: int = 10
    """Updates per compiled chunk: progress, evaluation and metrics come between chunks."""
    checkpoint_every: int = 5
    """Chunks between checkpoints."""
    gif_episodes: int = 3
    """Episodes drawn in the final animation (0: none)."""
    ppo: PPOConfig = PPOConfig()
    distill: DistillConfig = DistillConfig()
    network: NetworkConfig = NetworkConfig()

    def __post_init__(self):
        self.check()

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.ppo.num_minibatches

    @property
    def frames_per_chunk(self) -> int:
        return self.batch_size * self.updates_per_chunk

    @property
    def num_chunks(self) -> int:
        return -(-self.total_frames // self.frames_per_chunk)

    @property
    def num_updates(self) -> int:
        """Updates per seed: total_frames rounded up to whole chunks."""
        return self.num_chunks * self.updates_per_chunk

    @property
    def uses_teacher(self) -> bool:
        return self.method != "ppo"

    def check(self):
        """Raises ConfigError, saying what to change, for a configuration that cannot train."""
        positive = {
            "total_frames": self.total_frames, "num_envs": self.num_envs, "num_steps": self.num_steps,
            "eval_episodes": self.eval_episodes, "final_eval_episodes": self.final_eval_episodes,
            "updates_per_chunk": self.updates_per_chunk, "checkpoint_every": self.checkpoint_every,
            "eval_every": self.eval_every,
            "ppo.update_epochs": self.ppo.update_epochs, "ppo.num_minibatches": self.ppo.num_minibatches,
            "network.embed": self.network.embed, "network.hidden": self.network.hidden,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.batch_size % self.ppo.num_minibatches:
            raise ConfigError(
                f"--ppo.num-minibatches {self.ppo.num_minibatches} does not divide the batch of "
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = {self.batch_size}; "
                f"pick a divisor, e.g. {', '.join(str(d) for d in (1, 2, 4, 8, 16) if self.batch_size % d == 0)}"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must list distinct seeds, got {self.seeds}")
        if self.gif_episodes < 0 or self.gif_episodes > 16:
            raise ConfigError(f"--gif-episodes must be between 0 and 16, got {self.gif_episodes}")
        if self.teacher is not None and not self.uses_teacher:
            raise ConfigError("--teacher has no effect with --method ppo; drop it or pick llm4teach")
        if not 0 < self.ppo.gamma <= 1 or not 0 <= self.ppo.gae_lambda <= 1:
            raise ConfigError("--ppo.gamma must be in (0, 1] and --ppo.gae-lambda in [0, 1]")
        if self.ppo.learning_rate <= 0 or self.ppo.clip_eps <= 0 or self.ppo.max_grad_norm <= 0:
            raise ConfigError("--ppo.learning-rate, --ppo.clip-eps and --ppo.max-grad-norm must be positive")
        if self.distill.preset != "custom":
            defaults = DistillConfig(self.distill.preset)
            changed = [f.name for f in dataclasses.fields(DistillConfig)
                       if getattr(self.distill, f.name) != getattr(defaults, f.name)]
            if changed:
                raise ConfigError(
                    f"--distill.{changed[0].replace('_', '-')} has no effect with --distill.preset "
                    f"{self.distill.preset}; add --distill.preset custom to set the schedule yourself"
                )
        schedule = self.distill.resolved()
        if schedule.start < 0 or schedule.decay_per_frame < 0 or schedule.floor < 0 or schedule.stop_frame < 0:
            raise ConfigError("the λ schedule (--distill.*) must be non-negative")


class Hyperparams(struct.PyTreeNode):
    """The numeric hyperparameters the learner reads, as traced arrays (vmap them to sweep)."""

    learning_rate: jnp.ndarray
    gamma: jnp.ndarray
    gae_lambda: jnp.ndarray
    clip_eps: jnp.ndarray
    ent_coef: jnp.ndarray
    vf_coef: jnp.ndarray
    max_grad_norm: jnp.ndarray
    lambda_start: jnp.ndarray
    lambda_decay_per_frame: jnp.ndarray
    lambda_floor: jnp.ndarray
    lambda_stop_frame: jnp.ndarray

    @classmethod
    def from_config(cls, config: TrainConfig) -> "Hyperparams":
        schedule = config.distill.resolved()
        teach = 1.0 if config.uses_teacher else 0.0
        ppo = config.ppo
        return cls(
            learning_rate=jnp.float32(ppo.learning_rate),
            gamma=jnp.float32(ppo.gamma),
            gae_lambda=jnp.float32(ppo.gae_lambda),
            clip_eps=jnp.float32(ppo.clip_eps),
            ent_coef=jnp.float32(ppo.ent_coef),
            vf_coef=jnp.float32(ppo.vf_coef),
            max_grad_norm=jnp.float32(ppo.max_grad_norm),
            lambda_start=jnp.float32(schedule.start * teach),
            lambda_decay_per_frame=jnp.float32(schedule.decay_per_frame),
            lambda_floor=jnp.float32(schedule.floor * teach),
            lambda_stop_frame=jnp.float32(schedule.stop_frame),
        )


def distill_coefficient(hparams: Hyperparams, frames: jnp.ndarray) -> jnp.ndarray:
    """λ at a frame count: max(floor, start - decay * frames) before stop_frame, 0 after."""
    frames = jnp.asarray(frames, jnp.float32)
    value = jnp.maximum(hparams.lambda_floor, hparams.lambda_start - hparams.lambda_decay_per_frame * frames)
    return jnp.where(frames < hparams.lambda_stop_frame, value, 0.0)
