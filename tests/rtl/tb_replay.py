"""cocotb replay of a SymbiYosys counterexample (run through rtl.replay, not collected by pytest).

``HWRAG_RTL_REPLAY`` names a JSON file (written by :func:`rtl.replay.replay_counterexample`): the
configuration, the input values of every step of the trace (``rst`` included; the trace starts with a
reset) and the watched key. The LUT memories start at zero in the proof, so the replay first writes
zeros into every LUT row through the load port (after a reset: a simulator's registers start unknown),
then drives the trace one step per clock cycle and
samples, in each cycle, the outputs and every property output (``chk_bits``). What it saw goes to
``HWRAG_RTL_REPLAY_OUT`` (JSON); the comparison with the proof and the golden model is rtl.replay's.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotb.types import Logic

from rtl.config import LUT_ENTRIES
from rtl.host import IDLE_INPUTS
from rtl.sim import OUTPUT_NAMES


def _u(v) -> int:
    return int(v) if isinstance(v, Logic) else v.to_unsigned()  # X/Z raise: a bug in the DUT


@cocotb.test()
async def replay_counterexample(dut):
    with open(os.environ["HWRAG_RTL_REPLAY"]) as f:
        spec = json.load(f)
    for n, v in IDLE_INPUTS.items():
        getattr(dut, n).value = v
    dut.chk_x.value = spec["chk_x"]
    dut.rst.value = 1  # registers start unknown in a simulator (the trace's first step resets them again)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    dut.lut_we.value, dut.lut_row.value = 1, 0  # the proof's LUT memories start at zero
    for a in range(LUT_ENTRIES):
        dut.lut_addr.value = a
        await RisingEdge(dut.clk)
    dut.lut_we.value = 0
    await ClockCycles(dut.clk, 2)  # the load port is registered: let the last write land
    seen = []
    for step in spec["steps"]:
        for n, v in step.items():
            getattr(dut, n).value = v
        await ReadOnly()
        row = {n: _u(getattr(dut, n).value) for n in OUTPUT_NAMES}
        row["chk_bits"] = _u(dut.chk_bits.value)
        seen.append(row)
        await RisingEdge(dut.clk)
    with open(os.environ["HWRAG_RTL_REPLAY_OUT"], "w") as f:
        json.dump(seen, f)
