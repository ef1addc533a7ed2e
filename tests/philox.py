"""The parameter initialisers of dt (randn, rand) in numpy, for tests that
rebuild a program's data without --in files.

Follows the contract in runtime/core/rt_core.h (implementation rt_rng.c):
element i of a tensor initialised with seed K is Philox4x32-10 of the counter
(i low, i high, 0, 0) under the key (K low, K high); randn is Box-Muller on
u1 = (w0 + 1) 2^-32 and u2 = (w1 + 1) 2^-32, i.e. mean + std *
sqrt(-2 log u1) cos(2 pi u2); rand is lo + (hi - lo) w0 2^-32; both are
computed in double and rounded once to the parameter's dtype.  The index is
the global row-major flat index, so the value does not depend on placement.
step_seed is rt_step_seed (per_step=true initialisers): the seed itself at
step 0, else words 0 and 1 of Philox of the counter (step low, step high,
"step", 0) under the seed.
"""
import numpy as np

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LO32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(index, seed, c2=0, c3=0):
    """The four 32-bit words for each flat index (uint64 array) under seed;
    the counter is (index low, index high, c2, c3)."""
    idx = np.asarray(index, dtype=np.uint64)
    c0, c1 = idx & _LO32, idx >> np.uint64(32)
    c2 = np.full_like(c0, c2)
    c3 = np.full_like(c0, c3)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
        p0, p1 = _M0 * c0, _M1 * c2          # 32 x 32 -> 64 bits, exact in uint64
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & _LO32,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & _LO32)
    return c0, c1, c2, c3


def randn(seed, shape, std=1.0, mean=0.0, dtype=np.float32):
    w0, w1, _, _ = philox4x32_10(np.arange(int(np.prod(shape, dtype=np.int64))), seed)
    u1 = (w0.astype(np.float64) + 1.0) * 2.0 ** -32
    u2 = (w1.astype(np.float64) + 1.0) * 2.0 ** -32
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return (mean + std * z).astype(dtype).reshape(shape)


def rand(seed, shape, lo=0.0, hi=1.0, dtype=np.float32):
    w0, _, _, _ = philox4x32_10(np.arange(int(np.prod(shape, dtype=np.int64))), seed)
    return (lo + (hi - lo) * (w0.astype(np.float64) * 2.0 ** -32)).astype(dtype).reshape(shape)


def step_seed(seed, step):
    """rt_step_seed: the seed of a per_step initialiser at step `step`."""
    if step == 0:
        return seed
    w0, w1, _, _ = philox4x32_10(np.array([step], dtype=np.uint64), seed, 0x73746570, 0)
    return int(w0[0]) | int(w1[0]) << 32
