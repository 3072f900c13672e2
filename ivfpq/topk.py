"""The scan's running top-k, ordered by the pair ``(distance, id)`` (see :mod:`ivfpq.fixedpoint`)."""
from __future__ import annotations

import numba as nb


@nb.njit(cache=True, inline="always")
def insert(top_d, top_i, n, k, d, i):
    """Insert (d, i) into the ascending top list of length n <= k; returns the new length."""
    if n == k:
        if d > top_d[k - 1] or (d == top_d[k - 1] and i >= top_i[k - 1]):
            return n
        pos = k - 1
    else:
        pos = n
        n += 1
    while pos > 0 and (top_d[pos - 1] > d or (top_d[pos - 1] == d and top_i[pos - 1] > i)):
        top_d[pos] = top_d[pos - 1]
        top_i[pos] = top_i[pos - 1]
        pos -= 1
    top_d[pos] = d
    top_i[pos] = i
    return n
