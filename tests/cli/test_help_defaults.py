"""Every flag of every hwrag command shows its default in ``--help`` (or says it is required)."""
import argparse

from hwrag.cli import build_parser
from ivfpq.errors import CommandParser, default_text


def _flags(parser, path):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _flags(sub, path + [name])
        elif a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
            yield " ".join(path), parser, a


def test_every_flag_help_shows_its_default():
    missing, n = [], 0
    for cmd, parser, action in _flags(build_parser(), ["hwrag"]):
        n += 1
        text = parser._get_formatter()._format_action(action).lower()
        if "default" not in text and not (action.required and "required" in text):
            missing.append(f"{cmd} {'/'.join(action.option_strings)}")
    assert n > 300, n  # the whole tree was walked
    assert not missing, missing


def test_defaults_read_as_written_in_the_hand_made_cases():
    p = CommandParser(prog="t")
    p.add_argument("--on", action="store_true")
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    p.add_argument("--rate", default="5%", help="a rate")
    p.add_argument("--model", default=None, help="the model (default: the dataset's)")
    h = p.format_help()
    assert "(default: off)" in h and "(default: 16 32)" in h and "a rate (default: 5%)" in h
    assert h.count("default") == 4  # a help that words its default is not given a second one
    assert default_text(p._actions[1]) == "off"
