"""The tasks, as pure JAX environments: `make(name)`, `from_layout`, `layout_of`, `render`.

Our three LLM4Teach tasks ("SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey") observe a
uint8[10, 10, 4] memory map; any navix registry id ("Navix-DoorKey-8x8-v0", ...) works
too, with navix's own observation or (`observation="memory_map"`) the same memory map on
its own grid, seen through MiniGrid's default 7x7 view. All share one interface:
`reset(key) -> Timestep`, `step(timestep, action) -> Timestep` (and `step_batch`, the same
over a batch, drawing new episodes only for the environments that end), automatic reset
within the ending step (`envs.environment`), and the observation's categories per channel.
"""

import dataclasses

import jax
import jax.numpy as jnp
import navix
import numpy as np
from navix import StepType, Timestep

from envs import codes
from envs.doorkey import DoorKeyEnv, DoorKeyState
from envs.environment import Environment, reset_budget
from envs.layouts import TASK_SPECS, TaskSpec, layout_from_world
from envs.navix_memory_map import NavixMemoryMap
from envs.navix_tasks import NavixTask
from envs.render import render_world

TASKS = tuple(TASK_SPECS)
OBSERVATIONS = ("navix", "memory_map")

__all__ = [
    "OBSERVATIONS",
    "TASKS",
    "DoorKeyEnv",
    "DoorKeyState",
    "Environment",
    "NavixMemoryMap",
    "NavixTask",
    "StepType",
    "TaskSpec",
    "Timestep",
    "codes",
    "from_layout",
    "layout_of",
    "make",
    "render",
    "reset_budget",
]


def make(name: str, **overrides) -> Environment:
    """An environment by name: one of `TASKS` or a navix registry id.

    Overrides: `autoreset` for every task; for ours also the `TaskSpec` fields
    (`max_steps`, `min_room`, `max_room`, ...); for navix ids, anything `navix.make` takes, and
    `observation`: "navix" (navix's own, the default) or "memory_map" (ours, `envs.navix_memory_map`).
    """
    observation = overrides.pop("observation", None)
    if observation not in (None, *OBSERVATIONS):
        raise ValueError(f"unknown observation {observation!r}: use one of {', '.join(OBSERVATIONS)}")
    if name in TASK_SPECS:
        if observation not in (None, "memory_map"):
            raise ValueError(f"{name} is observed through a memory map only, not {observation!r}")
        autoreset = overrides.pop("autoreset", True)
        fields = {f.name for f in dataclasses.fields(TaskSpec)} - {"name"}
        unknown = set(overrides) - fields
        if unknown:
            settings = sorted(fields | {"autoreset", "observation"})
            raise ValueError(f"{name} has no setting {sorted(unknown)}; settings: {settings}")
        return DoorKeyEnv(dataclasses.replace(TASK_SPECS[name], **overrides), autoreset=autoreset)
    if name in navix.registry():
        try:
            return (NavixMemoryMap if observation == "memory_map" else NavixTask).make(name, **overrides)
        except TypeError as error:  # navix's environments take their settings as keyword arguments
            raise ValueError(f"{name} refused the settings {sorted(overrides)}: {error}") from None
    raise ValueError(
        f"unknown task {name!r}: use one of {', '.join(TASKS)} or a navix id such as 'Navix-DoorKey-8x8-v0' "
        f"(`python -m envs` lists every id)"
    )


def task_ids() -> list[str]:
    """Every task `make` knows: ours, then navix's registered ids."""
    return [*TASKS, *sorted(navix.registry())]


def _doorkey(name: str) -> DoorKeyEnv:
    env = make(name)
    if not isinstance(env, DoorKeyEnv):
        raise ValueError(f"explicit layouts exist for {', '.join(TASKS)} only, not {name!r}")
    return env


def from_layout(name: str, layout: dict, key: jax.Array | None = None) -> Timestep:
    """The first timestep of an episode of task `name` in an explicit layout (see `envs.layouts`)."""
    return _doorkey(name).from_layout(layout, key)


def layout_of(timestep: Timestep) -> dict:
    """The current world of one of our tasks' (unbatched) timestep as an explicit layout."""
    state = jax.device_get(timestep.state)
    if not isinstance(state, DoorKeyState):
        raise ValueError("layout_of describes our tasks' states only, not navix's")
    if np.ndim(state.agent_dir) != 0:
        raise ValueError("layout_of takes one environment's timestep; index the batch first")
    return layout_from_world(state.grid, state.agent_pos, int(state.agent_dir), state.carrying)


def render(timestep: Timestep) -> np.ndarray:
    """uint8[H, W, 3] picture of one (unbatched) timestep of any task, its arrays on a device or the host."""
    state = jax.device_get(timestep.state)
    if isinstance(state, DoorKeyState):
        return render_world(state.grid, state.agent_pos, state.agent_dir, state.carrying, state.seen)
    return np.asarray(navix.observations.rgb(jax.tree.map(jnp.asarray, timestep.state)))
