"""bench.stream_bandwidth reads the whole buffer, each thread its own part (the figure's byte count is what
was read), and reports both thread counts."""
import numpy as np

from bench import stream_bandwidth as SB


def test_every_byte_counted_is_read(monkeypatch):
    seen = []
    real_sum = np.sum

    def counting(part):
        seen.append((part.__array_interface__["data"][0], part.size))
        return real_sum(part)

    monkeypatch.setattr(np, "sum", counting)
    a = np.ones(1 << 16, np.int64)
    assert SB.read_gbs(a, 2, repeat=3) > 0
    timed = [s for s in seen if s[1] == a.size // 2]
    # three timed passes of two disjoint halves that tile the buffer
    assert len(timed) == 6
    starts = sorted({s[0] for s in timed})
    assert starts == [a.__array_interface__["data"][0], a.__array_interface__["data"][0] + a.nbytes // 2]


def test_measure_reports_one_and_two_threads():
    out = SB.measure(mib=4, repeat=1)
    assert out["gbs_1_thread"] > 0 and out["gbs_2_threads"] > 0 and out["buffer_mib"] == 4
    assert out["figures"].startswith("measured")
