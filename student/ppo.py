"""PPO with the teacher's distillation term, as one compiled program.

One update reads top to bottom (`Learner.update`): a rollout of every environment with the current
policy (and the teacher's prior on each transition) → advantages (GAE) → epochs of minibatch gradient
steps over the rollout's frames → metrics. `make_train(config)` compiles, ahead of time, one *chunk*:
`updates_per_chunk` updates in one `lax.scan`, for each of the run's members (every seed of every setting
of a sweep; vmapped, or on a CPU one after another where that is faster: `sequential_members`). The
configuration is an argument of the compiled program: its static fields shaped it, its numeric fields are
traced, one row per member. The program runs data parallel over the run's devices (student/sharding.py):
environments and minibatches split over them, parameters replicated. Once λ is 0 for every member the
chunks skip the teacher's prior (a flag of the chunk, `consults_teacher`).
"""

import dataclasses
import functools
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh

import envs
import teacher_cache
from student import gae, sharding
from student import network as student_network
from student.config import ConfigError, TrainConfig
from student.kernels import Kernels
from student.loss import Batch, distill_coefficient, ppo_loss
from student.metrics import TEACHER_FIELDS


class Transition(NamedTuple):
    """One step of every environment of a rollout."""

    cells: jax.Array  # int16[N, cells]: the network's inputs for the step's observation
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    final_value: jax.Array  # value of the ended episode's last observation (valid where truncated)
    teacher: jax.Array  # float32[N, A]: π_T of the step's observation (zeros without a teacher)
    success: jax.Array  # the episode ended here in success
    episode_return: jax.Array  # valid where done
    episode_length: jax.Array  # valid where done


class TrainState(struct.PyTreeNode):
    """Everything a run needs to continue exactly: checkpointed whole."""

    params: dict
    opt_state: optax.OptState
    timestep: object  # the batch of environments, mid-episode
    key: jax.Array
    updates_done: jax.Array  # int32


# The learning rate and clip norm are applied by hand, so that they can be traced.
OPTIMIZER = optax.scale_by_adam(eps=1e-5)


@dataclasses.dataclass(frozen=True)
class Learner:
    """The pure functions of training on one environment with one teacher table (None: plain PPO).
    Each takes the configuration first: its numeric fields may be traced. With a `mesh`, minibatches
    are split over its devices (data parallel)."""

    env: envs.Environment
    table: teacher_cache.Table | None  # the run's tables stacked (`teacher_cache.table.stack`); None: no teacher
    mesh: Mesh | None = None
    hard: bool | None = False  # whether the taught members are hard (None: some are, a member's `teaching` says)

    @property
    def kernels(self) -> Kernels:
        return Kernels.for_devices(1 if self.mesh is None else self.mesh.size)

    def network(self, config: TrainConfig) -> student_network.ActorCritic:
        net = config.network
        return student_network.ActorCritic(self.env.num_actions, tuple(self.env.observation_categories), net.embed,
                                           net.hidden, net.encoding, self.kernels)

    def inputs(self, config: TrainConfig, observation: jax.Array) -> jax.Array:
        """The network's inputs for a batch of observations (egocentric for our memory maps)."""
        radius = config.network.egocentric_radius if self.env.memory_map else 0
        return student_network.inputs(observation, self.env.observation_shape, self.env.observation_categories, radius)

    def policy(self, config: TrainConfig, params, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(logits, value) for a batch of observations."""
        return self.network(config).apply(params, self.inputs(config, observation))

    def act(self, config: TrainConfig, params, observation: jax.Array, key: jax.Array) -> jax.Array:
        """The student's actions for a batch of observations (greedy if `config.eval_greedy`)."""
        logits, _ = self.policy(config, params, observation)
        return jnp.argmax(logits, axis=-1) if config.eval_greedy else self.kernels.draw(key, logits)

    def init(self, config: TrainConfig, seed: jax.Array) -> TrainState:
        """A fresh training state for one seed."""
        key = jax.random.PRNGKey(seed)
        key, param_key, env_key = jax.random.split(key, 3)
        timestep = jax.vmap(self.env.reset)(jax.random.split(env_key, config.num_envs))
        params = self.network(config).init(param_key, self.inputs(config, timestep.observation[:1]))
        return TrainState(params, OPTIMIZER.init(params), timestep, key, jnp.int32(0))

    def teacher_prior(self, config: TrainConfig, observation: jax.Array, key: jax.Array,
                      consult: bool | jax.Array = True) -> jax.Array:
        """π_T for a batch of observations; zeros for plain PPO and where `consult` is false (a flag of
        the whole chunk, not a member's, so that skipping the prior is a branch, not a select)."""
        def zeros(observation, key):
            return jnp.zeros(observation.shape[:1] + (self.env.num_actions,), jnp.float32)

        def prior(observation, key):
            table = jax.tree.map(lambda tables: tables[config.teaching.table], self.table)
            hard = config.teaching.hard > 0 if self.hard is None else self.hard
            return teacher_cache.prior(table, observation, hard=hard, key=key, mesh=self.mesh)

        if self.table is None:
            return zeros(observation, key)
        return jax.lax.cond(consult, prior, zeros, observation, key)

    def reset_budget(self, config: TrainConfig) -> int | None:
        """How many new episodes a rollout step draws at a time (`Environment.step_batch`): the backend's
        budget on one device; all on a mesh of several (a budget would gather the ending environments
        from every device)."""
        if self.mesh is not None and self.mesh.size > 1:
            return None
        return envs.reset_budget(config.num_envs)

    def update(self, config: TrainConfig, state: TrainState, late: bool = False,
               consult: bool | jax.Array = True) -> tuple[TrainState, dict]:
        """One PPO update of a phase; returns its metrics. `consult=False` (only where λ is 0) leaves the
        teacher out: no prior, and NaN for the metrics that compare with it (`metrics.TEACHER_FIELDS`)."""
        distill = self.distill_coefficient(config, state)
        state, rollout = self.rollout(config, state, late, consult)
        advantage, target = self.advantages(config, state, rollout)
        batch = Batch(rollout.cells, rollout.action, rollout.log_prob, rollout.value, advantage, target,
                      rollout.teacher)
        state, losses = self.learn(config, state, flatten(batch), distill, late)
        metrics = {**losses, **self.rollout_metrics(rollout, target, distill),
                   "params_finite": all_finite(state.params)}
        return state, {name: jnp.where(consult, value, jnp.nan) if name in TEACHER_FIELDS else value
                       for name, value in metrics.items()}

    def distill_coefficient(self, config: TrainConfig, state: TrainState) -> jax.Array:
        """λ at the update's first frame (0 for plain PPO)."""
        if self.table is None:
            return jnp.float32(0.0)
        return distill_coefficient(config.distill, config.phases.frames_at(state.updates_done)) * config.teaching.taught

    def rollout(self, config: TrainConfig, state: TrainState, late: bool = False,
                consult: bool | jax.Array = True) -> tuple[TrainState, Transition]:
        """A phase's rollout steps of every environment with the current policy (the teacher's prior on
        each transition if `consult`)."""
        steps = config.phases.rollout_steps(late)
        # A truncation bootstraps from the value of the episode's last observation (the environment
        # already shows the next episode's first). Episodes are truncated only by their time limit, so an
        # environment is truncated at most once in any `max_steps` consecutive steps: `slots` last
        # observations per environment hold all of a rollout's truncations, and their values are computed
        # once after it, not for every environment at every step.
        slots = -(-steps // self.env.max_steps)

        def one_step(carry, _):
            timestep, key, ended, truncations = carry
            key, action_key, teacher_key = jax.random.split(key, 3)
            cells = self.inputs(config, timestep.observation)
            # Two barriers that change no value, only how XLA's CPU runtime runs a step (3-5% faster training on
            # a CPU). The teacher starts once the network's inputs are ready, so that the first layer's product
            # (a thunk the runtime may hand to its other thread) runs beside the teacher's search; left to
            # itself, XLA ran the teacher first and the network's inputs waited for it. And the network's last
            # products are not fused with the softmax.
            teacher_observation, cells = jax.lax.optimization_barrier((timestep.observation, cells))
            logits, value = self.network(config).apply(state.params, cells)
            logits = jax.lax.optimization_barrier(logits)
            action = self.kernels.draw(action_key, logits)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
            following = self.env.step_batch(timestep, action, self.reset_budget(config))
            done = following.is_done()
            truncated = following.is_truncation()
            slot = jnp.minimum(truncations, slots - 1)
            keep = truncated & (jnp.arange(slots)[:, None] == slot)
            keep = keep.reshape(keep.shape + (1,) * (ended.ndim - 2))
            ended = jnp.where(keep, following.info["final_observation"][None], ended)
            transition = Transition(
                cells=cells.astype(jnp.int16),
                action=action,
                log_prob=log_prob,
                value=value,
                reward=following.reward,
                terminated=following.is_termination(),
                done=done,
                final_value=None,  # filled in after the rollout, from `ended`
                teacher=self.teacher_prior(config, teacher_observation, teacher_key, consult),
                success=following.info["success"] & done,
                episode_return=following.info["episode_return"],
                episode_length=following.info["episode_length"],
            )
            return (following, key, ended, truncations + truncated), (transition, slot)

        observation = state.timestep.observation
        ended = jnp.zeros((slots,) + observation.shape, observation.dtype)
        truncations = jnp.zeros(observation.shape[:1], jnp.int32)
        (timestep, key, ended, _), (transitions, slot) = jax.lax.scan(
            one_step, (state.timestep, state.key, ended, truncations), None, length=steps
        )
        _, ended_values = self.policy(config, state.params, ended.reshape((-1,) + observation.shape[1:]))
        final_value = jnp.take_along_axis(ended_values.reshape(slots, -1), slot, axis=0)
        return state.replace(timestep=timestep, key=key), transitions._replace(final_value=final_value)

    def advantages(self, config: TrainConfig, state: TrainState, rollout: Transition) -> tuple[jax.Array, jax.Array]:
        """(advantages, value targets) [steps, N] of a rollout, bootstrapped from the value of the observation
        that follows it (`state`: after the rollout) and, where an episode was truncated, of its last one."""
        _, last_value = self.policy(config, state.params, state.timestep.observation)
        next_values = jnp.concatenate([rollout.value[1:], last_value[None]])
        next_values = jnp.where(rollout.done, rollout.final_value, next_values)
        return gae.advantages(rollout.reward, rollout.value, next_values, rollout.terminated.astype(jnp.float32),
                              rollout.done.astype(jnp.float32), config.ppo.gamma, config.ppo.gae_lambda)

    def learn(self, config: TrainConfig, state: TrainState, batch: Batch, distill: jax.Array,
              late: bool) -> tuple[TrainState, dict]:
        """`update_epochs` passes over the batch, each in a new order cut into minibatches, one gradient step
        each; returns the state after them and the losses averaged over the steps."""
        size = batch.action.shape[0]
        minibatches = (config.ppo.num_minibatches, config.phases.minibatch_size(late))
        learning_rate = config.learning_rate(late)

        def epoch(carry, key):
            order = self.kernels.permutation(key, size)

            def minibatch(carry, indices):
                # Each minibatch gathered where it is used, not the whole batch reordered first: the same
                # frames, 1-2% faster training on a CPU.
                frames = sharding.split_batch(self.mesh, jax.tree.map(lambda x: x[indices], batch), axis=0)
                params, opt_state, losses = self.gradient_step(config, *carry, frames, distill, learning_rate)
                return (params, opt_state), losses

            return jax.lax.scan(minibatch, carry, order.reshape(minibatches))

        key, epoch_key = jax.random.split(state.key)
        (params, opt_state), losses = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(epoch_key, config.ppo.update_epochs)
        )
        state = state.replace(params=params, opt_state=opt_state, key=key, updates_done=state.updates_done + 1)
        return state, jax.tree.map(jnp.mean, losses)

    def gradient_step(self, config: TrainConfig, params, opt_state, minibatch: Batch, distill: jax.Array,
                      learning_rate: jax.Array):
        """One clipped Adam step on one minibatch; returns the new parameters, optimizer state and losses."""

        def loss(params):
            logits, values = self.network(config).apply(params, minibatch.cells)
            return ppo_loss(logits, values, minibatch, config.ppo, distill)

        grads, losses = jax.grad(loss, has_aux=True)(params)
        norm = optax.tree.norm(grads)
        grads = jax.tree.map(lambda g: g * jnp.minimum(1.0, config.ppo.max_grad_norm / (norm + 1e-6)), grads)
        updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: p - learning_rate * u, params, updates)
        return params, opt_state, losses

    def rollout_metrics(self, rollout: Transition, target: jax.Array, distill: jax.Array) -> dict:
        """What the update's rollout shows: the episodes that ended in it, how well the critic predicted, how
        often the student took the teacher's choice."""
        ended = rollout.done.astype(jnp.float32)
        return dict(
            distill_coefficient=distill,
            explained_variance=1.0 - jnp.var(target - rollout.value) / (jnp.var(target) + 1e-8),
            episodes=ended.sum(),
            successes=rollout.success.astype(jnp.float32).sum(),
            return_sum=(rollout.episode_return * ended).sum(),
            length_sum=(rollout.episode_length * ended).sum(),
            teacher_agreement=(rollout.teacher * jax.nn.one_hot(rollout.action, self.env.num_actions)).sum(-1).mean(),
        )

    def chunk(self, config: TrainConfig, state: TrainState, consult: bool | jax.Array = True,
              late: bool = False) -> tuple[TrainState, dict]:
        """A phase's updates of one chunk in one `lax.scan`; metrics stacked along a leading axis."""
        return jax.lax.scan(lambda s, _: self.update(config, s, late, consult), state, None,
                            length=config.phases.updates_in_chunk(late))


def all_finite(tree) -> jax.Array:
    """Whether every number of a pytree is finite."""
    return jnp.stack([jnp.isfinite(leaf).all() for leaf in jax.tree.leaves(tree)]).all()


def flatten(batch: Batch) -> Batch:
    """A batch [steps, N, ...] as one row per frame [steps * N, ...]."""
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)


def consults_teacher(config: TrainConfig, chunk_index: int) -> bool:
    """Whether chunk `chunk_index` needs the teacher's prior: λ > 0 at its first update for some member
    (λ never grows: once it is 0 for every member, the prior would only be multiplied by 0)."""
    frames = config.phases.frames_at(config.phases.updates_before(chunk_index))
    members = (config.with_setting(setting) for setting in config.settings)
    return any(member.teaching.taught > 0 and float(distill_coefficient(member.distill, frames)) > 0
               for member in members)


def build(config: TrainConfig) -> tuple[envs.Environment, list[teacher_cache.Table]]:
    """The environment and the teacher tables of a configuration (`config.tables`); every error before compiling."""
    try:
        env = envs.make(config.task, observation=config.observation)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if config.uses_teacher:
        teacher_cache.table.vocabulary(config.task)  # a task the teacher cannot name: what is missing, said first
    return env, [teacher_cache.load(table, task=config.task) for table in config.tables]


def stack(trees: list):
    """One pytree whose leaves stack those of `trees` along a new leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(leaf) for leaf in leaves]), *trees)


@dataclasses.dataclass(frozen=True)
class Program:
    """A compiled training program over all members of a run (every seed of every setting)."""

    config: TrainConfig
    learner: Learner
    members: TrainConfig  # each member's configuration: the traced leaves stacked along axis 0, replicated
    shardings: TrainState  # where each leaf of the state lies on the mesh (student/sharding.py)
    state_shape: TrainState  # each leaf's shape and dtype (jax.ShapeDtypeStruct): what `lower` compiles for
    compiled: Callable | None  # (members, state, consult) -> (state, metrics); None if not compiled
    compile_seconds: float
    compiled_late: Callable | None = None  # the late phase's chunk, if the run reaches it

    @property
    def mesh(self) -> Mesh:
        return self.learner.mesh

    def init(self) -> TrainState:
        """Fresh states of every member, stacked, laid out on the mesh (also the template a checkpoint
        is restored onto, whatever the number of devices it was saved from)."""
        seeds = jax.device_put(member_seeds(self.config), sharding.replicated(self.mesh))
        # One member after another: the same states, bit for bit, as vmapped, in 16-42% less compile (a
        # program run once, so its compile is most of its cost).
        init = each_member(self.learner.init, sequential=True)
        return jax.jit(init, out_shardings=self.shardings)(self.members, seeds)

    def lower(self, late: bool) -> jax.stages.Lowered:
        """A phase's chunk over every member, lowered for the mesh (what `make_train` compiles). The teacher
        flag is the chunk's, not a member's (shared): skipping the prior is then a branch."""
        replicated = sharding.replicated(self.mesh)
        members_chunk = each_member(functools.partial(self.learner.chunk, late=late),
                                    sequential_members(self.config, late))
        chunk = jax.jit(members_chunk, in_shardings=(replicated, self.shardings, replicated),
                        out_shardings=(self.shardings, replicated))
        return chunk.lower(self.members, self.state_shape, jax.ShapeDtypeStruct((), jnp.bool_))

    def compile(self, first_chunk: int = 0) -> "Program":
        """The program with the chunk of each phase that chunks `first_chunk` on run in compiled, ahead of time."""
        phases = self.config.phases
        start = time.perf_counter()
        compiled = {late: self.lower(late).compile()
                    for late in sorted({phases.is_late(i) for i in range(first_chunk, phases.num_chunks)})}
        return dataclasses.replace(self, compiled=compiled.get(False), compile_seconds=time.perf_counter() - start,
                                   compiled_late=compiled.get(True))

    def chunk(self, state: TrainState, late: bool = False, consult: bool = True) -> tuple[TrainState, dict]:
        """One chunk of a phase's updates of every member; metrics float32[M, updates in the chunk].
        `consult=False` skips the teacher's prior: only for chunks where λ is 0 (`consults_teacher`)."""
        compiled = self.compiled_late if late else self.compiled
        if compiled is None:
            raise ValueError(f"the {'late' if late else 'early'} phase's chunk was not compiled: make_train compiles "
                             "the phases of the chunks from its first_chunk on")
        return compiled(self.members, state, jax.device_put(np.bool_(consult), sharding.replicated(self.mesh)))

    def run_chunk(self, state: TrainState, chunk_index: int, consult: bool) -> tuple[TrainState, dict]:
        """Chunk `chunk_index` of the run in its phase; `consult`: `consults_teacher(config, chunk_index)`."""
        return self.chunk(state, self.config.phases.is_late(chunk_index), consult)


# On a CPU, members train one after another when a minibatch holds this many frames or more.
SEQUENTIAL_MINIBATCH = 2048


def each_member(fn: Callable, sequential: bool) -> Callable:
    """`fn(member, state, *shared)` over every member: axis 0 of the stacked configurations and states
    (and of the results), the shared arguments passed whole; vmapped, or one member after another
    (`lax.map`) if `sequential`."""
    if sequential:
        return lambda members, states, *shared: jax.lax.map(lambda pair: fn(*pair, *shared), (members, states))
    return lambda members, states, *shared: jax.vmap(lambda m, s: fn(m, s, *shared))(members, states)


def sequential_members(config: TrainConfig, late: bool) -> bool:
    """Whether a phase's chunk runs its members one after another: on a CPU, for one member (the plain
    program) or minibatches of `SEQUENTIAL_MINIBATCH` frames or more, where XLA's CPU backend runs the
    vmapped program's products slower (the reference configuration, 4,096-frame minibatches: 12-14%
    slower vmapped, one seed or three); with smaller minibatches the vmapped members amortise each
    operation's overhead (the recipe's 128-512: 7-24% faster vmapped)."""
    return jax.default_backend() == "cpu" and (
        len(config.members) == 1 or config.phases.minibatch_size(late) >= SEQUENTIAL_MINIBATCH)


def member_seeds(config: TrainConfig) -> np.ndarray:
    return np.asarray([seed for seed, _ in config.members])


def make_train(config: TrainConfig, env: envs.Environment | None = None,
               tables: list[teacher_cache.Table] | teacher_cache.Table | None = None, compile: bool = True,
               first_chunk: int = 0) -> Program:
    """The training program of `config` on its devices, compiled ahead of time unless `compile=False`
    (environment and tables built from the configuration unless given, e.g. a probe environment in the
    tests): the chunk of each phase that chunks `first_chunk` on run in (a run resumed after the switch
    compiles the late phase's only). A batch that does not divide over the devices is refused here,
    before compiling."""
    if env is None:
        env, tables = build(config)
    tables = [tables] if isinstance(tables, teacher_cache.Table) else tables or []
    mesh = sharding.mesh(config)
    learner = Learner(env, teacher_cache.table.stack(tables) if tables else None, mesh, config.hard)
    replicated = sharding.replicated(mesh)
    members = jax.device_put(stack([config.with_setting(setting) for _, setting in config.members]), replicated)
    state = jax.eval_shape(jax.vmap(learner.init), members, member_seeds(config))
    program = Program(config, learner, members, sharding.state_shardings(mesh, state), state, None, 0.0)
    return program.compile(first_chunk) if compile else program
