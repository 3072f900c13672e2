"""The end-to-end vector-search system (Chameleon's ChamVS and its baselines), modeled.

Systems (as Chameleon's released experiment scripts run them):

* ``cpu``: faiss ``index.search`` on the CPU server (list selection and scan, :class:`hwsim.cpu.FaissCpu`).
* ``cpu-gpu``: list selection on the GPU (:mod:`hwsim.gpu`), then faiss ``search_preassigned`` on the CPU
  (``parallel_mode`` 3: query-parallel).
* ``fpga-cpu`` / ``fpga-gpu``: list selection on the CPU (faiss flat search, all threads) or the GPU, the
  batch to the coordinator and on to the memory nodes (:mod:`hwsim.chameleon_coordinator`, :mod:`hwsim.network`), the
  scan on the nodes (:mod:`hwsim.nodes`), results merged and returned.
* ``pim-hbm`` / ``pim-dimm`` / ``upmem``: the same frame with PIM memory nodes (GPU list selection).

Latency: the median over ``samples`` batches of ``b`` queries drawn from a pool whose probed lists follow
the data: list sizes shaped as SIFT's k-means lists as Chameleon measured them (coefficient of variation
0.369), each query probing lists with probability ``size ** alpha``, ``alpha`` set so the mean scanned codes
per query are the real-query scan ratio Chameleon measured on SIFT (1.094 x the mean list size;
:func:`hwsim.workload.probe_alpha`), one query's lists alike in size (a query's probes are neighbours;
:data:`hwsim.workload.FITTED_PROBE_CORRELATION`), so the work per query spreads as real queries' does. Throughput: the CPU systems at one batch of 10,000 queries (the baseline
script), the node systems at batches of 128 with the configuration's batch window in flight (the steady state
of the busiest resource; query and batch windows per configuration, :func:`hwsim.chameleon_coordinator.windows`). The node systems' GPU host is a Python process: its client work per batch (measured here,
``bench.host_costs``) is on the path. A node that runs a batch's queries at once (PIM whole lists on
independent units: UPMEM) gets the whole batch in one message and answers after the PIM model's batch
makespan. Energy per query: each component's power x its busy time (:mod:`hwsim.power`).
Every figure is *modeled* and carries its configuration.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ivfpq.errors import HwragError

from .chameleon_coordinator import batch_concurrent_flow, batch_flow, windows
from .cpu import EPYC_7313, CpuServer, FaissCpu
from .gpu import RTX_3090, GpuConfig
from .network import Network, measured_network
from .nodes import NODE_KINDS, MemoryNode
from .power import SocketPower, team_cores
from .workload import DATASETS, QueryPool, SearchSpec, batches as _batches, make_pool

@dataclass(frozen=True)
class SystemKind:
    """Where a system selects its lists and scans them: ``selection`` ``cpu`` (faiss on the CPU server) or
    ``gpu``; ``scan`` ``cpu`` (faiss on the server) or a memory-node kind (:data:`hwsim.nodes.NODE_KINDS`)."""

    name: str
    selection: str
    scan: str

    @property
    def on_nodes(self) -> bool:
        return self.scan != "cpu"


#: the systems of the study, as data (Chameleon's four, then PIM memory nodes with GPU list selection)
SYSTEM_TABLE = {k.name: k for k in (
    SystemKind("cpu", "cpu", "cpu"), SystemKind("cpu-gpu", "gpu", "cpu"),
    SystemKind("fpga-cpu", "cpu", "fpga"), SystemKind("fpga-gpu", "gpu", "fpga"),
    SystemKind("pim-hbm", "gpu", "pim-hbm"), SystemKind("pim-dimm", "gpu", "pim-dimm"),
    SystemKind("upmem", "gpu", "upmem"))}
SYSTEMS = tuple(SYSTEM_TABLE)
CPU_SYSTEMS = tuple(k for k, v in SYSTEM_TABLE.items() if not v.on_nodes)
NODE_SYSTEMS = tuple(k for k, v in SYSTEM_TABLE.items() if v.on_nodes)
CPU_THROUGHPUT_BATCH = 10_000   # vector_search_baseline.py --throughput_batch_size
NODE_THROUGHPUT_BATCH = 128     # vector_search_FPGA.py throughput example: --batch_size 128, tik-tok


@dataclass(frozen=True)
class SystemFigures:
    """One system at one batch size, modeled."""

    system: str
    latency_s: float              # median batch latency
    latency_p95_s: float
    throughput_qps: float
    energy_per_query_J: float
    stages_s: dict[str, float]    # the median batch's stages
    bound: str                    # the resource that sets the throughput
    config: str                   # the modeled hardware, named
    fits: bool = True             # the shard fits the memory node
    capacity_note: str = ""
    energy_note: str = ""


@dataclass(frozen=True)
class SystemResult:
    """Every requested system at one batch size; ``result[name]`` is a :class:`SystemFigures`."""

    spec: SearchSpec
    batch: int
    nodes: int
    cpu_cores: int
    systems: dict[str, SystemFigures]
    figures: str = "modeled"

    def __getitem__(self, name: str) -> SystemFigures:
        return self.systems[name]

    def to_dict(self) -> dict[str, Any]:
        s = self.spec
        return {"figures": self.figures, "batch": self.batch, "nodes": self.nodes, "cpu_cores": self.cpu_cores,
                "dataset": s.name, "d": s.d, "M": s.M, "ntotal": s.ntotal, "nlist": s.nlist, "nprobe": s.nprobe,
                "k": s.k, "systems": {x: asdict(f) for x, f in self.systems.items()}}


@dataclass
class SystemModel:
    """The named hardware of one study, injectable: CPU server, GPU, socket power, network (None: the host
    stack costs measured here at the server's clock), memory-node kind and count."""

    spec: SearchSpec = field(default_factory=SearchSpec)
    nodes: int = 1
    cpu_cores: int = 8
    samples: int = 101
    pool: QueryPool | None = None
    cpu_regime: str = "warm"   # hwsim.cpu.SCAN_REGIMES: per-code costs of warm or cold lists
    server: CpuServer = EPYC_7313  # the CPU server (its cores are set from cpu_cores)
    gpu: GpuConfig = RTX_3090
    socket: SocketPower = field(default_factory=SocketPower)
    net: Network | None = None

    def __post_init__(self):
        if self.nodes < 1 or self.cpu_cores < 1 or self.samples < 1:
            raise HwragError("nodes, cpu cores and samples must be >= 1")
        self.server = self.server.with_cores(self.cpu_cores)
        self.cpu = FaissCpu(self.server, regime=self.cpu_regime)
        self.net = self.net or measured_network(self.server.clock_ghz, self.cpu.rates)
        self.pool = self.pool or make_pool(self.spec)
        self._node_cache: dict[str, Any] = {}

    # -- one system, one batch size ------------------------------------------------------------
    def cpu_system(self, kind: SystemKind, b: int) -> SystemFigures:
        s, codes = self.spec, self.pool.codes
        gpu_sel = kind.selection == "gpu"

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
        return SystemFigures(
            kind.name, total, p95, CPU_THROUGHPUT_BATCH / t_big, (cpu_j + gpu_j) / b,
            {"list_selection": sel, "scan": scan, "other": total - sel - scan},
            "memory" if big.memory_bound else "cpu cores",
            f"{'GPU list selection (' + self.gpu.name + ') + ' if gpu_sel else ''}{self.cpu.describe()}")

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

    def node_system(self, kind: SystemKind, b: int) -> SystemFigures:
        s = self.spec
        node, nt = self.node_times(kind.scan)
        cpu_sel = kind.selection == "cpu"

        def select_s(n):
            return self.cpu.flat_select_s(n, s.nlist, s.d) if cpu_sel else self.gpu.select_s(n, s.nlist, s.d, s.nprobe)

        samples = self.samples if not nt.concurrent else min(self.samples, 21)  # a PIM batch is modeled whole
        flows = sorted(((select_s(b) + self.client_s(b) + f.total_s, f)
                        for f in (self._flow(node, nt, idx, kind.scan)
                                  for idx in _batches(len(nt.device_s), b, samples))), key=lambda x: x[0])
        total, f = flows[len(flows) // 2]
        p95 = flows[int(0.95 * (len(flows) - 1))][0]
        tb = NODE_THROUGHPUT_BATCH
        ft = self._flow(node, nt, _batches(len(nt.device_s), tb, 1)[0], kind.scan)
        # the configuration's batches in flight: the busiest resource sets the period (host selection and
        # client, coordinator, a node)
        host = select_s(tb) + self.client_s(tb)
        period = max(host, ft.sender_busy_s, ft.node_busy_s, ft.total_s / windows(s.d, s.M, self.nodes)[1])
        sel = select_s(b)
        sel_j = (self.socket.watts(team_cores(b, self.server.cores)) if cpu_sel else self.gpu.active_power_w) * sel
        stages = {"list_selection": sel, "host_client": self.client_s(b), "network_in": f.request_s + f.forward_s,
                  "nodes": f.nodes_s, "node_device_per_query": f.node_busy_s / b, "merge_and_reply": f.reply_s}
        sel_name = f"{self.server.name} flat search" if cpu_sel else self.gpu.name
        bound = max((("host (selection, client)", host), ("coordinator", ft.sender_busy_s),
                     ("memory node", ft.node_busy_s)), key=lambda x: x[1])[0]
        config = (f"list selection on {sel_name}; {self.nodes} x {nt.config}"
                  f"{' (batch run at once)' if nt.concurrent else ''}; coordinator on {self.server.name}; "
                  f"{self.net.gbps:g} Gb/s TCP")
        return SystemFigures(kind.name, total, p95, tb / period, sel_j / b + nt.energy_per_query_J * self.nodes,
                             stages, bound, config, nt.fits, nt.capacity_note, nt.energy_note)

    def model(self, systems=SYSTEMS, batch: int = 1) -> SystemResult:
        if batch < 1:
            raise HwragError(f"batch must be >= 1, got {batch}")
        unknown = [x for x in systems if x not in SYSTEM_TABLE]
        if unknown:
            raise HwragError(f"unknown system {unknown[0]!r}; accepted: {', '.join(SYSTEMS)}")
        kinds = [SYSTEM_TABLE[x] for x in systems]
        return SystemResult(self.spec, batch, self.nodes, self.cpu_cores,
                            {k.name: (self.node_system(k, batch) if k.on_nodes else self.cpu_system(k, batch))
                             for k in kinds})


def system_spec(dataset: str | None = None, **over) -> SearchSpec:
    """A named dataset's spec (``sift``, ``deep``) with overrides (d, M, ntotal, nlist, nprobe, k)."""
    base = DATASETS.get((dataset or "sift").lower())
    if base is None:
        raise HwragError(f"unknown dataset {dataset!r}; accepted: {', '.join(DATASETS)}")
    return replace(base, **{k: v for k, v in over.items() if v is not None})


