"""The batching window: concurrent callers with the same (index, k, nprobe, policy) gathered into one
fan-out.

:class:`BatchWindow` is the policy (when gathered callers go); :class:`Batcher` does the gathering and
hands each caller its rows of the shared answer. The Batcher knows nothing of how a search runs: it is
given ``execute(entry, q, k, nprobe, policy, deadline) -> SearchOutcome``.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import numpy as np

from ..wire import MEASURED, Figure
from .outcome import SearchOutcome
from .registry import IndexEntry

Execute = Callable[[IndexEntry, np.ndarray, int, int, int, float], Awaitable[SearchOutcome]]


@dataclass(frozen=True)
class BatchWindow:
    """When callers go. A caller that finds no fan-out of its key in flight goes at once (a lone caller
    never waits for the window); callers arriving while one is in flight gather, and go together when it
    finishes, when ``window_s`` since the first of them has passed, or when they hold ``max_queries``
    queries, whichever is first."""
    window_s: float
    max_queries: int = 1024

    def go_alone(self, in_flight: int) -> bool:
        return in_flight == 0

    def full(self, gathered_queries: int) -> bool:
        return gathered_queries >= self.max_queries


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
        self.timers: dict[tuple, asyncio.TimerHandle] = {}
        self.inflight: dict[tuple, int] = {}

    async def submit(self, entry: IndexEntry, q: np.ndarray, k: int, nprobe: int, policy: int,
                     deadline: float) -> SearchOutcome:
        loop = asyncio.get_running_loop()
        key = (entry.name, id(entry), k, nprobe, policy)
        if self.window.go_alone(self.inflight.get(key, 0)):  # nothing in flight (so nobody pending): go now
            assert not self.pending.get(key)
            self.inflight[key] = self.inflight.get(key, 0) + 1
            try:
                out = await self.execute(entry, q, k, nprobe, policy, deadline)
            finally:
                self._done(key)
            out.figures.insert(0, Figure("batch_wait", 0.0, MEASURED, where="coordinator"))
            return out
        caller = _Caller(q, loop.create_future(), deadline, time.perf_counter(), entry)
        gathered = self.pending.setdefault(key, [])
        gathered.append(caller)
        if len(gathered) == 1:
            self.timers[key] = loop.call_later(self.window.window_s, self._flush, key)
        elif self.window.full(sum(c.q.shape[0] for c in gathered)):
            self._flush(key)
        return await caller.answer

    def _flush(self, key) -> None:
        t = self.timers.pop(key, None)
        if t is not None:
            t.cancel()
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
        qs = np.concatenate([c.q for c in gathered])
        deadline = max(c.deadline for c in gathered)
        try:
            out = await self.execute(gathered[0].entry, qs, k, nprobe, policy, deadline)
        except BaseException as e:  # noqa: BLE001 -- handed to every waiting caller
            for c in gathered:
                if not c.answer.done():
                    c.answer.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        a = 0
        for c in gathered:
            b = a + c.q.shape[0]
            if not c.answer.done():
                figs = [Figure("batch_wait", t_flush - c.t_submit, MEASURED, where="coordinator"), *out.figures]
                c.answer.set_result(out.rows(a, b, figs))
            a = b
