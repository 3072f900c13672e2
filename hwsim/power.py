"""Power of the system's components (cited) and energy per query as each component's power times the time
it is busy (Chameleon's accounting: a CPU socket while its cores run the search, the FPGA board while it
scans, the GPU while it selects lists).

CPU socket: ``idle + uncore + busy_cores x per_core`` watts. Chameleon measured the EPYC 7313 socket with
turbostat while faiss ran on one whole socket (``taskset --cpu-list 0-15``, faiss's default 16 OpenMP
threads; Chameleon's released CPU energy notes and energy script): 42.6 W idle (85.23 W for two
sockets), 99.7 W with one busy core and 163.8 W with all 16 (SIFT, batch 1 and 64, less the other socket's
idle). The line through the two busy points gives the uncore's and each core's share. A faiss parallel
region keeps its whole OpenMP team drawing active power: libgomp's idle team threads spin
(``GOMP_SPINCOUNT`` 300,000 by default, GCC libgomp manual) for longer than the parallel regions here; a
lone query opens no parallel region (one busy core).

Chameleon's published CPU energy per query is that power times the time per query *of the same 16-thread
run* (``ENERGY_RUN_CORES``), not of its 8-core latency runs; the fidelity check models that run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CHAMELEON_ENERGY = ("Chameleon's released energy script, Faiss_experiments/energy_measurement/"
                    "ASPLOS_compute_CPU_GPU_FPGA_energy.py")


#: the energy run: faiss's default OpenMP team on one 16-core socket (taskset --cpu-list 0-15)
ENERGY_RUN_CORES = 16


@dataclass(frozen=True)
class SocketPower:
    idle_w: float = 85.23 / 2
    one_core_w: float = 142.31 - 85.23 / 2
    all_core_w: float = 206.41 - 85.23 / 2
    all_cores: int = ENERGY_RUN_CORES
    sources: dict = field(default_factory=lambda: {
        "idle_w": f"{CHAMELEON_ENERGY}: idle_power_two_sockets 85.23 W (EPYC 7313, turbostat)",
        "one_core_w": f"{CHAMELEON_ENERGY}: 142.31 W two-socket power, SIFT batch 1, less the other socket's idle",
        "all_core_w": f"{CHAMELEON_ENERGY}: 206.41 W two-socket power, SIFT batch 64 on 16 threads "
                      "(taskset --cpu-list 0-15), less the other socket's idle",
    }, compare=False, hash=False)

    @property
    def per_core_w(self) -> float:
        return (self.all_core_w - self.one_core_w) / (self.all_cores - 1)

    def watts(self, busy_cores: int) -> float:
        if busy_cores <= 0:
            return self.idle_w
        return self.one_core_w + (busy_cores - 1) * self.per_core_w


#: FPGA board power by bitstream (Vivado power report), Chameleon's energy script
FPGA_BOARD_W = {(128, 16): 38.4, (96, 16): 37.0, (512, 32): 36.5, (1024, 64): 39.3}
FPGA_BOARD_SOURCE = f"{CHAMELEON_ENERGY}: FPGA_power per bitstream from Vivado (38.4 W SIFT, 37.0 W Deep)"


#: the FPGA's scan rate in Chameleon's energy accounting: a query's board time is the codes of nprobe mean-sized
#: lists at this rate (the released energy script; docs/REFERENCE.md § How the figures were produced)
CHAMELEON_FPGA_SCAN_GBS = 32.0


def chameleon_fpga_energy_J(d: int, M: int, nprobe: int, mean_list_codes: float) -> float:
    """Energy per query of the FPGA boards as Chameleon computed its published figures: the bitstream's board
    power x (nprobe mean-sized lists of M-byte codes at :data:`CHAMELEON_FPGA_SCAN_GBS`). Split over N nodes,
    each board scans 1/N of the bytes at the same rate: N x W x t/N, the same energy."""
    return fpga_board_w(d, M) * nprobe * mean_list_codes * M / (CHAMELEON_FPGA_SCAN_GBS * 1e9)


def fpga_board_w(d: int, M: int) -> float:
    """The bitstream's reported power; another shape takes the nearest bitstream's."""
    key = min(FPGA_BOARD_W, key=lambda k: (k[1] != M, abs(k[0] - d)))
    return FPGA_BOARD_W[key]


def team_cores(batch: int, cores: int) -> int:
    """Cores drawing active power while faiss runs a batch (module doc)."""
    return 1 if batch <= 1 else cores
