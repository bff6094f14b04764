"""Start-up shared by the child worker processes: a lower CPU priority and a capped BLAS/OpenMP
thread count, so that the dashboard and the training thread keep the cores. A leaf module (no
numpy): ``workers.forecast`` sets the variables before numpy loads."""

from __future__ import annotations

import contextlib
import os

BLAS_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def limit_child(nice: int, threads: int = 1) -> None:
    """Lower this process's priority by ``nice`` and cap its BLAS/OpenMP pools at ``threads``: the
    variables for libraries that load later, threadpoolctl (if installed) for those already loaded."""
    for var in BLAS_THREAD_VARS:
        os.environ[var] = str(threads)
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice on Windows
        os.nice(nice)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:
        pass
