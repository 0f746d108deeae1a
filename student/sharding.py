"""Where the training program's arrays lie: data parallel over the environments, on every device.

One mesh axis, `envs`, over the devices a run uses (all of them, over every process of a
multi-host run, unless --devices says fewer). The environment batch (axis 1 of the
timestep's leaves, after the members' axis) and every minibatch are split along it;
parameters, optimizer state, keys and the members' configurations are replicated. The
program is the one-device program partitioned by XLA (GSPMD): the loss is a mean over the
global minibatch, so its gradient is averaged across devices; and with
`jax_threefry_partitionable` (JAX's default) random draws do not depend on how an array
is split. N devices compute what one device computes, to float rounding.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from student.config import ConfigError, TrainConfig

AXIS = "envs"


def describe(devices: list) -> str:
    """'4 x cpu (cpu)': the count and kind of a list of devices."""
    return f"{len(devices)} x {devices[0].platform} ({devices[0].device_kind})"


def mesh(config: TrainConfig) -> Mesh:
    """The devices the run uses as a one-axis mesh. Raises ConfigError, before anything compiles, if
    there are not that many or the environments or minibatches do not divide over them."""
    visible = jax.devices()
    count = config.devices or len(visible)
    if count > len(visible):
        raise ConfigError(
            f"--devices {count}: only {describe(visible)} visible; on a CPU, "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count} makes {count}"
        )
    if jax.process_count() > 1 and count != len(visible):
        raise ConfigError(f"--devices {count}: a run over {jax.process_count()} processes uses all of their "
                          f"{len(visible)} devices; leave --devices out")
    divisors = ", ".join(str(d) for d in range(1, count + 1) if count % d == 0 and config.num_envs % d == 0)
    if config.num_envs % count:
        raise ConfigError(f"--num-envs {config.num_envs} does not divide over {count} devices; pick a multiple of "
                          f"{count} environments or fewer devices (--devices {divisors})")
    if config.phases.minibatch_size() % count:
        minibatch = config.phases.minibatch_size()
        raise ConfigError(f"a minibatch of {minibatch} frames (num_envs * num_steps / num_minibatches) "
                          f"does not divide over {count} devices; change --ppo.num-minibatches or --devices")
    return Mesh(np.array(visible[:count]), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """A whole copy of the array on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def split(mesh: Mesh, axis: int) -> NamedSharding:
    """The array split along `axis` over the mesh's devices."""
    return NamedSharding(mesh, PartitionSpec(*(None,) * axis, AXIS))


def state_shardings(mesh: Mesh, state):
    """The shardings of a TrainState of stacked members (a state or its shape): the environments
    (timestep, [M, num_envs, ...]) split along axis 1; everything else replicated."""
    return state.replace(
        **{field: jax.tree.map(lambda _: replicated(mesh), getattr(state, field))
           for field in ("params", "opt_state", "key", "updates_done")},
        timestep=jax.tree.map(lambda _: split(mesh, 1), state.timestep),
    )


def split_batch(mesh: Mesh | None, tree, axis: int):
    """`tree`'s leaves constrained to lie split along `axis` (inside the program; no-op without a mesh):
    each device then computes its share of a minibatch's loss and gradient, and XLA sums them."""
    if mesh is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, split(mesh, axis))
