"""The ``hwrag`` command. Subcommands are registered by the package that owns them; user mistakes
(:class:`HwragError`) print one line naming the problem and exit 2, never a traceback."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ivfpq.errors import HwragError

# (module, function adding subparsers): each package owns its subcommands.
_REGISTRARS = [
    ("hwrag.data_commands", "add_parsers"),
    ("hwrag.demo", "add_parsers"),
]
_OPTIONAL_REGISTRARS = []  # filled as packages land


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwrag", description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod, fn in _REGISTRARS + _OPTIONAL_REGISTRARS:
        getattr(importlib.import_module(mod), fn)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HwragError as e:
        print(f"hwrag: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwrag: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
