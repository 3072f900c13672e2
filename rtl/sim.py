"""PyRTL-native simulation of the scan unit (FastSimulation or CompiledSimulation) driven by the host model."""
from __future__ import annotations

from collections.abc import Callable

import pyrtl

from .adder_tree import plain_add
from .config import ScanConfig
from .host import ScanHost
from .scan_unit import build_scan_unit

OUTPUT_NAMES = ("in_ready", "out_valid", "out_dist", "out_id", "out_hit", "out_last", "done")


class PyrtlScanSim:
    """A scan unit in a PyRTL simulator; ``kind`` is ``"fast"`` or ``"compiled"``."""

    def __init__(self, cfg: ScanConfig, kind: str = "fast", adder: Callable = plain_add,
                 queue_fault: str | None = None, out_fault: str | None = None):
        self.cfg = cfg
        self.block, self.ports = build_scan_unit(cfg, adder, queue_fault, out_fault)
        regs = {r: r.reset_value or 0 for r in self.block.wirevector_subset(pyrtl.Register)}
        tracer = pyrtl.SimulationTrace(wires_to_track=list(self.ports.outputs.values()), block=self.block)
        if kind == "fast":
            self.sim = pyrtl.FastSimulation(block=self.block, register_value_map=regs, tracer=tracer)
        elif kind == "compiled":
            self.sim = pyrtl.CompiledSimulation(block=self.block, register_value_map=regs, tracer=tracer)
        else:
            raise ValueError(kind)
        self._regs = regs
        self.kind = kind
        self.cycles = 0

    def step(self, inputs: dict[str, int]) -> dict[str, int]:
        """One clock cycle: outputs seen during the cycle (they depend only on register state)."""
        self.sim.step(inputs)
        self.cycles += 1
        return {n: self.sim.inspect(n) for n in OUTPUT_NAMES}

    def reset(self):
        """Synchronous reset: every register back to its reset value (LUT memories keep their contents)."""
        if self.kind != "fast":
            raise NotImplementedError("reset is modelled in the fast simulator only")
        for r, v in self._regs.items():
            self.sim.regs[r.name] = v

    def run(self, host: ScanHost, max_cycles: int = 10_000_000,
            reset_when: Callable[[ScanHost], bool] | None = None) -> ScanHost:
        """Steps until the host has finished its queries; resets the DUT once, at the first cycle
        where ``reset_when(host)`` holds, and wherever the host's plan asks (``host.wants_reset()``),
        and has the host replay the interrupted query."""
        self.reset_phase = None
        while not host.finished:
            if self.cycles >= max_cycles:
                raise AssertionError(f"scan unit hung: {self.cycles} cycles, host phase {host.phase}")
            once = reset_when is not None and self.reset_phase is None and reset_when(host)
            if once or host.wants_reset():
                if once:
                    self.reset_phase = host.phase  # what the host was doing when reset hit
                self.reset()
                host.restart()
            host.observe(self.step(host.inputs()))
        return host
