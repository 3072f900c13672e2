"""A machine operation numba does not expose, as a numba intrinsic (``numba.extending.intrinsic``).

:func:`f32_bits`: the bits of a float32 as an int32 (a bit cast, no arithmetic), so the loop that writes
a LUT column can track its minimum and maximum as integers (non-negative float32s order like their
bits), which vectorises where float min/max does not, without a second pass over the column.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def f32_bits(typingctx, x):
    """int32 with the bits of the float32 x."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen
