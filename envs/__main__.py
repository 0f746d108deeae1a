"""Lists every task `envs.make` knows: `python -m envs`."""

import envs

if __name__ == "__main__":
    print("\n".join(envs.task_ids()))
