"""The CPU baseline: faiss IVF-PQ on a named server, from per-core costs measured here.

:mod:`bench.cpu_rates` measures on this machine, in cycles of this core (a measured-rates file, :mod:`hwsim.rates`):
faiss's IVF-PQ scan as ``c0`` per query + ``a`` per probed list + ``b`` per code (per D, M), and its flat
list selection in cycles per centroid x dimension (sequential path for one query, BLAS path per query of a
batch). A named server (:class:`CpuServer`) turns cycles into seconds by the clock its busy cores run at,
runs a batch as faiss does, and is bounded by its memory bandwidth:

* Per-code scan cost: the release Chameleon ran (faiss 1.7.2) scans a list with a scalar loop, M dependent
  float adds per code (``scan_list_with_table``); ``bench.scan_replica`` times a replica of that loop here
  over M = 8-128 and :mod:`hwsim.scan_transfer` moves it to the server's core by its documented FP add
  latency, out-of-order window and L2 latency (never "equal cycles"). Shapes between the measured M are
  interpolated in log M. The per-query and per-list costs (the LUT terms, heap set-up) are faiss's, measured
  here; every section comes first from a file measured on the server's own core (:func:`load_rates`
  ``prefer``; a Zen 3 core for the EPYC 7313), where equal cycles is the same core; from another core they
  are taken as equal in cycles (an assumption, listed in docs/REFERENCE.md).
* Clock: the EPYC 7313 is rated 3.0 GHz base and up to 3.7 GHz boost (AMD product page); Precision Boost 2
  sets the busy cores' clock by the socket's power, current and thermal state, and no turbostat reading of
  the clock under faiss is published. The clock is therefore the one fitted constant of the CPU model
  (:data:`FITTED_BUSY_GHZ`): fitted once on the calibration set (SIFT CPU latency and throughput) by
  ``hwrag bench fidelity`` and used unchanged for every dataset, batch and system; it must lie between the
  base and the boost clock.
* ``IndexIVF::search`` with ``parallel_mode`` 0 (faiss ``IndexIVF.cpp``) splits a batch of ``b`` queries
  into ``nt = min(threads, b)`` contiguous slices, one OpenMP thread each; a thread runs the coarse
  quantizer on its slice (``IndexFlatL2``: sequential below ``distance_compute_blas_threshold`` = 20
  queries, BLAS above) and then scans its queries one after another. So a lone query runs on one
  thread, and a batch takes as long as its slowest slice.
* ``search_preassigned`` (list selection elsewhere) with ``parallel_mode`` 3 parallelises over queries
  with a static OpenMP schedule: the same slices without the coarse quantizer.
* Memory ceiling: a batch cannot finish before its code bytes have streamed at the server's memory
  bandwidth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ivfpq.errors import HwragError

#: ``warm``: the model's per-code cost (faiss 1.7.2's scalar loop, :meth:`CpuRates.code_cycles`); ``cold``: a
#: diagnostic, today's faiss (SIMD gathers) over lists streamed from memory on the machine that ran
#: bench.cpu_rates (its memory stalls included), in that core's cycles
SCAN_REGIMES = ("warm", "cold")
BLAS_THRESHOLD = 20  # faiss 1.7.2 distance_compute_blas_threshold (utils/distances.cpp), the faiss Chameleon ran


#: the EPYC 7313's busy clock under faiss, fitted once on the calibration set (module doc; bench.fidelity
#: ``fit_busy_clock`` recomputes it and lists its residual)
FITTED_BUSY_GHZ = 3.41


@dataclass(frozen=True)
class CpuServer:
    """A named CPU server running faiss with ``cores`` OpenMP threads; busy cores run at ``clock_ghz``;
    ``microarchitecture`` names its core in :data:`hwsim.scan_transfer.MICROARCHITECTURES`."""

    name: str
    cores: int
    clock_ghz: float
    memory_gbs: float
    base_ghz: float = 0.0
    boost_ghz: float = 0.0
    microarchitecture: str = "zen3"
    l3_mb_shared: float = 32.0   # L3 shared by the cores of one core complex
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def with_cores(self, cores: int) -> "CpuServer":
        if cores < 1:
            raise HwragError(f"cpu cores must be >= 1, got {cores}")
        from dataclasses import replace

        return replace(self, cores=int(cores), name=f"{self.name.split('-')[0]}-{cores}c")


EPYC_7313 = CpuServer(
    "epyc7313-8c", cores=8, clock_ghz=FITTED_BUSY_GHZ, memory_gbs=204.8, base_ghz=3.0, boost_ghz=3.7,
    microarchitecture="zen3",
    sources={"cores": "docs/REFERENCE.md § Chameleon measured results: faiss on 8 cores of an AMD EPYC 7313 (16 for SYN-1024)",
             "clock_ghz": "fitted once on the calibration set (bench.fidelity fit_busy_clock); between the 3.0 GHz "
                          "base and 3.7 GHz boost of docs/REFERENCE.md § CPU",
             "boost_ghz": "docs/REFERENCE.md § CPU: AMD EPYC 7313 max boost 3.7 GHz",
             "microarchitecture": "docs/REFERENCE.md § CPU: AMD EPYC 7313, 16 Zen 3 cores",
             "l3_mb_shared": "docs/REFERENCE.md § CPU: AMD EPYC 7313, 128 MB L3 in four core complexes of 32 MB",
             "base_ghz": "docs/REFERENCE.md § CPU: AMD EPYC 7313 base clock 3.0 GHz",
             "memory_gbs": "docs/REFERENCE.md § CPU: AMD EPYC 7313, 8 channels DDR4-3200 = 8 x 25.6 GB/s"})


@dataclass(frozen=True)
class CpuRates:
    """Per-core costs measured here (cycles of the measuring core), and where they came from."""

    scan: dict          # (d, M) -> (query_cycles, list_cycles, code_cycles)
    select: dict        # d -> (seq, blas) cycles per centroid x dimension
    tcp: tuple          # (per_message_cycles, per_byte_cycles)
    measured_on: str
    host: dict = field(default_factory=dict)  # bench.host_costs: wake-up, extra segment, Python client (cycles)
    scan_cold: dict = field(default_factory=dict)  # (d, M) -> (list_cycles, code_cycles), lists from memory
    #: bench.scan_replica: M -> (full, chain, nochain) cycles per code of the faiss 1.7.2 loop on the measuring
    #: core, that core's microarchitecture and its measured FP add latency
    replica: dict = field(default_factory=dict)
    replica_core: str = ""
    replica_fadd: float = 0.0
    replica_on: str = ""

    @cached_property
    def _moved(self) -> dict:
        """target core -> (log2 M, cycles per code / M) of the replica moved there (filled on first use: the
        scan model asks for it once per batch)."""
        return {}

    def code_cycles(self, M: int, target: str) -> float:
        """Cycles per code of faiss 1.7.2's scalar scan at M on the ``target`` core: the replica measured here,
        moved by microarchitecture (:mod:`hwsim.scan_transfer`), interpolated in log M between measured M."""
        from . import scan_transfer as st

        if not self.replica:
            raise HwragError("these CPU rates have no scan_replica section; measure it: python -m bench.scan_replica")
        if target not in self._moved:
            here, tgt = st.get(self.replica_core), st.get(target)
            ms = sorted(self.replica)
            self._moved[target] = (np.log2(ms), [st.transfer(*self.replica[m], m, here, self.replica_fadd, tgt)
                                                 ["cycles_per_code"] / m for m in ms])
        log_m, per = self._moved[target]
        return float(M * np.interp(np.log2(M), log_m, per))

    def scan_costs(self, d: int, M: int, regime: str = "warm", target: str = "") -> tuple[float, float, float]:
        """Per query, per list (nearest measured shape: same M and nearest D, else nearest M) and per code.
        Per code: with a ``target`` core, the faiss 1.7.2 replica moved to it (:meth:`code_cycles`); without,
        the measured faiss scan (scaled by M from the nearest M). ``regime`` ``cold``: per-list and per-code
        costs of lists scanned from memory by this faiss, where measured for this M (a diagnostic bound)."""
        same = [k for k in self.scan if k[1] == M]
        if same:
            c0, a, b = self.scan[min(same, key=lambda k: abs(k[0] - d))]
        else:
            k = min(self.scan, key=lambda k: abs(np.log2(k[1] / M)))
            c0, a, b = self.scan[k]
            b = b * M / k[1]
        cold = [k for k in self.scan_cold if k[1] == M]
        if regime == "cold" and cold:
            a, b = self.scan_cold[min(cold, key=lambda k: abs(k[0] - d))]
        elif target:
            b = self.code_cycles(M, target)
        return c0, a, b

    def select_cycles(self, d: int, batch: int) -> float:
        """Cycles per centroid x dimension of the flat coarse search of ``batch`` queries, by faiss's path:
        sequential below ``BLAS_THRESHOLD``, else the GEMM path at that batch (log-interpolated between the
        measured batches, the ends held)."""
        seq, blas = self.select[min(self.select, key=lambda x: abs(x - d))]
        if batch < BLAS_THRESHOLD:
            return seq
        if not isinstance(blas, dict):
            return float(blas)
        b = np.array(sorted(int(x) for x in blas), float)
        c = np.array([blas[str(int(x))] for x in b])
        return float(np.interp(np.log(batch), np.log(b), c))


@lru_cache(maxsize=8)
def load_rates(directory: str | None = None, prefer: str | None = EPYC_7313.microarchitecture) -> CpuRates:
    """The CPU rates from the measured-rates files (:mod:`hwsim.rates`): each section from the newest file
    measured on the ``prefer`` microarchitecture (the modeled server's core: the default EPYC 7313's Zen 3),
    else from the newest file that has it; ``directory`` another folder of rates files."""
    from . import rates as R

    d = Path(directory) if directory else None
    scan, f_scan = R.section("faiss_scan", d, prefer)
    select, _ = R.section("flat_select", d, prefer)
    tcp, _ = R.section("tcp", d, prefer)
    h, _ = R.section("host", d, prefer)
    try:
        cold, _ = R.section("faiss_scan_cold", d, prefer)
    except HwragError:
        cold = {"shapes": []}
    try:
        rep, f_rep = R.section("scan_replica", d, prefer)
    except HwragError:
        rep, f_rep = {}, None
    host = {"wakeup_cycles": h.get("wakeup_cycles", 0.0), "segment_cycles": h.get("segment_cycles", 0.0),
            "client_fixed_cycles": h.get("python_client", {}).get("fixed_cycles", 0.0),
            "client_query_cycles": h.get("python_client", {}).get("per_query_cycles", 0.0)}
    return CpuRates(
        scan={(s["d"], s["M"]): (s["query_cycles"], s["list_cycles"], s["code_cycles"]) for s in scan["shapes"]},
        select={s["d"]: (s["seq_cycles_per_centroid_dim"], s["blas_cycles_per_centroid_dim"])
                for s in select["shapes"]},
        tcp=(tcp["per_message_cycles"], tcp["per_byte_cycles"]),
        host=host,
        scan_cold={(c["d"], c["M"]): (c["list_cycles"], c["code_cycles"]) for c in cold["shapes"]},
        replica={x["M"]: (x["full_cycles_per_code"], x["chain_cycles_per_code"], x["nochain_cycles_per_code"])
                 for x in rep.get("sweep", [])},
        replica_core=(f_rep.machine.get("microarchitecture") or "") if f_rep else "",
        replica_fadd=rep.get("fadd_latency_cycles", 0.0),
        replica_on=R.provenance(f_rep, "scan_replica") if f_rep else "",
        measured_on=f"{R.provenance(f_scan, 'faiss_scan')}, faiss {scan['faiss']} "
                    f"({scan.get('faiss_simd_level', 'default')} kernels)")


@dataclass
class CpuBatch:
    """Modeled faiss run of one batch: per-thread busy seconds and the batch's time."""

    select_s: float      # slowest thread's coarse quantizer time
    scan_s: float        # slowest thread's scan time
    batch_s: float       # max over threads (select + scan), at least the memory ceiling
    threads: int
    memory_bound: bool


class FaissCpu:
    """faiss IVF-PQ on ``server`` (see module doc)."""

    def __init__(self, server: CpuServer = EPYC_7313, rates: CpuRates | None = None, regime: str = "warm"):
        if regime not in SCAN_REGIMES:
            raise HwragError(f"scan regime {regime!r} unknown; accepted: {', '.join(SCAN_REGIMES)}")
        self.server = server
        self.rates = rates or load_rates(prefer=server.microarchitecture)
        self.regime = regime

    def seconds(self, cycles):
        return np.asarray(cycles, float) / (self.server.clock_ghz * 1e9)

    def select_query_s(self, nlist: int, d: int, batch: int, streams: int = 1) -> float:
        """One thread's coarse-quantizer time per query, in a slice of ``batch`` queries, while ``streams``
        threads search at once. faiss's sequential path reads the whole centroid matrix per query; where the
        matrix outgrows the L3 of a core complex each read comes from memory, and the threads streaming at
        once share the socket's bandwidth: the time is the longer of the compute and that stream. (The GEMM
        path reads the matrix once per block of queries: compute only.)"""
        compute = float(self.seconds(nlist * d * self.rates.select_cycles(d, batch)))
        matrix = nlist * d * 4
        if batch >= BLAS_THRESHOLD or matrix <= self.server.l3_mb_shared * 2 ** 20:
            return compute
        return max(compute, matrix * max(1, streams) / (self.server.memory_gbs * 1e9))

    def scan_query_s(self, codes: np.ndarray, d: int, M: int) -> np.ndarray:
        """(b,) one thread's scan time per query; ``codes[q, p]`` codes in query q's probed list p."""
        c0, a, b = self.rates.scan_costs(d, M, self.regime, self.server.microarchitecture if self.rates.replica else "")
        codes = np.atleast_2d(np.asarray(codes, np.int64))
        return self.seconds(c0 + (codes > 0).sum(axis=1) * a + codes.sum(axis=1) * b)

    def batch(self, codes: np.ndarray, nlist: int, d: int, M: int, select: bool = True,
              threads: int | None = None) -> CpuBatch:
        """faiss's run of a batch (module doc): slices over ``min(threads, b)`` threads."""
        codes = np.atleast_2d(np.asarray(codes, np.int64))
        b = codes.shape[0]
        nt = max(1, min(threads or self.server.cores, b))
        per_q = self.scan_query_s(codes, d, M)
        bounds = [(b * i // nt, b * (i + 1) // nt) for i in range(nt)]
        sel = [self.select_query_s(nlist, d, hi - lo, nt) * (hi - lo) if select else 0.0 for lo, hi in bounds]
        scan = [float(per_q[lo:hi].sum()) for lo, hi in bounds]
        t = [s + c for s, c in zip(sel, scan)]
        j = int(np.argmax(t))
        ceiling = codes.sum() * M / (self.server.memory_gbs * 1e9)
        return CpuBatch(sel[j], scan[j], max(t[j], ceiling), nt, ceiling > t[j])

    def flat_select_s(self, b: int, nlist: int, d: int) -> float:
        """A separate coarse search of ``b`` queries over all threads (Chameleon's CPU coordinator, FPGA-CPU):
        faiss parallelises the sequential path over queries and the BLAS path inside the GEMM."""
        per = self.select_query_s(nlist, d, b, min(b, self.server.cores))
        if b >= BLAS_THRESHOLD:
            return per * b / self.server.cores
        return per * -(-b // self.server.cores)

    def describe(self) -> str:
        s = self.server
        moved = ("the server's own core, no transfer" if self.rates.replica_core == s.microarchitecture
                 else f"moved to {s.microarchitecture} by microarchitecture")
        code = (f"per-code cost of faiss 1.7.2's scalar scan measured on {self.rates.replica_on}, {moved}; "
                if self.rates.replica and self.regime == "warm" else "")
        return (f"{s.name}: faiss IVF-PQ, {s.cores} threads at {s.clock_ghz:g} GHz (fitted busy clock), "
                f"{s.memory_gbs:g} GB/s; {code}other per-core costs ({self.regime} lists) measured on "
                f"{self.rates.measured_on}")
