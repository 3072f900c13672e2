"""Bit-exact regression of the DRAM model against golden outputs recorded *before* the core was
optimised (``test_dram_regression.json``): completion cycles, row hit/miss/conflict kinds and command
counts of small traces over every preset, open/close page, every refresh mode, FR-FCFS and FCFS,
random / streaming / mixed read-write / paced / hot-row patterns, one-shot and fed in chunks; and
the same for the dramsim3 controller structure (cases ending ``-dramsim3``, recorded when that
structure matched DRAMsim3 on the cross-check bench, before its speed work).

The fixture holds a sha256 digest per case (of completion, kind and counts) and its modeled cycles. Speed work on ``hwsim.dram.core`` must not move a single simulated cycle; regenerate the
fixture (``python -m tests.hwsim.test_dram_regression --write``) only for an intended model change.
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim.dram import ControllerConfig, DramSystem, get_preset

FIXTURE = Path(__file__).with_name("test_dram_regression.json")
PRESETS = ["HBM2_2Gbps", "HBM2_8Gb_x128", "HBM3_6400", "DDR4_3200AA", "DDR4_8Gb_x8_3200", "DDR5_4800AN"]


def cases():
    out = []
    for p in PRESETS:
        spec = get_preset(p)
        refs = ["allbank", "none"] + (["perbank"] if spec.per_bank_refresh else [])
        for pat in ("random", "stream", "mixed", "paced", "hot"):
            for ref in refs:
                out.append((p, pat, "open", ref, "frfcfs"))
            out.append((p, pat, "close", "allbank", "frfcfs"))
        out.append((p, "mixed", "open", "allbank", "fcfs"))
        out.append((p, "hot", "open", refs[-1], "fcfs"))
        for pat in ("random", "stream", "mixed", "paced", "hot"):
            out.append((p, pat, "open", refs[-1], "dramsim3"))
        out.append((p, "hot", "close", "allbank", "dramsim3"))
        out.append((p, "mixed", "open", "none", "dramsim3"))
    return list(dict.fromkeys(out))


def trace(spec, pat, n=3000, seed=1):
    rng = np.random.default_rng(seed)
    cap = spec.capacity_bytes
    tx = spec.tx_bytes
    if pat == "random":
        a = rng.integers(0, cap, n).astype(np.uint64)
        return a, np.zeros(n, bool), np.zeros(n, np.int64)
    if pat == "stream":
        a = np.arange(n, dtype=np.uint64) * np.uint64(tx)
        return a, np.zeros(n, bool), np.zeros(n, np.int64)
    if pat == "mixed":  # random + streams, 30 % writes, bursty arrivals
        a = np.where(rng.random(n) < 0.5, rng.integers(0, cap, n),
                     (np.arange(n) * tx + 12345 * tx) % cap).astype(np.uint64)
        w = rng.random(n) < 0.3
        arr = np.cumsum(rng.integers(0, 3, n) * (rng.random(n) < 0.4)).astype(np.int64)
        return a, w, arr
    if pat == "paced":  # light load over many refresh intervals, 50 % writes
        a = rng.integers(0, cap, n).astype(np.uint64)
        w = rng.random(n) < 0.5
        arr = np.cumsum(rng.integers(0, 40, n)).astype(np.int64)
        return a, w, arr
    if pat == "hot":  # few rows of a few banks: hits, conflicts, queue-full backpressure
        rows = rng.integers(0, 4, n)
        cols = rng.integers(0, 64, n)
        a = ((rows * 7919 * 64 + cols) * tx + (rng.integers(0, 3, n) * cap // 5)).astype(np.uint64) % np.uint64(cap)
        w = rng.random(n) < 0.4
        arr = np.cumsum(rng.integers(0, 2, n)).astype(np.int64)
        return a, w, arr
    raise ValueError(pat)


def digest(res):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(res.completion, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(res.kind, dtype=np.int8).tobytes())
    h.update(repr(sorted(res.counts.items())).encode())
    return h.hexdigest()[:16]


def run_case(case, chunked=False):
    p, pat, pol, ref, sched = case
    structure = "dramsim3" if sched == "dramsim3" else "queues"
    ctl = ControllerConfig(page_policy=pol, refresh=ref, scheduler="frfcfs" if sched == "dramsim3" else sched,
                           structure=structure)
    s = DramSystem(p, controller=ctl)
    a, w, arr = trace(s.spec, pat)
    if not chunked:
        r = s.run(a, w, arr)
    else:
        st = s.stream()
        for lo in range(0, a.size, 701):
            st.feed(a[lo:lo + 701], w[lo:lo + 701], arr[lo:lo + 701])
            st.poll()
        r = st.finish()
    return f"{digest(r)} cycles={r.cycles}"


def case_id(case, chunked=False):
    return "-".join(case) + ("-chunked" if chunked else "")


def all_cases():
    out = [(c, False) for c in cases()]
    # the streaming interface: every pattern of two presets, fed in chunks
    out += [(c, True) for c in cases() if c[0] in ("HBM2_2Gbps", "DDR4_8Gb_x8_3200") and c[2] == "open"
            and c[4] in ("frfcfs", "dramsim3") and c[1] in ("mixed", "paced", "hot")]
    return out


def _golden():
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("case,chunked", all_cases(), ids=[case_id(c, k) for c, k in all_cases()])
def test_bit_identical_to_golden(case, chunked):
    want = _golden()[case_id(case, chunked)]
    assert run_case(case, chunked) == want


if __name__ == "__main__":
    if "--write" not in sys.argv and "--add" not in sys.argv:
        raise SystemExit("usage: python -m tests.hwsim.test_dram_regression --write | --add (new cases only)")
    doc = _golden() if "--add" in sys.argv else {}
    doc.update({case_id(c, k): run_case(c, k) for c, k in all_cases() if case_id(c, k) not in doc})
    FIXTURE.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(doc.items()))
                       + "\n}\n")
    print(f"wrote {len(doc)} cases to {FIXTURE}")
