"""Faster forms of a few operations for XLA's CPU backend, behind one switch (`Kernels`).

Each is the same function as the plain form it replaces (the same values, up to the order of float sums),
written so that XLA's CPU backend runs it faster; on other backends the plain forms are used. Measured on
this project's 2-core CPUs (docs/performance.md):
- the one-hot embedding as a table lookup, with its gradient as one scatter-add in canonical form;
- a kernel's gradient xᵀ·g over two halves of the rows (hidden layers), or as products summed over the
  rows (the narrow heads): XLA's CPU dot runs these shapes at a fraction of its peak;
- the action drawn by inverting the cumulative distribution at one uniform number per row, not by adding
  Gumbel noise to every logit (a seventh of the random bits, which are most of the draw's cost);
- each epoch's shuffle as a keyed bijection of the indices, not `argsort` of random keys (XLA's CPU sort
  takes 3-4% of an update).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Kernels:
    """Which forms to use. `cpu`: the CPU forms; `halves`: the hidden layers' kernel gradients in halves (on one
    device only: halving a batch split over several would move it between them)."""

    cpu: bool = False
    halves: bool = False

    @classmethod
    def for_devices(cls, device_count: int) -> "Kernels":
        """The forms for this backend and a program over `device_count` devices."""
        cpu = jax.default_backend() == "cpu"
        return cls(cpu=cpu, halves=cpu and device_count == 1)

    def draw(self, key: jax.Array, logits: jax.Array) -> jax.Array:
        """int32[...]: an action drawn from softmax(logits [..., A])."""
        if not self.cpu:
            return jax.random.categorical(key, logits).astype(jnp.int32)
        return inverse_cdf_draw(key, logits)

    def permutation(self, key: jax.Array, n: int) -> jax.Array:
        """int32[n]: a pseudo-random permutation of range(n)."""
        if not self.cpu:
            return jax.random.permutation(key, n).astype(jnp.int32)
        return bijective_permutation(key, n)

    def embedding(self, kernel: jax.Array, codes: jax.Array, categories: tuple[int, ...]) -> jax.Array:
        """float32[..., features]: for each cell code, the sum of the kernel's rows [Σ categories, features] of
        its channels' values (the one-hot vectors of the channels times the kernel)."""
        strides = np.cumprod((1,) + categories[:-1])
        if self.cpu:
            offsets = np.cumsum((0,) + categories[:-1])
            code = np.arange(int(np.prod(categories)))
            rows = np.stack([(code // s) % n + o for s, n, o in zip(strides, categories, offsets)], -1)
            return _rows(kernel[rows].sum(-2), codes)
        one_hots = [jax.nn.one_hot((codes // s) % n, n, dtype=kernel.dtype) for s, n in zip(strides, categories)]
        return jnp.concatenate(one_hots, -1) @ kernel

    def product(self, x: jax.Array, kernel: jax.Array, narrow: bool) -> jax.Array:
        """x [rows, inputs] @ kernel [inputs, outputs] (a dense layer's; `narrow`: a head of a few outputs)."""
        if self.cpu and narrow:
            return _product("summed", x, kernel)
        if self.halves and not narrow and x.shape[0] % 2 == 0:
            return _product("halves", x, kernel)
        return x @ kernel


def inverse_cdf_draw(key: jax.Array, logits: jax.Array) -> jax.Array:
    """int32[...]: an action drawn from softmax(logits [..., A]) by inverting the cumulative distribution at one
    uniform number per row (an action of probability 0 is never drawn)."""
    cumulative = jnp.cumsum(jnp.exp(logits - logits.max(-1, keepdims=True)), axis=-1)
    total = cumulative[..., -1:]
    u = jnp.minimum(jax.random.uniform(key, total.shape) * total, jnp.nextafter(total, 0.0))
    return (cumulative[..., :-1] <= u).sum(-1, dtype=jnp.int32)


SHUFFLE_ROUNDS = 6


def bijective_permutation(key: jax.Array, n: int) -> jax.Array:
    """int32[n]: a pseudo-random permutation of range(n) drawn with `key` (n static), without a sort: rounds of
    adding a random word, multiplying by a random odd word and an xor-shift, each invertible modulo 2^k
    (2^k ≥ n), so that their composition is a permutation of the k-bit integers; indices it maps to n or above
    are mapped again until they land below n (cycle walking). Not uniform over all n! permutations, but which
    frames share a minibatch is as random as under a uniform shuffle (tests/test_kernels.py)."""
    bits = max(1, (n - 1).bit_length())
    mask = jnp.uint32((1 << bits) - 1)
    shifts = (max(1, bits // 2), max(1, bits // 3 + 1))  # alternating, so that high bits reach the low ones
    add, multiply = jax.random.bits(key, (2, SHUFFLE_ROUNDS), jnp.uint32)
    add, multiply = add & mask, (multiply | 1) & mask

    def mix(x):
        for r in range(SHUFFLE_ROUNDS):
            x = ((x + add[r]) * multiply[r]) & mask
            x = x ^ (x >> shifts[r % 2])
        return x

    x = mix(jnp.arange(n, dtype=jnp.uint32))
    if n < 1 << bits:
        x = jax.lax.while_loop(lambda x: (x >= n).any(), lambda x: jnp.where(x >= n, mix(x), x), x)
    return x.astype(jnp.int32)


@jax.custom_vjp
def _rows(table: jax.Array, cells: jax.Array) -> jax.Array:
    """float32[..., features]: the rows of `table` [codes, features] at `cells` (codes in range)."""
    return jnp.take(table, cells, axis=0, mode="clip")


def _rows_forward(table, cells):
    return _rows(table, cells), (cells, table.shape[0])


def _rows_backward(saved, grad):
    """The table's gradient: each cell's row of `grad` added into the row of its code, with the updates in the
    scatter's canonical form [cells, 1, features]. Written `.at[].add`, XLA reaches that form through a copy
    of the whole gradient (4-5% of an update of the reference configuration on a CPU)."""
    cells, codes = saved
    features = grad.shape[-1]
    numbers = jax.lax.ScatterDimensionNumbers(update_window_dims=(1, 2), inserted_window_dims=(),
                                              scatter_dims_to_operand_dims=(0,))
    table = jax.lax.scatter_add(jnp.zeros((codes, features), grad.dtype), cells.reshape(-1, 1),
                                grad.reshape(-1, 1, features), numbers,
                                mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
    return table, None


_rows.defvjp(_rows_forward, _rows_backward)


def _kernel_gradient_in_halves(x: jax.Array, grad: jax.Array) -> jax.Array:
    """xᵀ·grad as two products over the halves of the rows, summed: one product contracting 4,096 rows into a
    324 x 64 kernel ran at 120 GFLOP/s, two at 190."""
    halves = lambda a: a.reshape((2, a.shape[0] // 2) + a.shape[1:])  # noqa: E731
    return jnp.einsum("hri,hro->hio", halves(x), halves(grad)).sum(0)


def _kernel_gradient_summed(x: jax.Array, grad: jax.Array) -> jax.Array:
    """xᵀ·grad for a narrow kernel, as products summed over the rows laid out [rows, outputs, inputs]: for the
    heads' 64 x 7 and 64 x 1 kernels, 0.07 and 0.02 ms against the product's 0.20 and 0.14."""
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
