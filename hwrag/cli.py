"""The ``hwrag`` command. Subcommands are registered by the package that owns them; user mistakes
(:class:`HwragError`) print one line naming the problem and exit 2, never a traceback
(:func:`ivfpq.errors.run_command`)."""
from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys

from ivfpq.errors import CommandParser, quiet_library_loggers, run_command

# (module, function adding subparsers, the commands it adds): each package owns its subcommands. An
# entry without its commands is imported for every command (as are all when the command is unknown).
_REGISTRARS = [
    ("hwrag.data_commands", "add_parsers", ("dataset", "index", "search")),
    ("hwrag.demo", "add_parsers", ("demo",)),
    ("rtl.cli", "add_rtl_parser", ("rtl",)),
    ("hwsim.dram.cli", "add_dram_parser", ("dram",)),
    ("hwsim.cli", "add_hw_parser", ("hw",)),
    ("hwrag.plan_commands", "add_plan_parser", ("plan",)),
    ("retrieval_service.cli", "add_service_parsers", ("serve", "node", "coordinator")),
    ("hwrag.ralm_commands", "add_llm_parsers", ("generate", "eval-ppl", "retrieve", "eval-qa")),
    ("hwrag.datastore_commands", "add_parsers", ("datastore",)),
    ("bench.cli", "add_bench_parser", ("bench",)),
]


def _registrars(argv: "list[str] | None"):
    """Only the registrar of the command asked for, when it is known: start-up stays short (a
    ``hwrag dram run`` loads no server, RTL or language-model code); every one otherwise (help)."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    mine = [r for r in _REGISTRARS if words and len(r) > 2 and words[0] in r[2]]
    return [r for r in _REGISTRARS if r in mine or len(r) < 3] if mine else _REGISTRARS


def _before_imports(argv: "list[str] | None") -> None:
    """A ``hwrag dram`` process is short and does no linear algebra, so before anything imports
    numpy: OpenBLAS (numpy's BLAS) starts one thread, not one per core (its thread pool's start-up
    was about 40 ms of CPU of a 0.2 s ``hwrag dram run``; a value the user set is kept), and no
    cyclic garbage collection runs during the imports (see hwsim.dram.cli.start_fast)."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if words[:1] == ["dram"]:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        gc.disable()


def build_parser(argv: "list[str] | None" = None) -> argparse.ArgumentParser:
    p = CommandParser(prog="hwrag", description="hwrag: retrieval for RALMs on emulated vector-search "
                                "hardware (IVF-PQ RTL, DRAM/FPGA/PIM models, gRPC service, RALM client).")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod, fn, *_ in _registrars(argv):
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a package whose commands have not landed yet
            if e.name != mod:
                raise
            continue
        getattr(module, fn)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    _before_imports(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    quiet_library_loggers()

    def command() -> int:
        if args.command == "dram":  # a short process: see hwsim.dram.cli.start_fast
            from hwsim.dram.cli import start_fast

            start_fast()  # inside run_command: a bad HWRAG_DRAM_KERNELS is a one-line error
        return args.func(args)

    return run_command(command)


if __name__ == "__main__":
    sys.exit(main())
