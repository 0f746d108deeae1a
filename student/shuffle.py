"""The epochs' shuffle: a pseudo-random permutation of the batch, without a sort.

PPO draws a new order of the rollout's frames for each epoch and cuts it into minibatches.
The usual way, `argsort` of random keys, is a sort, and XLA's CPU sort takes about 1 ms for
16,384 keys: 3-4% of an update of the reference configuration (measured on this project's
2-core CPU). `permutation` is instead a keyed bijection of the k-bit integers (2^k ≥ n):
rounds of adding a random word, multiplying by a random odd word and an xor-shift, each
invertible modulo 2^k, so that their composition is a permutation. Indices it maps to n or
above are mapped again until they land below n (cycle walking), which keeps it a permutation
of range(n). Elementwise integer arithmetic: 0.03 ms for 16,384 frames.

Its permutations are not uniform over all n! of them (a few hundred random bits choose one),
but which frames share a minibatch is as random as under a uniform shuffle, for frames any
power-of-two apart (neighbouring environments, one environment's consecutive steps; see
tests/test_shuffle.py).
"""

import jax
import jax.numpy as jnp

ROUNDS = 6


def permutation(key: jax.Array, n: int) -> jax.Array:
    """int32[n]: a pseudo-random permutation of range(n) drawn with `key` (n static)."""
    bits = max(1, (n - 1).bit_length())
    mask = jnp.uint32((1 << bits) - 1)
    shifts = (max(1, bits // 2), max(1, bits // 3 + 1))  # alternating, so that high bits reach the low ones
    add, multiply = jax.random.bits(key, (2, ROUNDS), jnp.uint32)
    add, multiply = add & mask, (multiply | 1) & mask

    def mix(x):
        for r in range(ROUNDS):
            x = ((x + add[r]) * multiply[r]) & mask
            x = x ^ (x >> shifts[r % 2])
        return x

    x = mix(jnp.arange(n, dtype=jnp.uint32))
    if n < 1 << bits:
        x = jax.lax.while_loop(lambda x: (x >= n).any(), lambda x: jnp.where(x >= n, mix(x), x), x)
    return x.astype(jnp.int32)
