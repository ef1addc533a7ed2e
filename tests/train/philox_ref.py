"""philox_ref.py - the initialisers' generator written again in NumPy from
its definition (runtime/core/rt_core.h: Philox4x32-10 with key = the seed's
two 32-bit halves and counter = (index low, index high, 0, 0); randn by
Box-Muller on (w0 + 1) / 2^32 and (w1 + 1) / 2^32; rand: lo + (hi - lo) *
w0 / 2^32; rt_step_seed: the seed at step 0, else words 0 and 1 of Philox of
counter (step low, step high, "step", 0) under the seed), so tests can make
a program's per-step data without asking the program.
"""
import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def philox(key, ctr):
    """Philox4x32-10 of counter words ctr (4 uint64 arrays < 2^32) under key (2 ints)."""
    c = [np.asarray(x, dtype=np.uint64) for x in ctr]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & M32
            k1 = (k1 + np.uint64(0xBB67AE85)) & M32
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & M32, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & M32]
    return c


def step_seed(seed, step):
    if step == 0:
        return seed
    w = philox((seed & 0xFFFFFFFF, seed >> 32), [step & 0xFFFFFFFF, step >> 32, 0x73746570, 0])
    return int(w[0]) | int(w[1]) << 32


def randn(seed, shape, std=1.0, mean=0.0):
    n = int(np.prod(shape))
    idx = np.arange(n, dtype=np.uint64)
    w = philox((seed & 0xFFFFFFFF, seed >> 32), [idx & M32, idx >> np.uint64(32), np.zeros(n, np.uint64), np.zeros(n, np.uint64)])
    u1 = (w[0].astype(np.float64) + 1.0) / 2.0 ** 32
    u2 = (w[1].astype(np.float64) + 1.0) / 2.0 ** 32
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return (mean + std * z).astype(np.float32).reshape(shape)


def rand(seed, shape, lo=0.0, hi=1.0):
    n = int(np.prod(shape))
    idx = np.arange(n, dtype=np.uint64)
    w = philox((seed & 0xFFFFFFFF, seed >> 32), [idx & M32, idx >> np.uint64(32), np.zeros(n, np.uint64), np.zeros(n, np.uint64)])
    return (lo + (hi - lo) * (w[0].astype(np.float64) / 2.0 ** 32)).astype(np.float32).reshape(shape)
