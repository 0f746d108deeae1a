"""The project's main entry point.

Training the student (PPO with the LLM teacher's distillation term) is not built yet;
until it is, this runs the environment demo (`python -m envs.demo`), with the same options.
"""

from envs.demo import main

if __name__ == "__main__":
    main()
