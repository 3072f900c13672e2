"""The scan unit's controller states and the length of its DRAIN phase: what the generator
(:mod:`.scan_unit`) and its checker (:mod:`.props`) both need, in one module that imports neither."""
from __future__ import annotations

from .config import ScanConfig
from .pq_distance import pq_distance_latency
from .pqueue import pqueue_settle_cycles

IDLE, SCAN, DRAIN, OUT, DONE = range(5)


def drain_cycles(cfg: ScanConfig) -> int:
    """Cycles in DRAIN after flush: the last beat's distance through the unit, then the queue settles."""
    return pq_distance_latency(cfg.m) + pqueue_settle_cycles(cfg.queue_len) + 1
