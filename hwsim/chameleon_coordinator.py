"""Chameleon's CPU coordinator between the GPU/CPU host and the memory nodes (released
``CPU_cooridnator_for_GPU_FPGA.cpp``): three threads joined by semaphores.

* G2C thread: receives a batch (queries + probed list ids) from the host and hands it to the C2F thread
  through a semaphore (one thread wake-up, :meth:`hwsim.network.Network.wakeup_s`).
* C2F thread: sends the batch header, then each query (ids, query, probed centroids) to node 0, then node 1,
  ... (one blocking ``send`` loop per node), at most ``query_window`` queries ahead of the results received.
* F2C thread: receives each query's top-K from node 0, then node 1, ... (one blocking ``read`` loop per
  node); after the batch, sends all results to the host. At most ``batch_window`` batches are in flight.

The windows are set per configuration in Chameleon's released ``CPU_programs/config/*.yaml``
(:data:`CHAMELEON_WINDOWS`, :func:`windows`). Nodes take queries one at a time, in order. :func:`batch_flow` walks one batch through this and returns
the times of its stages; :func:`merge_s` is the coordinator's top-K merge of ``nodes x K`` candidates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import Network, c2f_query_bytes, c2g_bytes, f2c_query_bytes, g2c_bytes

QUERY_WINDOW = 5   # Chameleon's config/SIFT1000M_M16.yaml query_window_size (and Deep's)
BATCH_WINDOW = 2   # batch_window_size
#: (D, M, FPGAs) -> (query_window_size, batch_window_size) of Chameleon's released configs
#: (FPGA-PQ-disaggregated-memory ``CPU_programs/config/``): SIFT1000M_M16, Deep1000M_M16, RALM-S1000M_M32,
#: RALM-S2000M_M32, RALM-L1000M_M64, RALM-L2000M_M64
CHAMELEON_WINDOWS = {(128, 16, 1): (5, 2), (96, 16, 1): (5, 2), (512, 32, 1): (2, 3), (512, 32, 2): (2, 2),
                     (1024, 64, 2): (2, 2), (1024, 64, 4): (2, 1)}


def windows(d: int, M: int, nodes: int) -> tuple[int, int]:
    """(query window, batch window) Chameleon ran a configuration with; shapes it did not run take the SIFT
    configuration's (5, 2)."""
    return CHAMELEON_WINDOWS.get((d, M, nodes), (QUERY_WINDOW, BATCH_WINDOW))


def merge_s(nodes: int, k: int, ghz: float) -> float:
    """Merging ``nodes`` sorted top-K lists into one: a heap of ``nodes`` heads, K pops of log2(nodes)
    compare-and-swap steps (~4 cycles each, analytic); a single node's list is copied as is."""
    if nodes <= 1:
        return 0.0
    return k * (4 * math.ceil(math.log2(nodes)) + 4) / (ghz * 1e9)


@dataclass
class BatchFlow:
    request_s: float     # host -> coordinator (G2C)
    forward_s: float     # first query's arrival at the nodes after the coordinator has the batch
    nodes_s: float       # first query's arrival to last result at the coordinator
    reply_s: float       # merge + coordinator -> host (C2G)
    node_busy_s: float   # sum of device time (one node)
    sender_busy_s: float # the C2F thread's time sending the batch

    @property
    def total_s(self) -> float:
        return self.request_s + self.forward_s + self.nodes_s + self.reply_s


def batch_flow(dev_s: np.ndarray, net: Network, d: int, nprobe: int, k: int, nodes: int = 1,
               node_end: str = "fpga", window: int = QUERY_WINDOW) -> BatchFlow:
    """One batch through the coordinator: ``dev_s[i]`` = query i's device time on the busiest node (node 0,
    the ceiling share). The C2F thread sends each query to node 0, then the others, so the last node's copy
    leaves ``nodes`` sends after the first; the F2C thread reads each query's results node after node, so
    every node beyond the first adds one receive to the thread's busy time."""
    dev_s = np.asarray(dev_s, float)
    b = dev_s.size
    q_bytes, r_bytes = c2f_query_bytes(d, nprobe), f2c_query_bytes(k)
    request = net.message_s(g2c_bytes(b, d, nprobe)) + net.wakeup_s()
    one_send = net.send_occupancy_s(q_bytes)
    send_occ = nodes * one_send                           # the C2F thread sends each query to every node
    to_node = net.message_s(q_bytes, "host", node_end) - one_send  # after the last send: wire, node stack
    back = net.message_s(r_bytes, node_end, "host")
    recv_occ = net.host_s(r_bytes) + (net.host_segments_s(r_bytes) if node_end == "fpga" else 0.0)
    sent = np.zeros(b)
    result = np.zeros(b)
    t_send, t_node, t_recv = nodes * net.send_occupancy_s(64), 0.0, 0.0  # the batch header goes first
    for i in range(b):
        if i >= window:
            t_send = max(t_send, result[i - window])
        t_send += send_occ
        sent[i] = t_send
        start = max(t_send + to_node, t_node)
        t_node = start + dev_s[i]
        t_recv = max(t_recv, t_node + back) + (nodes - 1) * recv_occ
        result[i] = t_recv
    reply = merge_s(nodes, k, net.host_ghz) * b + net.message_s(c2g_bytes(b, k))
    first = sent[0] + to_node if b else 0.0
    return BatchFlow(request, first, float(result[-1] - first) if b else 0.0, reply,
                     float(dev_s.sum()), float(b * send_occ))


def batch_concurrent_flow(batch_s: float, b: int, net: Network, d: int, nprobe: int, k: int, nodes: int = 1,
                          node_end: str = "host") -> BatchFlow:
    """One batch to nodes that run its queries at once (PIM whole lists on independent units): the batch
    goes to every node in one message, each answers after ``batch_s`` with all the batch's results."""
    request = net.message_s(g2c_bytes(b, d, nprobe)) + net.wakeup_s()
    q_bytes, r_bytes = 64 + b * c2f_query_bytes(d, nprobe), b * f2c_query_bytes(k)
    send_occ = nodes * net.send_occupancy_s(q_bytes)
    forward = send_occ + net.message_s(q_bytes, "host", node_end) - net.send_occupancy_s(q_bytes)
    back = net.message_s(r_bytes, node_end, "host")
    reply = merge_s(nodes, k, net.host_ghz) * b + net.message_s(c2g_bytes(b, k))
    return BatchFlow(request, forward, batch_s + back, reply, batch_s, send_occ)

