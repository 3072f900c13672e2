import math

import pytest

from bench.grpc_floor import SERVERS, main, measure


def test_every_server_answers_and_is_measured():
    res = measure(calls=30, repeats=1)
    assert [r["server"] for r in res["rows"]] == list(SERVERS)
    for r in res["rows"]:  # real servers in child processes, real calls: every figure measured, none zero
        for key in ("server_cpu_us_per_call", "client_cpu_us_per_call", "latency_p50_us"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["server"], key)


@pytest.mark.parametrize("flags", [["--calls", "0"], ["--repeats", "-1"]])
def test_bad_counts_are_a_clear_error(flags, capsys):
    with pytest.raises(SystemExit) as e:
        main(flags)
    assert e.value.code == 2 and "must be >= 1" in capsys.readouterr().err
