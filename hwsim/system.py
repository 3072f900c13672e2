"""The end-to-end vector-search system (Chameleon's ChamVS and its baselines), modeled.

Systems (as Chameleon's released experiment scripts run them):

* ``cpu``: faiss ``index.search`` on the CPU server (list selection and scan, :class:`hwsim.cpu.FaissCpu`).
* ``cpu-gpu``: list selection on the GPU (:mod:`hwsim.gpu`), then faiss ``search_preassigned`` on the CPU
  (``parallel_mode`` 3: query-parallel).
* ``fpga-cpu`` / ``fpga-gpu``: list selection on the CPU (faiss flat search, all threads) or the GPU, the
  batch to the coordinator and on to the memory nodes (:mod:`hwsim.coordinator`, :mod:`hwsim.network`), the
  scan on the nodes (:mod:`hwsim.nodes`), results merged and returned.
* ``pim-hbm`` / ``pim-dimm`` / ``upmem``: the same frame with PIM memory nodes (GPU list selection).

Latency: the median over ``samples`` batches of ``b`` queries drawn from a pool whose probed lists follow
the data: list sizes spread as SIFT's k-means lists (coefficient of variation 0.369), each query probing
lists with probability ``size ** alpha``, ``alpha`` set so the mean scanned codes per query are the
real-query scan ratio Chameleon measured on SIFT (1.094 x the mean list size;
:func:`hwsim.workload.probe_alpha`). Throughput: the CPU systems at one batch of 10,000 queries (the baseline
script), the node systems at batches of 128 with the configuration's batch window in flight (the steady state
of the busiest resource; query and batch windows per configuration, :func:`hwsim.coordinator.windows`). The node systems' GPU host is a Python process: its client work per batch (measured here,
``bench.host_costs``) is on the path. A node that runs a batch's queries at once (PIM whole lists on
independent units: UPMEM) gets the whole batch in one message and answers after the PIM model's batch
makespan. Energy per query: each component's power x its busy time (:mod:`hwsim.power`).
Every figure is *modeled* and carries its configuration.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ivfpq.errors import HwragError

from .coordinator import batch_concurrent_flow, batch_flow, windows
from .cpu import EPYC_7313, CpuServer, FaissCpu
from .gpu import RTX_3090
from .network import measured_network
from .nodes import NODE_KINDS, MemoryNode
from .power import SocketPower, team_cores
from .workload import DATASETS, QueryPool, SearchSpec, batches as _batches, make_pool

CPU_SYSTEMS = ("cpu", "cpu-gpu")
NODE_SYSTEMS = ("fpga-cpu", "fpga-gpu", "pim-hbm", "pim-dimm", "upmem")
SYSTEMS = CPU_SYSTEMS + NODE_SYSTEMS
CPU_THROUGHPUT_BATCH = 10_000   # vector_search_baseline.py --throughput_batch_size
NODE_THROUGHPUT_BATCH = 128     # vector_search_FPGA.py throughput example: --batch_size 128, tik-tok
@dataclass
class SystemModel:
    """The named hardware of one study: CPU server, GPU, network, memory-node kind and count."""

    spec: SearchSpec = field(default_factory=SearchSpec)
    nodes: int = 1
    cpu_cores: int = 8
    samples: int = 101
    pool: QueryPool | None = None
    cpu_regime: str = "warm"   # hwsim.cpu.SCAN_REGIMES: per-code costs of warm or cold lists
    server: CpuServer = EPYC_7313  # the CPU server (its cores are set from cpu_cores)

    def __post_init__(self):
        if self.nodes < 1 or self.cpu_cores < 1 or self.samples < 1:
            raise HwragError("nodes, cpu cores and samples must be >= 1")
        self.server = self.server.with_cores(self.cpu_cores)
        self.cpu = FaissCpu(self.server, regime=self.cpu_regime)
        self.gpu = RTX_3090
        self.net = measured_network(self.server.clock_ghz)
        self.pool = self.pool or make_pool(self.spec)
        self.socket = SocketPower()
        self._node_cache: dict[str, Any] = {}

    # -- one system, one batch size ------------------------------------------------------------
    def cpu_system(self, system: str, b: int) -> dict:
        s, codes = self.spec, self.pool.codes
        gpu_sel = system == "cpu-gpu"

        def one(idx):
            run = self.cpu.batch(codes[idx], s.nlist, s.d, s.M, select=not gpu_sel)
            sel = self.gpu.select_s(len(idx), s.nlist, s.d, s.nprobe) if gpu_sel else run.select_s
            return run, sel

        lat = []
        for idx in _batches(len(codes), b, self.samples):
            run, sel = one(idx)
            lat.append((run.batch_s + (sel if gpu_sel else 0.0), sel, run.scan_s))
        lat.sort()
        total, sel, scan = lat[len(lat) // 2]
        p95 = lat[int(0.95 * (len(lat) - 1))][0]
        big, bsel = one(_batches(len(codes), CPU_THROUGHPUT_BATCH, 1)[0])
        t_big = big.batch_s + (bsel if gpu_sel else 0.0)
        cpu_j = self.socket.watts(team_cores(b, self.server.cores)) * (total - (sel if gpu_sel else 0))
        gpu_j = self.gpu.active_power_w * sel if gpu_sel else 0.0
        stages = {"list_selection": sel, "scan": scan, "other": total - sel - scan}
        return {"latency_s": total, "latency_p95_s": p95, "throughput_qps": CPU_THROUGHPUT_BATCH / t_big,
                "energy_per_query_J": (cpu_j + gpu_j) / b, "stages": stages,
                "bound": "memory" if big.memory_bound else "cpu cores",
                "config": f"{'GPU list selection (' + self.gpu.name + ') + ' if gpu_sel else ''}"
                          f"{self.cpu.describe()}"}

    def node_times(self, kind: str):
        if kind not in self._node_cache:
            s = self.spec
            node = MemoryNode(kind)
            nt = node.device_s(self.pool.list_sizes, self.pool.probe, self.nodes, s.d, s.M, s.k)
            self._node_cache[kind] = (node, nt)
        return self._node_cache[kind]

    def client_s(self, b: int) -> float:
        """The GPU host's Python client per batch (bench.host_costs, cycles at the host's clock)."""
        h = self.cpu.rates.host
        return float(self.cpu.seconds(h.get("client_fixed_cycles", 0.0) + b * h.get("client_query_cycles", 0.0)))

    def _flow(self, node, nt, idx, kind: str):
        s, end = self.spec, "fpga" if kind == "fpga" else "host"
        if nt.concurrent:
            return batch_concurrent_flow(node.batch_s(self.pool.list_sizes, self.pool.probe[idx], self.nodes, s.d, s.M,
                                                      s.k), len(idx), self.net,
                                         s.d, s.nprobe, s.k, self.nodes, end)
        return batch_flow(nt.device_s[idx], self.net, s.d, s.nprobe, s.k, self.nodes, end,
                          window=windows(s.d, s.M, self.nodes)[0])

    def node_system(self, system: str, b: int) -> dict:
        s = self.spec
        kind = "fpga" if system.startswith("fpga") else system
        node, nt = self.node_times(kind)
        cpu_sel = system == "fpga-cpu"

        def select_s(n):
            return self.cpu.flat_select_s(n, s.nlist, s.d) if cpu_sel else self.gpu.select_s(n, s.nlist, s.d, s.nprobe)

        samples = self.samples if not nt.concurrent else min(self.samples, 21)  # a PIM batch is modeled whole
        flows = sorted(((select_s(b) + self.client_s(b) + f.total_s, f)
                        for f in (self._flow(node, nt, idx, kind) for idx in _batches(len(nt.device_s), b, samples))),
                       key=lambda x: x[0])
        total, f = flows[len(flows) // 2]
        p95 = flows[int(0.95 * (len(flows) - 1))][0]
        tb = NODE_THROUGHPUT_BATCH
        ft = self._flow(node, nt, _batches(len(nt.device_s), tb, 1)[0], kind)
        # two batches in flight: the busiest resource sets the period (host selection and client, coordinator,
        # a node)
        host = select_s(tb) + self.client_s(tb)
        period = max(host, ft.sender_busy_s, ft.node_busy_s, ft.total_s / windows(s.d, s.M, self.nodes)[1])
        sel = select_s(b)
        sel_j = (self.socket.watts(team_cores(b, self.server.cores)) if cpu_sel else self.gpu.active_power_w) * sel
        energy = sel_j / b + nt.energy_per_query_J * self.nodes
        stages = {"list_selection": sel, "host_client": self.client_s(b), "network_in": f.request_s + f.forward_s,
                  "nodes": f.nodes_s, "node_device_per_query": f.node_busy_s / b, "merge_and_reply": f.reply_s}
        sel_name = f"{self.server.name} flat search" if cpu_sel else self.gpu.name
        return {"latency_s": total, "latency_p95_s": p95, "throughput_qps": tb / period, "energy_per_query_J": energy,
                "stages": stages, "fits": nt.fits, "capacity_note": nt.capacity_note,
                "energy_note": nt.energy_note,
                "bound": max((("host (selection, client)", host), ("coordinator", ft.sender_busy_s),
                              ("memory node", ft.node_busy_s)), key=lambda x: x[1])[0],
                "config": f"list selection on {sel_name}; {self.nodes} x {nt.config}"
                          f"{' (batch run at once)' if nt.concurrent else ''}; coordinator on "
                          f"{self.server.name}; {self.net.gbps:g} Gb/s TCP"}

    def model(self, systems=SYSTEMS, batch: int = 1) -> dict[str, Any]:
        if batch < 1:
            raise HwragError(f"batch must be >= 1, got {batch}")
        unknown = [x for x in systems if x not in SYSTEMS]
        if unknown:
            raise HwragError(f"unknown system {unknown[0]!r}; accepted: {', '.join(SYSTEMS)}")
        rows = {x: (self.cpu_system(x, batch) if x in CPU_SYSTEMS else self.node_system(x, batch))
                for x in systems}
        s = self.spec
        return {"figures": "modeled", "batch": batch, "nodes": self.nodes, "cpu_cores": self.cpu_cores,
                "dataset": s.name, "d": s.d, "M": s.M, "ntotal": s.ntotal, "nlist": s.nlist,
                "nprobe": s.nprobe, "k": s.k,
                "latency_s": {x: r["latency_s"] for x, r in rows.items()},
                "latency_p95_s": {x: r["latency_p95_s"] for x, r in rows.items()},
                "throughput_qps": {x: r["throughput_qps"] for x, r in rows.items()},
                "energy_per_query_J": {x: r["energy_per_query_J"] for x, r in rows.items()},
                "stages_s": {x: r["stages"] for x, r in rows.items()},
                "bound": {x: r["bound"] for x, r in rows.items()},
                "config": {x: r["config"] for x, r in rows.items()},
                "notes": {x: r.get("energy_note", "") for x, r in rows.items() if r.get("energy_note")},
                "fits": {x: r.get("fits", True) for x, r in rows.items()},
                "capacity_note": {x: r["capacity_note"] for x, r in rows.items() if r.get("capacity_note")}}


def system_spec(dataset: str | None = None, **over) -> SearchSpec:
    """A named dataset's spec (``sift``, ``deep``) with overrides (d, M, ntotal, nlist, nprobe, k)."""
    base = DATASETS.get((dataset or "sift").lower())
    if base is None:
        raise HwragError(f"unknown dataset {dataset!r}; accepted: {', '.join(DATASETS)}")
    return replace(base, **{k: v for k, v in over.items() if v is not None})


