import json

import numpy as np
import pytest

from ivfpq.errors import HwragError
from ivfpq.storage import load_index, save_index


def test_roundtrip_is_memory_mapped(indexes, tmp_path):
    index = indexes[("ip", False)]
    save_index(index, tmp_path / "ix")
    back = load_index(tmp_path / "ix")
    assert isinstance(back.codes, np.memmap)
    for n in ("centroids", "codebooks", "codes", "ids", "offsets"):
        np.testing.assert_array_equal(getattr(back, n), getattr(index, n))
    assert back.metric == "ip" and not back.by_residual
    save_index(index, tmp_path / "ix")  # replacing is atomic and leaves no debris
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]


def test_corrupted_truncated_and_versioned_files(indexes, tmp_path):
    index = indexes[("l2", True)]
    p = save_index(index, tmp_path / "ix")
    codes = p / "codes.npy"
    raw = bytearray(codes.read_bytes())
    raw[-1] ^= 0xFF
    codes.write_bytes(bytes(raw))
    with pytest.raises(HwragError, match="codes.npy.*sha256"):
        load_index(p)
    load_index(p, verify=False)  # checksums can be skipped; the size check still runs
    codes.write_bytes(bytes(raw[:-10]))
    with pytest.raises(HwragError, match="codes.npy.*truncated"):
        load_index(p, verify=False)
    p = save_index(index, tmp_path / "iy")
    m = json.loads((p / "manifest.json").read_text())
    m["version"] = 99
    (p / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(HwragError, match="version 99"):
        load_index(p)
    with pytest.raises(HwragError, match="no manifest"):
        load_index(tmp_path)
