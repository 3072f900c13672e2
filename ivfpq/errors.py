"""The one exception type for user mistakes across hwrag, and the one form a command line prints it in.

Broken invariants stay assertions; anything a user can cause (a bad file, a bad flag, a bad request)
raises :class:`HwragError` with a message naming what was wrong and what is accepted. Every command
line (``hwrag``, ``python -m retrieval_service``, ``python -m bench.*``) prints it as one
``hwrag: error: <cause>`` line first (:func:`run_command`) and exits 2, never with a traceback.
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from typing import Callable, NoReturn

CLI_PREFIX = "hwrag: error: "
#: libraries whose INFO logging buries the cause of an error (faiss's loader reports every optional
#: build it did not find as a ModuleNotFoundError before it loads the one it has)
NOISY_LOGGERS = ("faiss.loader",)


class HwragError(Exception):
    """A user-facing error: the message says what was wrong and what is accepted."""


def default_text(action: argparse.Action) -> str:
    """How a flag's default reads in its help: ``off`` / ``on`` for switches, lists space-separated."""
    d = action.default
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if isinstance(action, argparse._StoreFalseAction):
        return "on"
    if isinstance(action, argparse._CountAction):
        return str(d or 0)
    if d is None:
        return "none"
    if isinstance(d, (list, tuple)):
        return " ".join(str(x) for x in d) or "none"
    return str(d)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every flag's help ends with its default, unless the help already says it (a help that words its
    default itself, e.g. "default: the dataset's", is kept as written); a flag without help gets one."""

    def _format_action(self, action: argparse.Action) -> str:
        if action.option_strings and action.help is not argparse.SUPPRESS and action.default is not argparse.SUPPRESS:
            h = action.help or ""
            if "default" not in h.lower():
                action = copy.copy(action)
                action.help = f"{h} (default: {default_text(action).replace('%', '%%')})".lstrip()
        return super()._format_action(action)


class CommandParser(argparse.ArgumentParser):
    """argparse in the same form: a bad flag is ``hwrag: error: <command>: <cause>`` on the first line, the
    usage after it (argparse itself prints the usage first); every flag's help shows its default
    (:class:`DefaultsHelpFormatter`). Subcommand parsers inherit the class."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        words = self.prog.split()
        sub = " ".join(words[3 if words[:2] == ["python", "-m"] else 1:])  # "hwrag bench service" -> "bench service"
        print(f"{CLI_PREFIX}{sub + ': ' if sub else ''}{message}", file=sys.stderr)
        self.print_usage(sys.stderr)
        sys.exit(2)


def run_command(body: Callable[[], int | None]) -> int:
    """Run a command's body; a user mistake prints ``hwrag: error: <cause>`` on stderr and gives exit code 2."""
    try:
        return int(body() or 0)
    except HwragError as e:
        print(f"{CLI_PREFIX}{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwrag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (``hwrag ... | head``): stop quietly, as Unix tools do; point
        # stdout at /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        # the file system or network said no (permission, missing directory, disk full): one line, the cause
        where = f": {e.filename}" if e.filename else ""
        print(f"{CLI_PREFIX}{e.strerror or e}{where}", file=sys.stderr)
        return 1


def quiet_library_loggers() -> None:
    """Keep :data:`NOISY_LOGGERS` to warnings, whatever level a command line logs at."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def module_main(prog: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                run: Callable[[argparse.Namespace], int | None], argv: list[str] | None = None) -> int:
    """``python -m <prog>`` of a benchmark: its flags, INFO logging with the libraries kept quiet, and the
    command line's error form (:func:`run_command`)."""
    p = CommandParser(prog=prog, description=description)
    add_arguments(p)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_library_loggers()
    return run_command(lambda: run(a))
