"""The student: an actor-critic trained by PPO with the teacher's distillation term.

`config.py` (the options), `recipe.py` (the large-batch recipe), `phases.py` (updates, frames and chunks),
`network.py` and `kernels.py` (the actor-critic and its CPU forms), `loss.py`, `gae.py`, `ppo.py` (the
compiled program), `run.py` (the host loop), `run_folder.py`, `checkpoint.py`, `metrics.py`, `evaluation.py`,
`report.py`, `sharding.py` and `hosts.py` (devices and processes).
"""
