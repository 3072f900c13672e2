"""A one-channel timing harness over the timing steps both controllers run, :func:`.steps.earliest`
and :func:`.steps.issue`.

For protocol checks in the style of Ramulator 2.1 ``tests/device_timings``: issue commands at chosen
cycles and ask when another command becomes legal. Timing only: bank state (open rows) is the
controller's business and is not checked here. :meth:`TimingHarness.replay` takes a controller's
command log (``DramSystem.run(..., command_log=N)``) and recomputes, command by command, the earliest
legal cycle with the steps, so a test can hold the controllers' cached parts of it (the per-bank
and per-rank parts of a candidate's earliest cycle) to the same answers.
"""
from __future__ import annotations

import numpy as np

from ivfpq.errors import HwragError

from . import steps
from .layout import L_BANK, L_CMD, L_RANK, L_T
from .presets import get_preset
from .timing import CMD_NAMES, NCMD, PREA, REF, build_tables

_RANK_LEVEL = (PREA, REF)


class TimingHarness:
    def __init__(self, preset):
        self.spec = get_preset(preset)
        self.table = build_tables(self.spec)
        self.tabd = steps.dense_table(self.table)
        o = self.spec.org
        self.R, self.BG, self.B = o["ranks"], o["bankgroups"], o["banks"]
        nnodes = 1 + self.R + self.R * self.BG + self.R * self.BG * self.B
        self.nx = np.zeros((nnodes, NCMD), dtype=np.int64)
        self.fw = np.full((self.R, 4), -(1 << 40), dtype=np.int64)
        self.fwp = np.zeros(self.R, dtype=np.int64)
        self.log: list[tuple[int, str, int, int, int]] = []

    def _nodes(self, cmd, rank, bg, bank):
        if not (0 <= rank < self.R and 0 <= bg < self.BG and 0 <= bank < self.B):
            raise HwragError(f"target rank={rank} bg={bg} bank={bank} outside {self.R}x{self.BG}x{self.B}")
        if cmd in _RANK_LEVEL:
            return -1, -1
        g = rank * self.BG + bg
        return 1 + self.R + g, 1 + self.R + self.R * self.BG + g * self.B + bank

    def earliest(self, cmd: int, rank: int = 0, bg: int = 0, bank: int = 0) -> int:
        gn, bn = self._nodes(cmd, rank, bg, bank)
        return int(steps.earliest(self.nx, self.fw, self.fwp, rank, gn, bn, cmd, self.spec.timing["FAW"]))

    def legal(self, cmd: int, t: int, rank: int = 0, bg: int = 0, bank: int = 0) -> bool:
        return self.earliest(cmd, rank, bg, bank) <= t

    def issue(self, cmd: int, t: int, rank: int = 0, bg: int = 0, bank: int = 0) -> None:
        e = self.earliest(cmd, rank, bg, bank)
        assert e <= t, f"{CMD_NAMES[cmd]} at {t} illegal before {e}"
        gn, bn = self._nodes(cmd, rank, bg, bank)
        steps.issue(self.nx, self.fw, self.fwp, self.tabd, rank, gn, bn, self.R, cmd, t)
        self.log.append((t, CMD_NAMES[cmd], rank, bg, bank))

    def replay(self, log: np.ndarray) -> np.ndarray:
        """Issue one unit's logged commands (rows of ``layout.L_*`` fields) in order; returns the
        earliest legal cycle of each as the helpers compute it just before it issues."""
        out = np.empty(len(log), dtype=np.int64)
        bpr = self.BG * self.B
        for i, row in enumerate(log):
            t, cmd, rank, b = (int(row[L_T]), int(row[L_CMD]), int(row[L_RANK]),
                               int(row[L_BANK]))
            bg, bank = ((b % bpr) // self.B, b % self.B) if b >= 0 else (0, 0)
            out[i] = self.earliest(cmd, rank, bg, bank)
            gn, bn = self._nodes(cmd, rank, bg, bank)
            steps.issue(self.nx, self.fw, self.fwp, self.tabd, rank, gn, bn, self.R, cmd, t)
        return out
