import math

import pytest

from bench.grpc_floor import SERVERS, main, measure, measure_streams


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


def test_stream_and_unary_messages_are_echoed_and_measured():
    res = measure_streams(calls=16, repeats=1, streams=(1, 8), message_bytes=64)
    cells = [(r["server"], r["transport"], r["concurrency"]) for r in res["rows"]]
    assert cells == [(k, t, n) for k in ("aio", "hwrag") for t in ("unary", "stream") for n in (1, 8)]
    for r in res["rows"]:  # the echo checks each answer's arrival; every figure measured, none zero
        for key in ("server_cpu_us_per_msg", "client_cpu_us_per_msg", "wall_us_per_msg", "round_trip_p50_us"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["server"], r["transport"], key)


def test_bad_stream_flags_are_a_clear_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--streams", "0"])
    assert e.value.code == 2 and "--streams takes values" in capsys.readouterr().err
