"""The batching window: concurrent callers with the same (index, k, nprobe, policy) gathered into one
fan-out.

:class:`BatchWindow` is the policy (when gathered callers go); :class:`Batcher` does the gathering and
hands each caller its rows of the shared answer. The Batcher knows nothing of how a search runs: it is
given ``execute(entry, q, k, nprobe, policy, deadline) -> SearchOutcome``.

The window is open only while fan-outs of the caller's key are in flight: a caller that finds fewer
than ``max_in_flight`` of them goes at once (a lone caller never waits), so the window costs nothing
when the service is idle and gathers exactly the callers that would otherwise queue behind a busy
memory node. How long gathered callers wait at most is the window length: fixed (``window_s``), or
*adaptive*: a multiple of the measured fan-out time of that key (its running mean), so it follows the
service's own speed; how many gather follows the measured arrivals during one fan-out. Either way a
gathered caller waits at most half the time it has left.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import numpy as np

from ..wire import MEASURED, Figure
from .config import ADAPTIVE, CoordinatorConfig
from .outcome import SearchOutcome, SharedFigures
from .registry import IndexEntry

Execute = Callable[[IndexEntry, np.ndarray, int, int, int, float], Awaitable[SearchOutcome]]

#: adaptive window: gathered callers go on their own once the fan-out they wait for has taken this many
#: times the measured mean fan-out time (a fan-out that slow is stuck on a slow node, not merely busy)
ADAPTIVE_SLACK = 2.0
#: weight of the newest fan-out in the running mean of fan-out times (adaptive window)
FANOUT_EWMA = 0.2


@dataclass(frozen=True)
class BatchWindow:
    """When callers go. A caller that finds fewer than ``max_in_flight`` fan-outs of its key in flight goes
    at once; callers arriving while that many are in flight gather, and go together when one finishes,
    when the window since the first of them has passed, or when they hold ``max_queries`` queries,
    whichever is first. The window is ``window_s`` (fixed) or, with ``window_s=None`` (adaptive),
    :data:`ADAPTIVE_SLACK` times the measured mean fan-out time (before any fan-out finished: until the
    one in flight finishes). A gathered caller goes at the latest when half its time is left."""
    window_s: float | None = None
    max_queries: int = 1024
    max_in_flight: int = 1

    @property
    def adaptive(self) -> bool:
        return self.window_s is None

    def go_alone(self, in_flight: int) -> bool:
        return in_flight < self.max_in_flight

    def full(self, gathered_queries: int) -> bool:
        return gathered_queries >= self.max_queries

    def limit_s(self, mean_fanout_s: float | None) -> float | None:
        """How long gathered callers wait at most (None: until a fan-out in flight finishes)."""
        if not self.adaptive:
            return self.window_s
        return None if mean_fanout_s is None else ADAPTIVE_SLACK * mean_fanout_s


def batch_window(config: CoordinatorConfig) -> BatchWindow | None:
    """The batching policy of a checked ``config``, or None when batching is off (``batch_window_s = 0``)."""
    if config.batch_window_s == 0:
        return None
    return BatchWindow(None if config.batch_window_s == ADAPTIVE else config.batch_window_s,
                       config.max_window_queries, config.batch_in_flight)


@dataclass
class _Caller:
    q: np.ndarray
    answer: asyncio.Future
    deadline: float
    t_submit: float
    entry: IndexEntry


class Batcher:
    def __init__(self, execute: Execute, window: BatchWindow):
        self.execute, self.window = execute, window
        self.pending: dict[tuple, list[_Caller]] = {}
        # key -> (when the gathered callers go, loop time; the handle that lets them go). The time is kept here:
        # uvloop's call_at hands back a plain Handle, without when(), for a time less than half a millisecond
        # ahead (libuv's timers count whole milliseconds), which a short window asks for.
        self.timers: dict[tuple, tuple[float, asyncio.Handle]] = {}
        self.inflight: dict[tuple, int] = {}
        self.mean_fanout_s: dict[tuple, float] = {}  # running mean of measured fan-out times, per key
        self.fanouts = 0  # fan-outs run and queries they carried (the mean gathered batch is their ratio)
        self.queries = 0

    async def submit(self, entry: IndexEntry, q: np.ndarray, k: int, nprobe: int, policy: int,
                     deadline: float) -> SearchOutcome:
        loop = asyncio.get_running_loop()
        key = (entry.name, id(entry), k, nprobe, policy)
        if self.window.go_alone(self.inflight.get(key, 0)):  # a free slot (so nobody pending): go now
            assert not self.pending.get(key)
            self.inflight[key] = self.inflight.get(key, 0) + 1
            try:
                out = await self._timed(key, entry, q, k, nprobe, policy, deadline)
            finally:
                self._done(key)
            out.figures.insert(0, Figure("batch_wait", 0.0, MEASURED, where="coordinator"))
            return out
        caller = _Caller(q, loop.create_future(), deadline, time.perf_counter(), entry)
        gathered = self.pending.setdefault(key, [])
        gathered.append(caller)
        if self.window.full(sum(c.q.shape[0] for c in gathered)):
            self._flush(key)
        else:
            self._arm(key, len(gathered) == 1, deadline)
        return await caller.answer

    def _arm(self, key, first: bool, deadline: float) -> None:
        """Set when the gathered callers of ``key`` go at the latest: the window after the first of them,
        and never later than half the time a gathered caller has left (so that its own fan-out still
        has time to answer, e.g. without a shard that hangs, under policy partial)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now + max(0.0, deadline - time.monotonic()) / 2
        if first:
            limit = self.window.limit_s(self.mean_fanout_s.get(key))
            if limit is not None:
                due = min(due, now + limit)
        old = self.timers.get(key)
        if old is not None:
            if old[0] <= due:
                return
            old[1].cancel()
        self.timers[key] = (due, loop.call_at(due, self._flush, key))

    async def _timed(self, key, entry: IndexEntry, q: np.ndarray, k: int, nprobe: int, policy: int,
                     deadline: float) -> SearchOutcome:
        """One fan-out, its measured time folded into the key's running mean."""
        t0 = time.perf_counter()
        out = await self.execute(entry, q, k, nprobe, policy, deadline)
        took = time.perf_counter() - t0
        mean = self.mean_fanout_s.get(key)
        self.mean_fanout_s[key] = took if mean is None else mean + FANOUT_EWMA * (took - mean)
        self.fanouts += 1
        self.queries += q.shape[0]
        return out

    def _flush(self, key) -> None:
        t = self.timers.pop(key, None)
        if t is not None:
            t[1].cancel()
        gathered = self.pending.pop(key, None)
        if gathered:
            self.inflight[key] = self.inflight.get(key, 0) + 1
            task = asyncio.get_running_loop().create_task(self._run(key, gathered))
            task.add_done_callback(lambda _t, key=key: self._done(key))

    def _done(self, key) -> None:
        n = self.inflight.get(key, 1) - 1
        if n > 0:
            self.inflight[key] = n
        else:
            self.inflight.pop(key, None)
        if self.pending.get(key):  # callers gathered meanwhile go now
            self._flush(key)

    async def _run(self, key, gathered: list[_Caller]) -> None:
        _, _, k, nprobe, policy = key
        t_flush = time.perf_counter()
        qs = gathered[0].q if len(gathered) == 1 else np.concatenate([c.q for c in gathered])
        deadline = max(c.deadline for c in gathered)
        try:
            out = await self._timed(key, gathered[0].entry, qs, k, nprobe, policy, deadline)
        except BaseException as e:  # noqa: BLE001 -- handed to every waiting caller
            for c in gathered:
                if not c.answer.done():
                    c.answer.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        a = 0
        shared = SharedFigures(out.figures)
        for c in gathered:
            b = a + c.q.shape[0]
            if not c.answer.done():
                wait = Figure("batch_wait", t_flush - c.t_submit, MEASURED, where="coordinator")
                c.answer.set_result(out.rows(a, b, [wait], shared))
            a = b
