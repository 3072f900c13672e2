"""The ``hwrag`` command. Subcommands are registered by the package that owns them; user mistakes
(:class:`HwragError`) print one line naming the problem and exit 2, never a traceback
(:func:`ivfpq.errors.run_command`)."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ivfpq.errors import CommandParser, quiet_library_loggers, run_command

# (module, function adding subparsers): each package owns its subcommands.
_REGISTRARS = [
    ("hwrag.data_commands", "add_parsers"),  # dataset, index, search
    ("hwrag.demo", "add_parsers"),  # demo
    ("rtl.cli", "add_rtl_parser"),  # rtl export|verify
    ("hwsim.dram.cli", "add_dram_parser"),  # dram run|sweep|presets
    ("hwsim.cli", "add_hw_parser"),  # hw compare|project
    ("retrieval_service.cli", "add_service_parsers"),  # serve, node
    ("hwrag.ralm_commands", "add_llm_parsers"),  # generate, eval-ppl
    ("hwrag.datastore_commands", "add_parsers"),  # datastore build|list
    ("bench.cli", "add_bench_parser"),  # bench ann|service|ralm|dram|project
]


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="hwrag", description="hwrag: retrieval for RALMs on emulated vector-search "
                                "hardware (IVF-PQ RTL, DRAM/FPGA/PIM models, gRPC service, RALM client).")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod, fn in _REGISTRARS:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a package whose commands have not landed yet
            if e.name != mod:
                raise
            continue
        getattr(module, fn)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    quiet_library_loggers()
    return run_command(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
