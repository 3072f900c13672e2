"""Where datasets, indexes and models are cached: ``$HWRAG_CACHE`` or the user's cache directory."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("HWRAG_CACHE") or platformdirs.user_cache_dir("hwrag"))
    p = root.joinpath(*parts)
    p.mkdir(parents=True, exist_ok=True)
    return p
