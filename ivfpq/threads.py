"""faiss, numba (and torch) each run their own thread pool; benchmarks pin them all to one count,
or the figures measure oversubscription of this machine's cores."""
from __future__ import annotations

import os


def set_threads(n: int | None = None, torch_threads: int | None = None) -> int:
    """Pin faiss and numba to ``n`` threads (default: all cores) and torch to ``torch_threads``
    (default ``n``); returns ``n``."""
    import faiss
    import numba

    n = max(1, min(int(n or os.cpu_count() or 1), numba.config.NUMBA_NUM_THREADS))
    faiss.omp_set_num_threads(n)
    numba.set_num_threads(n)
    try:
        import torch  # only if already importable; never a hard dependency of ivfpq

        torch.set_num_threads(torch_threads or n)
    except ImportError:
        pass
    return n
