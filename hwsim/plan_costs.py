"""Cost data of the planner's components (:mod:`hwsim.plan`): power and list price, each with its source.

Power reuses the figures the system model already cites (:mod:`hwsim.power`, :mod:`hwsim.gpu`): the EPYC
7313 socket measured by Chameleon with turbostat, the RTX 3090 measured by Chameleon during list selection,
the Alveo U250 board power of Chameleon's bitstreams (Vivado report). The PIM memory nodes have no cited
static or board power (their model gives dynamic energy only), so their power is *undefined* and every
per-watt objective of a configuration that holds one is left undefined rather than guessed.

Prices are public launch list prices, each with its date and where it was read. Where no public list price was
found (the Alveo U250: AMD sells it through distributors without a published list price; HBM-PIM and the
DIMM-PIM of HeterRAG: research prototypes, not sold; UPMEM DIMMs: sold on request), the price is ``None`` and
the per-dollar objective of every configuration that holds one is undefined. A price counts the chips only
(processor, GPU card, accelerator boards), not DRAM, boards, chassis or power supplies.
"""
from __future__ import annotations

from dataclasses import dataclass

from .gpu import RTX_3090
from .power import CHAMELEON_ENERGY, FPGA_BOARD_SOURCE, SocketPower, fpga_board_w


@dataclass(frozen=True)
class Component:
    """One kind of chip of the search space: its power (W, at the load the planner charges) and list price."""

    name: str
    power_source: str
    price_usd: float | None = None
    price_date: str = ""
    price_source: str = ""


#: the components of the search space, keyed as :func:`components_of` names them
COMPONENTS = {
    "epyc-7313": Component(
        "AMD EPYC 7313 (16 cores) socket",
        f"{CHAMELEON_ENERGY}: turbostat socket power (hwsim.power.SocketPower): idle 42.6 W, one busy core "
        "99.7 W, 16 busy cores 163.8 W",
        1083.0, "2021-03-15 (launch)",
        "AMD 1Ku launch price as listed by chipversus.com/hardware/cpu/epyc-7313 ('Launch price was $1,083', "
        "MSRP $1083, released 15 March 2021)"),
    "rtx-3090": Component(
        "NVIDIA GeForce RTX 3090", f"{RTX_3090.sources['active_power_w']} (also charged while it runs the LM; "
        "its 350 W board limit is not used)",
        1499.0, "2020-09-01 (announcement)",
        "NVIDIA launch price $1,499 (indianexpress.com, 2020-09-02, 'Meet Nvidia GeForce RTX 3090'; "
        "dreampc.com.au, 2020-09-02)"),
    "alveo-u250": Component("AMD Alveo U250 board", FPGA_BOARD_SOURCE, None, "",
                            "no public list price found (searched 2026-12-06: AMD product pages and user guides)"),
    "pim-hbm": Component("HBM-PIM memory node (Aquabolt-XL / AccelHBM class)",
                         "none cited: the PIM model gives dynamic energy only", None, "",
                         "research prototype, not sold"),
    "pim-dimm": Component("DIMM-PIM memory node (HeterRAG AccelDIMM)",
                          "none cited: the PIM model gives dynamic energy only", None, "",
                          "research prototype, not sold"),
    "upmem": Component("UPMEM PIM DIMM node", "none cited: the PIM model gives dynamic energy only", None, "",
                       "no public list price found (searched 2026-12-06; sold on request)"),
}
#: the memory-node kind of the system model -> its component
NODE_COMPONENT = {"fpga": "alveo-u250", "pim-hbm": "pim-hbm", "pim-dimm": "pim-dimm", "upmem": "upmem"}
CORES_PER_SOCKET = 16      # AMD EPYC 7313 (docs/REFERENCE.md § CPU)
#: AMD EPYC 7003: 4 TB of memory per socket (8 channels, 2 DIMMs per channel; AnandTech, "AMD 3rd Gen EPYC
#: Milan Review", 2021-03-15): the most a CPU server of the space can hold
CPU_SOCKET_MEMORY_BYTES = 4 * 2 ** 40
ID_BYTES = 8               # faiss vector ids (int64)


def sockets(cpu_cores: int) -> int:
    return -(-cpu_cores // CORES_PER_SOCKET)


def components_of(scan: str, selection: str, nodes: int, cpu_cores: int) -> dict[str, int]:
    """How many of each component a configuration holds: the CPU sockets, the GPU that runs the LM (and
    selects lists when ``selection`` is ``gpu``), and the memory nodes."""
    out = {"epyc-7313": sockets(cpu_cores), "rtx-3090": 1}
    if scan != "cpu":
        out[NODE_COMPONENT[scan]] = nodes
    return out


def power_w(scan: str, selection: str, nodes: int, cpu_cores: int, d: int, M: int) -> float | None:
    """Power of a configuration under load (W), or None where a component has no cited power. The CPU sockets
    run all their cores when they scan or select lists (faiss's OpenMP team, :mod:`hwsim.power`), one core
    (the coordinator) otherwise; the GPU at its measured active power; each FPGA board at its bitstream's
    reported power."""
    if scan not in ("cpu", "fpga"):
        return None
    socket, n = SocketPower(), sockets(cpu_cores)
    busy = cpu_cores if (scan == "cpu" or selection == "cpu") else 1
    cpu = sum(socket.watts(min(CORES_PER_SOCKET, busy - i * CORES_PER_SOCKET)) for i in range(n))
    boards = nodes * fpga_board_w(d, M) if scan == "fpga" else 0.0
    return cpu + RTX_3090.active_power_w + boards


def price_usd(counts: dict[str, int]) -> float | None:
    """List price of the chips, or None where any has no public list price."""
    prices = [COMPONENTS[c].price_usd for c in counts]
    if any(p is None for p in prices):
        return None
    return sum(COMPONENTS[c].price_usd * n for c, n in counts.items())
