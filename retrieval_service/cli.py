"""Command-line entry points: ``serve`` (a whole cluster on this machine) and ``node`` (one memory node).

``hwrag`` wires these in with :func:`add_service_parsers`; ``python -m retrieval_service`` runs them
directly and also offers ``coordinator`` (the coordinator process a cluster starts). Either way an error
is one ``hwrag: error: <cause>`` line (:func:`ivfpq.errors.run_command`), and the cheap checks
(addresses, paths, flags) run before the expensive work (loading and verifying an index).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from ivfpq.errors import CommandParser, HwragError, quiet_library_loggers, run_command

from .security import Security, read_token
from .supervision import watch_supervisor

log = logging.getLogger(__name__)


def write_ready_file(path: str | None, **info) -> None:
    """Atomically write ``info`` (address, port, pid) as JSON: a supervisor waits for this file."""
    if not path:
        return
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps({**info, "pid": os.getpid()}))
    tmp.replace(p)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()


def _security(a) -> Security:
    return Security(a.tls_cert, a.tls_key, read_token(None, a.token_file, "HWRAG_TOKEN"),
                    read_token(None, a.admin_token_file, "HWRAG_ADMIN_TOKEN"), a.insecure_remote)


def _add_security_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("security")
    g.add_argument("--tls-cert", help="PEM certificate chain (with --tls-key: serve TLS)")
    g.add_argument("--tls-key", help="PEM private key")
    g.add_argument("--token-file", help="require this token on every call (else $HWRAG_TOKEN if set)")
    g.add_argument("--admin-token-file", help="token for admin RPCs (else $HWRAG_ADMIN_TOKEN, else the token)")
    g.add_argument("--insecure-remote", action="store_true",
                   help="allow listening on a non-loopback address without TLS")


# ---- node ----------------------------------------------------------------------------------------
def _backend_options(text: str | None) -> dict:
    try:
        opts = json.loads(text) if text else {}
    except json.JSONDecodeError as e:
        raise HwragError(f"--backend-options {text!r} is not JSON ({e}); accepted: a JSON object") from None
    if not isinstance(opts, dict):
        raise HwragError(f"--backend-options {text!r}: accepted: a JSON object")
    return opts


async def run_node(a) -> int:
    from ivfpq.storage import load_manifest

    from .memory_node import MemoryNode, create_server, parse_shard_spec
    from .server import check_listen

    # cheap checks first: flags, the listen address, the index directory, the backend and its options
    shard, nshards = parse_shard_spec(a.shard)
    if a.compute_threads < 0:
        raise HwragError(f"--compute-threads {a.compute_threads}; accepted: >= 0 (0: the libraries' default)")
    sec = _security(a)
    sec.check()
    check_listen(a.listen, sec)
    load_manifest(a.index)  # an index is there (its arrays are verified when the shard loads)
    if a.scan_threads < 1:
        raise HwragError(f"--scan-threads {a.scan_threads}; accepted: >= 1")
    node = MemoryNode(a.backend, _backend_options(a.backend_options), scan_threads=a.scan_threads,
                      compute_threads=a.compute_threads or None)
    await asyncio.to_thread(node.load_path, a.index, shard, nshards, a.name)  # loads and verifies the shard
    h, port = await create_server(a.listen, node, sec)
    host = a.listen.rpartition(":")[0]
    write_ready_file(a.ready_file, address=f"{host}:{port}", port=port)
    log.info("memory node: index %r shard %d/%d, backend %s, listening on %s:%d", a.name, shard, nshards,
             a.backend, host, port)
    await _wait_for_signal()
    log.info("memory node shutting down (grace %.1f s)", a.grace)
    await h.stop(a.grace)
    return 0


def cmd_node(a) -> int:
    from .eventloop import run

    return run(run_node(a))


# ---- coordinator -----------------------------------------------------------------------------------
async def run_coordinator(a) -> int:
    from ivfpq.storage import load_index, load_manifest

    from .config import ClusterConfig
    from .coordinator import Coordinator, create_server
    from .coordinator.registry import load_payloads
    from .server import check_listen

    cfg = ClusterConfig.load(a.config)
    listen = a.listen or cfg.coordinator.listen
    check_listen(listen, cfg.server_security())
    for ix in cfg.index:
        if not ix.nodes:
            raise HwragError(f"index {ix.name!r} lists no memory nodes: start it with `serve` (which starts "
                             "them) or give nodes = [...]")
        load_manifest(cfg.resolve(ix.path))
    coord = Coordinator(cfg.coordinator_config())
    for ix in cfg.index:
        path = cfg.resolve(ix.path)
        index = await asyncio.to_thread(load_index, path)
        store = await asyncio.to_thread(load_payloads, path, cfg.resolve(ix.payloads) or None)
        coord.add_index(ix.name, index, ix.nodes, store, path)
    h, port = await create_server(listen, coord, cfg.server_security())
    host = listen.rpartition(":")[0]
    write_ready_file(a.ready_file, address=f"{host}:{port}", port=port)
    log.info("coordinator listening on %s:%d", host, port)
    await _wait_for_signal()
    await h.stop(a.grace)
    return 0


def cmd_coordinator(a) -> int:
    from .eventloop import run

    return run(run_coordinator(a))


# ---- serve -----------------------------------------------------------------------------------------
def cmd_serve(a) -> int:
    from .cluster import Cluster

    cluster = Cluster.from_file(a.config, run_dir=a.run_dir)
    try:
        address = cluster.start(timeout=a.start_timeout)
        log.info("cluster up: coordinator at %s (run dir %s); Ctrl-C stops it", address, cluster.run_dir)
        print(f"serving on {address}", flush=True)
        return cluster.wait()
    finally:
        cluster.stop()


def add_service_parsers(subparsers, internal: bool = False) -> None:
    """Register ``serve`` and ``node`` (and with ``internal`` the ``coordinator`` process) subcommands."""
    p = subparsers.add_parser("serve", help="start a coordinator and its memory nodes from cluster.toml",
                              description="Start a coordinator and N memory nodes as separate processes on this "
                                          "machine; a memory node that exits is restarted ([supervisor] in the "
                                          "config); SIGINT/SIGTERM stops them cleanly, and none outlives this "
                                          "process however it ends.")
    p.add_argument("--config", required=True, help="cluster.toml (see retrieval_service/config.py)")
    p.add_argument("--run-dir", help="where to keep logs and ready files (default: a temporary folder)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="seconds to wait for every process")
    p.set_defaults(func=cmd_serve)

    p = subparsers.add_parser("node", help="start one memory node (multi-host deployments)",
                              description="Serve shard i/n of a saved index with one scan backend.")
    p.add_argument("--index", required=True, help="index directory saved by ivfpq.storage")
    p.add_argument("--shard", default="0/1", help="i/n: this node's shard (default 0/1)")
    p.add_argument("--name", default="default", help="the index name the coordinator uses")
    p.add_argument("--backend", default="cpu", help="scan backend: cpu, cpu-faiss, ... or package.module:Class")
    p.add_argument("--backend-options", help="JSON object of backend options")
    p.add_argument("--compute-threads", type=int, default=0,
                   help="faiss/numba threads per scan (default 0: the libraries' default, all cores)")
    p.add_argument("--scan-threads", type=int, default=1,
                   help="scans served at once (default 1; more overlap scans of backends that release the GIL)")
    p.add_argument("--listen", default="127.0.0.1:50061", help="host:port (port 0 picks one)")
    p.add_argument("--ready-file", help="write {address, port, pid} as JSON here once serving")
    p.add_argument("--grace", type=float, default=5.0, help="seconds calls in flight get on shutdown")
    _add_security_args(p)
    p.set_defaults(func=cmd_node)

    if internal:
        p = subparsers.add_parser("coordinator", help="start only the coordinator (memory nodes given in the config)")
        p.add_argument("--config", required=True, help="cluster config (.toml or .json) whose indexes list nodes")
        p.add_argument("--listen", help="override [coordinator] listen")
        p.add_argument("--ready-file")
        p.add_argument("--grace", type=float, default=5.0)
        p.set_defaults(func=cmd_coordinator)


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(prog="python -m retrieval_service")
    ap.add_argument("--log-level", default=os.environ.get("HWRAG_LOG", "INFO"))
    sub = ap.add_subparsers(dest="command", required=True)
    add_service_parsers(sub, internal=True)
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_library_loggers()
    watch_supervisor()
    return run_command(lambda: a.func(a))
