"""A child of ``hwrag serve`` (a coordinator or memory node that :mod:`.cluster` started) exits when its
supervisor is gone: the supervisor names itself in :data:`SUPERVISOR_ENV`, the child watches for it
(:func:`watch_supervisor`). Apart from :mod:`.cli` and :mod:`.cluster`, which both need it, so that
neither imports the other for it."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

#: a child of ``hwrag serve`` finds its supervisor's pid here (see ``cluster.py``)
SUPERVISOR_ENV = "HWRAG_SUPERVISOR_PID"
#: set (to the supervisor's pid) when the child should take SIGKILL as soon as the thread that started it dies:
#: the child sets the parent-death signal itself, at start, so the supervisor starts it without a
#: ``preexec_fn``; a fork that runs Python code also runs other libraries' fork handlers, and gRPC's aborted
#: children started beside open streams
DIE_WITH_PARENT_ENV = "HWRAG_DIE_WITH_PARENT"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child: take SIGKILL when the thread that started it dies (Linux ``PR_SET_PDEATHSIG``), if the
    supervisor asked for it; exit at once if that parent is already gone (it died before the prctl)."""
    pid = os.environ.get(DIE_WITH_PARENT_ENV, "")
    if not pid.isdigit() or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(pid):
        os._exit(1)


def watch_supervisor(interval_s: float = 0.25) -> None:
    """In a child of ``hwrag serve``: exit as soon as the supervisor is no longer this process's parent (it
    died, however: the parent-death signal covers Linux, this covers the rest and a race at start)."""
    die_with_parent()
    pid = os.environ.get(SUPERVISOR_ENV, "")
    if not pid.isdigit():
        return

    def run() -> None:
        while os.getppid() == int(pid):
            time.sleep(interval_s)
        log.error("the supervisor (pid %s) is gone; exiting", pid)
        os._exit(1)

    threading.Thread(target=run, name="hwrag-supervisor-watchdog", daemon=True).start()
