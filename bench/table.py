"""Plain-text tables for benchmark and CLI output (one formatter, used by every ``bench`` module
and by the ``hwrag`` command)."""
from __future__ import annotations


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def format_table(rows: list[dict], cols: list[str] | None = None, headers: list[str] | None = None) -> str:
    """Rows as aligned text: ``cols`` picks and orders the keys (default: every key, in first-seen
    order), ``headers`` renames them for display."""
    cols = cols or list(dict.fromkeys(k for r in rows for k in r))
    heads = headers or cols
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    w = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    line = lambda xs: "  ".join(x.rjust(w[i]) if i else x.ljust(w[i]) for i, x in enumerate(xs))
    return "\n".join([line(heads), line(["-" * x for x in w])] + [line(r) for r in cells])


def print_result(result: dict, paths, as_json: bool, table) -> None:
    """A benchmark's result on stdout (its JSON, or ``table(result)``) and the files it wrote on stderr."""
    import json
    import sys

    print(json.dumps(result, indent=1, default=float) if as_json else table(result))
    print("wrote " + ", ".join(map(str, paths)), file=sys.stderr)
