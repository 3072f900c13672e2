"""The event loop the servers (and the benchmarks' asyncio clients) run on: uvloop when it is installed,
asyncio's own otherwise; ``HWRAG_EVENT_LOOP=asyncio`` (or ``uvloop``) chooses.

Why: a message on an open gRPC stream costs the Python side a few wake-ups of the event loop (grpc.aio's
poller thread hands each completion to the loop through a socket), and uvloop's (libuv's) loop does them
for less CPU than asyncio's selector loop. ``python -m bench.grpc_floor --event-loops asyncio uvloop`` and
``python -m bench.service_bench --event-loop asyncio uvloop`` measure the difference side by side
(retrieval_service/README.md, "On streams").
"""
from __future__ import annotations

import asyncio
import os

from ivfpq.errors import HwragError

EVENT_LOOP_ENV = "HWRAG_EVENT_LOOP"
EVENT_LOOPS = ("uvloop", "asyncio")
CHOICES = ("auto", *EVENT_LOOPS)   # what a command line accepts: "auto" is the default choice below


def _have_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_kind(kind: str | None = None) -> str:
    """``kind``, else ``$HWRAG_EVENT_LOOP``, else uvloop when it is installed, else asyncio (``kind`` "auto":
    as None)."""
    kind = (None if kind == "auto" else kind) or os.environ.get(EVENT_LOOP_ENV) or ("uvloop" if _have_uvloop() else "asyncio")
    if kind not in EVENT_LOOPS:
        raise HwragError(f"{EVENT_LOOP_ENV}={kind!r}; accepted: {', '.join(EVENT_LOOPS)}")
    if kind == "uvloop" and not _have_uvloop():
        raise HwragError(f"{EVENT_LOOP_ENV}=uvloop but uvloop is not installed (pip install uvloop)")
    return kind


def new_event_loop(kind: str | None = None) -> asyncio.AbstractEventLoop:
    if loop_kind(kind) == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(coro, kind: str | None = None):
    """``asyncio.run(coro)`` on a fresh loop of :func:`loop_kind`."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(kind)) as runner:
        return runner.run(coro)
