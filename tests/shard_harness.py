"""What the per-shard tests (tests/local, tests/rules, tests/ring) share: the
dtc binary, an environment that lets mpirun run as root and oversubscribe,
a command runner, and the float32 comparison they hold results to (1e-5
relative to the reference's largest magnitude)."""
import os
import subprocess

import numpy as np

DTC = os.environ.get("DTC") or os.path.join(os.environ.get("DTC_BUILD", "build"), "dtc")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def sh(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)


def close(got, ref):
    scale = float(np.abs(ref).max(initial=0.0))
    return got.shape == ref.shape and got.dtype == np.float32 and \
        bool(np.allclose(got.astype(np.float64), ref, rtol=1e-5, atol=1e-5 * scale))
