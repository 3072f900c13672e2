"""The numbering the DRAM kernels share with the Python around them, with no numba import: parameter
vector indices, state-array fields of the ``queues`` structure (:mod:`.core`), counters and the
command log. :mod:`.core` and :mod:`.bank_queues` compile these in; :mod:`.structures` and
:mod:`.system` build the arrays with them (a ``hwrag dram run`` on the ahead-of-time kernels never
imports numba, :mod:`.kernels`).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .timing import ACT, NCMD, PRE, PREA, RD, RDA, REF, REFPB, WR, WRA

BIG = np.int64(1) << np.int64(62)

# parameter vector indices
# (the last three are read by the per-bank command-queue structure, :mod:`.bank_queues`, only)
(P_R, P_BG, P_B, P_RCAP, P_WCAP, P_WHI, P_WLO, P_POLICY, P_REFMODE, P_REFI, P_REFIPB,
 P_RDLAT, P_WRLAT, P_FAW, P_SCHED, P_CQCAP, P_HITCAP, P_DUAL, P_NPARAM) = range(19)
# scalar state indices (per unit): cycle, drain mode, queue counts, free-slot list heads
S_T, S_DRAIN, S_RQN, S_WQN, S_RFREE, S_WFREE, S_NSTATE = range(7)
# queue entry fields; Q_NEXT/Q_PREV link the entries of one bank in age order (Q_NEXT also links
# the free slots)
Q_ID, Q_BANK, Q_ROW, Q_ARR, Q_FLAG, Q_RANK, Q_GNODE, Q_NEXT, Q_PREV, Q_NF = range(10)
# per-bank index of a queue (array (units, 2 queues, BQ_NF, banks)): first and last waiting entry
# of the bank, its oldest entry hitting the open row (-1: none), and the bank's cached candidate:
# 4 * rank + its type (CT_*), its request id (BIG: none), queue slot, and the bank-group + bank part
# of its command's earliest cycle
BQ_HEAD, BQ_TAIL, BQ_HIT, BQ_CT, BQ_CID, BQ_CS, BQ_LOC, BQ_NF = range(8)
# candidate types: nothing waiting, column command (oldest row hit), ACT (bank closed), PRE
CT_NONE, CT_COL, CT_ACT, CT_PRE = range(4)
# refresh state fields (per rank)
F_DUE, F_PEND, F_PBDUE, F_PBNEXT, F_PBBANK, F_NF = range(6)
# counters: cnt[u, c] counts command c (the numbering of hwsim.dram.timing), then the requests
# served as row hits, misses (bank closed) and conflicts (another row open)
C_HIT, C_MISS, C_CONFLICT = NCMD, NCMD + 1, NCMD + 2
C_N = NCMD + 3
# command log fields (tests): cycle, command, unit, rank, flat bank in the unit (-1: rank command),
# and the earliest legal cycle the controller computed for the command
L_T, L_CMD, L_UNIT, L_RANK, L_BANK, L_EARLIEST, L_NF = range(7)

#: a digest of the step library (:mod:`.steps`): the loops call its functions, which numba compiles into
#: them and caches with them, so it is checked like a constant (a loop cached before a step changed stops)
STEPS_CRC = zlib.crc32((Path(__file__).parent / "steps.py").read_bytes())

#: every constant above (and the command numbering), in name order. The compiled loops bake these
#: in, but numba keys its cache by a function's own file only: a loop compiled before one of them
#: changed would run on with the old value, so each loop compares its baked-in copy with this array
#: (:func:`.steps.layout_ok`) and stops on a mismatch.
LAYOUT = np.array([int(v) for k, v in sorted(globals().items())
                   if k.isupper() and isinstance(v, (int, np.integer))], dtype=np.int64)
STALE = "a numba cache compiled before a change in hwsim/dram: delete hwsim/dram/__pycache__"
