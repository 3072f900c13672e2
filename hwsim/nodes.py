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
from .power import CHAMELEON_FPGA_SCAN_GBS, FPGA_BOARD_SOURCE, chameleon_fpga_energy_J, fpga_board_w

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
    """A memory node of a kind (``fpga``, ``pim-hbm``, ``pim-dimm``, ``upmem``) or a named configuration. It holds
    no state of a workload: every call names the lists it holds and the lists probed."""

    def __init__(self, kind: str = "fpga"):
        name = NODE_KINDS.get(kind, kind)
        cfg = get_config(name) if isinstance(name, str) else name
        self.kind = kind if kind in NODE_KINDS else BACKEND_OF.get(name, kind)
        self.config = replace(cfg, stream_mode="calibrated")
        self._accelerators: dict = {}

    def accelerator(self, d: int, M: int):
        """The device model for a shape: Chameleon's bitstream for (D, M) where its LUT-construction PEs
        differ from the default (:data:`CHAMELEON_LUT_PES`)."""
        cfg = self.config
        if self.kind == "fpga" and (d, M) in CHAMELEON_LUT_PES:
            cfg = replace(cfg, lut_pes=CHAMELEON_LUT_PES[(d, M)])
        if cfg not in self._accelerators:
            self._accelerators[cfg] = make_accelerator(cfg)
        return self._accelerators[cfg]

    def device_s(self, list_sizes: np.ndarray, probe: np.ndarray, nodes: int, d: int, M: int,
                 k: int) -> NodeTimes:
        sizes = node_slice(np.asarray(list_sizes, np.int64), nodes)
        acc = self.accelerator(d, M)
        fits, why = True, ""
        try:
            acc.check_shard(M, int(sizes.sum()))
        except HwragError as e:
            fits, why = False, str(e)
        t = acc.model(Workload.of_lists(sizes, probe, d, M, k))
        dev = sum(np.asarray(t.stages[s], float) for s in DEVICE_STAGES)
        if self.kind == "fpga":  # all nodes' boards, as Chameleon accounted them (hwsim.power)
            board = fpga_board_w(d, M)
            e = chameleon_fpga_energy_J(d, M, probe.shape[1], float(np.mean(list_sizes))) / nodes
            note = (f"FPGA boards {board:g} W x the probed codes at {CHAMELEON_FPGA_SCAN_GBS:g} GB/s, Chameleon's "
                    f"accounting ({FPGA_BOARD_SOURCE}); at the modeled device time it would be "
                    f"{board * float(dev.mean()) * nodes * 1e3:.1f} mJ per query")
        else:
            e = t.energy_per_query_J
            note = "dynamic energy of the PIM model (DRAM commands, logic, link); no static power cited"
        return NodeTimes(dev, e, t.config, fits, why, note, t.batch_makespan_s is not None, t.stage_means())

    def batch_s(self, list_sizes: np.ndarray, probe: np.ndarray, nodes: int, d: int, M: int, k: int) -> float:
        """One batch (``probe`` rows) run at once on a node that runs a batch concurrently: the PIM model's
        batch makespan (its host link, host dispatch over the DDR bus, the busiest unit, read-out and merge),
        or its one-at-a-time makespan if shorter."""
        sizes = node_slice(np.asarray(list_sizes, np.int64), nodes)
        return float(self.accelerator(d, M).model(Workload.of_lists(sizes, probe, d, M, k)).makespan_s)
