"""Measure, on this machine, the host-side costs of Chameleon's request path that the system model adds.

Called by :mod:`bench.cpu_rates` (stored as the ``host`` section of this machine's measured-rates file, :mod:`hwsim.rates`, in cycles of this
core); every figure is *measured* with the wall clock (``time.perf_counter``) between two processes on
loopback, the median of many rounds after a warm-up:

* ``wakeup``: a one-byte ping-pong over two pipes between two processes; half the round trip is one wake-up
  of a thread blocked in ``read`` on another core plus a write and a read system call. Chameleon's
  coordinator hands a batch from its receiving thread to its sending thread with a POSIX semaphore
  (``sem_post`` / ``sem_wait``: a futex wake of a sleeping thread, the same scheduler path).
* ``segment``: the extra cost of one more small TCP segment: 21 separate 64-byte ``send`` calls
  (TCP_NODELAY) against one 1,344-byte send, the receiver reading until it has all 1,344 bytes. Chameleon's
  FPGA sends its results in packets of ``pkgWordCountTx`` = 1 AXI word (64 bytes), 21 per query.
* ``python_client``: the GPU host's Python client per batch (Chameleon's ``IndexScanner.search`` centroid
  gather, ``encode_request_with_lists``, ``sendall``, the ``recv`` loop that concatenates bytes,
  ``decode_answer``) minus the same bytes sent and received by a bare client: ``fixed + per_query x b`` through the
  smallest and largest batch measured.

    python -m bench.host_costs        # prints the figures (they are stored by python -m bench.cpu_rates)
"""
from __future__ import annotations

import os
import socket
import time
from multiprocessing import Process

import numpy as np

SEGMENT_BYTES = 64   # one AXI word per TCP packet (Chameleon's FPGA host.cpp: pkgWordCountTx = 1)
SEGMENTS = 21        # 1 header + 13 id words + 7 distance words per query (K = 100)


def _median_round_trip(fn, rounds: int) -> float:
    for _ in range(rounds // 10):
        fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _pipe_echo(r_fd: int, w_fd: int) -> None:
    while True:
        b = os.read(r_fd, 1)
        if not b or b == b"q":
            return
        os.write(w_fd, b)


def measure_wakeup(rounds: int = 4000) -> float:
    """Seconds for one wake-up of a blocked process (half a pipe ping-pong round trip)."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    p = Process(target=_pipe_echo, args=(a_r, b_w), daemon=True)
    p.start()

    def ping():
        os.write(a_w, b"x")
        os.read(b_r, 1)

    rtt = _median_round_trip(ping, rounds)
    os.write(a_w, b"q")
    p.join(5)
    for fd in (a_r, a_w, b_r, b_w):
        os.close(fd)
    return rtt / 2


def _listen() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv, srv.getsockname()[1]


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _recv_exact(conn: socket.socket, buf: bytearray) -> bool:
    view, got = memoryview(buf), 0
    while got < len(buf):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def _sink_server(srv: socket.socket, request: int, reply: int) -> None:
    """Reads ``request`` bytes, answers ``reply`` bytes, until the client closes."""
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf, out = bytearray(request), b"\0" * reply
    while _recv_exact(conn, buf):
        conn.sendall(out)
    conn.close()


def _with_server(request: int, reply: int, client_fn, rounds: int) -> float:
    srv, port = _listen()
    p = Process(target=_sink_server, args=(srv, request, reply), daemon=True)
    p.start()
    srv.close()
    s = _connect(port)
    try:
        return _median_round_trip(lambda: client_fn(s), rounds)
    finally:
        s.close()
        p.join(5)


def measure_segment(rounds: int = 2000) -> float:
    """Seconds per extra 64-byte TCP segment (sender and receiver stacks together, loopback)."""
    total = SEGMENT_BYTES * SEGMENTS
    one, word, ack = b"\1" * total, b"\1" * SEGMENT_BYTES, bytearray(1)

    def whole(s):
        s.sendall(one)
        _recv_exact(s, ack)

    def split(s):
        for _ in range(SEGMENTS):
            s.send(word)
        _recv_exact(s, ack)

    t_one = _with_server(total, 1, whole, rounds)
    t_split = _with_server(total, 1, split, rounds)
    return max(0.0, (t_split - t_one) / (SEGMENTS - 1))


def chameleon_client_batch(s: socket.socket, queries: np.ndarray, list_ids: np.ndarray, centroids: np.ndarray,
                           k: int) -> tuple[np.ndarray, np.ndarray]:
    """What Chameleon's GPU host does in Python per batch besides the GPU search (written after its released
    ``IndexScanner.search``, ``ExternalRetriever.retrieve_with_lists_send`` / ``retrieve_recv`` and
    ``serialization_utils``): gather the probed centroids, pack a big-endian header + queries + int64 list
    ids into a bytearray, send it, concatenate received bytes until the answer is complete, decode."""
    b, d = queries.shape
    nprobe = list_ids.shape[1]
    centroids[list_ids.ravel()].reshape(b, nprobe, d)
    msg = bytearray(16 + b * d * 4 + b * nprobe * 8)
    for i, v in enumerate((b, d, nprobe, k)):
        msg[4 * i:4 * i + 4] = int(v).to_bytes(4, "big")
    msg[16:16 + b * d * 4] = queries.tobytes()
    msg[16 + b * d * 4:] = list_ids.astype(np.int64).tobytes()
    sent = 0
    while sent < len(msg):
        sent += s.send(msg[sent:])
    need, answer = b * k * 12, b""
    while len(answer) < need:
        answer += s.recv(need - len(answer))
    ids = np.frombuffer(answer[:b * k * 8], dtype=np.int64).reshape(b, k)
    dists = np.frombuffer(answer[b * k * 8:], dtype=np.float32).reshape(b, k)
    return ids, dists


def measure_python_client(batches=(1, 4, 16, 64), d: int = 128, nprobe: int = 32, k: int = 100,
                          nlist: int = 32768, rounds: int = 600) -> dict:
    """Python client overhead per batch: Chameleon's client path minus a bare client moving the same bytes."""
    rng = np.random.default_rng(0)
    centroids = rng.standard_normal((nlist, d)).astype(np.float32)
    rows = []
    for b in batches:
        q = rng.standard_normal((b, d)).astype(np.float32)
        ids = rng.integers(0, nlist, (b, nprobe))
        request, reply = 16 + b * d * 4 + b * nprobe * 8, b * k * 12
        payload, back = b"\1" * request, bytearray(reply)

        def bare(s):
            s.sendall(payload)
            _recv_exact(s, back)

        t_bare = _with_server(request, reply, bare, rounds)
        t_cham = _with_server(request, reply, lambda s: chameleon_client_batch(s, q, ids, centroids, k), rounds)
        rows.append((b, t_cham - t_bare))
    (b0, t0), (b1, t1) = rows[0], rows[-1]  # the two ends: a least-squares line lets b=64 set the intercept
    per_query = max(0.0, (t1 - t0) / (b1 - b0))
    fixed = max(0.0, t0 - per_query * b0)
    return {"fixed_s": float(fixed), "per_query_s": float(per_query),
            "d": d, "nprobe": nprobe, "k": k,
            "samples": [{"batch": b, "extra_s": t} for b, t in rows]}


def measure_host_costs(ghz: float, quick: bool = False) -> dict:
    """All host-path figures, in seconds measured here and in cycles of this core (``ghz``)."""
    scale = 0.25 if quick else 1.0
    wake = measure_wakeup(int(4000 * scale))
    seg = measure_segment(int(2000 * scale))
    py = measure_python_client(rounds=int(600 * scale))
    cyc = ghz * 1e9
    return {"figures": "measured (wall clock, loopback / pipes, two processes, median)",
            "wakeup_s": wake, "wakeup_cycles": wake * cyc,
            "segment_s": seg, "segment_cycles": seg * cyc,
            "python_client": {**py, "fixed_cycles": py["fixed_s"] * cyc, "per_query_cycles": py["per_query_s"] * cyc}}


def main() -> int:
    import json

    from .timing import measure_clock_ghz

    ghz = measure_clock_ghz(50_000_000)
    res = measure_host_costs(ghz)
    print(json.dumps({"clock_ghz": ghz, "load_average": os.getloadavg(), **res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
