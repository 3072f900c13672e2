"""Memory nodes in the system frame: one interface over the FPGA and PIM device models.

:meth:`MemoryNode.device_s` gives, for a pool of queries (their probed lists passed explicitly), each
query's device time on one node holding its slice of every list (Chameleon's layout: every list split
evenly across nodes; node 0 holds the ceiling share), from the existing device model
(:class:`hwsim.fpga.FpgaNode`, :class:`hwsim.pim_array.PimArray`), and the node's energy per query.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ivfpq.errors import HwragError

from .accelerator import DEVICE_STAGES, Workload
from .configs import BACKEND_OF, DEFAULT_FOR_BACKEND, get_config, make_accelerator
from .pim_array import PimArray
from .power import FPGA_BOARD_SOURCE, fpga_board_w

#: memory-node kinds of the system frame -> default configuration
NODE_KINDS = {"fpga": "chameleon_u250", "pim-hbm": DEFAULT_FOR_BACKEND["pim-hbm"],
              "pim-dimm": DEFAULT_FOR_BACKEND["pim-dimm"], "upmem": "upmem"}
#: LUT-construction PEs of Chameleon's bitstream for a (D, M) where it is not the default 16
#: (``kernel/user_krnl/accelerator_D512_M32_batch/src/hls/constants.hpp``: LUT_CONSTR_SUB_PE_NUM 8)
CHAMELEON_LUT_PES = {(512, 32): 8}


@dataclass
class NodeTimes:
    device_s: np.ndarray     # (nq,) each query's device time on one node
    energy_per_query_J: float
    config: str
    fits: bool
    capacity_note: str
    energy_note: str
    concurrent: bool = False  # the node runs a batch's queries at once (PIM whole lists on independent units)
    stage_mean_s: dict = None  # mean device-model stage times per query (transfer, LUT, scan, K-selection)


def node_slice(list_sizes: np.ndarray, nodes: int) -> np.ndarray:
    """Node 0's slice of every list (the ceiling share of an even split)."""
    if nodes < 1:
        raise HwragError(f"nodes must be >= 1, got {nodes}")
    return list_sizes // nodes + (list_sizes % nodes > 0)


class MemoryNode:
    """A memory node of a kind (``fpga``, ``pim-hbm``, ``pim-dimm``, ``upmem``) or a named configuration."""

    def __init__(self, kind: str = "fpga"):
        name = NODE_KINDS.get(kind, kind)
        cfg = get_config(name) if isinstance(name, str) else name
        self.kind = kind if kind in NODE_KINDS else BACKEND_OF.get(name, kind)
        self.config = replace(cfg, stream_mode="calibrated")
        self.acc = make_accelerator(self.config)

    def device_s(self, list_sizes: np.ndarray, probe: np.ndarray, nodes: int, d: int, M: int,
                 k: int) -> NodeTimes:
        sizes = node_slice(np.asarray(list_sizes, np.int64), nodes)
        fits, why = True, ""
        try:
            self.acc.check_shard(M, int(sizes.sum()))
        except HwragError as e:
            fits, why = False, str(e)
        w = Workload(sizes[probe], d, M, k)
        if self.kind == "fpga" and (d, M) in CHAMELEON_LUT_PES:
            self.config = replace(self.config, lut_pes=CHAMELEON_LUT_PES[(d, M)])
            self.acc = make_accelerator(self.config)
        if isinstance(self.acc, PimArray):
            self.acc.place(sizes)
            t = self.acc.model(w, probe=probe)
        else:
            t = self.acc.model(w)
        self._sizes = sizes
        dev = sum(np.asarray(t.stages[s], float) for s in DEVICE_STAGES)
        if self.kind == "fpga":
            board = fpga_board_w(d, M)
            e = board * float(dev.mean())
            note = f"FPGA board {board:g} W x device time ({FPGA_BOARD_SOURCE})"
        else:
            e = t.energy_per_query_J
            note = "dynamic energy of the PIM model (DRAM commands, logic, link); no static power cited"
        return NodeTimes(dev, e, t.config, fits, why, note, t.batch_makespan_s is not None, t.stage_means())

    def batch_s(self, probe: np.ndarray, d: int, M: int, k: int) -> float:
        """One batch (``probe`` rows) run at once on a node that runs a batch concurrently (after
        :meth:`device_s` placed the lists): the PIM model's batch makespan (its host link, host dispatch
        over the DDR bus, the busiest unit, read-out and merge), or its one-at-a-time makespan if shorter."""
        probe = np.atleast_2d(probe)
        t = self.acc.model(Workload(self._sizes[probe], d, M, k), probe=probe)
        return float(t.makespan_s)
