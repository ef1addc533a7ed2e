"""An independent numpy implementation of samples/train_gpt2.dt: the data,
the 2-layer GPT-2 forward, its hand-written backward, and AdamW (PyTorch
semantics: decoupled weight decay, bias correction).  Everything is float64,
so it is the reference the program's float32 results are held against.

Nothing here is derived from dtc: the model is written from the GPT-2
description (pre-norm blocks, tanh-GELU, tied head), and the initial values
come from tests/philox.py, dt's documented Philox initialisers.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import philox  # noqa: E402

# Must match the constants of samples/train_gpt2.dt.
V, T, D, NH, L, B = 64, 16, 64, 4, 2, 8
DH, F, N = D // NH, 4 * D, B * T
RULE_A, RULE_C = 5, 3                      # next = (A * tok + C) mod V
LR, BETA1, BETA2, EPS, WD = 0.003, 0.9, 0.95, 1e-8, 0.01
LN_EPS = 1e-5
MASK = -1e9                                # causal_mask: finite, see docs/LANGUAGE.md

# name, shape, initialiser (seed, std) or "ones" / "zeros", in the program's order.
WEIGHTS = [
    ("wte", (V, D), (1, 0.02)), ("wpe", (T, D), (2, 0.02)),
    ("ln1_g", (L, D), "ones"), ("ln1_b", (L, D), "zeros"),
    ("wq", (L, D, D), (3, 0.02)), ("bq", (L, D), "zeros"),
    ("wk", (L, D, D), (4, 0.02)),                          # no key bias (see the sample)
    ("wv", (L, D, D), (5, 0.02)), ("bv", (L, D), "zeros"),
    ("wo", (L, D, D), (6, 0.01)), ("bo", (L, D), "zeros"),
    ("ln2_g", (L, D), "ones"), ("ln2_b", (L, D), "zeros"),
    ("fc1", (L, D, F), (7, 0.02)), ("b1", (L, F), "zeros"),
    ("fc2", (L, F, D), (8, 0.01)), ("b2", (L, D), "zeros"),
    ("lnf_g", (D,), "ones"), ("lnf_b", (D,), "zeros"),
]
NAMES = [w[0] for w in WEIGHTS]
START_SEED = 100


def initial_weights():
    """The program's initial weights (float32, as the program holds them)."""
    out = {}
    for name, shape, init in WEIGHTS:
        if init == "ones":
            out[name] = np.ones(shape, np.float32)
        elif init == "zeros":
            out[name] = np.zeros(shape, np.float32)
        else:
            out[name] = philox.randn(init[0], shape, std=init[1])
    return out


def initial_start():
    return philox.rand(START_SEED, (B, 1))


def batch(start):
    """ids [B, T] and labels [N]: each row follows the rule from its start token."""
    tok = np.floor(start[:, 0].astype(np.float32) * np.float32(V)).astype(np.int64) % V
    ids = np.empty((B, T), np.int64)
    for t in range(T):
        ids[:, t] = tok
        tok = (RULE_A * tok + RULE_C) % V
    return ids, ((RULE_A * ids + RULE_C) % V).reshape(N)


# ---- forward pieces with what their backward needs ------------------------------
def layernorm(x, g, b):
    mu = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + LN_EPS)
    xhat = (x - mu) * rstd
    return xhat * g + b, (xhat, rstd, g)


def layernorm_back(dy, cache):
    xhat, rstd, g = cache
    axes = tuple(range(dy.ndim - 1))
    dg, db = (dy * xhat).sum(axes), dy.sum(axes)
    dxhat = dy * g
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dx, dg, db


GELU_C = np.sqrt(2.0 / np.pi)


def gelu(z):
    return 0.5 * z * (1.0 + np.tanh(GELU_C * (z + 0.044715 * z ** 3)))


def gelu_back(dy, z):
    th = np.tanh(GELU_C * (z + 0.044715 * z ** 3))
    return dy * (0.5 * (1.0 + th) + 0.5 * z * (1.0 - th * th) * GELU_C * (1.0 + 3 * 0.044715 * z * z))


def split_heads(x):   # [B, T, D] -> [B, NH, T, DH]
    return x.reshape(B, T, NH, DH).transpose(0, 2, 1, 3)


def merge_heads(x):   # [B, NH, T, DH] -> [B, T, D]
    return x.transpose(0, 2, 1, 3).reshape(B, T, D)


def linear_back(dy, x, w):
    """y = x @ w + b over [B, T, *]: (dx, dw, db)."""
    return dy @ w.T, x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1]), dy.sum((0, 1))


def block_forward(h, p, l):
    x1, ln1 = layernorm(h, p["ln1_g"][l], p["ln1_b"][l])
    q = split_heads(x1 @ p["wq"][l] + p["bq"][l])
    k = split_heads(x1 @ p["wk"][l])
    v = split_heads(x1 @ p["wv"][l] + p["bv"][l])
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(DH) + np.triu(np.full((T, T), MASK), 1)
    prob = np.exp(s - s.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    o = merge_heads(prob @ v)
    a = h + o @ p["wo"][l] + p["bo"][l]
    x2, ln2 = layernorm(a, p["ln2_g"][l], p["ln2_b"][l])
    z = x2 @ p["fc1"][l] + p["b1"][l]
    u = gelu(z)
    out = a + u @ p["fc2"][l] + p["b2"][l]
    return out, dict(x1=x1, ln1=ln1, q=q, k=k, v=v, prob=prob, o=o, x2=x2, ln2=ln2, z=z, u=u)


def block_backward(dout, p, l, c, g):
    """Adds block l's weight gradients into g; returns the gradient of its input h."""
    dx, g["fc2"][l], g["b2"][l] = linear_back(dout, c["u"], p["fc2"][l])
    dx, g["fc1"][l], g["b1"][l] = linear_back(gelu_back(dx, c["z"]), c["x2"], p["fc1"][l])
    dx, g["ln2_g"][l], g["ln2_b"][l] = layernorm_back(dx, c["ln2"])
    da = dout + dx
    do, g["wo"][l], g["bo"][l] = linear_back(da, c["o"], p["wo"][l])
    dav = split_heads(do)                                  # d(prob @ v)
    dprob = dav @ c["v"].transpose(0, 1, 3, 2)
    dv = c["prob"].transpose(0, 1, 3, 2) @ dav
    ds = c["prob"] * (dprob - (dprob * c["prob"]).sum(-1, keepdims=True)) / np.sqrt(DH)
    dq, dk = ds @ c["k"], ds.transpose(0, 1, 3, 2) @ c["q"]
    dx1, g["wq"][l], g["bq"][l] = linear_back(merge_heads(dq), c["x1"], p["wq"][l])
    dxk, g["wk"][l], _ = linear_back(merge_heads(dk), c["x1"], p["wk"][l])
    dxv, g["wv"][l], g["bv"][l] = linear_back(merge_heads(dv), c["x1"], p["wv"][l])
    dx1 = dx1 + dxk + dxv
    dh, g["ln1_g"][l], g["ln1_b"][l] = layernorm_back(dx1, c["ln1"])
    return da + dh


def loss_and_grads(p, ids, labels, want_grads=True):
    """The mean next-token cross-entropy and the gradient of every weight."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    h = p["wte"][ids] + p["wpe"]
    caches = []
    for l in range(L):
        h, c = block_forward(h, p, l)
        caches.append(c)
    xf, lnf = layernorm(h, p["lnf_g"], p["lnf_b"])
    logits = (xf @ p["wte"].T).reshape(N, V)
    m = logits.max(-1, keepdims=True)
    logz = m[:, 0] + np.log(np.exp(logits - m).sum(-1))
    loss = np.mean(logz - logits[np.arange(N), labels])
    if not want_grads:
        return loss, None
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dlogits = np.exp(logits - logz[:, None])
    dlogits[np.arange(N), labels] -= 1.0
    dlogits = (dlogits / N).reshape(B, T, V)
    g["wte"] += dlogits.reshape(N, V).T @ xf.reshape(N, D)          # the tied head
    dh, g["lnf_g"], g["lnf_b"] = layernorm_back(dlogits @ p["wte"], lnf)
    for l in reversed(range(L)):
        dh = block_backward(dh, p, l, caches[l], g)
    np.add.at(g["wte"], ids, dh)                                     # the lookup
    g["wpe"] = dh.sum(0)
    return loss, g


def adamw(w, g, m, v, t):
    """torch.optim.AdamW's update of one tensor at 1-based step t."""
    w = w * (1.0 - LR * WD)
    m = BETA1 * m + (1.0 - BETA1) * g
    v = BETA2 * v + (1.0 - BETA2) * g * g
    denom = np.sqrt(v) / np.sqrt(1.0 - BETA2 ** t) + EPS
    return w - (LR / (1.0 - BETA1 ** t)) * m / denom, m, v


def step_start(step):
    """The program's `start` at step `step` (0-based): rand(seed=100,
    per_step=true) draws from seed rt_step_seed(100, step)."""
    return philox.rand(philox.step_seed(START_SEED, step), (B, 1))


def train(steps, weights=None):
    """`steps` AdamW steps, step s on the program's batch of step s: per step
    the loss before the update, and the final state."""
    p = {k: np.asarray(v, np.float64) for k, v in (weights or initial_weights()).items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    losses = []
    for t in range(1, steps + 1):
        ids, labels = batch(step_start(t - 1))
        loss, g = loss_and_grads(p, ids, labels)
        losses.append(loss)
        for k in NAMES:
            p[k], m[k], v[k] = adamw(p[k], g[k], m[k], v[k], t)
    return losses, p, m, v


def finite_difference_check(seed=0, h=1e-6):
    """Largest relative error of the hand-written backward against central
    differences along random directions, one per weight."""
    rng = np.random.default_rng(seed)
    p = {k: np.asarray(x, np.float64) for k, x in initial_weights().items()}
    ids, labels = batch(initial_start())
    _, g = loss_and_grads(p, ids, labels)
    worst = 0.0
    for k in NAMES:
        d = rng.standard_normal(p[k].shape)
        plus, minus = dict(p), dict(p)
        plus[k], minus[k] = p[k] + h * d, p[k] - h * d
        fd = (loss_and_grads(plus, ids, labels, False)[0] - loss_and_grads(minus, ids, labels, False)[0]) / (2 * h)
        an = float((g[k] * d).sum())
        worst = max(worst, abs(fd - an) / max(abs(an), 1e-8))
    return worst


def learn(steps=200, seed=0):
    """The task is learnable: AdamW from the program's initial weights on a
    fresh random batch every step (numpy's generator, not dt's per-step
    seeds); returns the loss every 20 steps."""
    rng = np.random.default_rng(seed)
    p = {k: np.asarray(x, np.float64) for k, x in initial_weights().items()}
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    trace = []
    for t in range(1, steps + 1):
        ids, labels = batch(rng.random((B, 1)).astype(np.float32))
        loss, g = loss_and_grads(p, ids, labels)
        for k in NAMES:
            p[k], m[k], v[k] = adamw(p[k], g[k], m[k], v[k], t)
        if t == 1 or t % 20 == 0:
            trace.append((t, loss))
    return trace


if __name__ == "__main__":
    print("finite-difference check of the backward: worst relative error %.2e" % finite_difference_check())
    losses, _, _, _ = train(5)
    print("losses over 5 steps on one batch:", " ".join("%.5f" % x for x in losses))
    print("200 steps on fresh batches:", "  ".join("%d: %.4f" % tl for tl in learn()))
