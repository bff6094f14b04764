"""The BLAS thread-count variables, in a leaf module: the package sets them before numpy loads and
``process`` sets them again, and neither may import the other."""

from __future__ import annotations

BLAS_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
