"""The coordinator's settings (``[coordinator]`` of ``cluster.toml`` maps onto them, see ``..config``)."""
from __future__ import annotations

from dataclasses import dataclass

from ivfpq.errors import HwragError

from ..server import DEFAULT_MAX_REQUEST_BYTES
from ..wire import POLICIES

LIST_SELECTIONS = ("cpu", "torch", "auto")
ADAPTIVE = "adaptive"  # the batching window follows the measured fan-out time (see .batching)


def window_seconds(value, unit: float = 1.0, what: str = "batch_window_s") -> float | str:
    """A batching window setting: ``"adaptive"`` or a number of ``unit`` seconds >= 0 (0: off), in seconds."""
    if isinstance(value, str):
        if value.strip().lower() == ADAPTIVE:
            return ADAPTIVE
        try:
            value = float(value)
        except ValueError:
            raise HwragError(f"{what}={value!r}; accepted: {ADAPTIVE!r} or a number >= 0 (0: off)") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise HwragError(f"{what}={value!r}; accepted: {ADAPTIVE!r} or a number >= 0 (0: off)")
    return float(value) * unit


@dataclass
class CoordinatorConfig:
    max_k: int = 1024
    max_batch: int = 4096  # queries per request
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    # callers arriving while a fan-out of their (index, k, nprobe, policy) is in flight gather into one
    # fan-out: for at most this many seconds, or "adaptive" (twice the measured fan-out time); 0: off
    batch_window_s: float | str = ADAPTIVE
    max_window_queries: int = 1024  # a window flushes early once it holds this many queries
    batch_in_flight: int = 1  # fan-outs of one key in flight before callers gather (the nodes' scan concurrency)
    default_deadline_s: float = 10.0  # for callers that set none
    default_policy: str = "fail"
    node_attempts: int = 3  # attempts per node Scan (retries on UNAVAILABLE), within the deadline
    probe_interval_s: float = 0.5  # health probe of down (and suspect) memory nodes: how often
    node_streams: bool = True  # scans on one long-lived stream per node (unary Scan when it cannot answer)
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
        self.batch_window_s = window_seconds(self.batch_window_s)
        if self.default_deadline_s <= 0 or self.max_k < 1 or self.max_batch < 1:
            raise HwragError("default_deadline_s > 0, max_k >= 1 and max_batch >= 1 required")
        if not self.probe_interval_s > 0:
            raise HwragError(f"probe_interval_s={self.probe_interval_s}; accepted: > 0 seconds")
        if self.batch_in_flight < 1 or self.max_window_queries < 1:
            raise HwragError(f"batch_in_flight={self.batch_in_flight}, max_window_queries={self.max_window_queries}; "
                             "accepted: >= 1")
