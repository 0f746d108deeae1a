"""The student: an actor-critic over embedded cell codes, dense layers only.

Inputs are prepared once per observation (`inputs`): each cell's channels are folded
into one category id and, for our memory maps, the grid is seen from the agent:
re-centred on it and turned to its heading, so that "the key is two cells ahead" reads
the same wherever the agent stands (measured: the student then imitates the teacher
within ~40k frames instead of not at all by 250k). The network embeds each id, flattens
and applies dense layers with separate actor and critic heads. Dense layers, not
convolutions: XLA's CPU backend runs a convolution's gradient inside `lax.scan` an
order of magnitude slower than a dense layer's (jax-ml/jax issue #12868). On a CPU the
embedding and the layers' gradients take faster forms of the same functions (`student.kernels`).
"""

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from envs import codes, view
from student.kernels import Kernels


def cell_codes(observation: jax.Array, categories: Sequence[int]) -> jax.Array:
    """int32[N, cells]: each cell's channels folded into one category id (channels clipped to range)."""
    if observation.shape[-1] != len(categories) or observation.ndim < 4:
        observation = observation[..., None]  # a grid without a channel axis
    values = observation.reshape(observation.shape[0], -1, len(categories)).astype(jnp.int32)
    code, stride = jnp.zeros(values.shape[:-1], jnp.int32), 1
    for i, n in enumerate(categories):
        code = code + stride * jnp.clip(values[..., i], 0, n - 1)
        stride *= n
    return code


@functools.lru_cache(maxsize=None)
def _egocentric_sources(height: int, width: int, radius: int) -> np.ndarray:
    """int32[H * W, 4, (2r+1)^2]: for an agent at each cell facing each way, the cell each view position
    shows (row 0 furthest ahead, then left to right), or H * W where that is off the grid."""
    offsets = np.arange(-radius, radius + 1)
    ahead, side = -offsets[:, None], offsets[None, :]
    cells = np.arange(height * width)
    x, y = (cells % width)[:, None, None, None], (cells // width)[:, None, None, None]
    forward, right = (v[None, :, None, None] for v in view.heading(np.arange(4)))
    x = x + ahead * forward[..., 0] + side * right[..., 0]
    y = y + ahead * forward[..., 1] + side * right[..., 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return np.where(inside, y * width + x, height * width).reshape(height * width, 4, -1).astype(np.int32)


def egocentric(observation: jax.Array, codes_: jax.Array, radius: int) -> jax.Array:
    """int32[N, (2r+1)^2]: cell codes of memory maps [N, H, W, 4] seen from the agent, turned so
    that it faces up (row 0 furthest ahead); cells off the grid read 0 (unseen). Which cell each view
    position shows is looked up, for the agent's cell and heading, in a table made once (computing it
    per cell took 1.35x as long on a CPU)."""
    height, width = observation.shape[1:3]
    direction_map = observation[..., 3].reshape(observation.shape[0], -1)
    agent = jnp.argmax(direction_map != codes.NO_DIRECTION, axis=-1)
    direction = jnp.take_along_axis(direction_map, agent[:, None], axis=1)[:, 0].astype(jnp.int32)
    sources = jnp.asarray(_egocentric_sources(height, width, radius))[agent, direction]
    off_grid = jnp.zeros(codes_.shape[:1] + (1,), codes_.dtype)
    return jnp.take_along_axis(jnp.concatenate([codes_, off_grid], axis=1), sources, axis=1)


def inputs(observation: jax.Array, observation_shape: tuple[int, ...], categories: Sequence[int],
           egocentric_radius: int) -> jax.Array:
    """int32[..., cells]: what the network reads from observations [..., *observation_shape] whose
    channels have `categories` (see the module doc); egocentric (radius > 0) for memory maps only."""
    batch_shape = observation.shape[: observation.ndim - len(observation_shape)]
    flat = observation.reshape((-1,) + tuple(observation_shape))
    codes_ = cell_codes(flat, categories)
    if egocentric_radius:
        # Left to itself XLA fuses the codes into the egocentric gather and recomputes them per gathered
        # cell (twice the cost on a CPU); the barrier makes it compute them once.
        codes_ = egocentric(flat, jax.lax.optimization_barrier(codes_), egocentric_radius)
    # And the same downstream: fused into the embedding's lookup, the egocentric gather and its index
    # arithmetic ran once per feature of every cell (a rollout step 5% slower on a CPU).
    return jax.lax.optimization_barrier(codes_).reshape(batch_shape + codes_.shape[1:])


class ChannelEmbedding(nn.Module):
    """float32[..., cells, features] of cell codes: each channel's value has a learned vector, a cell's features
    are their sum (a linear map of the channels' one-hot vectors, kernel [Σ categories, features])."""

    categories: tuple[int, ...]
    features: int
    kernels: Kernels = Kernels()

    @nn.compact
    def __call__(self, cells: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (sum(self.categories), self.features))
        return self.kernels.embedding(kernel, cells, self.categories)


class Dense(nn.Module):
    """nn.Dense (the same parameters, initialised alike), its product taken by `kernels` (`narrow`: a head)."""

    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()
    narrow: bool = False
    kernels: Kernels = Kernels()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        product = self.kernels.product(x.reshape(-1, x.shape[-1]), kernel, self.narrow)
        return (product + bias).reshape(x.shape[:-1] + (self.features,))


class ActorCritic(nn.Module):
    """(action logits float32[..., num_actions], value float32[...]) of `inputs(...)` int32[..., cells]."""

    num_actions: int
    categories: tuple[int, ...]  # categories per observation channel, folded into each cell's code
    embed: int
    hidden: int
    encoding: str = "onehot"
    kernels: Kernels = Kernels()

    @nn.compact
    def __call__(self, cells: jax.Array) -> tuple[jax.Array, jax.Array]:
        if self.encoding == "embed":  # one learned vector per combination of the channels' values
            embedded = nn.Embed(int(np.prod(self.categories)), self.embed, name="cell_embedding")(cells)
        else:  # "onehot": one learned vector per channel value, summed
            embedded = ChannelEmbedding(self.categories, self.embed, self.kernels, name="cell_embedding")(cells)
        features = embedded.reshape(cells.shape[:-1] + (-1,))
        dense = functools.partial(Dense, kernels=self.kernels)
        torso = nn.relu(dense(self.hidden, name="torso")(features))
        actor = nn.relu(dense(self.hidden, name="actor_hidden")(torso))
        critic = nn.relu(dense(self.hidden, name="critic_hidden")(torso))
        logits = dense(self.num_actions, nn.initializers.orthogonal(0.01), narrow=True, name="actor_out")(actor)
        value = dense(1, nn.initializers.orthogonal(1.0), narrow=True, name="critic_out")(critic)
        return logits, value[..., 0]
