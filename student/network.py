"""The student: an actor-critic over embedded cell codes, dense layers only.

Inputs are prepared once per observation (`inputs`): each cell's channels are folded
into one category id and, for our memory maps, the grid is seen from the agent:
re-centred on it and turned to its heading, so that "the key is two cells ahead" reads
the same wherever the agent stands (measured: the student then imitates the teacher
within ~40k frames instead of not at all by 250k). The network embeds each id, flattens
and applies dense layers with separate actor and critic heads. Dense layers, not
convolutions: XLA's CPU backend runs a convolution's gradient inside `lax.scan` an
order of magnitude slower than a dense layer's (jax-ml/jax issue #12868).
"""

import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from envs import codes, view


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
    """float32[..., cells, features] of cell codes: each channel's value has a learned vector, a
    cell's features are their sum (a linear map of the channels' one-hot vectors, kernel
    [Σ categories, features]). Computed one of two ways, the same function of the same
    parameters: `lookup=False`, one-hot vectors times the kernel (matrix products, fastest on
    an accelerator); `lookup=True`, the kernel summed once into a table with a row per cell code
    and that table gathered (XLA's CPU backend runs the one-hot product 3-4x slower)."""

    categories: tuple[int, ...]
    features: int
    lookup: bool = False

    @nn.compact
    def __call__(self, cells: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (sum(self.categories), self.features))
        strides = np.cumprod((1,) + self.categories[:-1])
        offsets = np.cumsum((0,) + self.categories[:-1])
        if self.lookup:
            code = np.arange(int(np.prod(self.categories)))
            rows = np.stack([(code // s) % n + o for s, n, o in zip(strides, self.categories, offsets)], -1)
            return _rows(kernel[rows].sum(-2), cells)
        one_hots = [jax.nn.one_hot((cells // s) % n, n, dtype=kernel.dtype) for s, n in zip(strides, self.categories)]
        return jnp.concatenate(one_hots, -1) @ kernel


@jax.custom_vjp
def _rows(table: jax.Array, cells: jax.Array) -> jax.Array:
    """float32[..., features]: the rows of `table` [codes, features] at `cells` (codes in range: no fill, no
    select); its gradient is `_rows_backward`'s."""
    return jnp.take(table, cells, axis=0, mode="clip")


def _rows_forward(table, cells):
    return _rows(table, cells), (cells, table.shape[0])


def _rows_backward(saved, grad):
    """The table's gradient: each cell's row of `grad` added into the row of its code, as autodiff has it
    but with the updates given in the scatter's canonical form, [cells, 1, features]. Written `.at[].add`,
    XLA reaches that form through a copy of the whole gradient (a change between two layouts of a size-1
    axis that it does not see through): 4-5% of an update of the reference configuration on a CPU."""
    cells, codes_ = saved
    features = grad.shape[-1]
    numbers = jax.lax.ScatterDimensionNumbers(update_window_dims=(1, 2), inserted_window_dims=(),
                                              scatter_dims_to_operand_dims=(0,))
    table = jax.lax.scatter_add(jnp.zeros((codes_, features), grad.dtype), cells.reshape(-1, 1),
                                grad.reshape(-1, 1, features), numbers,
                                mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
    return table, None


_rows.defvjp(_rows_forward, _rows_backward)


def _kernel_gradient_in_halves(x: jax.Array, grad: jax.Array) -> jax.Array:
    """xᵀ·grad as two products over the halves of the rows, summed. XLA's CPU backend runs one product
    contracting 4,096 rows into the first layer's 324 x 64 kernel at 120 GFLOP/s, two at 190; into a
    64 x 64 kernel, 0.29 ms and 0.25 (measured on this project's 2-core CPU)."""
    halves = lambda a: a.reshape((2, a.shape[0] // 2) + a.shape[1:])
    return jnp.einsum("hri,hro->hio", halves(x), halves(grad)).sum(0)


def _kernel_gradient_summed(x: jax.Array, grad: jax.Array) -> jax.Array:
    """xᵀ·grad for a narrow kernel, as products summed over the rows laid out [rows, outputs, inputs]:
    XLA's CPU backend runs the product for the heads' 64 x 7 and 64 x 1 kernels (4,096 rows) in 0.20 and
    0.14 ms, at a few GFLOP/s; summed, 0.07 and 0.02 (measured on this project's 2-core CPU)."""
    return (grad[:, :, None] * x[:, None, :]).sum(0).T


KERNEL_GRADIENTS = {"halves": _kernel_gradient_in_halves, "summed": _kernel_gradient_summed}


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _product(kernel_gradient: str, x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x @ kernel, with the kernel's gradient computed by `KERNEL_GRADIENTS[kernel_gradient]`."""
    return x @ kernel


def _product_forward(kernel_gradient, x, kernel):
    return x @ kernel, (x, kernel)


def _product_backward(kernel_gradient, saved, grad):
    x, kernel = saved
    return grad @ kernel.T, KERNEL_GRADIENTS[kernel_gradient](x, grad)


_product.defvjp(_product_forward, _product_backward)


class Dense(nn.Module):
    """nn.Dense (the same parameters, initialised alike) whose kernel gradient may be computed in a form
    XLA's CPU backend runs faster than autodiff's product: `kernel_gradient` "halves" (over two halves of
    the batch, if its row count is even) or "summed" (for narrow kernels); "autodiff" is nn.Dense's."""

    features: int
    kernel_gradient: str = "autodiff"
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if self.kernel_gradient != "autodiff" and self.kernel_gradient not in KERNEL_GRADIENTS:
            raise ValueError(f"kernel_gradient must be 'autodiff' or one of {sorted(KERNEL_GRADIENTS)}, "
                             f"got {self.kernel_gradient!r}")
        rows = x.reshape(-1, x.shape[-1])
        plain = self.kernel_gradient == "autodiff" or (self.kernel_gradient == "halves" and rows.shape[0] % 2 == 1)
        product = jnp.matmul(rows, kernel) if plain else _product(self.kernel_gradient, rows, kernel)
        return (product + bias).reshape(x.shape[:-1] + (self.features,))


class ActorCritic(nn.Module):
    """(action logits float32[..., num_actions], value float32[...]) of `inputs(...)` int32[..., cells]."""

    num_actions: int
    categories: tuple[int, ...]  # categories per observation channel, folded into each cell's code
    embed: int
    hidden: int
    encoding: str = "onehot"
    lookup: bool = False  # the one-hot encoding computed as a table lookup (see ChannelEmbedding)
    halves: bool = False  # the hidden layers' kernel gradients taken over two halves of the batch (Dense)
    summed_heads: bool = False  # the heads' kernel gradients as products summed over the batch (Dense)

    @nn.compact
    def __call__(self, cells: jax.Array) -> tuple[jax.Array, jax.Array]:
        if self.encoding == "embed":  # one learned vector per combination of the channels' values
            embedded = nn.Embed(int(np.prod(self.categories)), self.embed, name="cell_embedding")(cells)
        else:  # "onehot": one learned vector per channel value, summed
            embedded = ChannelEmbedding(self.categories, self.embed, self.lookup, name="cell_embedding")(cells)
        features = embedded.reshape(cells.shape[:-1] + (-1,))
        hidden = "halves" if self.halves else "autodiff"
        head = "summed" if self.summed_heads else "autodiff"
        torso = nn.relu(Dense(self.hidden, hidden, name="torso")(features))
        actor = nn.relu(Dense(self.hidden, hidden, name="actor_hidden")(torso))
        critic = nn.relu(Dense(self.hidden, hidden, name="critic_hidden")(torso))
        logits = Dense(self.num_actions, head, nn.initializers.orthogonal(0.01), name="actor_out")(actor)
        value = Dense(1, head, nn.initializers.orthogonal(1.0), name="critic_out")(critic)
        return logits, value[..., 0]
