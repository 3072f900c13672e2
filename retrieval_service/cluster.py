"""Start a coordinator and N memory nodes as separate processes from ``cluster.toml``; stop them cleanly.

Memory nodes start first (each on a free loopback port unless the config says otherwise) and report
their address in a ready file; then the coordinator starts with those addresses. Stopping sends
SIGTERM (calls in flight finish within the grace period), then SIGKILL to stragglers. Tokens reach
the children through the environment, never the command line.

Supervision (:meth:`Cluster.watch`; ``hwrag serve`` runs it): a memory node that exits is started
again on its address after a backoff, within a restart budget (``[supervisor]``), and every step is
logged (which node, its exit code or signal, when it is back). No child outlives the supervisor,
however it dies: each child gets the parent-death signal (``PR_SET_PDEATHSIG`` = SIGKILL, Linux, when
started from the main thread, whose exit is the process's; the child sets it itself at start, so no
``preexec_fn`` runs in the fork), and each runs a watchdog thread that exits
it once its parent is no longer the supervisor (``HWRAG_SUPERVISOR_PID``; every system, 0.25 s).

The cheap checks (listen addresses, index directories, payload stores, TLS files) run here before any
process starts; a child that fails anyway is reported by its own error line (``hwrag: error: ...``
in its log), first.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ivfpq.errors import CLI_PREFIX, HwragError

from .config import ClusterConfig
from .supervision import DIE_WITH_PARENT_ENV, SUPERVISOR_ENV

log = logging.getLogger(__name__)

#: how often the supervisor looks at its children
WATCH_INTERVAL_S = 0.1


def describe_exit(returncode: int | None) -> str:
    """``exited with code 2`` / ``killed by signal SIGKILL (9)``."""
    if returncode is None:
        return "is running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "an unknown signal"
        return f"killed by signal {name} ({-returncode})"
    return f"exited with code {returncode}"


def _die_with_parent_env() -> dict[str, str]:
    """The environment asking a child to take SIGKILL when the thread that starts it dies (it sets the
    signal itself, :func:`.supervision.die_with_parent`): only from the main thread, whose exit is the
    process's; none elsewhere."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return {}
    return {DIE_WITH_PARENT_ENV: str(os.getpid())}


class Process:
    """One child process started with ``python -m retrieval_service ...`` and a ready file."""

    def __init__(self, name: str, args: list[str], run_dir: Path, env: dict[str, str], new_session: bool = True):
        self.name, self.args, self.env = name, args, env
        self.new_session = new_session
        self.ready_file = run_dir / f"{name}.ready.json"
        self.log_file = run_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None
        # supervision (Cluster.watch): when it died (monotonic), its restarts within the window, the next one
        self.died_at: float | None = None
        self.restarts: list[float] = []
        self.restart_at: float | None = None
        self.restarting = False  # started again, its ready file not there yet
        self.given_up = False  # exited with the restart budget spent (or restarts off): left down

    def start(self, listen: str) -> None:
        self.ready_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "retrieval_service", *self.args, "--listen", listen,
                "--ready-file", str(self.ready_file)]
        with open(self.log_file, "ab") as logf:
            env = {**(os.environ if self.env is None else self.env), **_die_with_parent_env()}
            self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=self.new_session)
        log.info("started %s (pid %d)", self.name, self.proc.pid)

    def ready_address(self) -> str | None:
        """The address in its ready file, once it is there."""
        try:
            return json.loads(self.ready_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            return None

    def wait_ready(self, timeout: float) -> str:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.ready_file.exists():
                self.address = json.loads(self.ready_file.read_text())["address"]
                return self.address
            if self.proc.poll() is not None:
                raise HwragError(f"{self.name} exited with code {self.proc.returncode} before serving: "
                                 f"{self.failure()}")
            time.sleep(0.05)
        raise HwragError(f"{self.name} did not start serving in {timeout:.0f} s; the end of its log:\n"
                         f"{self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def failure(self) -> str:
        """Why the child failed, in its own words: its ``hwrag: error:`` line (from there on), else the last
        line of its log (a traceback's exception) followed by the end of the log."""
        text = self.log_tail(20000).rstrip()
        at = text.rfind(CLI_PREFIX)
        if at >= 0 and (at == 0 or text[at - 1] == "\n"):
            return text[at + len(CLI_PREFIX):]
        last = text.rpartition("\n")[2] or "(its log is empty)"
        return f"{last}\nthe end of its log:\n{text[-2000:]}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, no grace (what a crash looks like)."""
        if self.alive:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", self.name, grace)
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def _in_config(key: str, check, *args) -> None:
    """Run a check; its error names the config key it is about."""
    try:
        check(*args)
    except HwragError as e:
        raise HwragError(f"{key}: {e}") from None


class Cluster:
    """``with Cluster.from_file("cluster.toml") as c: RetrievalClient(c.address)``."""

    def __init__(self, config: ClusterConfig, run_dir=None, new_sessions: bool = True):
        config.check()  # a config built from its dataclasses is checked like one read from a file
        self.config = config
        # each child in its own session (a terminal's Ctrl-C reaches only this supervisor); a benchmark
        # keeps them in its own, so that with autogroup scheduling they share its CPU, not get one more share each
        self.new_sessions = new_sessions
        self._tmp = None
        if run_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hwrag-cluster-")
            run_dir = self._tmp.name
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        tok, adm = config.tokens()
        self.env = dict(os.environ)
        self.env.pop("HWRAG_TOKEN", None)
        self.env.pop("HWRAG_ADMIN_TOKEN", None)
        if tok:
            self.env["HWRAG_TOKEN"] = tok
        if adm:
            self.env["HWRAG_ADMIN_TOKEN"] = adm
        root = str(Path(__file__).resolve().parent.parent)
        self.env["PYTHONPATH"] = root + (os.pathsep + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")
        self.env[SUPERVISOR_ENV] = str(os.getpid())
        self.nodes: dict[tuple[str, int], Process] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.coordinator: Process | None = None
        self.address: str | None = None

    @classmethod
    def from_file(cls, path, run_dir=None) -> "Cluster":
        return cls(ClusterConfig.load(path), run_dir)

    def _node_args(self, ix, shard: int) -> list[str]:
        c, s = self.config, self.config.security
        args = ["node", "--index", c.resolve(ix.path), "--shard", f"{shard}/{ix.shards}", "--name", ix.name,
                "--backend", ix.backend]
        if ix.compute_threads:
            args += ["--compute-threads", str(ix.compute_threads)]
        if ix.scan_threads != 1:
            args += ["--scan-threads", str(ix.scan_threads)]
        if s.tls_cert:
            args += ["--tls-cert", c.resolve(s.tls_cert), "--tls-key", c.resolve(s.tls_key)]
        if s.allow_insecure_remote:
            args.append("--insecure-remote")
        return args

    def check_before_start(self) -> None:
        """The cheap checks, before any process starts: the coordinator's listen address, the memory nodes'
        host, every index directory and payload store, the TLS and token files."""
        from ivfpq import payloads
        from ivfpq.storage import load_manifest, read_manifest

        from .security import Security
        from .server import check_listen

        c = self.config
        server_sec = c.server_security()  # reads the token files, checks the TLS files
        server_sec.check()
        _in_config("[coordinator] listen", check_listen, c.coordinator.listen, server_sec)
        node_sec = Security(c.resolve(c.security.tls_cert) or None, c.resolve(c.security.tls_key) or None,
                            allow_insecure_remote=c.security.allow_insecure_remote)
        for ix in c.index:
            where = f"[[index]] {ix.name!r}"
            _in_config(f"{where} path", load_manifest, c.resolve(ix.path))
            if ix.payloads:
                _in_config(f"{where} payloads", read_manifest, c.resolve(ix.payloads), payloads.FORMAT_NAME,
                           payloads.FORMAT_VERSION)
            if not ix.nodes:
                _in_config(f"{where} node_host", check_listen, f"{ix.node_host}:0", node_sec)

    def start(self, timeout: float = 120.0) -> str:
        """Check, start every memory node, then the coordinator; returns the coordinator's address."""
        self.check_before_start()
        try:
            resolved = self.config.to_dict()
            todo = [(ix, i) for ix in self.config.index if not ix.nodes for i in range(ix.shards)]
            # one node per backend first: on a fresh checkout each compiles the numba kernels its backend
            # runs and caches them; the rest then load the cache instead of all compiling the same
            # kernels at once (nine processes doing that on two cores took over two minutes)
            pilots = list({ix.backend: (ix, i) for ix, i in reversed(todo)}.values())
            for group in (pilots, [t for t in todo if t not in pilots]):
                for ix, i in group:
                    p = Process(f"node-{ix.name}-{i}", self._node_args(ix, i), self.run_dir, self.env,
                                self.new_sessions)
                    p.start(f"{ix.node_host}:0")
                    self.nodes[(ix.name, i)] = p
                for ix, i in group:
                    self.nodes[(ix.name, i)].wait_ready(timeout)
            for ix_dict, ix in zip(resolved["index"], self.config.index):
                if not ix.nodes:
                    ix_dict["nodes"] = [self.nodes[(ix.name, i)].address for i in range(ix.shards)]
            resolved["base_dir"] = self.config.base_dir
            for k in ("token", "admin_token"):  # secrets travel by environment only
                resolved["security"][k] = ""
            resolved["security"]["token_env"] = "HWRAG_TOKEN"
            resolved["security"]["admin_token_env"] = "HWRAG_ADMIN_TOKEN"
            resolved["security"]["token_file"] = resolved["security"]["admin_token_file"] = ""
            cfg_path = self.run_dir / "coordinator.json"
            cfg_path.write_text(json.dumps(resolved, indent=1))
            self.coordinator = Process("coordinator", ["coordinator", "--config", str(cfg_path)], self.run_dir,
                                       self.env, self.new_sessions)
            self.coordinator.start(self.config.coordinator.listen)
            self.address = self.coordinator.wait_ready(timeout)
            return self.address
        except BaseException:
            self.stop()
            raise

    def node(self, i: int, index: str | None = None) -> Process:
        return self.nodes[(index or self.config.index[0].name, i)]

    def restart_node(self, i: int, index: str | None = None, timeout: float = 60.0) -> str:
        """Start a stopped or killed memory node again on its old address."""
        p = self.node(i, index)
        p.stop(1.0)
        p.start(p.address)
        return p.wait_ready(timeout)

    def wait(self) -> int:
        """Supervise (:meth:`watch`) until SIGINT/SIGTERM (0) or until the coordinator exits (1)."""
        old = {s: signal.signal(s, lambda *_: self._stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self.watch()
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def supervise(self) -> None:
        """Run :meth:`watch` on a background thread until :meth:`stop` (a library user's ``hwrag serve``)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self.watch, name="hwrag-supervisor", daemon=True)
            self._watcher.start()

    def watch(self) -> int:
        """Look after the children until :meth:`stop` (0) or the coordinator's exit (1): restart memory nodes
        that exit, per ``[supervisor]``."""
        while not self._stop.wait(WATCH_INTERVAL_S):
            c = self.coordinator
            if c is None or not c.alive:
                rc = c.proc.returncode if c is not None and c.proc is not None else None
                why = f": {c.failure()}" if rc is not None and rc > 0 else ""
                log.error("the coordinator (pid %s) %s%s; stopping the cluster", c.proc.pid if c and c.proc else "?",
                          describe_exit(rc), why)
                return 1
            for p in list(self.nodes.values()):
                self._heal(p)
        return 0

    def _heal(self, p: Process) -> None:
        """One look at memory node ``p``: notice its exit, restart it when due, notice it is back."""
        if p.proc is None or p.given_up:
            return
        now = time.monotonic()
        rc = p.proc.poll()
        if p.restarting:
            addr = p.ready_address()
            if addr is not None:
                p.restarting, p.address = False, addr
                log.warning("%s is back at %s (pid %d), %.2f s after it went down (restart %d)", p.name, addr,
                            p.proc.pid, now - p.died_at, len(p.restarts))
                p.died_at = None
                return
            if rc is None:
                return
            p.restarting = False
            why = f"{describe_exit(rc)} before serving: {p.failure().splitlines()[0]}"
        elif rc is None:
            return
        elif p.restart_at is not None:
            if now >= p.restart_at:
                self._restart(p, now)
            return
        else:
            why = describe_exit(rc)
        if p.died_at is None:
            p.died_at = now
        self._schedule_restart(p, why, now)

    def _schedule_restart(self, p: Process, why: str, now: float) -> None:
        pol = self.config.supervisor
        if not pol.restart:
            log.warning("%s (pid %d) %s; not restarted ([supervisor] restart = false)", p.name, p.proc.pid, why)
            p.given_up = True
            return
        p.restarts = [t for t in p.restarts if now - t < pol.restart_window_s]
        if len(p.restarts) >= pol.restart_budget:
            log.error("%s (pid %d) %s; restart budget spent (%d restarts in %.0f s): it stays down until an "
                      "operator restarts it (hwrag node ... --listen %s)", p.name, p.proc.pid, why,
                      pol.restart_budget, pol.restart_window_s, p.address)
            p.given_up = True
            return
        delay = min(pol.restart_backoff_max_s, pol.restart_backoff_s * 2 ** len(p.restarts))
        p.restart_at = now + delay
        log.warning("%s (pid %d) %s; restarting it on %s in %.2f s (restart %d of at most %d in %.0f s)", p.name,
                    p.proc.pid, why, p.address, delay, len(p.restarts) + 1, pol.restart_budget, pol.restart_window_s)

    def _restart(self, p: Process, now: float) -> None:
        p.restart_at = None
        p.restarts.append(now)
        if self._stop.is_set():
            return
        p.start(p.address)
        p.restarting = True

    def stop(self, grace: float = 10.0) -> None:
        """Coordinator first (it drains calls in flight), then the memory nodes."""
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(10)
            self._watcher = None
        if self.coordinator is not None:
            self.coordinator.stop(grace)
        for p in self.nodes.values():
            p.signal(signal.SIGTERM)
        for p in self.nodes.values():
            p.stop(grace)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        if self.address is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
