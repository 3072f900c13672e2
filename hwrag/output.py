"""Figures out of the CLI: a plain table for people, ``--json`` for machines."""
from __future__ import annotations

import json
import sys

import numpy as np

from bench.table import format_table


def _plain(o):
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return o


def emit(obj: dict, as_json: bool, table: list[dict] | None = None, title: str | None = None) -> None:
    """Print ``obj`` as JSON, or ``title`` plus ``table`` rows (or obj's items) as text."""
    if as_json:
        json.dump(_plain(obj), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    if title:
        print(title)
    if table:
        print(format_table(table))
    else:
        w = max((len(k) for k in obj), default=0)
        for k, v in obj.items():
            print(f"  {k:<{w}}  {v}")
