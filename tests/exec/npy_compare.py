"""npy_compare.py LABEL NAME GOT REF [NAME GOT REF ...]: compares .npy results
with their references, one line per result; exit 1 on any mismatch.
f32 within 1e-5 and f64 within 1e-12 relative (atol = rtol * max|ref|),
i32 exactly; NaN and inf must sit in the same places.  Used by the exec tests.
"""
import sys, numpy as np
label, rest, bad = sys.argv[1], sys.argv[2:], 0
for name, got, ref in zip(rest[0::3], rest[1::3], rest[2::3]):
    a, b = np.load(got), np.load(ref)
    if a.shape != b.shape or a.dtype != b.dtype:
        print(f"FAIL {label} {name}: {a.dtype}{list(a.shape)} vs reference {b.dtype}{list(b.shape)}")
        bad = 1
        continue
    if a.dtype == np.int32:
        ok, err = bool((a == b).all()), float(np.abs(a.astype(np.int64) - b).max(initial=0))
    else:
        rtol = 1e-5 if a.dtype == np.float32 else 1e-12
        scale = float(np.abs(b).max(initial=0.0))
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        err = float((d / (np.abs(b) + scale)).max(initial=0.0)) if scale > 0 else float(d.max(initial=0.0))
        ok = bool((np.isfinite(a) == np.isfinite(b)).all()) and \
             bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True))
    print(f"{'ok  ' if ok else 'FAIL'} {label} {name}: {a.dtype}{list(a.shape)} max scaled error {err:.2e}")
    bad |= not ok
sys.exit(bad)
