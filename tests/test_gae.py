"""GAE against a plain-Python reference, across terminations and truncations."""

import numpy as np

from student.gae import advantages


def reference(rewards, values, next_values, terminated, done, gamma, lam):
    steps, envs = rewards.shape
    adv = np.zeros((steps, envs))
    for n in range(envs):
        following = 0.0
        for t in reversed(range(steps)):
            bootstrap = 0.0 if terminated[t, n] else next_values[t, n]
            delta = rewards[t, n] + gamma * bootstrap - values[t, n]
            following = delta + (0.0 if done[t, n] else gamma * lam * following)
            adv[t, n] = following
    return adv, adv + values


def test_gae_matches_the_reference_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    steps, envs = 32, 16
    rewards = rng.normal(size=(steps, envs)).astype(np.float32)
    values = rng.normal(size=(steps, envs)).astype(np.float32)
    next_values = rng.normal(size=(steps, envs)).astype(np.float32)
    terminated = rng.random((steps, envs)) < 0.1
    truncated = ~terminated & (rng.random((steps, envs)) < 0.1)
    done = terminated | truncated
    assert terminated.any() and truncated.any()
    got_adv, got_target = advantages(rewards, values, next_values, terminated.astype(np.float32),
                                     done.astype(np.float32), 0.97, 0.9)
    want_adv, want_target = reference(rewards, values, next_values, terminated, done, 0.97, 0.9)
    np.testing.assert_allclose(got_adv, want_adv, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_target, want_target, rtol=1e-4, atol=1e-5)


def test_truncation_bootstraps_and_termination_does_not():
    rewards = np.array([[1.0], [1.0]], np.float32)
    values = np.zeros((2, 1), np.float32)
    next_values = np.array([[5.0], [5.0]], np.float32)
    ended = np.array([[1.0], [1.0]], np.float32)
    truncated_adv, _ = advantages(rewards, values, next_values, np.zeros_like(ended), ended, 0.5, 1.0)
    terminated_adv, _ = advantages(rewards, values, next_values, ended, ended, 0.5, 1.0)
    np.testing.assert_allclose(truncated_adv[:, 0], [3.5, 3.5])
    np.testing.assert_allclose(terminated_adv[:, 0], [1.0, 1.0])
