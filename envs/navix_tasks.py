"""navix's registered MiniGrid tasks behind the same interface as ours.

navix's own autoreset (on the step *after* a terminal one) is switched off; episode
statistics and the reset within the ending step come from `envs.environment.Environment`.
"""

import dataclasses

import jax
import navix
from navix import Timestep

from envs.environment import Environment

# navix's categorical codes leave their declared range; each channel is clipped into this many.
NAVIX_CATEGORIES = 16


@dataclasses.dataclass(frozen=True)
class NavixTask(Environment):
    """A navix registry task (`Navix-DoorKey-8x8-v0`, ...) with navix's observations."""

    name: str
    env: navix.Environment
    memory_map = False

    @classmethod
    def make(cls, name: str, autoreset: bool = True, **overrides) -> "NavixTask":
        return cls(name, navix.make(name, disable_autoreset=True, **overrides), autoreset=autoreset)

    @property
    def max_steps(self) -> int:
        return self.env.max_steps

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.env.observation_space.shape)

    @property
    def observation_categories(self) -> tuple[int, ...]:
        channels = self.observation_shape[-1] if len(self.observation_shape) == 3 else 1
        return (NAVIX_CATEGORIES,) * channels

    @property
    def num_actions(self) -> int:
        return len(self.env.action_set)

    def begin(self, key: jax.Array, previous: Timestep | None = None) -> Timestep:
        """navix's reset (reusing the rendering cache of the timestep being reset, if any)."""
        return self.env.reset(key, None if previous is None else previous.state.cache)

    def transition(self, timestep: Timestep, action: jax.Array) -> Timestep:
        """navix's step; success is a termination with a positive reward."""
        stepped = self.env.step(timestep.replace(info={"return": timestep.info["return"]}), action)
        return stepped.replace(info={"success": stepped.is_termination() & (stepped.reward > 0)})
