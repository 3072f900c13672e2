"""The coordinator's settings (``[coordinator]`` of ``cluster.toml`` maps onto them, see ``..config``)."""
from __future__ import annotations

from dataclasses import dataclass

from ivfpq.errors import HwragError

from ..server import DEFAULT_MAX_REQUEST_BYTES
from ..wire import POLICIES

LIST_SELECTIONS = ("cpu", "torch", "auto")


@dataclass
class CoordinatorConfig:
    max_k: int = 1024
    max_batch: int = 4096  # queries per request
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    batch_window_s: float = 0.0  # > 0: gather concurrent callers' queries for this long into one fan-out
    max_window_queries: int = 1024  # a window flushes early once it holds this many queries
    default_deadline_s: float = 10.0  # for callers that set none
    default_policy: str = "fail"
    node_attempts: int = 3  # attempts per node Scan (retries on UNAVAILABLE), within the deadline
    list_selection: str = "cpu"  # "cpu" (faiss) | "torch" (CUDA) | "auto" (torch when CUDA is present)
    select_threads: int = 1  # faiss threads for CPU list selection (on the event loop's thread)
    node_token: str | None = None  # token the coordinator sends to memory nodes
    node_admin_token: str | None = None  # for LoadShard (defaults to node_token)
    node_tls_root: str | None = None  # PEM root certificate: talk TLS to memory nodes
    node_tls_server_name: str | None = None  # override the name checked in node certificates

    def check(self) -> None:
        if self.default_policy not in POLICIES:
            raise HwragError(f"default_policy={self.default_policy!r}; accepted: {', '.join(POLICIES)}")
        if self.list_selection not in LIST_SELECTIONS:
            raise HwragError(f"list_selection={self.list_selection!r}; accepted: {', '.join(LIST_SELECTIONS)}")
        if self.batch_window_s < 0 or self.default_deadline_s <= 0 or self.max_k < 1 or self.max_batch < 1:
            raise HwragError("batch_window_s >= 0, default_deadline_s > 0, max_k >= 1 and max_batch >= 1 required")
