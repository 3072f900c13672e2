"""JSON-ready copies of results: numpy scalars and arrays become Python numbers and lists.

Every CLI and bench that prints ``--json`` passes its result through :func:`plain`, so numpy types never
reach ``json.dump`` (which rejects them).
"""
from __future__ import annotations

import numpy as np


def plain(o):
    """``o`` with dicts, lists and tuples copied and numpy scalars/arrays turned into Python values."""
    if isinstance(o, dict):
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return o
