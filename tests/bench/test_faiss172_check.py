"""bench.faiss172_check: bad input is a clear error; end to end (slow: downloads the faiss 1.7.2 wheel and
numpy < 2 into a side environment) the released binary and the replica both report every asked M."""
import pytest

from bench import faiss172_check as F
from ivfpq.errors import HwragError


@pytest.mark.parametrize("M", [3, 12, 256])
def test_bad_M_is_a_clear_error(M, tmp_path):
    with pytest.raises(HwragError, match="M must divide D = 128"):
        F.compare([M], tmp_path)


def test_cli_reports_bad_M_without_traceback(capsys, tmp_path):
    assert F.main(["--M", "12", "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "M=12 not accepted" in err and "Traceback" not in err


@pytest.mark.slow
def test_released_binary_and_replica_side_by_side(tmp_path):
    res = F.compare([16, 64], tmp_path)
    assert res["faiss"] == "1.7.2" and [r["M"] for r in res["rows"]] == [16, 64]
    for r in res["rows"]:
        assert r["faiss_1_7_2_cycles_per_code"] > 0 and r["replica_cycles_per_code"] > 0
        assert r["faiss_over_replica"] == pytest.approx(r["faiss_1_7_2_cycles_per_code"] / r["replica_cycles_per_code"])
