"""Memory-node health as state: a circuit breaker per node, and the probe that closes it again.

A node is *up* (its shard is scanned on the request path) or *down* (skipped: policy PARTIAL answers
from the other shards at once, policy FAIL answers UNAVAILABLE at once, neither dials it). A scan that
fails with UNAVAILABLE (refused, reset: the node is gone) marks the node down at once; a scan that
fails otherwise (its deadline, a broken stream) marks it *suspect*, and the probe decides. The probe
(:class:`HealthProber`, one task per coordinator) asks every down or suspect node the standard
``grpc.health.v1.Health/Check`` every ``probe_interval_s``, at once when woken by a failure: SERVING
brings a node up, anything else keeps (or puts) it down. Every change is logged with the node, the
reason and, coming back, how long it was down; :mod:`.info` reports the state, since when and why.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2

from ..wire import MEMORY_NODE_SERVICE

log = logging.getLogger(__name__)

UP, DOWN = "up", "down"


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@dataclass
class NodeHealth:
    """The breaker of one memory node (as one index's coordinator entry sees it)."""
    label: str  # "index 'default' shard 1 at 127.0.0.1:50061"
    state: str = UP
    since: float = field(default_factory=time.time)  # Unix time of the last change
    since_mono: float = field(default_factory=time.monotonic)
    transitions: int = 0
    reason: str = "connected"
    suspect: bool = False  # a scan failed without saying the node is gone: probe it now

    @property
    def up(self) -> bool:
        return self.state == UP

    def _set(self, state: str, reason: str) -> float:
        was = time.monotonic() - self.since_mono
        self.state, self.reason = state, reason
        self.since, self.since_mono = time.time(), time.monotonic()
        self.transitions += 1
        self.suspect = False
        return was

    def mark_down(self, reason: str) -> bool:
        """Take the node off the request path; True when it was up."""
        if not self.up:
            self.reason = reason
            return False
        self._set(DOWN, reason)
        log.warning("%s DOWN at %s: %s (skipped until its health probe answers SERVING)", self.label,
                    _utc(self.since), reason)
        return True

    def mark_up(self, reason: str) -> bool:
        """Put the node back on the request path; True when it was down."""
        if self.up:
            self.suspect = False
            return False
        was = self._set(UP, reason)
        log.warning("%s UP again at %s after %.2f s down: %s", self.label, _utc(self.since), was, reason)
        return True

    def describe(self) -> str:
        return f"{self.label}: down since {_utc(self.since)} ({self.reason})"


class HealthProber:
    """Probes the down and suspect nodes of ``nodes()`` every ``interval_s`` (and when woken)."""

    def __init__(self, nodes, interval_s: float, metadata=None):
        self.nodes = nodes  # () -> iterable of NodeHandle
        self.interval_s = interval_s
        self.timeout_s = max(0.2, interval_s)
        self.metadata = metadata
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.probes = 0  # health checks sent (tests and Info)

    def start(self) -> None:
        """Start the probe task on the running loop (once)."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hwrag-health-probe")

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            todo = [n for n in self.nodes() if not n.health.up or n.health.suspect]
            if todo:
                await asyncio.gather(*[self.probe(n) for n in todo])

    async def probe(self, node) -> bool:
        """Ask ``node`` the gRPC health check; mark it up or down by the answer; True when SERVING."""
        self.probes += 1
        try:
            r = await node.health_stub.Check(health_pb2.HealthCheckRequest(service=MEMORY_NODE_SERVICE),
                                             timeout=self.timeout_s, metadata=self.metadata)
        except grpc.aio.AioRpcError as e:
            node.health.mark_down(f"health probe: {e.code().name} ({e.details()})")
            return False
        except asyncio.CancelledError:
            raise
        if r.status == health_pb2.HealthCheckResponse.SERVING:
            if node.health.mark_up("health probe: SERVING") and node.stream is not None:
                node.stream.allow_reopen()
            return True
        node.health.mark_down(f"health probe: {health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}")
        return False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 -- closing anyway
                pass
            self._task = None
