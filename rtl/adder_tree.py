"""Pipelined adder tree: one register stage per level, ``ceil(log2 n)`` levels, II = 1."""
from __future__ import annotations

import math
from collections.abc import Callable

import pyrtl

from .pipeline import stage


def plain_add(a: pyrtl.WireVector, b: pyrtl.WireVector) -> pyrtl.WireVector:
    """Full-width unsigned addition (result one bit wider than the wider input)."""
    return a + b


def adder_tree_latency(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def pipelined_adder_tree(values: list[pyrtl.WireVector],
                         adder: Callable[[pyrtl.WireVector, pyrtl.WireVector], pyrtl.WireVector] = plain_add
                         ) -> pyrtl.WireVector:
    """Sum of ``values`` after ``adder_tree_latency(len(values))`` cycles; never wraps.

    Each level adds neighbouring pairs with ``adder`` (a sub-generator: a test passes a
    deliberately broken one) and registers the sums; an odd value out is registered as is.
    """
    level = list(values)
    assert level
    while len(level) > 1:
        nxt = [stage(adder(level[i], level[i + 1])) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(stage(level[-1]))
        level = nxt
    return level[0]
