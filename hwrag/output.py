"""Figures out of the CLI: a plain table for people, ``--json`` for machines."""
from __future__ import annotations

import argparse
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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help ends with its default -- "(default: X)" -- unless the text already states it
    ("default: ..." for a default that is not a plain value); required flags say so instead."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required:
            return text if "required" in text else (text + " (required)").strip()
        if "default" in text or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def first_paragraph(doc: str) -> str:
    """A module docstring's first paragraph, whole (a command's description; never cut mid-sentence)."""
    return " ".join(doc.strip().split("\n\n")[0].split())
