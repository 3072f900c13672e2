"""The numbering of the ``dramsim3`` structure's state arrays (:mod:`.bank_queues`), with no numba
import, for :mod:`.structures` to build them (see :mod:`.layout`)."""
from __future__ import annotations

import numpy as np

from . import layout

#: DRAMsim3 drains the write buffer when it holds more than this many writes and the command
#: queues are empty (``controller.cc`` ScheduleTransaction, a literal 8)
DRAIN_MIN = 8
#: request kind of a request served without a DRAM command (merged write, read from the buffer)
KIND_BUFFER = 3
#: once every request is taken, this many cycles without one served means a stuck controller (a
#: bug: the simulation stops with an AssertionError rather than run on)
STALL = 1 << 28

# transaction-queue entry fields (array (units, 2 queues: read, write, slots, T_NF)); the order of a
# queue's entries is a ring of slot numbers (array (units, 2, slots), slots a power of two) starting
# at S_TQH: taking the oldest entry out is O(1), any other entry shifts only the ones before it
T_ID, T_BANK, T_ROW, T_KEY, T_ADDR, T_NF = range(6)
# command-queue entry fields (array (units, banks, entries, K_NF)); K_FLAG: 0 served as a row hit,
# 1 its ACT opened the row, 2 its PRE closed another row
K_ID, K_ROW, K_W, K_KEY, K_ADDR, K_FLAG, K_NF = range(7)
# candidate kinds: ACT, PRE, read column command, write column command
KA, KP, KR, KW = range(4)
# per-bank fields (array (units, banks, B_NF)): open row (-1 closed), column commands since its ACT,
# command-queue length, the cached candidates (row command kind KA/KP or -1; position of the first
# row-hit read and of the first row-hit write that may go, -1 none), per candidate kind the
# bank-group + bank part of its earliest cycle (refreshed when a command issues in the bank group),
# and the earliest cycle any of its candidates is legal (BIG: none), as of the unit's last cycle
B_OPEN, B_HITS, B_CQN, B_ROWK, B_RD, B_WR, B_LOC, B_E, B_NF = 0, 1, 2, 3, 4, 5, 6, 10, 11
# pending-address tables (array (units, 2: reads, writes, slots, 3)): address + 1 (0: empty slot),
# number of requests, first request id of the chain (reads of one address are chained by ``mnext``)
H_KEY, H_CNT, H_HEAD = range(3)
# per-unit scalars: round-robin pointer, writes left to drain, command-queue entries (all, reads),
# next event cycle, refresh held, next refresh due, refresh counter, pending-refresh ring head and
# length, transaction-queue lengths and ring heads (read, write: two slots each), drain held back
# for a read
(S_RR, S_DRAIN, S_CQTOT, S_CQRD, S_NEV, S_INREF, S_REFNEXT, S_REFPTR, S_RFHEAD, S_RFN, S_TQN, S_TQH,
 S_HOLD, S_NF) = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15
#: pending refreshes a channel can hold (a ring; DRAMsim3's refresh_q_)
REF_RING = 64
# global scalars: the next cycle to process
G_T, G_NF = range(2)

#: the shared numbering (:data:`.layout.LAYOUT`) followed by every constant above, in name order:
#: what :func:`.bank_queues.simulate` compares its baked-in copy with
LAYOUT = np.concatenate([layout.LAYOUT, np.array([int(v) for k, v in sorted(globals().items())
                                                  if k.isupper() and isinstance(v, int) and k != "LAYOUT"],
                                                 dtype=np.int64)])
