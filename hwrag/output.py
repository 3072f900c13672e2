"""Figures out of the CLI: a plain table for people, ``--json`` for machines."""
from __future__ import annotations

import json
import sys


from bench.table import format_table
from ivfpq.jsonable import plain as _plain


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
