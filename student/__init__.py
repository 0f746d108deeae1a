"""The student: an actor-critic trained by PPO with the teacher's distillation term.

`config.py` (options), `network.py` (the actor-critic), `gae.py`, `ppo.py` (the compiled
learner), `run.py` (run folder, host loop, resume, evaluation), `checkpoint.py`, `report.py`.
"""
