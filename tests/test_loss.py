"""The loss and the λ schedule, with and without jit."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from student.config import DistillConfig, PPOConfig
from student.loss import Batch, distill_coefficient, ppo_loss


class TestSchedule(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_distillation_schedule_in_frames(self):
        at = self.variant(lambda distill, frames: distill_coefficient(distill, frames))
        custom = DistillConfig("custom", start=10.0, decay_per_frame=0.01, floor=0.1, stop_frame=2000.0)
        assert float(at(custom, 0)) == pytest.approx(10.0) and float(at(custom, 500)) == pytest.approx(5.0)
        assert float(at(custom, 1999)) == pytest.approx(0.1) and float(at(custom, 2000)) == 0.0
        authors = DistillConfig("authors")
        assert float(at(authors, 0)) == pytest.approx(10.0)
        assert float(at(authors, 1500 * 1000)) == pytest.approx(5.0)  # 1000 iterations of 1,500 frames
        assert float(at(authors, 1500 * 3000)) == 0.0
        assert float(at(DistillConfig(), 400_000)) == 0.0 and float(at(DistillConfig(), 0)) == pytest.approx(10.0)


def batch(teacher, advantage=(1.0, -1.0), old_log_prob=None):
    n = len(advantage)
    return Batch(
        cells=jnp.zeros((n, 1), jnp.int16),
        action=jnp.zeros(n, jnp.int32),
        log_prob=jnp.log(jnp.full(n, 0.5)) if old_log_prob is None else jnp.asarray(old_log_prob),
        value=jnp.zeros(n),
        advantage=jnp.asarray(advantage),
        target=jnp.ones(n),
        teacher=jnp.asarray(teacher, jnp.float32),
    )


class TestLoss(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_the_distillation_term_is_the_cross_entropy_from_the_teacher(self):
        loss = self.variant(ppo_loss)
        logits = jnp.log(jnp.array([[0.5, 0.5], [0.5, 0.5]]))
        teacher = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        without, metrics = loss(logits, jnp.ones(2), batch(teacher), PPOConfig(ent_coef=0.01), 0.0)
        with_term, _ = loss(logits, jnp.ones(2), batch(teacher), PPOConfig(ent_coef=0.01), 2.0)
        np.testing.assert_allclose(metrics["distill_loss"], np.log(2.0), rtol=1e-6)
        np.testing.assert_allclose(with_term - without, 2.0 * np.log(2.0), rtol=1e-5)
        np.testing.assert_allclose(metrics["entropy"], np.log(2.0), rtol=1e-6)
        assert float(metrics["clip_fraction"]) == 0.0 and float(metrics["approx_kl"]) == pytest.approx(0.0, abs=1e-7)

    @chex.variants(with_jit=True, without_jit=True)
    def test_clip_fraction_counts_ratios_outside_the_clip(self):
        loss = self.variant(ppo_loss)
        logits = jnp.log(jnp.array([[0.5, 0.5]] * 4))
        old = np.log([0.5, 0.3, 0.45, 0.8])  # ratios 1.0, 1.67, 1.11, 0.625
        _, metrics = loss(logits, jnp.zeros(4), batch(jnp.zeros((4, 2)), (1.0, -1.0, 1.0, -1.0), old),
                          PPOConfig(clip_eps=0.2, ent_coef=0.01), 0.0)
        assert float(metrics["clip_fraction"]) == pytest.approx(0.5)

    def test_the_gradient_of_the_distillation_term_pulls_towards_the_teacher(self):
        teacher = jnp.array([[0.9, 0.1]])

        def distill_only(logits):
            return ppo_loss(logits, jnp.zeros(1), batch(teacher, (0.0,)), PPOConfig(vf_coef=0.0, ent_coef=0.0), 1.0)[0]

        gradient = jax.grad(distill_only)(jnp.zeros((1, 2)))
        np.testing.assert_allclose(gradient, jax.nn.softmax(jnp.zeros((1, 2))) - teacher, atol=1e-6)
