"""The learner pinned on probes with known answers, on the teacher, and as a batch of seeds."""

import dataclasses
import functools
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import teacher_cache
from student.config import DistillConfig, NetworkConfig, PPOConfig, Sweep, TrainConfig
from student import metrics as run_metrics
from student.ppo import consults_teacher, make_train
from teacher_cache import table as tables
from tests.probes import Probe

SEEDS = (0, 1, 2)


def trained(config, env=None, table=None, chunks=1):
    """(program, state, metrics) after `chunks` compiled chunks of every member."""
    program = make_train(config, env, table)
    state = program.init()
    for _ in range(chunks):
        state, metrics = program.chunk(state)
    return program, state, metrics


def probe_config(**ppo):
    return TrainConfig(method="ppo", num_envs=32, num_steps=8, updates_per_chunk=60, seeds=SEEDS,
                       ppo=PPOConfig(**{"learning_rate": 3e-3, **ppo}))


def values_and_policies(program, state, cue):
    """Per seed: (value, action probabilities) at an observation showing `cue`."""
    observation = jnp.full((1, 1, 1, 1), cue, jnp.uint8)

    def one(config, params):
        logits, value = program.learner.policy(config, params, observation)
        return value[0], jax.nn.softmax(logits[0])

    values, policies = jax.vmap(one)(program.members, state.params)
    return np.asarray(values), np.asarray(policies)


def test_probe_constant_reward_learns_its_value():
    program, state, _ = trained(probe_config(ent_coef=0.0), Probe("constant"))
    for cue in (0, 1):
        np.testing.assert_allclose(values_and_policies(program, state, cue)[0], 1.0, atol=0.1)


def test_probe_observation_dependent_reward_learns_the_policy():
    program, state, _ = trained(probe_config(ent_coef=0.0), Probe("cue"))
    for cue in (0, 1):
        values, policies = values_and_policies(program, state, cue)
        assert (policies[:, cue] > 0.9).all()
        np.testing.assert_allclose(values, 1.0, atol=0.15)


def test_probe_truncation_is_bootstrapped_not_treated_as_an_end():
    # Reward 1 forever, cut off every 4 steps: V = 1 / (1 - γ) = 2, not the 1..2 of a 4-step horizon.
    program, state, _ = trained(probe_config(gamma=0.5, ent_coef=0.0), Probe("endless", max_steps=4), chunks=2)
    for cue in (0, 1):
        np.testing.assert_allclose(values_and_policies(program, state, cue)[0], 2.0, atol=0.15)


def one_member(config, env, table=None):
    """(learner, member's configuration, initial state, jitted rollout) of a run's first member, uncompiled."""
    program = make_train(config, env, table, compile=False)
    learner, member = program.learner, jax.tree.map(lambda x: x[0], program.members)
    return learner, member, jax.tree.map(lambda x: x[0], program.init()), jax.jit(lambda s: learner.rollout(member, s))


@functools.partial(jax.jit, static_argnums=0)
def replayed(env, timestep, actions):
    """(the observation each step acted on, each step's final observation) [steps, N, ...]: a rollout's
    actions replayed from its first timestep (a step is a function of timestep and action)."""
    def one(timestep, action):
        following = jax.vmap(env.step)(timestep, action)
        return following, (timestep.observation, following.info["final_observation"])

    return jax.lax.scan(one, timestep, actions)[1]


def test_a_truncation_bootstraps_from_the_value_of_its_episodes_last_observation():
    # Episodes of 3 steps, rollouts of 7: up to ceil(7 / 3) = 3 truncations per environment in a rollout,
    # whose values the rollout computes after its steps. Against the value of each truncated step's final
    # observation, found by replaying the rollout's actions (a step is a function of timestep and action).
    config = TrainConfig(method="ppo", num_envs=8, num_steps=7)
    env = envs.make("SimpleDoorKey", max_steps=3)
    learner, member, state, rollout = one_member(config, env)
    value = jax.jit(lambda observation: learner.policy(member, state.params, observation)[1])

    counts = []
    for _ in range(3):
        following, transitions = rollout(state)
        truncated = np.asarray(transitions.done & ~transitions.terminated)
        _, final_observations = replayed(env, state.timestep, transitions.action)
        expected = np.asarray(value(final_observations.reshape((-1,) + final_observations.shape[2:])))
        expected = expected.reshape(truncated.shape)
        np.testing.assert_allclose(np.asarray(transitions.final_value)[truncated], expected[truncated],
                                   rtol=1e-5, atol=1e-6)
        counts.append(truncated.sum(0).max())
        state = following
    assert max(counts) == 3  # the third rollout starts 2 steps into its episodes: truncated at steps 1, 4, 7


def test_each_transition_holds_the_teachers_prior_of_the_observation_the_student_acted_on():
    # The rollout orders the teacher's prior after the student's inputs (a barrier, for XLA's CPU runtime);
    # whatever the order, the prior must be that of the step's own observation, found here by replaying
    # the rollout's actions.
    config = TrainConfig(method="llm4teach", num_envs=8, num_steps=5)
    env = envs.make("SimpleDoorKey", max_steps=3)  # episodes end and restart within the rollout
    learner, _, state, rollout = one_member(config, env, teacher_cache.load("SimpleDoorKey", task="SimpleDoorKey"))
    _, transitions = rollout(state)
    seen, _ = replayed(env, state.timestep, transitions.action)
    expected = jax.jit(teacher_cache.prior)(teacher_cache.load("SimpleDoorKey"), seen)
    assert float(np.asarray(transitions.teacher).sum(-1).min()) > 0.99  # a distribution at every step
    np.testing.assert_allclose(np.asarray(transitions.teacher), np.asarray(expected), atol=1e-6)


def tiny(**changes) -> TrainConfig:
    """A configuration that compiles fast: plain PPO, few environments, one minibatch step per update."""
    fields = dict(method="ppo", num_envs=8, num_steps=4, updates_per_chunk=2,
                  ppo=PPOConfig(update_epochs=1, num_minibatches=1))
    return TrainConfig(**{**fields, **changes})


@pytest.fixture(scope="module")
def three_seeds():
    """Two updates of seeds 0, 1, 2 trained as one batch (on a probe: what matters here is the batch
    axis; our tasks with the teacher in the loop are trained by tests/test_run.py)."""
    return trained(tiny(seeds=SEEDS), Probe("cue"))


def test_a_seed_trained_in_a_batch_equals_the_same_seed_trained_alone(three_seeds):
    _, batch, batch_metrics = three_seeds
    _, alone, alone_metrics = trained(tiny(seeds=(1,)), Probe("cue"))
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[1], batch.params), jax.tree.map(lambda x: x[0], alone.params),
                                rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close({k: v[1] for k, v in batch_metrics.items()},
                                {k: v[0] for k, v in alone_metrics.items()}, rtol=1e-4, atol=1e-5)
    assert not np.allclose(batch_metrics["loss"][0], batch_metrics["loss"][1])  # the seeds differ


def test_metrics_carry_ppo_health_signals_in_range(three_seeds):
    _, _, metrics = three_seeds
    chex.assert_shape(metrics["loss"], (3, 2))
    assert ((metrics["clip_fraction"] >= 0) & (metrics["clip_fraction"] <= 1)).all()
    assert (metrics["explained_variance"] <= 1).all() and (metrics["approx_kl"] >= 0).all()
    np.testing.assert_allclose(metrics["distill_coefficient"], 0.0)  # plain PPO: no distillation


def test_a_sweep_over_numeric_hyperparameters_is_one_program():
    # One seed, a grid of two settings each: only the learning rate and the entropy weight differ.
    config = tiny(seeds=(0,), sweep=Sweep(learning_rate=(1e-4, 1e-2), ent_coef=(0.0, 0.5)))
    assert [setting for _, setting in config.members] == [
        {"learning_rate": 1e-4, "ent_coef": 0.0}, {"learning_rate": 1e-4, "ent_coef": 0.5},
        {"learning_rate": 1e-2, "ent_coef": 0.0}, {"learning_rate": 1e-2, "ent_coef": 0.5}]
    program, state, metrics = trained(config, Probe("cue"))
    start = program.init().params
    np.testing.assert_allclose(program.members.ppo.ent_coef, [0.0, 0.5, 0.0, 0.5])
    # The same seed and data: the entropy bonus alone separates the losses of members 0 and 1.
    np.testing.assert_allclose(metrics["loss"][1, 0] - metrics["loss"][0, 0], -0.5 * metrics["entropy"][1, 0],
                               rtol=1e-4)

    def moved(i):
        squares = jax.tree.map(lambda p, q: jnp.sum((p[i] - q[i]) ** 2), state.params, start)
        return float(sum(jax.tree.leaves(squares)))

    assert moved(2) > 10 * moved(0)  # the larger learning rate moved the parameters further


GEMMA_TABLE = os.path.join(tables.TABLES_DIR, "SimpleDoorKey.gemma3-270m.json")


def test_members_taught_differently_in_one_program_train_as_each_trained_alone():
    # The reproduction's four methods side by side, two seeds each: the tables stacked, soft or hard and the
    # distillation term traced per member. Each member trains as its method trained alone with its seed.
    methods = ("llm4teach", "llm4teach-hard", "ppo", f"llm4teach@{GEMMA_TABLE}")
    config = tiny(method="llm4teach", task="SimpleDoorKey", seeds=(0, 1), sweep=Sweep(method=methods))
    assert config.tables == ("SimpleDoorKey", GEMMA_TABLE) and config.hard is None
    program, together, together_metrics = trained(config)
    for m, (seed, setting) in enumerate(config.members):
        method, table = config.variant(setting)
        alone_config = tiny(method=method, task="SimpleDoorKey", seeds=(seed,),
                            teacher=table if table not in (None, "SimpleDoorKey") else None)
        _, alone, alone_metrics = trained(alone_config)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[m], together.params),
                                    jax.tree.map(lambda x: x[0], alone.params), rtol=1e-4, atol=1e-5)
        for name in ("loss", "policy_loss", "value_loss", "entropy", "episodes", "distill_coefficient"):
            np.testing.assert_allclose(together_metrics[name][m], alone_metrics[name][0], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} of {setting}, seed {seed}")
    np.testing.assert_array_equal(together_metrics["distill_coefficient"][4:6], 0.0)  # ppo's members


def test_the_teacher_is_consulted_while_lambda_is_above_zero_for_some_member():
    # 'measured': λ falls to its floor by 300k frames and is dropped at 400k; chunks here are 8,192 frames.
    config = tiny(method="llm4teach", task="SimpleDoorKey", num_envs=1024, num_steps=4, total_frames=600_000)
    boundaries = [config.phases.frames_at(config.phases.updates_before(i)) for i in range(config.phases.num_chunks)]
    consulted = [consults_teacher(config, i) for i in range(config.phases.num_chunks)]
    assert consulted == [frames < 400_000 for frames in boundaries] and consulted[0] and not consulted[-1]
    # A sweep consults it while any of its members' λ is above 0; plain PPO never does.
    swept = dataclasses.replace(config, distill=DistillConfig("custom"),
                                sweep=Sweep(distill_stop_frame=(0.0, 100_000.0)))
    assert [consults_teacher(swept, i) for i in range(config.phases.num_chunks)] == [f < 100_000 for f in boundaries]
    plain = dataclasses.replace(config, method="ppo")
    assert not any(consults_teacher(plain, i) for i in range(config.phases.num_chunks))


def test_a_chunk_without_the_teacher_trains_as_one_with_it_once_lambda_is_zero():
    # λ is 0 from frame 0: the prior only ever multiplies 0, so leaving it out changes no parameter.
    config = tiny(method="llm4teach", task="SimpleDoorKey", distill=DistillConfig("custom", stop_frame=0.0))
    assert not consults_teacher(config, 0)
    program = make_train(config)
    start = program.init()
    (with_teacher, consulted), (without, skipped) = (program.chunk(start, consult=c) for c in (True, False))
    chex.assert_trees_all_equal(with_teacher.params, without.params)
    teacher_fields = run_metrics.TEACHER_FIELDS
    for name in teacher_fields:
        assert (consulted[name] > 0).all() and np.isnan(skipped[name]).all()
    chex.assert_trees_all_equal({k: v for k, v in consulted.items() if k not in teacher_fields},
                                {k: v for k, v in skipped.items() if k not in teacher_fields})
    rows = [row for per_member in run_metrics.rows(config, skipped, 0, consulted=False) for row in per_member]
    assert all(row[name] is None for row in rows for name in teacher_fields)


def unrewarded(env):
    """`env` with every reward replaced by 0 (its teacher still speaks)."""

    @dataclasses.dataclass(frozen=True)
    class Unrewarded(type(env)):
        def transition(self, timestep, action):
            return super().transition(timestep, action).replace(reward=jnp.float32(0.0))

    return Unrewarded(**{f.name: getattr(env, f.name) for f in dataclasses.fields(env)})


@pytest.mark.slow
def test_with_a_large_lambda_and_no_reward_the_policy_converges_to_the_teacher(radius=8, hidden=64):
    env, table = unrewarded(envs.make("SimpleDoorKey")), teacher_cache.load("SimpleDoorKey")
    config = TrainConfig(num_envs=64, num_steps=16, updates_per_chunk=40, seeds=SEEDS,
                         network=NetworkConfig(embed=8, hidden=hidden, egocentric_radius=radius),
                         ppo=PPOConfig(ent_coef=0.0),
                         distill=DistillConfig("custom", 10.0, 0.0, 10.0, 1e9))

    def kl_to_teacher(program, state):
        def one(config, params, observation):
            teacher = teacher_cache.prior(table, observation)
            logits, _ = program.learner.policy(config, params, observation)
            return (teacher * (jnp.log(teacher + 1e-9) - jax.nn.log_softmax(logits))).sum(-1).mean()

        # Jitted: run op by op, the search's operations compiled one at a time (30 s of this test).
        return np.asarray(jax.jit(jax.vmap(one))(program.members, state.params, state.timestep.observation))

    program, state, _ = trained(config, env, table, chunks=2)
    untrained = kl_to_teacher(program, program.init())
    after = kl_to_teacher(program, state)
    print(f"KL(teacher || student) per seed: untrained {untrained}, trained {after}")
    # Measured here: 0.05-0.11 of the untrained KL on every seed (and with radius 6, hidden 128); another CPU
    # model gave 0.22 for one seed (before the authors' explore). The bound leaves room for both.
    assert (untrained > 1.0).all() and (after < 0.4 * untrained).all()


@pytest.mark.slow
@pytest.mark.parametrize("task", envs.TASKS)
def test_one_chunk_trains_with_every_shipped_table_and_method(task):
    # Every method with the task's default table and the soft teacher with each other shipped table, as the
    # members of one program (the hard teacher reads a table as the soft one does); the authors' λ preset.
    others = [path for path in tables.shipped_paths(task) if path != tables.default_path(task)]
    methods = ("llm4teach", "llm4teach-hard", "ppo", *(f"llm4teach@{path}" for path in others))
    config = tiny(task=task, method="llm4teach", distill=DistillConfig("authors"), seeds=(0,),
                  sweep=Sweep(method=methods))
    program, state, metrics = trained(config)
    assert len(program.config.tables) == 1 + len(others)
    assert np.isfinite(metrics["loss"]).all() and (np.asarray(state.updates_done) == 2).all()
    taught = np.asarray([setting["method"] != "ppo" for _, setting in config.members])
    np.testing.assert_array_equal((np.asarray(metrics["distill_coefficient"]) > 0).all(axis=1), taught)
    assert (np.asarray(metrics["teacher_agreement"]) > 0).all()  # every member's actions compared with the teacher's
