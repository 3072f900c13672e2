"""The Python gRPC floor on this machine: what one unary call that does nothing costs, and what one
message on an open bidirectional stream costs, on bare grpc servers and on hwrag's, side by side in one run.

    python -m bench.grpc_floor [--calls 2000] [--repeats 3] [--streams 1 8] [--message-bytes 256]
                               [--event-loops auto] [--out report/bench]

Each server runs in a process of its own and answers gRPC health checks (the no-op call whose cost
``bench.service_bench`` reports as the service's floor). This process calls it ``calls`` times after a
warm-up, one call at a time, the servers taking turns in every repeat. Per server, all *measured*, the
median over repeats: the server process's CPU per call (its threads' on-CPU time, ``/proc`` schedstat),
the calling thread's CPU per call (``time.thread_time``) and the call's latency p50 (wall clock).

Servers: ``aio`` (``grpc.aio`` with the health service only), ``sync`` (grpc's thread-pool server, the
same), ``hwrag`` (:func:`retrieval_service.server.start_server` with no service: health, reflection, its
options and interceptors, as the coordinator and the memory nodes run it). When ``hwrag`` costs what the
bare servers cost, a service call's per-hop floor is Python gRPC's own, not hwrag's code.

The streaming floor (the second table): every server also offers ``hwrag.bench.Floor/Echo``, a
bidirectional stream answering each message with its own bytes (no work; on hwrag's server through
the same stream handler as ``SearchStream``). A ``grpc.aio`` client on one channel sends ``calls``
messages of ``message_bytes`` bytes over 1 and over 8 concurrent streams (each stream one message in
flight, the next written when its answer came), and, beside them, the same number of unary ``Echo``
calls from 1 and 8 concurrent tasks of the same client. Per row, measured, median over repeats: the
server's CPU per message, the client process's CPU per message (``time.process_time``: its event loop
and gRPC's threads), the wall time per message (the loop's wall clock over the messages: the
throughput view) and the round trip p50 of one message. ``--event-loops asyncio uvloop``: the streaming
floor on both kinds of event loop side by side (servers and client alike; the health-check servers run the
default one: uvloop when installed, ``retrieval_service.eventloop``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SERVERS = ("aio", "sync", "hwrag")
ROOT = Path(__file__).resolve().parents[1]


ECHO_SERVICE = "hwrag.bench.Floor"  # no .proto: raw bytes in, the same bytes out
STREAMS = (1, 8)


def _echo_handlers(asynchronous: bool):
    """``Echo`` (unary) and ``EchoStream`` (bidirectional) on raw bytes, for a bare grpc server."""
    import grpc

    if asynchronous:
        async def unary(raw, context):
            return raw

        async def stream(it, context):
            async for raw in it:
                yield raw
    else:
        def unary(raw, context):
            return raw

        def stream(it, context):
            yield from it
    return grpc.method_handlers_generic_handler(ECHO_SERVICE, {
        "Echo": grpc.unary_unary_rpc_method_handler(unary),
        "EchoStream": grpc.stream_stream_rpc_method_handler(stream)})


class _Raw:
    """A "message class" of raw bytes, for hwrag's :class:`retrieval_service.server.Method`."""
    FromString = staticmethod(bytes)
    SerializeToString = staticmethod(bytes)


def _echo_service():
    """The same two methods as hwrag services have them: through hwrag's unary and stream handlers."""
    from retrieval_service.server import Method, Service

    async def unary(raw, context):
        return raw

    async def stream(requests, context):
        async for raw in requests:
            yield raw
    return Service(ECHO_SERVICE, [Method("Echo", _Raw, _Raw, unary),
                                  Method("EchoStream", _Raw, _Raw, stream, streaming=True)])


def serve(kind: str) -> None:
    """Run one server on a free loopback port, print the port, serve until killed."""
    import asyncio

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    if kind == "sync":
        from concurrent import futures

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4 + max(STREAMS)))  # a thread per stream
        hs = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(hs, server)
        server.add_generic_rpc_handlers((_echo_handlers(asynchronous=False),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        hs.set("", health_pb2.HealthCheckResponse.SERVING)
        print(port, flush=True)
        server.wait_for_termination()
        return

    async def run_aio() -> None:
        if kind == "hwrag":
            from retrieval_service.server import start_server

            handle = await start_server("127.0.0.1:0", [_echo_service()])
            print(handle.port, flush=True)
            await handle.wait()
            return
        server = grpc.aio.server()
        hs = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(hs, server)
        server.add_generic_rpc_handlers((_echo_handlers(asynchronous=True),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await hs.set("", health_pb2.HealthCheckResponse.SERVING)
        print(port, flush=True)
        await server.wait_for_termination()

    from retrieval_service.eventloop import run

    run(run_aio())  # on $HWRAG_EVENT_LOOP's loop (default: uvloop when installed)


def _start(kind: str, event_loop: str | None = None) -> tuple[subprocess.Popen, int]:
    from retrieval_service.eventloop import EVENT_LOOP_ENV

    env = {**os.environ, **({EVENT_LOOP_ENV: event_loop} if event_loop else {})}
    p = subprocess.Popen([sys.executable, "-m", "bench.grpc_floor", "--serve", kind], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline()
    if not line.strip().isdigit():
        p.kill()
        raise RuntimeError(f"the {kind} server did not start (printed {line!r})")
    return p, int(line)


def _calls(stub, req, pid: int, calls: int) -> dict:
    from .timing import process_cpu_seconds

    for _ in range(max(20, calls // 10)):  # warm-up: connection, first-call paths
        stub.Check(req, timeout=10)
    lat = []
    s0 = process_cpu_seconds(pid)
    c0 = time.thread_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        stub.Check(req, timeout=10)
        lat.append(time.perf_counter() - t0)
    client = time.thread_time() - c0
    server = process_cpu_seconds(pid) - s0
    return {"server_cpu_us_per_call": 1e6 * server / calls, "client_cpu_us_per_call": 1e6 * client / calls,
            "latency_p50_us": 1e6 * statistics.median(lat)}


async def _echo_messages(address: str, pid: int, transport: str, concurrency: int, calls: int,
                         message_bytes: int) -> dict:
    """``calls`` no-op messages over ``concurrency`` streams (``transport="stream"``) or concurrent unary
    calls (``"unary"``) of one grpc.aio channel: CPU of server and client per message, wall per message,
    round trip p50."""
    import asyncio

    import grpc

    from .timing import process_cpu_seconds

    msg = b"\x01" * message_bytes
    per = max(1, calls // concurrency)
    async with grpc.aio.insecure_channel(address) as ch:
        unary = ch.unary_unary(f"/{ECHO_SERVICE}/Echo")
        open_stream = ch.stream_stream(f"/{ECHO_SERVICE}/EchoStream")

        async def worker(n: int, lat: list | None) -> None:
            call = open_stream() if transport == "stream" else None
            for _ in range(n):
                t0 = time.perf_counter()
                if call is None:
                    await unary(msg, timeout=10)
                else:
                    await call.write(msg)
                    if await call.read() is grpc.aio.EOF:
                        raise RuntimeError("the echo stream ended early")
                if lat is not None:
                    lat.append(time.perf_counter() - t0)
            if call is not None:
                await call.done_writing()
                await call.read()  # EOF: the server ended the call

        await asyncio.gather(*[worker(max(5, per // 10), None) for _ in range(concurrency)])  # warm-up
        lat: list[float] = []
        s0, c0, t0 = process_cpu_seconds(pid), time.process_time(), time.perf_counter()
        await asyncio.gather(*[worker(per, lat) for _ in range(concurrency)])
        wall, client, server = time.perf_counter() - t0, time.process_time() - c0, process_cpu_seconds(pid) - s0
    n = per * concurrency
    return {"server_cpu_us_per_msg": 1e6 * server / n, "client_cpu_us_per_msg": 1e6 * client / n,
            "wall_us_per_msg": 1e6 * wall / n, "round_trip_p50_us": 1e6 * statistics.median(lat)}


def measure_streams(calls: int = 2000, repeats: int = 3, servers=("aio", "hwrag"), streams=STREAMS,
                    message_bytes: int = 256, event_loops=("auto",)) -> dict:
    """Per (event loop, server, transport, concurrency): the medians over ``repeats`` of
    :func:`_echo_messages`, the cells taking turns in every repeat (servers started here, one process each,
    server and client on the same kind of event loop: ``auto`` is :func:`retrieval_service.eventloop.loop_kind`)."""
    from retrieval_service.eventloop import loop_kind, run

    loops = [loop_kind(e) for e in event_loops]
    procs = {}
    cells = [(e, k, t, n) for e in loops for k in servers for t in ("unary", "stream") for n in streams]
    runs: dict[tuple, list[dict]] = {c: [] for c in cells}
    try:
        for e in loops:
            for k in servers:
                procs[(e, k)] = _start(k, e)
        for _ in range(repeats):
            for e, k, t, n in cells:
                p, port = procs[(e, k)]
                runs[(e, k, t, n)].append(run(_echo_messages(f"127.0.0.1:{port}", p.pid, t, n, calls,
                                                             message_bytes), e))
    finally:
        for p, _ in procs.values():
            p.kill()
            p.wait()
    return {"rows": [{"server": k, "event_loop": e, "transport": t, "concurrency": n,
                      **{f: statistics.median(r[f] for r in runs[c]) for f in runs[c][0]}}
                     for c in cells for e, k, t, n in [c]],
            "message_bytes": message_bytes,
            "note": "measured: grpc.aio client, one channel; stream = one message in flight per stream; server CPU "
                    "= its threads' on-CPU time (/proc schedstat), client CPU = this process's (time.process_time); "
                    "wall = the run's wall clock / messages; medians over repeats"}


def measure(calls: int = 2000, repeats: int = 3, servers=SERVERS) -> dict:
    """Per server, the medians over ``repeats`` of :func:`_calls` (the servers take turns in each repeat)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    load = os.getloadavg()
    procs, chans = {}, {}
    runs = {k: [] for k in servers}
    try:
        for k in servers:
            procs[k] = _start(k)
            chans[k] = grpc.insecure_channel(f"127.0.0.1:{procs[k][1]}")
        req = health_pb2.HealthCheckRequest()
        for _ in range(repeats):
            for k in servers:
                runs[k].append(_calls(health_pb2_grpc.HealthStub(chans[k]), req, procs[k][0].pid, calls))
    finally:
        for c in chans.values():
            c.close()
        for p, _ in procs.values():
            p.kill()
            p.wait()
    rows = [{"server": k, **{f: statistics.median(r[f] for r in runs[k]) for f in runs[k][0]}} for k in servers]
    return {"bench": "grpc_floor", "calls": calls, "repeats": repeats, "rows": rows,
            "grpc_version": grpc.__version__, "load_average_before": list(load),
            "load_average_after": list(os.getloadavg()),
            "note": "measured: one gRPC health check at a time on loopback; server CPU = its threads' on-CPU "
                    "time (/proc schedstat), client CPU = the calling thread's; medians over repeats"}


def main(argv=None) -> int:
    from ivfpq.errors import CommandParser, run_command
    from retrieval_service.eventloop import CHOICES

    ap = CommandParser(prog="python -m bench.grpc_floor", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per server and repeat (>= 1; default 2000)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats (>= 1; default 3)")
    ap.add_argument("--streams", type=int, nargs="+", default=list(STREAMS),
                    help="concurrent streams (and concurrent unary calls) of the streaming floor (each 1..8; default 1 8)")
    ap.add_argument("--message-bytes", type=int, default=256,
                    help="bytes per streamed message (>= 0; default 256: a batch-1 query of d = 64, float32)")
    ap.add_argument("--event-loops", nargs="+", default=["auto"], choices=CHOICES,
                    help="event loops of the streaming floor's aio/hwrag servers and client, each its own servers, "
                         "side by side (default: auto: uvloop when installed, else asyncio)")
    ap.add_argument("--no-streams", action="store_true", help="measure only the unary health checks (default: off)")
    ap.add_argument("--out", default="report/bench", help="directory for grpc_floor.json (default report/bench)")
    ap.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)  # the child side of measure()
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.calls < 1 or args.repeats < 1:
        ap.error(f"--calls and --repeats must be >= 1, got {args.calls} and {args.repeats}")
    if min(args.streams) < 1 or max(args.streams) > max(STREAMS) or args.message_bytes < 0:
        ap.error(f"--streams takes values 1..{max(STREAMS)} and --message-bytes >= 0, got {args.streams} and "
                 f"{args.message_bytes}")

    def run() -> int:
        res = measure(args.calls, args.repeats)
        if not args.no_streams:
            res["streams"] = measure_streams(args.calls, args.repeats, streams=tuple(args.streams),
                                             message_bytes=args.message_bytes, event_loops=tuple(args.event_loops))
            res["load_average_after"] = list(os.getloadavg())
        return _report(res, Path(args.out))

    return run_command(run)


def _report(res: dict, out: Path) -> int:
    from .table import format_table

    out.mkdir(parents=True, exist_ok=True)
    (out / "grpc_floor.json").write_text(json.dumps(res, indent=1))
    print(f"$ python -m bench.grpc_floor --calls {res['calls']} --repeats {res['repeats']}")
    print(f"a unary gRPC call with no work (health check), grpc {res['grpc_version']}, measured; load average "
          f"{res['load_average_before'][0]:.2f} -> {res['load_average_after'][0]:.2f} on {os.cpu_count()} cpus")
    print(format_table(res["rows"]))
    print(f"({res['note']})")
    if "streams" in res:
        st = res["streams"]
        print(f"per message, {st['message_bytes']} bytes echoed: unary calls vs messages on open streams, 1 and more "
              "concurrent (measured)")
        print(format_table(st["rows"]))
        print(f"({st['note']})")
    print(f"wrote {out / 'grpc_floor.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
