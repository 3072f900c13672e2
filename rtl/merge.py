"""Merge stage: picks the smallest head of P sorted queues each cycle (the level-2 selection).

Popping the chosen queue every cycle streams the union of the P queues in ascending key order,
so the first K keys out are exactly the top-K of the union (Chameleon's level-2 queue of K, built
as a streaming P-way merge: no second copy of K entries, K cycles to read out).
"""
from __future__ import annotations

import math

import pyrtl


def merge_heads(heads: list[pyrtl.WireVector]) -> tuple[pyrtl.WireVector, pyrtl.WireVector]:
    """Returns ``(min_key, index)`` over ``heads`` via a comparator tree (ties go to the lower index)."""
    P = len(heads)
    ib = max(1, math.ceil(math.log2(P)))
    level = [(h, pyrtl.Const(j, ib)) for j, h in enumerate(heads)]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (ka, ia), (kb, ib_) = level[i], level[i + 1]
            b_less = kb < ka
            nxt.append((pyrtl.select(b_less, kb, ka), pyrtl.select(b_less, ib_, ia)))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
