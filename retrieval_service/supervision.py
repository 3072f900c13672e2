"""A child of ``hwrag serve`` (a coordinator or memory node that :mod:`.cluster` started) exits when its
supervisor is gone: the supervisor names itself in :data:`SUPERVISOR_ENV`, the child watches for it
(:func:`watch_supervisor`). Apart from :mod:`.cli` and :mod:`.cluster`, which both need it, so that
neither imports the other for it."""
from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

#: a child of ``hwrag serve`` finds its supervisor's pid here (see ``cluster.py``)
SUPERVISOR_ENV = "HWRAG_SUPERVISOR_PID"


def watch_supervisor(interval_s: float = 0.25) -> None:
    """In a child of ``hwrag serve``: exit as soon as the supervisor is no longer this process's parent (it
    died, however: the parent-death signal covers Linux, this covers the rest and a race at start)."""
    pid = os.environ.get(SUPERVISOR_ENV, "")
    if not pid.isdigit():
        return

    def run() -> None:
        while os.getppid() == int(pid):
            time.sleep(interval_s)
        log.error("the supervisor (pid %s) is gone; exiting", pid)
        os._exit(1)

    threading.Thread(target=run, name="hwrag-supervisor-watchdog", daemon=True).start()
