"""Emulated backends: ``fpga``, ``pim-hbm`` and ``pim-dimm``, each an hwsim accelerator model.

The functional answer is computed by the model from this node's shard with the ``ivfpq``
fixed-point golden model (the hardware number format; never copied from another backend). The
answer carries the model's *modeled* device time per stage and energy, each naming the modeled
configuration; the memory node adds its *measured* wall time itself.
"""
from __future__ import annotations

import numpy as np
from ivfpq.errors import HwragError
from ivfpq.index import IVFPQIndex

from ..wire import MODELED, Figure
from .base import PartialTopK, ScanBackend, ShardInfo, register_backend


class AcceleratorBackend(ScanBackend):
    number_format = "fixed"
    kind = ""

    def __init__(self, config: str | None = None, stream_mode: str | None = None):
        super().__init__()
        from hwsim.configs import BACKEND_OF, CONFIGS, DEFAULT_FOR_BACKEND

        name = config or DEFAULT_FOR_BACKEND[self.kind]
        if name not in CONFIGS or BACKEND_OF[name] != self.kind:
            ok = [n for n, b in BACKEND_OF.items() if b == self.kind]
            raise HwragError(f"backend {self.kind!r}: unknown configuration {name!r}; accepted: {', '.join(ok)}")
        self.config_name = name
        self.stream_mode = stream_mode
        self.acc = None

    def load(self, shard: IVFPQIndex, info: ShardInfo) -> None:
        from dataclasses import replace

        from hwsim.configs import get_config, make_accelerator

        cfg = get_config(self.config_name)
        if self.stream_mode:
            cfg = replace(cfg, stream_mode=self.stream_mode)
        acc = make_accelerator(cfg)
        acc.load(shard)  # checks device capacity and code width
        self.acc, self.shard, self.info = acc, shard, info

    def scan(self, queries: np.ndarray, probe: np.ndarray, k: int) -> PartialTopK:
        assert self.acc is not None, "no shard loaded"
        run = self.acc.run(queries, probe, int(k))
        t = run.timing
        cfg = t.config
        figs = [Figure(f"device_{stage}", float(np.sum(v)), MODELED, where=self.kind, config=cfg)
                for stage, v in t.stages.items()]
        figs.append(Figure("device_makespan", float(t.makespan_s), MODELED, where=self.kind, config=cfg))
        figs.append(Figure("device_energy", float(t.energy_J.get("total", 0.0)), MODELED, quantity="energy",
                           unit="J", where=self.kind, config=cfg))
        return PartialTopK(run.ids, run.distances, run.int_distances, figs)

    def describe(self) -> dict:
        d = {**super().describe(), "figures": MODELED, "config_name": self.config_name}
        if self.acc is not None:
            d.update(self.acc.describe())
        return d


@register_backend("fpga")
class FpgaBackend(AcceleratorBackend):
    """Chameleon-style FPGA memory node (hwsim.fpga), default configuration chameleon_u250."""
    kind = "fpga"


@register_backend("pim-hbm")
class HbmPimBackend(AcceleratorBackend):
    """HBM-PIM (hwsim.pim_hbm), default configuration heterrag_accelhbm."""
    kind = "pim-hbm"


@register_backend("pim-dimm")
class DimmPimBackend(AcceleratorBackend):
    """DIMM-PIM (hwsim.pim_dimm), default configuration heterrag_acceldimm."""
    kind = "pim-dimm"
