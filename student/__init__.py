"""The student: a flax actor-critic trained by PPO with the teacher's distillation term (not built yet)."""
