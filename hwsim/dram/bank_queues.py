"""The numba core of the DRAMsim3-like controller structure: transaction queues feeding per-bank
command queues (``ControllerConfig(structure="dramsim3")``).

The rules are DRAMsim3's (``src/controller.cc``, ``command_queue.cc``, ``refresh.cc``, ``cpu.cc`` at
commit 29817593), restated here and written anew; the timing constraints are hwsim's own tables
(:mod:`.timing`), applied with the same timing steps (:func:`.steps.earliest`, :func:`.steps.issue`)
as the ``queues`` structure and the timing tests; its pending-address table is
:func:`.steps.ht_find` / :func:`.steps.ht_insert` / :func:`.steps.ht_delete`.

* **Front end**: one in-order request stream for the whole memory system (DRAMsim3's trace CPU). At
  most one request is taken per cycle: the oldest one, once its arrival cycle has come and its
  channel's queue for it has room; while it waits, everything behind it waits too.
* **Transactions**: per channel a read queue and a write buffer (``read_queue`` / ``write_queue``
  entries). A request taken at cycle c is in the controller from c + 1 (its *queue-entry* cycle,
  DRAMsim3's ``added_cycle``). A write completes one cycle after entry (posted); a write to an address
  that already has a write waiting is merged into it; a read of such an address is served from the
  buffer one cycle after entry; reads of one address waiting together are served by one RD.
* **Transaction to command**: every cycle at most one transaction moves into its bank's command
  queue (``command_queue`` entries per bank): the oldest one of the active queue whose bank queue has
  room. The write buffer becomes the active queue when it is full, or holds more than
  :data:`DRAIN_MIN` writes while every command queue is empty, and stays so until as many writes as it
  held then have moved; a write whose address has a read waiting ends the drain instead of moving.
  One departure: DRAMsim3 restarts a drain on a full buffer at once, so when that read is still in
  the read queue it ends on the same write again every cycle and the channel stalls for good; here
  the drain restarts only after a read has moved on (the read queue gets its turn).
* **Command**: every cycle the bank queues are visited round robin, starting after the one that
  issued last; the first queue with a ready command issues it. Within a queue the first entry, in
  order, whose next command is legal now: ACT if the bank is closed; the column command if it hits the
  open row; PRE only for the queue's first entry and only when no entry hits the open row or the bank
  has served ``row_hit_cap`` column commands since its ACT; a write not while an earlier read of the
  same burst waits in the queue. With separate row and column command buses (HBM) a second command
  may issue in the same cycle: the search runs again from the bank that issued, and what it finds
  first (command-bus occupancy aside, as DRAMsim3 has none) issues only if it is of the other kind.
* **Refresh**: every tREFI / ranks cycles the next rank, round robin, needs a refresh (per-bank:
  every tREFIpb the next bank, bank groups first). While one is pending the controller skips that
  rank's (bank's) queues and precharges its open banks one at a time, then issues REF (REFpb).

A cycle runs in DRAMsim3's order: refresh falls due, commands issue, one transaction moves, then the
front end takes a request. The simulation is event driven: each channel's next event is the earliest
cycle at which any of these can happen (a command becoming legal, a transaction able to move, a
refresh falling due), and the cycles in between are skipped; what happens at a visited cycle is
exactly what a cycle-by-cycle run does there.

At the end of a stream (``horizon`` = BIG, every request taken) a channel whose reads are all served
drains its write buffer, which DRAMsim3 never does for eight writes or fewer: their completion cycles
do not change (posted writes completed on entry), their commands are counted.

The numbering of its arrays lives in :mod:`.bank_queues_layout` (no numba: :mod:`.structures` builds
the arrays with it). numba's cache is keyed by this file only: the loop checks the constants it takes
from other files against their current values (:func:`.steps.layout_ok` with this file's
:data:`_LAYOUT`) and stops with an AssertionError when its compiled code is older than them.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .bank_queues_layout import (B_CQN, B_E, B_HITS, B_LOC, B_NF, B_OPEN, B_RD, B_ROWK, B_WR, DRAIN_MIN,
                                 G_NF, G_T, LAYOUT, H_CNT, H_HEAD, H_KEY, KA, KIND_BUFFER, KP, KR, KW, K_ADDR, K_FLAG, K_ID,
                                 K_KEY, K_NF, K_ROW, K_W, REF_RING, STALL, S_CQRD, S_CQTOT, S_DRAIN, S_HOLD,
                                 S_INREF, S_NEV, S_NF, S_REFNEXT, S_REFPTR, S_RFHEAD, S_RFN, S_RR, S_TQH,
                                 S_TQN, T_ADDR, T_BANK, T_ID, T_KEY, T_NF, T_ROW)
from .layout import (BIG, P_B, P_BG, P_CQCAP, P_DUAL, P_FAW, P_HITCAP, P_POLICY, P_R, P_RCAP, P_RDLAT,
                     P_REFI, P_REFIPB, P_REFMODE, P_WCAP, STALE)
from .steps import dense_table, earliest, ht_delete, ht_find, ht_insert, issue, layout_ok, log_command
from .timing import ACT, NCMD, PRE, RD, RDA, REF, REFPB, WR, WRA

#: the numbering as of this file's compilation (numba freezes it into the loop; see
#: bank_queues_layout.LAYOUT)
_LAYOUT = tuple(int(x) for x in LAYOUT)


@njit(cache=True)
def simulate(P, tab, nxt, faw, fawp, bank, tq, tqr, cq, ht, sc, rfq, g, cnt,
             in_id, in_unit, in_bank, in_row, in_w, in_arr, in_key, in_addr, horizon,
             done, kind, entry, mnext, log, logn, layout):
    """Run the memory system over the pending requests (in arrival order) for cycles < ``horizon``;
    returns how many of them the front end took (``entry[k]``: the cycle input ``k`` entered).

    The DRAMsim3 structure's own rules (round-robin search, transaction scheduling, its refresh
    order) are inner functions: numba inlines them into this loop with the arrays they use as free
    variables, so they take no reference counts; no other loop runs them. What both structures share
    comes from :mod:`.steps` (compiled without reference counting, see there)."""
    assert layout_ok(layout, _LAYOUT), STALE
    U = sc.shape[0]
    R, BG, B = P[P_R], P[P_BG], P[P_B]
    BGB = BG * B
    NB = R * BGB
    bbase = 1 + R + R * BG
    nfaw = P[P_FAW]
    refmode = P[P_REFMODE]
    dual = P[P_DUAL] == 1
    hitcap = P[P_HITCAP]
    cqcap = P[P_CQCAP]
    rdlat = P[P_RDLAT]
    tabd = dense_table(tab)
    close = P[P_POLICY] == 1
    kcmd = np.array([ACT, PRE, RDA if close else RD, WRA if close else WR], dtype=np.int64)
    chr_ = np.empty((R, 4), dtype=np.int64)
    ch0 = np.empty(NCMD, dtype=np.int64)
    cap = (P[P_RCAP], P[P_WCAP])
    TM = tq.shape[2] - 1  # the slot count is a power of two: ring positions wrap with a mask
    logging = log.shape[0] > 0  # tests only: production passes a 0-row log

    # ---- bank candidates and timing ----
    def cands(u, b):
        """Recompute bank ``b``'s cached candidates from its command queue and row state."""
        n = bank[u, b, B_CQN]
        orow = bank[u, b, B_OPEN]
        rowk = -1
        ird = -1
        iwr = -1
        if n > 0:
            if orow < 0:
                rowk = KA
            else:
                anyhit = False
                for j in range(n):
                    if cq[u, b, j, K_ROW] != orow:
                        continue
                    anyhit = True
                    if cq[u, b, j, K_W] == 0:
                        if ird < 0:
                            ird = j
                    elif iwr < 0:
                        blocked = False  # an earlier read of the same burst waits in the queue
                        for j2 in range(j):
                            if cq[u, b, j2, K_W] == 0 and cq[u, b, j2, K_KEY] == cq[u, b, j, K_KEY]:
                                blocked = True
                                break
                        if not blocked:
                            iwr = j
                if cq[u, b, 0, K_ROW] != orow and (not anyhit or bank[u, b, B_HITS] >= hitcap):
                    rowk = KP
        bank[u, b, B_ROWK] = rowk
        bank[u, b, B_RD] = ird
        bank[u, b, B_WR] = iwr

    def rank_part(u, from_ch0, col):
        """Channel + rank part of each candidate kind's earliest cycle, per rank; with ``from_ch0``
        the kinds on the ``col`` (column or row) bus take the channel level of the cycle's start."""
        for r in range(R):
            for kk in range(4):
                c = kcmd[kk]
                e = max(ch0[c] if (from_ch0 and (kk >= KR) == col) else nxt[u, 0, c], nxt[u, 1 + r, c])
                if kk == KA:
                    e = max(e, faw[u, r, fawp[u, r]] + nfaw)
                chr_[r, kk] = e

    def issue_at(u, t, r, b, cmd, e):
        """Timing of ``cmd`` at ``t`` (:func:`.steps.issue`; ``b`` -1: a rank command),
        the bank-group + bank parts of its bank group, the count and the log."""
        gnode = 1 + R + b // B if b >= 0 else -1
        issue(nxt[u], faw[u], fawp[u], tabd, r, gnode, bbase + b if b >= 0 else -1, R, cmd, t)
        if b >= 0:
            g0 = (b // B) * B
            for b2 in range(g0, g0 + B):
                for kk in range(4):
                    c = kcmd[kk]
                    bank[u, b2, B_LOC + kk] = max(nxt[u, gnode, c], nxt[u, bbase + b2, c])
        cnt[u, cmd] += 1
        if logging:
            log_command(log, logn, t, cmd, u, r, b, e)

    def held_bank(u):
        """The bank (per-bank refresh) or rank (all-bank) whose queues a pending refresh holds; -1."""
        return rfq[u, sc[u, S_RFHEAD]] if sc[u, S_INREF] == 1 else -1

    def is_held(held, b):
        return held >= 0 and ((refmode == 1 and b // BGB == held) or (refmode == 2 and b == held))

    # ---- refresh ----
    def refresh_due(u):
        """A refresh falls due: queue the next rank (bank groups first, then banks, then ranks)."""
        c = sc[u, S_REFPTR]
        if refmode == 1:
            target = c % R
            sc[u, S_REFNEXT] += max(1, P[P_REFI] // R)
        else:
            target = ((c // BGB) % R * BG + c % BG) * B + (c // BG) % B
            sc[u, S_REFNEXT] += P[P_REFIPB]
        assert sc[u, S_RFN] < REF_RING
        rfq[u, (sc[u, S_RFHEAD] + sc[u, S_RFN]) % REF_RING] = target
        sc[u, S_RFN] += 1
        sc[u, S_REFPTR] = c + 1

    def refresh_target(u):
        """(rank, first bank, last bank + 1, refresh command) of the oldest pending refresh."""
        target = rfq[u, sc[u, S_RFHEAD]]
        if refmode == 1:
            return target, target * BGB, (target + 1) * BGB, REF
        return target // BGB, target, target + 1, REFPB

    def refresh_step(u, t):
        """DRAMsim3's FinishRefresh: hold the queues, precharge the first open bank whose PRE is
        legal, else REF (REFpb) once every bank is closed and it is legal. Returns it, or -1."""
        sc[u, S_INREF] = 1
        r, lo, hi, refcmd = refresh_target(u)
        closed = True
        for b in range(lo, hi):
            if bank[u, b, B_OPEN] < 0:
                continue
            closed = False
            e = max(chr_[r, KP], bank[u, b, B_LOC + KP])
            if e <= t:
                issue_at(u, t, r, b, PRE, e)
                bank[u, b, B_OPEN] = -1
                bank[u, b, B_HITS] = 0
                cands(u, b)
                return PRE
        if not closed:
            return -1
        bb = lo if refcmd == REFPB else -1
        e = earliest(nxt[u], faw[u], fawp[u], r, 1 + R + bb // B if bb >= 0 else -1,
                     bbase + bb if bb >= 0 else -1, refcmd, nfaw)
        if e > t:
            return -1
        issue_at(u, t, r, bb, refcmd, e)
        sc[u, S_RFHEAD] = (sc[u, S_RFHEAD] + 1) % REF_RING
        sc[u, S_RFN] -= 1
        sc[u, S_INREF] = 0
        return refcmd

    def refresh_next(u):
        """Earliest cycle the pending refresh's next command (a PRE of an open bank, else REF) is legal."""
        r, lo, hi, refcmd = refresh_target(u)
        ne = BIG
        for b in range(lo, hi):
            if bank[u, b, B_OPEN] >= 0:
                ne = min(ne, max(chr_[r, KP], bank[u, b, B_LOC + KP]))
        if ne < BIG:
            return ne
        bb = lo if refcmd == REFPB else -1
        return earliest(nxt[u], faw[u], fawp[u], r, 1 + R + bb // B if bb >= 0 else -1,
                        bbase + bb if bb >= 0 else -1, refcmd, nfaw)

    # ---- commands ----
    def find(u, t, first_search):
        """DRAMsim3's round robin: from the bank queue after the last one that issued, the first with
        a command legal at ``t``, and in it the first entry (in order) whose command is legal.
        Returns (bank, kind, position, earliest cycle) or bank -1; the pointer moves to the bank."""
        held = held_bank(u)
        b = sc[u, S_RR]
        for _ in range(NB):
            b += 1
            if b == NB:
                b = 0
            # first search: nothing changed since the last next-event pass, whose per-bank earliest
            # cycles say which banks can have a legal command now
            if bank[u, b, B_E] > t if first_search else bank[u, b, B_CQN] == 0:
                continue
            if is_held(held, b):
                continue
            r = b // BGB
            found, j, e_cmd = -1, -1, BIG
            kk = bank[u, b, B_ROWK]
            if kk >= 0:
                e = max(chr_[r, kk], bank[u, b, B_LOC + kk])
                if e <= t:
                    found, j, e_cmd = kk, 0, e
            jr = bank[u, b, B_RD]
            if jr >= 0 and (found < 0 or jr < j):
                e = max(chr_[r, KR], bank[u, b, B_LOC + KR])
                if e <= t:
                    found, j, e_cmd = KR, jr, e
            jw = bank[u, b, B_WR]
            if jw >= 0 and (found < 0 or jw < j):
                e = max(chr_[r, KW], bank[u, b, B_LOC + KW])
                if e <= t:
                    found, j, e_cmd = KW, jw, e
            if found >= 0:
                sc[u, S_RR] = b
                return b, found, j, e_cmd
        return -1, -1, -1, BIG

    def issue_queued(u, t, b, k, j, e):
        """Issue candidate ``k`` (queue position ``j``) of bank ``b``: timing, bank state, the
        requests it serves; a column command takes its entry out of the queue."""
        cmd = kcmd[k]
        issue_at(u, t, b // BGB, b, cmd, e)
        if cmd == ACT:
            bank[u, b, B_OPEN] = cq[u, b, 0, K_ROW]
            bank[u, b, B_HITS] = 0
            if cq[u, b, 0, K_FLAG] == 0:
                cq[u, b, 0, K_FLAG] = 1
        elif cmd == PRE:
            bank[u, b, B_OPEN] = -1
            bank[u, b, B_HITS] = 0
            cq[u, b, 0, K_FLAG] = 2
        else:
            f = cq[u, b, j, K_FLAG]
            key = cq[u, b, j, K_ADDR] + 1
            if k == KR:  # every read of the address waiting is served
                s = ht_find(ht, u, 0, key)
                x = ht[u, 0, s, H_HEAD]
                while x >= 0:
                    done[x] = t + rdlat
                    kind[x] = f
                    x = mnext[x]
                ht_delete(ht, u, 0, s)
                sc[u, S_CQRD] -= 1
            else:
                kind[cq[u, b, j, K_ID]] = f
                ht_delete(ht, u, 1, ht_find(ht, u, 1, key))
            m = bank[u, b, B_CQN] - 1
            for j2 in range(j, m):
                for fld in range(K_NF):
                    cq[u, b, j2, fld] = cq[u, b, j2 + 1, fld]
            bank[u, b, B_CQN] = m
            sc[u, S_CQTOT] -= 1
            if cmd == RDA or cmd == WRA:
                bank[u, b, B_OPEN] = -1
                bank[u, b, B_HITS] = 0
            else:
                bank[u, b, B_HITS] += 1
        cands(u, b)
        return cmd

    def commands(u, t):
        """This cycle's commands: the pending refresh's, else the round-robin search's; then, with
        two command buses, a second search whose find issues only if on the other bus (DRAMsim3
        looks for it without the command bus the first one holds). Returns whether a column
        command issued (a request was served)."""
        for c in range(NCMD):
            ch0[c] = nxt[u, 0, c]
        rank_part(u, False, False)
        first = -1
        if sc[u, S_RFN] > 0:
            first = refresh_step(u, t)
        if first < 0:
            b, k, j, e = find(u, t, True)
            if b < 0:
                return False
            first = issue_queued(u, t, b, k, j, e)
        col = first == RD or first == WR or first == RDA or first == WRA
        if not dual:
            return col
        rank_part(u, True, col)
        b, k, j, e = find(u, t, False)
        if b >= 0 and (k >= KR) != col:
            issue_queued(u, t, b, k, j, e)
            return True
        return col

    # ---- transactions ----
    def drain_starts(u, flush):
        """The write buffer becomes the active queue: DRAMsim3's rule, plus the end-of-stream flush
        once the channel has no read left."""
        tw = sc[u, S_TQN + 1]
        return sc[u, S_DRAIN] == 0 and sc[u, S_HOLD] == 0 and (
            tw >= cap[1] or (tw > DRAIN_MIN and sc[u, S_CQTOT] == 0)
            or (flush and tw > 0 and sc[u, S_TQN] == 0 and sc[u, S_CQRD] == 0))

    def schedule(u, flush):
        """At most one transaction moves into its bank's command queue (DRAMsim3's
        ScheduleTransaction); returns whether one did."""
        if drain_starts(u, flush):
            sc[u, S_DRAIN] = sc[u, S_TQN + 1]
        qi = 1 if sc[u, S_DRAIN] > 0 else 0
        h = sc[u, S_TQH + qi]
        for j in range(sc[u, S_TQN + qi]):
            sl = tqr[u, qi, (h + j) & TM]
            b = tq[u, qi, sl, T_BANK]
            m = bank[u, b, B_CQN]
            if m >= cqcap:
                continue
            if qi == 1:
                addr = tq[u, 1, sl, T_ADDR]
                if ht_find(ht, u, 0, addr + 1) >= 0:
                    sc[u, S_DRAIN] = 0  # a read of this address waits: the drain ends (R->W rule)
                    h0 = sc[u, S_TQH]
                    for j2 in range(sc[u, S_TQN]):
                        if tq[u, 0, tqr[u, 0, (h0 + j2) & TM], T_ADDR] == addr:
                            sc[u, S_HOLD] = 1  # in the read queue: no restart until a read moves
                            break
                    return False
                sc[u, S_DRAIN] -= 1
            cq[u, b, m, K_ID] = tq[u, qi, sl, T_ID]
            cq[u, b, m, K_ROW] = tq[u, qi, sl, T_ROW]
            cq[u, b, m, K_W] = qi
            cq[u, b, m, K_KEY] = tq[u, qi, sl, T_KEY]
            cq[u, b, m, K_ADDR] = tq[u, qi, sl, T_ADDR]
            cq[u, b, m, K_FLAG] = 0
            bank[u, b, B_CQN] = m + 1
            sc[u, S_CQTOT] += 1
            if qi == 0:
                sc[u, S_CQRD] += 1
                sc[u, S_HOLD] = 0
            for j2 in range(j, 0, -1):  # the entries before it move up one; its slot goes free
                tqr[u, qi, (h + j2) & TM] = tqr[u, qi, (h + j2 - 1) & TM]
            tqr[u, qi, h] = sl
            sc[u, S_TQH + qi] = (h + 1) & TM
            sc[u, S_TQN + qi] -= 1
            cands(u, b)
            return True
        return False

    def next_event(u, t, flush):
        """The earliest cycle after ``t`` this unit can change state (a transaction able to move, a
        command becoming legal, a refresh falling due or its command becoming legal); refreshes
        every bank's earliest cycle (B_E) for the next cycle's search."""
        ne = t + 1 if drain_starts(u, flush) else BIG
        qi = 1 if sc[u, S_DRAIN] > 0 else 0
        h = sc[u, S_TQH + qi]
        for j in range(sc[u, S_TQN + qi]):
            if ne > t + 1 and bank[u, tq[u, qi, tqr[u, qi, (h + j) & TM], T_BANK], B_CQN] < cqcap:
                ne = t + 1
                break
        rank_part(u, False, False)
        if refmode != 0:
            ne = min(ne, sc[u, S_REFNEXT])
        if sc[u, S_RFN] > 0:
            ne = min(ne, refresh_next(u))
        held = held_bank(u)
        for b in range(NB):
            eb = BIG
            if bank[u, b, B_CQN] > 0 and not is_held(held, b):
                r = b // BGB
                kk = bank[u, b, B_ROWK]
                if kk >= 0:
                    eb = max(chr_[r, kk], bank[u, b, B_LOC + kk])
                if bank[u, b, B_RD] >= 0:
                    eb = min(eb, max(chr_[r, KR], bank[u, b, B_LOC + KR]))
                if bank[u, b, B_WR] >= 0:
                    eb = min(eb, max(chr_[r, KW], bank[u, b, B_LOC + KW]))
            bank[u, b, B_E] = eb
            ne = min(ne, eb)
        return max(ne, t + 1)

    # ---- the front end ----
    def take(u, t, k):
        """Request ``k`` enters unit ``u``'s controller at t + 1 (its queue has room)."""
        rid = in_id[k]
        entry[k] = t + 1  # by input position (sequential stores)
        mnext[rid] = -1
        key = in_addr[k] + 1
        if ht_find(ht, u, 1, key) >= 0:
            done[rid] = t + 2  # a write merged, or a read served, by the write buffer
            kind[rid] = KIND_BUFFER
            return
        if in_w[k]:
            done[rid] = t + 2  # posted write
            ht_insert(ht, u, 1, key, rid)
            qi = 1
        else:
            s = ht_find(ht, u, 0, key)
            if s >= 0:  # a read of this address waits: one RD serves both
                mnext[rid] = ht[u, 0, s, H_HEAD]
                ht[u, 0, s, H_HEAD] = rid
                ht[u, 0, s, H_CNT] += 1
                return
            ht_insert(ht, u, 0, key, rid)
            qi = 0
        m = sc[u, S_TQN + qi]
        sl = tqr[u, qi, (sc[u, S_TQH + qi] + m) & TM]
        tq[u, qi, sl, T_ID] = rid
        tq[u, qi, sl, T_BANK] = in_bank[k]
        tq[u, qi, sl, T_ROW] = in_row[k]
        tq[u, qi, sl, T_KEY] = in_key[k]
        tq[u, qi, sl, T_ADDR] = in_addr[k]
        sc[u, S_TQN + qi] = m + 1

    # ---- the cycle loop: each unit's controller cycle (DRAMsim3's ClockTick order: refresh falls
    # due, commands, one transaction moves), then the front end ----
    n = in_id.shape[0]
    final = horizon >= BIG
    t = g[G_T]
    k = 0
    t_progress = t  # the last cycle a request was served or moved: a watchdog on the last phase
    while t < horizon:
        flush = final and k >= n
        for u in range(U):
            if sc[u, S_NEV] > t:
                continue
            if refmode != 0 and t >= sc[u, S_REFNEXT]:
                refresh_due(u)
            if commands(u, t) | schedule(u, flush):
                t_progress = t
            sc[u, S_NEV] = next_event(u, t, flush)
        assert not flush or t - t_progress < STALL, "dramsim3 structure: no request served for STALL cycles"
        fe = BIG  # the oldest request, once arrived, if its queue has room
        if k < n:
            if in_arr[k] > t:
                fe = in_arr[k]
            elif sc[in_unit[k], S_TQN + in_w[k]] < cap[in_w[k]]:
                u = in_unit[k]
                take(u, t, k)
                sc[u, S_NEV] = min(sc[u, S_NEV], t + 1)
                k += 1
                if k < n:
                    fe = max(in_arr[k], t + 1)
                elif final:
                    for u2 in range(U):  # every request taken: the end-of-stream flush may start
                        sc[u2, S_NEV] = min(sc[u2, S_NEV], t + 1)
        elif final:
            busy = False
            for u in range(U):
                busy = busy or sc[u, S_TQN] + sc[u, S_TQN + 1] + sc[u, S_CQTOT] > 0
            if not busy:
                break
        tn = fe
        for u in range(U):
            tn = min(tn, sc[u, S_NEV])
        if tn >= BIG:  # nothing can happen any more
            if not final:
                t = horizon
            break
        t = max(tn, t + 1)
    g[G_T] = min(t, horizon)
    return k
