"""The Python gRPC floor on this machine: what one unary call that does nothing costs, on bare grpc
servers and on hwrag's, side by side in one run.

    python -m bench.grpc_floor [--calls 2000] [--repeats 3] [--out report/bench]

Each server runs in a process of its own and answers gRPC health checks (the no-op call whose cost
``bench.service_bench`` reports as the service's floor). This process calls it ``calls`` times after a
warm-up, one call at a time, the servers taking turns in every repeat. Per server, all *measured*, the
median over repeats: the server process's CPU per call (its threads' on-CPU time, ``/proc`` schedstat),
the calling thread's CPU per call (``time.thread_time``) and the call's latency p50 (wall clock).

Servers: ``aio`` (``grpc.aio`` with the health service only), ``sync`` (grpc's thread-pool server, the
same), ``hwrag`` (:func:`retrieval_service.server.start_server` with no service: health, reflection, its
options and interceptors, as the coordinator and the memory nodes run it). When ``hwrag`` costs what the
bare servers cost, a service call's per-hop floor is Python gRPC's own, not hwrag's code.
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


def serve(kind: str) -> None:
    """Run one server on a free loopback port, print the port, serve until killed."""
    import asyncio

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    if kind == "sync":
        from concurrent import futures

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        hs = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(hs, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        hs.set("", health_pb2.HealthCheckResponse.SERVING)
        print(port, flush=True)
        server.wait_for_termination()
        return

    async def run_aio() -> None:
        if kind == "hwrag":
            from retrieval_service.server import start_server

            handle = await start_server("127.0.0.1:0", [])
            print(handle.port, flush=True)
            await handle.wait()
            return
        server = grpc.aio.server()
        hs = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(hs, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        await hs.set("", health_pb2.HealthCheckResponse.SERVING)
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(run_aio())


def _start(kind: str) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-m", "bench.grpc_floor", "--serve", kind], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
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

    ap = CommandParser(prog="python -m bench.grpc_floor", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per server and repeat (>= 1)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats (>= 1)")
    ap.add_argument("--out", default="report/bench")
    ap.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)  # the child side of measure()
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.calls < 1 or args.repeats < 1:
        ap.error(f"--calls and --repeats must be >= 1, got {args.calls} and {args.repeats}")
    return run_command(lambda: _report(measure(args.calls, args.repeats), Path(args.out)))


def _report(res: dict, out: Path) -> int:
    from .table import format_table

    out.mkdir(parents=True, exist_ok=True)
    (out / "grpc_floor.json").write_text(json.dumps(res, indent=1))
    print(f"$ python -m bench.grpc_floor --calls {res['calls']} --repeats {res['repeats']}")
    print(f"a unary gRPC call with no work (health check), grpc {res['grpc_version']}, measured; load average "
          f"{res['load_average_before'][0]:.2f} -> {res['load_average_after'][0]:.2f} on {os.cpu_count()} cpus")
    print(format_table(res["rows"]))
    print(f"({res['note']})\nwrote {out / 'grpc_floor.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
