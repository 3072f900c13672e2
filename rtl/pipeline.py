"""Small pipeline helpers shared by the generators: register stages and delay lines."""
from __future__ import annotations

import pyrtl


def stage(w: pyrtl.WireVector, reset_value: int = 0) -> pyrtl.Register:
    """One pipeline register holding ``w`` (same width), updated every cycle."""
    r = pyrtl.Register(len(w), reset_value=reset_value)
    r.next <<= w
    return r


def delay(w: pyrtl.WireVector, n: int) -> pyrtl.WireVector:
    """``w`` delayed by ``n`` register stages (``n == 0`` returns ``w``)."""
    for _ in range(n):
        w = stage(w)
    return w
