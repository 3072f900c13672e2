"""Systolic priority queue: a chain of compare-exchange cells, one insert per cycle.

Cell ``i`` holds a stored key ``s[i]`` and receives a travelling key ``t[i]`` (``t[0]`` is the
insert port). Every cycle it keeps ``min(s[i], t[i])`` and passes ``max(s[i], t[i])`` to cell
``i + 1`` through a register; what leaves the last cell is evicted. Cells talk only to their
neighbours (no broadcast), so the clock period does not grow with the length L. Cell ``i``
ends up holding the (i+1)-th smallest key of everything inserted; a key inserted at cycle c has
settled by cycle ``c + L`` (``pqueue_settle_cycles``).

Keys are unsigned; the all-ones key marks an empty slot (and "no insert"), so it needs no valid
bit: it is never kept in front of a real key. ``pop`` (only after the queue has settled)
shifts every stored key one cell towards the head; ``clear`` empties the queue.

``fault="evict_off_by_one"`` is a test-only bug for the verification harness: the last cell keeps
every real key that reaches it, so once more than L keys arrive it evicts its stored key instead of
the larger one (the L-th result goes wrong only when the queue overflows). ``fault="swap_id"`` (also
test only) swaps the id fields of the two keys that the head cell exchanges when a smaller key displaces
a stored one: the distances stay in order, the ids go to the wrong distances.
"""
from __future__ import annotations

import pyrtl


def pqueue_settle_cycles(length: int) -> int:
    return length


QUEUE_FAULTS = ("evict_off_by_one", "swap_id")


def systolic_pqueue(ins_key: pyrtl.WireVector, pop: pyrtl.WireVector, clear: pyrtl.WireVector,
                    length: int, fault: str | None = None, id_bits: int = 0, taps: dict | None = None,
                    name: str | None = None) -> tuple[pyrtl.WireVector, list[pyrtl.WireVector]]:
    """Returns ``(head_key, stored_keys)``; ``ins_key`` all ones means no insert this cycle.

    ``taps`` (a dict, for the property checkers of :mod:`rtl.props`) receives ``"travelling"``: the
    registers carrying keys between cells (``t[1:]``). ``id_bits`` is needed by the ``swap_id`` fault only.
    ``name`` names the registers ``<name>_s<i>`` (stored) and ``<name>_t<i>`` (travelling), for traces.
    """
    assert length >= 1 and len(pop) == 1 and len(clear) == 1
    assert fault is None or fault in QUEUE_FAULTS
    kb = len(ins_key)
    empty = pyrtl.Const((1 << kb) - 1, kb)
    nm = (lambda k, i: f"{name}_{k}{i}") if name else (lambda k, i: "")  # noqa: E731
    s = [pyrtl.Register(kb, nm("s", i), reset_value=(1 << kb) - 1) for i in range(length)]
    t = [ins_key] + [pyrtl.Register(kb, nm("t", i), reset_value=(1 << kb) - 1) for i in range(1, length)]
    for i in range(length):
        less = t[i] < s[i]
        if fault == "evict_off_by_one" and i == length - 1:
            less = t[i] != empty  # BUG (test only): a real key always displaces the stored one
        keep = pyrtl.select(less, t[i], s[i])
        passed = pyrtl.select(less, s[i], t[i])
        if fault == "swap_id" and i == 0:  # BUG (test only): the exchanged keys trade their ids
            swap = less & (s[i] != empty)
            keep = pyrtl.select(swap, pyrtl.concat(t[i][id_bits:], s[i][:id_bits]), keep)
            passed = pyrtl.select(swap, pyrtl.concat(s[i][id_bits:], t[i][:id_bits]), passed)
        after_pop = s[i + 1] if i + 1 < length else empty
        s[i].next <<= pyrtl.select(clear, empty, pyrtl.select(pop, after_pop, keep))
        if i + 1 < length:
            t[i + 1].next <<= pyrtl.select(clear, empty, passed)
    if taps is not None:
        taps["travelling"] = t[1:]
    return s[0], s
