"""``cluster.toml``: the coordinator, security and the indexes a cluster serves (strict: unknown keys fail).

    [coordinator]
    listen = "127.0.0.1:50051"      # port 0 picks a free port
    batch_window_ms = "adaptive"    # callers arriving while a fan-out is in flight go together: at most
                                    # twice the measured fan-out time ("adaptive"), this many ms, or 0: off
    batch_in_flight = 1             # fan-outs of one kind in flight before callers gather
    default_deadline_s = 10.0
    default_policy = "fail"         # or "partial"
    max_k = 1024
    max_batch = 4096
    list_selection = "cpu"          # or "torch" / "auto" (CUDA)
    node_streams = true             # scans on one long-lived stream per memory node (false: a call each)
    probe_interval_s = 0.5          # a memory node found down is skipped, and health-probed this often

    [security]                      # all optional
    tls_cert = "cert.pem"           # PEM files; without them servers bind loopback only
    tls_key = "key.pem"
    tls_ca = "cert.pem"             # root certificate the coordinator trusts for memory nodes
    token_file = "token.txt"        # or token = "...", or token_env = "HWRAG_TOKEN"
    admin_token_file = "admin.txt"  # admin RPCs (LoadIndex/ReplaceIndex); defaults to the token
    allow_insecure_remote = false

    [[index]]
    name = "default"
    path = "data/index"             # saved by ivfpq.storage.save_index
    payloads = ""                   # default: "<path>.payloads" when it exists
    shards = 2                      # start this many local memory nodes ...
    backend = "cpu"
    compute_threads = 0             # faiss/numba threads per node scan (0: the libraries' default)
    scan_threads = 1                # scans each node serves at once (more: backends that release the GIL)
    # nodes = ["hostA:50061", "hostB:50061"]   # ... or use memory nodes already running elsewhere

    [supervisor]                    # `hwrag serve`: what it does when one of its memory nodes exits
    restart = true                  # start it again on its address (false: log the exit only)
    restart_backoff_s = 0.2         # wait before the first restart; doubled for each restart within the window
    restart_backoff_max_s = 5.0
    restart_budget = 5              # at most this many restarts of one node within restart_window_s,
    restart_window_s = 60.0         # then it stays down (logged) until an operator restarts it
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ivfpq.errors import HwragError

from .coordinator import CoordinatorConfig
from .coordinator.config import window_seconds
from .security import Security, read_token


@dataclass
class CoordinatorSection:
    listen: str = "127.0.0.1:50051"
    batch_window_ms: float | str = "adaptive"
    max_window_queries: int = 1024
    batch_in_flight: int = 1
    default_deadline_s: float = 10.0
    default_policy: str = "fail"
    max_k: int = 1024
    max_batch: int = 4096
    max_request_bytes: int = 64 << 20
    node_attempts: int = 3
    probe_interval_s: float = 0.5  # how often down memory nodes get a health probe
    node_streams: bool = True
    list_selection: str = "cpu"


@dataclass
class SecuritySection:
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    tls_server_name: str = ""
    token: str = ""
    token_file: str = ""
    token_env: str = ""
    admin_token: str = ""
    admin_token_file: str = ""
    admin_token_env: str = ""
    allow_insecure_remote: bool = False


@dataclass
class IndexSection:
    name: str = "default"
    path: str = ""
    payloads: str = ""
    shards: int = 1
    backend: str = "cpu"
    nodes: list[str] = field(default_factory=list)
    node_host: str = "127.0.0.1"
    compute_threads: int = 0  # faiss/numba threads of each local memory node's scan (0: the libraries' default)
    scan_threads: int = 1  # scans each local memory node serves at once


@dataclass
class SupervisorSection:
    restart: bool = True
    restart_backoff_s: float = 0.2
    restart_backoff_max_s: float = 5.0
    restart_budget: int = 5
    restart_window_s: float = 60.0

    def check(self) -> None:
        if not (0 <= self.restart_backoff_s <= self.restart_backoff_max_s):
            raise HwragError(f"[supervisor] restart_backoff_s={self.restart_backoff_s}, restart_backoff_max_s="
                             f"{self.restart_backoff_max_s}; accepted: 0 <= restart_backoff_s <= restart_backoff_max_s")
        if self.restart_budget < 0 or not self.restart_window_s > 0:
            raise HwragError(f"[supervisor] restart_budget={self.restart_budget}, restart_window_s="
                             f"{self.restart_window_s}; accepted: restart_budget >= 0, restart_window_s > 0")


@dataclass
class ClusterConfig:
    coordinator: CoordinatorSection = field(default_factory=CoordinatorSection)
    security: SecuritySection = field(default_factory=SecuritySection)
    index: list[IndexSection] = field(default_factory=list)
    base_dir: str = "."  # relative paths resolve against the config file's folder
    supervisor: SupervisorSection = field(default_factory=SupervisorSection)

    # ---- reading ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict, base_dir: str = ".") -> "ClusterConfig":
        unknown = set(d) - {"coordinator", "security", "index", "base_dir", "supervisor"}
        if unknown:
            raise HwragError(f"unknown sections {sorted(unknown)} in the cluster config; accepted: "
                             "[coordinator], [security], [[index]], [supervisor]")
        idx = d.get("index", [])
        if isinstance(idx, dict):
            idx = [idx]
        cfg = cls(_section(CoordinatorSection, d.get("coordinator", {}), "coordinator"),
                  _section(SecuritySection, d.get("security", {}), "security"),
                  [_section(IndexSection, x, "index") for x in idx], d.get("base_dir", base_dir),
                  _section(SupervisorSection, d.get("supervisor", {}), "supervisor"))
        cfg.check()
        return cfg

    @classmethod
    def load(cls, path) -> "ClusterConfig":
        p = Path(path)
        if not p.is_file():
            raise HwragError(f"cluster config {p} does not exist")
        try:
            d = json.loads(p.read_text()) if p.suffix == ".json" else tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
            raise HwragError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {e}") from None
        return cls.from_dict(d, d.get("base_dir", str(p.resolve().parent)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> None:
        if not self.index:
            raise HwragError("the cluster config serves no index: add an [[index]] section with name and path")
        names = [i.name for i in self.index]
        if len(set(names)) != len(names):
            raise HwragError(f"index names must be unique, got {names}")
        for i in self.index:
            if not i.path:
                raise HwragError(f"[[index]] {i.name!r} needs a path (a directory saved by ivfpq.storage)")
            if i.compute_threads < 0:
                raise HwragError(f"[[index]] {i.name!r}: compute_threads={i.compute_threads}; accepted: >= 0")
            if i.scan_threads < 1:
                raise HwragError(f"[[index]] {i.name!r}: scan_threads={i.scan_threads}; accepted: >= 1")
            if not i.nodes and i.shards < 1:
                raise HwragError(f"[[index]] {i.name!r}: shards={i.shards}; accepted: >= 1 (or give nodes)")
        self.supervisor.check()
        self.coordinator_config().check()

    # ---- derived ---------------------------------------------------------------------------------
    def resolve(self, p: str) -> str:
        return str(Path(self.base_dir, p)) if p else ""

    def tokens(self) -> tuple[str | None, str | None]:
        s = self.security
        tok = read_token(s.token, self.resolve(s.token_file), s.token_env)
        adm = read_token(s.admin_token, self.resolve(s.admin_token_file), s.admin_token_env)
        return tok, adm

    def server_security(self) -> Security:
        tok, adm = self.tokens()
        s = self.security
        return Security(self.resolve(s.tls_cert) or None, self.resolve(s.tls_key) or None, tok, adm,
                        s.allow_insecure_remote)

    def coordinator_config(self) -> CoordinatorConfig:
        c = self.coordinator
        tok, adm = self.tokens()
        return CoordinatorConfig(max_k=c.max_k, max_batch=c.max_batch, max_request_bytes=c.max_request_bytes,
                                 batch_window_s=window_seconds(c.batch_window_ms, 1e-3, "[coordinator] batch_window_ms"),
                                 max_window_queries=c.max_window_queries, batch_in_flight=c.batch_in_flight,
                                 default_deadline_s=c.default_deadline_s, default_policy=c.default_policy,
                                 node_attempts=c.node_attempts, node_streams=c.node_streams,
                                 probe_interval_s=c.probe_interval_s,
                                 list_selection=c.list_selection,
                                 node_token=tok, node_admin_token=adm,
                                 node_tls_root=self.resolve(self.security.tls_ca) or None,
                                 node_tls_server_name=self.security.tls_server_name or None)


def _section(cls, d: dict, name: str):
    if not isinstance(d, dict):
        raise HwragError(f"[{name}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(known)
    if unknown:
        raise HwragError(f"unknown keys {sorted(unknown)} in [{name}]; accepted: {', '.join(known)}")
    return cls(**d)
