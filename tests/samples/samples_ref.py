"""samples_ref.py - NumPy twins of the programs in samples/, written
independently of dtc, and the inputs to feed them.

For every sample: its entry parameters (name, dtype, shape, how to draw test
data) in declaration order, and a reference function from a dict of input
arrays to a dict of results named as `--out` names them (the returned
variable's name).  The reference functions compute in whatever float dtype
their inputs have: the oracle test feeds them float64 copies of the inputs;
feeding float32 copies shows how far an honest float32 computation drifts,
which is how the tolerances were chosen.

Conventions of the spec followed here: gelu(x) is the exact erf form and
gelu(x, approximate=true) (gelu_tanh here) the tanh approximation;
layernorm uses the biased variance over the last axis (eps 1e-5 unless the
sample says otherwise); rmsnorm is x / sqrt(mean(x^2) + eps) * gamma with eps
1e-6; softmax is the max-shifted form; cross_entropy is the mean over rows of
logsumexp(row) - row[label].

Other tests (e.g. of compiled programs) may import this module.
"""
import numpy as np

# ---- the built-ins, in NumPy ------------------------------------------------


def gelu_tanh(x):
    c = np.sqrt(2.0 / np.pi).astype(x.dtype)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x * x * x)))


def gelu(x):
    from math import erf
    e = np.vectorize(erf, otypes=[np.float64])(np.asarray(x, dtype=np.float64) / np.sqrt(2.0))
    return (0.5 * x * (1.0 + e.astype(np.asarray(x).dtype))).astype(np.asarray(x).dtype)


def causal_mask(T, dtype):
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    return np.where(j <= i, 0.0, -1e9).astype(dtype)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def relu(x):
    return np.maximum(x, 0)


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def layernorm(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)  # biased
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def rmsnorm(x, gamma, eps=1e-6):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * gamma


def cross_entropy(logits, labels):
    lp = log_softmax(logits, axis=-1)
    return -np.mean(lp[np.arange(logits.shape[0]), labels])


# ---- the samples --------------------------------------------------------------
# A parameter: (name, dtype, shape, draw) where draw is one of
#   ("randn", std)       normal, mean 0
#   ("rand", lo, hi)     uniform
#   ("ids", hi)          int32 in [0, hi)


def mlp(p):
    h = gelu_tanh(p["x"] @ p["w1"])
    return {"y": h @ p["w2"]}


def mlp2d(p):
    x = p["x"]
    h = x + (relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])
    g = silu(h @ p["w3"] + p["b3"])
    y = h + (g @ p["w4"] + p["b4"])
    return {"y": y, "norm": np.sqrt(np.sum(y * y, axis=1))}


def transformer(p):
    B, T, D, NH, DH = 2, 8, 64, 4, 16

    def heads(t):
        return t.reshape(B, T, NH, DH).transpose(0, 2, 1, 3)

    x = p["x"]
    xn = layernorm(x, p["ln1_g"], p["ln1_b"])
    q, k, v = heads(xn @ p["wq"]), heads(xn @ p["wk"]), heads(xn @ p["wv"])
    s = (q @ k.transpose(0, 1, 3, 2)) * 0.25
    a = softmax(s, axis=-1) @ v
    o = a.transpose(0, 2, 1, 3).reshape(B, T, D)
    h = x + o @ p["wo"]
    u = gelu_tanh(layernorm(h, p["ln2_g"], p["ln2_b"], eps=1e-5) @ p["w1"] + p["b1"])
    return {"y": h + (u @ p["w2"] + p["b2"])}


def embedding(p):
    N, V = 16, 96
    table = p["table"]
    e = table[p["ids"]]
    n = rmsnorm(e, p["g"])
    h = n + np.tanh(n @ p["wa"]) * sigmoid(n @ p["wb"])
    logits = (h @ table.T).reshape(N, V)
    return {"loss": np.asarray(cross_entropy(logits, p["labels"]), dtype=logits.dtype),
            "best": np.max(log_softmax(logits, axis=-1), axis=1)}


def uneven(p):
    x, w, v, g = p["x"], p["w"], p["v"], p["g"]
    hi = np.max(x, axis=1, keepdims=True)
    lo = np.min(x, axis=1, keepdims=True)
    spread = hi - lo
    s = np.sum(x, axis=1) + np.mean(np.abs(x), axis=1)
    pr = 0.5 * (softmax(x / spread, axis=1) + np.exp(log_softmax(x, axis=-1)))
    y = x @ w
    q = y @ v.T
    avg = np.mean(np.log(1.0 + np.abs(q) ** 1.5) / np.sqrt(1.0 + q * q))
    # `out` is computed in f32 by the program: round the inputs as it does.
    xg = x.astype(np.float32).astype(g.dtype) * g
    wf = w.astype(np.float32).astype(g.dtype)
    out = np.minimum(np.maximum(xg @ wf, -1.5), 1.5)
    return {"s": s, "p": pr, "avg": np.asarray(avg), "out": out}


def causal_attention(p):
    B, T, D, H = 2, 9, 16, 4
    DH = D // H
    x = p["x"]
    dt = x.dtype
    t = np.arange(T, dtype=dt)[:, None] * np.ones((1, D), dtype=dt)
    f = np.arange(D)[None, :] * np.ones((T, 1))
    pos = np.where(f % 2 == 0, np.sin(t * 0.5), np.cos(t * 0.25)) * 0.1
    h = x + pos

    def heads(z):
        return z.reshape(B, T, H, DH).transpose(0, 2, 1, 3)

    q, k, v = heads(h @ p["wq"]), heads(h @ p["wk"]), heads(h @ p["wv"])
    s = q @ k.transpose(0, 1, 3, 2) * (1.0 / np.sqrt(DH)) + causal_mask(T, dt)
    pr = softmax(s, axis=-1)
    a = (pr @ v).transpose(0, 2, 1, 3).reshape(B, T, D) @ p["wo"]
    y = h + gelu(a)
    later = (np.arange(T)[None, :] >= 5) * np.ones((T, 1))
    early = np.sum(np.tril(pr, k=-1) * later, axis=-1)
    return {"y": y, "early": early}


def stack(p):
    B, T, D, NH, DH, L = 2, 8, 32, 4, 8, 3

    def heads(t):
        return t.reshape(B, T, NH, DH).transpose(0, 2, 1, 3)

    h = p["x"]
    for l in range(L):
        xn = layernorm(h, p["ln1_g"][l], p["ln1_b"][l])
        q, k, v = heads(xn @ p["wq"][l]), heads(xn @ p["wk"][l]), heads(xn @ p["wv"][l])
        s = (q @ k.transpose(0, 1, 3, 2)) / np.sqrt(DH)
        o = (softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        a = h + o @ p["wo"][l]
        u = gelu(layernorm(a, p["ln2_g"][l], p["ln2_b"][l]) @ p["w1"][l] + p["b1"][l])
        h = a + (u @ p["w2"][l] + p["b2"][l])
    return {"h": h}


def rope(p):
    B, T, D, NH, DH = 3, 6, 32, 4, 8
    x, cos, sin = p["x"], p["cos"], p["sin"]

    def heads(t):
        return t.reshape(B, T, NH, DH).transpose(0, 2, 1, 3)

    def rotate_half(t):
        x1, x2 = t[..., :DH // 2], t[..., DH // 2:]
        return np.concatenate([-x2, x1], axis=-1)

    def apply(t):
        return t * cos + rotate_half(t) * sin

    qkv = x @ p["wqkv"]
    q, k, v = np.split(qkv, 3, axis=-1)
    qr, kr = apply(heads(q)), apply(heads(k))
    s = (qr @ kr.transpose(0, 1, 3, 2)) * 0.35355339
    a = softmax(s, axis=-1) @ heads(v)
    y = x + a.transpose(0, 2, 1, 3).reshape(B, T, D) @ p["wo"]
    first = np.broadcast_to(np.pad(s[0, 0], [(0, 0), (1, 1)], constant_values=-1.0), (2, T, T + 2))
    return {"y": y, "last": y[:, -1], "first": first}


def gpt2(p):
    B, T, D, NH, L, V = 3, 8, 32, 4, 2, 100
    DH = D // NH

    def heads(t):
        return t.reshape(B, T, NH, DH).transpose(0, 2, 1, 3)

    wte = p["wte"]
    h = wte[p["ids"]] + p["wpe"]
    for l in range(L):
        xn = layernorm(h, p["ln1_g"][l], p["ln1_b"][l])
        q = heads(xn @ p["wq"][l] + p["bq"][l])
        k = heads(xn @ p["wk"][l] + p["bk"][l])
        v = heads(xn @ p["wv"][l] + p["bv"][l])
        s = (q @ k.transpose(0, 1, 3, 2)) / np.sqrt(DH) + causal_mask(T, h.dtype)
        o = (softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        a = h + (o @ p["wo"][l] + p["bo"][l])
        u = gelu_tanh(layernorm(a, p["ln2_g"][l], p["ln2_b"][l]) @ p["fc1"][l] + p["b1"][l])
        h = a + (u @ p["fc2"][l] + p["b2"][l])
    logits = (layernorm(h, p["lnf_g"], p["lnf_b"]) @ wte.T).reshape(B * T, V)
    return {"loss": np.asarray(cross_entropy(logits, p["labels"]), dtype=logits.dtype),
            "logits": logits}


# name -> (parameters, reference, results as {name: (dtype, shape)})
SAMPLES = {
    "mlp": (
        [("x", "f32", (8, 512), ("randn", 1.0)),
         ("w1", "f32", (512, 2048), ("randn", 0.02)),
         ("w2", "f32", (2048, 512), ("randn", 0.02))],
        mlp,
        {"y": ("f32", (8, 512))}),
    "mlp2d": (
        [("x", "f32", (16, 64), ("randn", 1.0)),
         ("w1", "f32", (64, 256), ("randn", 0.1)),
         ("b1", "f32", (256,), ("rand", -0.1, 0.1)),
         ("w2", "f32", (256, 64), ("randn", 0.05)),
         ("b2", "f32", (64,), ("rand", -0.1, 0.1)),
         ("w3", "f32", (64, 256), ("randn", 0.1)),
         ("b3", "f32", (256,), ("rand", -0.1, 0.1)),
         ("w4", "f32", (256, 64), ("randn", 0.05)),
         ("b4", "f32", (64,), ("rand", -0.1, 0.1))],
        mlp2d,
        {"y": ("f32", (16, 64)), "norm": ("f32", (16,))}),
    "transformer": (
        [("x", "f32", (2, 8, 64), ("randn", 1.0)),
         ("ln1_g", "f32", (64,), ("rand", 0.5, 1.5)),
         ("ln1_b", "f32", (64,), ("rand", -0.2, 0.2)),
         ("wq", "f32", (64, 64), ("randn", 0.125)),
         ("wk", "f32", (64, 64), ("randn", 0.125)),
         ("wv", "f32", (64, 64), ("randn", 0.125)),
         ("wo", "f32", (64, 64), ("randn", 0.125)),
         ("ln2_g", "f32", (64,), ("rand", 0.5, 1.5)),
         ("ln2_b", "f32", (64,), ("rand", -0.2, 0.2)),
         ("w1", "f32", (64, 256), ("randn", 0.125)),
         ("b1", "f32", (256,), ("rand", -0.1, 0.1)),
         ("w2", "f32", (256, 64), ("randn", 0.0625)),
         ("b2", "f32", (64,), ("rand", -0.1, 0.1))],
        transformer,
        {"y": ("f32", (2, 8, 64))}),
    "embedding": (
        [("table", "f32", (96, 32), ("randn", 0.1)),
         ("ids", "i32", (2, 8), ("ids", 96)),
         ("labels", "i32", (16,), ("ids", 96)),
         ("g", "f32", (32,), ("rand", 0.5, 1.5)),
         ("wa", "f32", (32, 32), ("randn", 0.18)),
         ("wb", "f32", (32, 32), ("randn", 0.18))],
        embedding,
        {"loss": ("f32", ()), "best": ("f32", (16,))}),
    "causal_attention": (
        [("x", "f32", (2, 9, 16), ("randn", 1.0)),
         ("wq", "f32", (16, 16), ("randn", 0.25)),
         ("wk", "f32", (16, 16), ("randn", 0.25)),
         ("wv", "f32", (16, 16), ("randn", 0.25)),
         ("wo", "f32", (16, 16), ("randn", 0.25))],
        causal_attention,
        {"y": ("f32", (2, 9, 16)), "early": ("f32", (2, 4, 9))}),
    "uneven": (
        [("x", "f64", (7, 13), ("randn", 1.0)),
         ("w", "f64", (13, 5), ("rand", -1.0, 1.0)),
         ("v", "f64", (2, 5), ("randn", 1.0)),
         ("g", "f32", (13,), ("rand", 0.5, 1.5))],
        uneven,
        {"s": ("f64", (7,)), "p": ("f64", (7, 13)), "avg": ("f64", ()),
         "out": ("f32", (7, 5))}),
}

SAMPLES["stack"] = (
    [("x", "f32", (2, 8, 32), ("randn", 1.0)),
     ("ln1_g", "f32", (3, 32), ("rand", 0.5, 1.5)),
     ("ln1_b", "f32", (3, 32), ("rand", -0.2, 0.2)),
     ("wq", "f32", (3, 32, 32), ("randn", 0.18)),
     ("wk", "f32", (3, 32, 32), ("randn", 0.18)),
     ("wv", "f32", (3, 32, 32), ("randn", 0.18)),
     ("wo", "f32", (3, 32, 32), ("randn", 0.18)),
     ("ln2_g", "f32", (3, 32), ("rand", 0.5, 1.5)),
     ("ln2_b", "f32", (3, 32), ("rand", -0.2, 0.2)),
     ("w1", "f32", (3, 32, 128), ("randn", 0.18)),
     ("b1", "f32", (3, 128), ("rand", -0.1, 0.1)),
     ("w2", "f32", (3, 128, 32), ("randn", 0.09)),
     ("b2", "f32", (3, 32), ("rand", -0.1, 0.1))],
    stack,
    {"h": ("f32", (2, 8, 32))})

SAMPLES["rope"] = (
    [("x", "f32", (3, 6, 32), ("randn", 1.0)),
     ("wqkv", "f32", (32, 96), ("randn", 0.18)),
     ("wo", "f32", (32, 32), ("randn", 0.18)),
     ("cos", "f32", (6, 8), ("rand", -1.0, 1.0)),
     ("sin", "f32", (6, 8), ("rand", -1.0, 1.0))],
    rope,
    {"y": ("f32", (3, 6, 32)), "last": ("f32", (3, 32)), "first": ("f32", (2, 6, 8))})

SAMPLES["gpt2"] = (
    [("ids", "i32", (3, 8), ("ids", 100)),
     ("labels", "i32", (24,), ("ids", 100)),
     ("wte", "f32", (100, 32), ("randn", 0.1)),
     ("wpe", "f32", (8, 32), ("randn", 0.05)),
     ("ln1_g", "f32", (2, 32), ("rand", 0.5, 1.5)),
     ("ln1_b", "f32", (2, 32), ("rand", -0.2, 0.2)),
     ("wq", "f32", (2, 32, 32), ("randn", 0.18)),
     ("bq", "f32", (2, 32), ("rand", -0.1, 0.1)),
     ("wk", "f32", (2, 32, 32), ("randn", 0.18)),
     ("bk", "f32", (2, 32), ("rand", -0.1, 0.1)),
     ("wv", "f32", (2, 32, 32), ("randn", 0.18)),
     ("bv", "f32", (2, 32), ("rand", -0.1, 0.1)),
     ("wo", "f32", (2, 32, 32), ("randn", 0.18)),
     ("bo", "f32", (2, 32), ("rand", -0.1, 0.1)),
     ("ln2_g", "f32", (2, 32), ("rand", 0.5, 1.5)),
     ("ln2_b", "f32", (2, 32), ("rand", -0.2, 0.2)),
     ("fc1", "f32", (2, 32, 128), ("randn", 0.18)),
     ("b1", "f32", (2, 128), ("rand", -0.1, 0.1)),
     ("fc2", "f32", (2, 128, 32), ("randn", 0.09)),
     ("b2", "f32", (2, 32), ("rand", -0.1, 0.1)),
     ("lnf_g", "f32", (32,), ("rand", 0.5, 1.5)),
     ("lnf_b", "f32", (32,), ("rand", -0.2, 0.2))],
    gpt2,
    {"loss": ("f32", ()), "logits": ("f32", (24, 100))})


def train_mlp(p):
    # one step: teacher target, MSE, hand-derived backward, SGD with momentum
    lr, momentum = 0.1, 0.9
    x = p["x"]
    t = np.tanh(x @ p["wt1"]) @ p["wt2"]
    h = np.tanh(x @ p["w1"])
    d = h @ p["w2"] - t
    dy = 2.0 * d / d.size
    g2 = h.T @ dy
    g1 = x.T @ ((dy @ p["w2"].T) * (1.0 - h * h))
    buf1, buf2 = momentum * p["m1"] + g1, momentum * p["m2"] + g2
    return {"loss": np.mean(d * d), "new_w1": p["w1"] - lr * buf1, "new_w2": p["w2"] - lr * buf2,
            "buf1": buf1, "buf2": buf2}


SAMPLES["train_mlp"] = (
    [("x", "f32", (64, 32), ("randn", 1.0)),
     ("wt1", "f32", (32, 64), ("randn", 0.2)),
     ("wt2", "f32", (64, 32), ("randn", 0.125)),
     ("w1", "f32", (32, 64), ("randn", 0.2)),
     ("w2", "f32", (64, 32), ("randn", 0.125)),
     ("m1", "f32", (32, 64), ("randn", 0.01)),
     ("m2", "f32", (64, 32), ("randn", 0.01))],
    train_mlp,
    {"loss": ("f32", ()), "new_w1": ("f32", (32, 64)), "new_w2": ("f32", (64, 32)),
     "buf1": ("f32", (32, 64)), "buf2": ("f32", (64, 32))})


def moe(p):
    """Top-2 routing with a capacity C per group of S tokens (GShard /
    Switch), written the way a NumPy user would: per group, a loop over its
    tokens filling each expert's buffer, then the experts, then a loop
    adding each kept token's gated expert outputs back."""
    G, S, D, E, C = 4, 8, 16, 4, 3
    x = p["x"]
    y = x.copy()
    experts = np.zeros((G, S, 2), np.int32)
    gate = np.zeros((G, S, E), x.dtype)
    for g in range(G):
        logits = x[g] @ p["wr"]
        order = np.argsort(-logits, axis=1, kind="stable")[:, :2]
        experts[g] = order
        gates = softmax(np.take_along_axis(logits, order, 1), axis=-1)
        fill = np.zeros(E, int)
        buf = np.zeros((E, C, D), x.dtype)
        kept = []  # (token, expert, slot) of every routed token that fits
        for t in range(S):
            for k in range(2):
                gate[g, t, order[t, k]] = gates[t, k]
        for t in range(S):  # slots in token order within the group, per expert
            for e in sorted(order[t]):
                if fill[e] < C:
                    buf[e, fill[e]] = x[g, t]
                    kept.append((t, e, fill[e]))
                fill[e] += 1
        he = np.maximum(buf @ p["w1"], 0) @ p["w2"] * 0.1
        for t, e, c in kept:
            y[g, t] += gate[g, t, e] * he[e, c]
    return {"y": y, "experts": experts, "gate": gate}


SAMPLES["moe"] = (
    [("x", "f32", (4, 8, 16), ("randn", 1.0)),
     ("wr", "f32", (16, 4), ("randn", 1.0)),
     ("w1", "f32", (4, 16, 32), ("randn", 0.25)),
     ("w2", "f32", (4, 32, 16), ("randn", 0.18))],
    moe,
    {"y": ("f32", (4, 8, 16)), "experts": ("i32", (4, 8, 2)), "gate": ("f32", (4, 8, 4))})


def llama(p):
    """Llama written from its definition: per-head loops for the grouped
    attention (query head h reads key/value head h // (NH / NKV)), RoPE as a
    rotation of the pairs (i, i + DH/2) by the angle t * 10000^(-2i/DH)."""
    B, T, D, NH, NKV, L, V = 3, 8, 64, 8, 2, 2, 96
    DH = D // NH
    half = DH // 2
    x0 = p["tok"]
    f = x0.dtype
    inv_freq = 10000.0 ** (-2.0 * np.arange(half) / DH)
    theta = np.arange(T)[:, None] * inv_freq[None, :]           # [T, half]
    c, s = np.cos(theta).astype(f), np.sin(theta).astype(f)

    def rotate(v):  # v [T, DH]: rotate each pair (v[:, i], v[:, i + half])
        a, b = v[:, :half], v[:, half:]
        return np.concatenate([a * c - b * s, b * c + a * s], axis=1)

    h = p["tok"][p["ids"]]
    mask = np.triu(np.full((T, T), -1e9, dtype=f), k=1)
    for l in range(L):
        xn = rmsnorm(h, p["attn_g"][l])
        q = xn @ p["wq"][l]                                     # [B, T, NH*DH]
        k = xn @ p["wk"][l]                                     # [B, T, NKV*DH]
        v = xn @ p["wv"][l]
        o = np.zeros_like(q)
        for b in range(B):
            for hd in range(NH):
                g = hd // (NH // NKV)
                qh = rotate(q[b, :, hd * DH:(hd + 1) * DH])
                kh = rotate(k[b, :, g * DH:(g + 1) * DH])
                vh = v[b, :, g * DH:(g + 1) * DH]
                sc = qh @ kh.T / np.sqrt(DH) + mask
                o[b, :, hd * DH:(hd + 1) * DH] = softmax(sc, axis=-1) @ vh
        a = h + o @ p["wo"][l]
        xm = rmsnorm(a, p["mlp_g"][l])
        h = a + (silu(xm @ p["w1"][l]) * (xm @ p["w3"][l])) @ p["w2"][l]
    logits = (rmsnorm(h, p["norm_g"]) @ p["wout"]).reshape(B * T, V)
    return {"loss": np.asarray(cross_entropy(logits, p["labels"]), dtype=logits.dtype),
            "logits": logits}


SAMPLES["llama"] = (
    [("ids", "i32", (3, 8), ("ids", 96)),
     ("labels", "i32", (24,), ("ids", 96)),
     ("tok", "f32", (96, 64), ("randn", 0.5)),
     ("attn_g", "f32", (2, 64), ("rand", 0.5, 1.5)),
     ("wq", "f32", (2, 64, 64), ("randn", 0.2)),
     ("wk", "f32", (2, 64, 16), ("randn", 0.2)),
     ("wv", "f32", (2, 64, 16), ("randn", 0.2)),
     ("wo", "f32", (2, 64, 64), ("randn", 0.125)),
     ("mlp_g", "f32", (2, 64), ("rand", 0.5, 1.5)),
     ("w1", "f32", (2, 64, 88), ("randn", 0.125)),
     ("w3", "f32", (2, 64, 88), ("randn", 0.125)),
     ("w2", "f32", (2, 88, 64), ("randn", 0.1)),
     ("norm_g", "f32", (64,), ("rand", 0.5, 1.5)),
     ("wout", "f32", (64, 96), ("randn", 0.125))],
    llama,
    {"loss": ("f32", ()), "logits": ("f32", (24, 96))})

NP_DTYPE = {"f32": np.float32, "f64": np.float64, "i32": np.int32}


def draw(rng, dtype, shape, how):
    """Test data for one parameter."""
    if how[0] == "randn":
        a = rng.standard_normal(shape) * how[1]
    elif how[0] == "rand":
        a = rng.uniform(how[1], how[2], shape)
    elif how[0] == "ids":
        a = rng.integers(0, how[1], shape)
    else:
        raise ValueError(how)
    return np.asarray(a).astype(NP_DTYPE[dtype])


def inputs(name, seed=1234):
    """The sample's test inputs, {param: array}, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    return {p: draw(rng, dt, shape, how) for p, dt, shape, how in SAMPLES[name][0]}


def reference(name, ins, ftype=np.float64):
    """The sample's results from inputs `ins`, computing in `ftype`."""
    conv = {k: (v.astype(ftype) if v.dtype.kind == "f" else v) for k, v in ins.items()}
    return SAMPLES[name][1](conv)
