"""Chameleon's network: message sizes of its protocol and the cost of each message over raw TCP.

Sizes (Chameleon's released ``CPU_programs/constants.hpp`` and ``CPU_cooridnator_for_GPU_FPGA.cpp``; every
FPGA-side field padded to 64-byte AXI words):

* G2C (GPU host -> coordinator), per batch: 16-byte header + b x D float32 queries + b x nprobe int64 list ids.
* C2F (coordinator -> each memory node): a one-word batch header, then per query: the probed list ids
  (int32), the query and the nprobe probed centroids (float32), each padded to whole AXI words.
* F2C (node -> coordinator), per query: one header word + K int64 ids + K float32 distances, padded.
* C2G (coordinator -> GPU host), per batch: b x K x (8 + 4) bytes.

Cost of one message (:meth:`Network.message_s`): the sender's and the receiver's TCP stack per message
and per byte (a host stack: measured here on loopback by ``bench.cpu_rates``, scaled to the host's clock;
the FPGA's hardware stack: its per-message pipeline latency), the bytes at line rate, and one switch hop.
The FPGA sends every 64-byte AXI word as its own TCP packet (Chameleon's FPGA ``host.cpp``:
``pkgWordCountTx = 1``), so a host receiving an F2C message also handles ``axi_words - 1`` extra small
segments (:data:`FPGA_SEGMENT_BYTES`), each half the extra-segment cost measured on loopback
(``bench.host_costs``: both stacks there, the receiver's share here). A hand-off between two host threads
(a semaphore post waking a blocked thread) costs one measured wake-up.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AXI_BYTES = 64  # 512-bit AXI word
FPGA_SEGMENT_BYTES = AXI_BYTES  # Chameleon's FPGA host.cpp: pkgWordCountTx = 1 (one AXI word per TCP packet)


def axi_words(nbytes: int) -> int:
    return -(-int(nbytes) // AXI_BYTES)


def g2c_bytes(b: int, d: int, nprobe: int) -> int:
    return 16 + 4 * b * d + 8 * b * nprobe


def c2f_query_bytes(d: int, nprobe: int) -> int:
    return AXI_BYTES * (axi_words(4 * nprobe) + axi_words(4 * d) + nprobe * axi_words(4 * d))


def f2c_query_bytes(k: int) -> int:
    return AXI_BYTES * (1 + axi_words(8 * k) + axi_words(4 * k))


def c2g_bytes(b: int, k: int) -> int:
    return b * k * 12


@dataclass(frozen=True)
class Network:
    """Raw TCP between hosts and memory nodes. Host stack costs are in cycles of the host's core."""

    gbps: float = 100.0
    hop_s: float = 1.0e-6
    host_msg_cycles: float = 0.0      # filled from the measured rates (see :func:`measured_network`)
    host_byte_cycles: float = 0.0
    host_ghz: float = 3.0
    fpga_msg_s: float = 1.0e-6
    segment_cycles: float = 0.0       # extra small segment, both stacks on loopback (bench.host_costs)
    wakeup_cycles: float = 0.0        # one thread hand-off (bench.host_costs)
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def host_s(self, nbytes: int) -> float:
        return (self.host_msg_cycles + self.host_byte_cycles * nbytes) / (self.host_ghz * 1e9)

    def wakeup_s(self) -> float:
        return self.wakeup_cycles / (self.host_ghz * 1e9)

    def host_segments_s(self, nbytes: int) -> float:
        """A host receiving a message the FPGA sent as one TCP packet per AXI word: the extra packets."""
        extra = max(0, -(-int(nbytes) // FPGA_SEGMENT_BYTES) - 1)
        return extra * self.segment_cycles / 2 / (self.host_ghz * 1e9)

    def message_s(self, nbytes: int, src: str = "host", dst: str = "host") -> float:
        """One message: sender stack + wire (line rate, one hop) + receiver stack."""
        ends = sum(self.host_s(nbytes) if e == "host" else self.fpga_msg_s for e in (src, dst))
        if src == "fpga" and dst == "host":
            ends += self.host_segments_s(nbytes)
        return ends + nbytes * 8 / (self.gbps * 1e9) + self.hop_s

    def send_occupancy_s(self, nbytes: int) -> float:
        """How long the sending host thread is busy with one message (its stack, half the round trip)."""
        return self.host_s(nbytes)


def measured_network(host_ghz: float, rates=None) -> Network:
    from .cpu import load_rates

    r = rates or load_rates()
    msg, byte = r.tcp
    return Network(
        host_msg_cycles=msg, host_byte_cycles=byte, host_ghz=host_ghz,
        segment_cycles=r.host.get("segment_cycles", 0.0), wakeup_cycles=r.host.get("wakeup_cycles", 0.0),
        sources={"gbps": "Alveo U250 QSFP28 100 GbE; Chameleon's 100 Gbit/s TCP/IP stack (FPGA-PQ-disaggregated-"
                         "memory README)",
                 "host_msg_cycles": f"measured here: loopback TCP_NODELAY round trip / 2 ({r.measured_on})",
                 "host_byte_cycles": "measured here: loopback TCP per-byte cost (same run)",
                 "hop_s": "assumed: one 100 GbE switch hop and NIC, ~1 us",
                 "fpga_msg_s": "assumed: the FPGA's hardware TCP stack pipeline, ~1 us per message",
                 "segment_cycles": "measured here: extra 64-byte TCP segment on loopback (bench.host_costs); "
                                   "the host receiver pays half",
                 "wakeup_cycles": "measured here: pipe ping-pong between two processes / 2 (bench.host_costs)"})
