"""The numba simulation core: per-(pseudo-)channel controllers with bank state machines.

Event-driven but cycle-exact: a controller only changes state when a command issues, a request
arrives or a refresh falls due, so instead of ticking every cycle the core jumps to the earliest cycle
at which any candidate command becomes legal (or the next arrival / refresh), and issues there exactly
what a per-cycle FR-FCFS controller would. At most one command per command bus per cycle (HBM has a
row and a column bus); that is a channel-level constraint in the timing table, like any other.

Units (channels x pseudo-channels) share nothing, so each is simulated on its own. Each unit has a
read queue and a write queue; requests enter them in arrival order (a full queue holds back later
requests of that unit only: per-channel ports, as an FPGA's AXI ports or a PIM host interface have).

State lives in numpy arrays owned by :class:`hwsim.dram.simulator.DramStream`, so a simulation can be
fed in chunks: :func:`simulate` processes decisions at cycles < ``horizon`` and returns.

Scheduler (``P_SCHED``): 0 = FR-FCFS (oldest ready column command first, then oldest ready row
command; a bank with a queued row hit is not precharged), 1 = FCFS (the oldest request only).
Page policy (``P_POLICY``): 0 = open page, 1 = close page (every access auto-precharges: RDA/WRA).
Refresh (``P_REFMODE``): 0 none, 1 all-bank (REF every REFI per rank, staggered across ranks;
PREA first if a bank is open; the rank takes no other command while its refresh is pending),
2 per-bank (REFpb every REFIpb, banks round robin; only that bank is held).
Write draining: the write queue is served when it reaches the high watermark (or no reads wait)
until it falls to the low watermark (or empties).

Speed (same decisions as a scan of the whole queue, oldest first): each queue keeps, per bank, a
linked list of its waiting entries in age order and the bank's oldest row hit. All row hits of a bank
need the same column command and all its other entries the same row command, so a bank offers one
candidate: its oldest hit, else its oldest entry. The candidate (type, request id, slot) and the
bank-group + bank part of its earliest legal cycle are cached per bank and recomputed only when that
bank's queue or state changes or a command issues in its bank group; a
decision is then one pass over the banks (channel + rank part hoisted per rank) and one vectorised
min over (id, bank) to break ties. ``issue`` updates the next-legal cycles branch-free.

The loop is made of the steps of :mod:`.steps` (timing state, refresh, pick), the library the
``dramsim3`` structure (:mod:`.bank_queues`) and the timing harness (:mod:`.harness`) call too: the
refresh manager is :func:`.steps.refresh_command` (chosen by ``P_REFMODE``), FCFS is
:func:`.steps.pick_fcfs`; FR-FCFS's pass over the banks is the one piece written in the loop (as a
step it ran at half the speed, measured), built from :func:`.steps.rank_parts`,
:func:`.steps.oldest_at` and :func:`.steps.hold_banks`.
``L_*`` (the command log's fields) and the timing steps are re-exported here for the tests.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .layout import (BIG, BQ_CS, BQ_CT, BQ_HIT, BQ_LOC, BQ_NF, CT_ACT, CT_COL, CT_NONE, CT_PRE, C_CONFLICT, C_HIT, C_MISS, C_N,
                     F_NF, LAYOUT, L_BANK, L_CMD, L_EARLIEST, L_NF, L_RANK, L_T, L_UNIT, P_B, P_BG, P_FAW,
                     P_NPARAM, P_POLICY, P_R, P_RCAP, P_RDLAT, P_REFI, P_REFIPB, P_REFMODE, P_SCHED, P_WCAP,
                     P_WHI, P_WLO, P_WRLAT, Q_ARR, Q_BANK, Q_FLAG, Q_GNODE, Q_ID, Q_NEXT, Q_NF, Q_RANK, Q_ROW,
                     STALE, S_DRAIN, S_NSTATE, S_RFREE, S_RQN, S_T, S_WFREE, S_WQN)
from .steps import (bank_candidate, bank_moved, close_bank, dense_table, dequeue, earliest, enqueue, issue,
                    hold_banks, layout_ok, log_command, next_hit, next_refresh_due, oldest_at, open_bank, pick_fcfs,
                    rank_parts, refresh_command, refresh_falls_due, release_banks)
from .timing import ACT, NCMD, PRE, RD, RDA, WR, WRA

#: the numbering as of this file's compilation (numba freezes it into the loops; see layout.LAYOUT)
_LAYOUT = tuple(int(x) for x in LAYOUT)


@njit(cache=True)
def _run_unit(u, P, tabd, brank, bgnode, colq, cmdq, cmt, E, blk, nxt, open_row, faw, fawp, refs, sc, qs, bq,
              cnt, in_id, in_bank, in_row, in_w, in_arr, lo, hi, horizon, done, kind, entry, log, logn):
    """One unit's controller loop: admit arrivals, refresh, pick (FCFS or FR-FCFS), then move to the
    next event or issue the pick."""
    R = P[P_R]
    B = P[P_B]
    BGB = P[P_BG] * B
    NB = R * BGB
    bbase = 1 + R + R * P[P_BG]
    rcap = P[P_RCAP]
    wcap = P[P_WCAP]
    refmode = P[P_REFMODE]
    nfaw = P[P_FAW]
    fcfs = P[P_SCHED] == 1
    logging = log.shape[0] > 0  # tests only: production passes a 0-row log
    bsh = 0
    while (1 << bsh) < NB:
        bsh += 1

    # this unit's views
    nx = nxt[u]
    orw = open_row[u]
    fw = faw[u]
    fwp = fawp[u]
    rf = refs[u]
    qu = qs[u]  # (2 queues: read, write; slots; fields)
    bqu = bq[u]

    t = sc[u, S_T]
    drain = sc[u, S_DRAIN]
    rqn = sc[u, S_RQN]
    wqn = sc[u, S_WQN]
    rfree = sc[u, S_RFREE]
    wfree = sc[u, S_WFREE]
    # the cached candidates are rebuilt on entry (the timing state may come from an earlier call)
    for qi in range(2):
        for b in range(NB):
            bank_candidate(qu, bqu, orw, nx, cmdq, qi, b, 4 * brank[b], bgnode[b], bbase + b)
    k = lo
    while True:
        if t >= horizon:
            break
        # ---- admit arrivals (in order; a full queue holds back the rest of this unit) ----
        while k < hi and in_arr[k] <= t:
            if in_w[k]:
                if wqn >= wcap:
                    break
                qi = 1
                j = wfree
                wfree = qu[qi, j, Q_NEXT]
                wqn += 1
            else:
                if rqn >= rcap:
                    break
                qi = 0
                j = rfree
                rfree = qu[qi, j, Q_NEXT]
                rqn += 1
            b = in_bank[k]
            qu[qi, j, Q_ID] = in_id[k]
            qu[qi, j, Q_BANK] = b
            qu[qi, j, Q_ROW] = in_row[k]
            qu[qi, j, Q_ARR] = in_arr[k]
            entry[k] = t  # by input position: a sequential store (a request id's would stride)
            qu[qi, j, Q_FLAG] = 0
            qu[qi, j, Q_RANK] = brank[b]
            qu[qi, j, Q_GNODE] = bgnode[b]
            enqueue(qu, bqu, orw, nx, cmdq, qi, j, b, 4 * brank[b], bgnode[b], bbase + b)
            k += 1
        if k >= hi and rqn == 0 and wqn == 0 and horizon >= BIG:
            break
        # ---- refresh: falls due; its commands have priority ----
        refresh_falls_due(rf, refmode, R, BGB, t)
        # ---- write-drain mode ----
        if drain == 1:
            if wqn == 0 or (wqn <= P[P_WLO] and rqn > 0):
                drain = 0
        else:
            if wqn >= P[P_WHI] or (rqn == 0 and wqn > 0):
                drain = 1
        best_e = BIG
        if refmode != 0:
            issued, best_e = refresh_command(u, t, nx, fw, fwp, tabd, orw, qu, bqu, cmdq, brank, bgnode, rf, cnt,
                                             log, logn, R, B, BGB, bbase, refmode, P[P_REFI], P[P_REFIPB], nfaw)
            if issued:
                continue
        # ---- requests: the scheduler's pick from the active queue ----
        is_w = drain == 1
        qi = 1 if is_w else 0
        qn = wqn if is_w else rqn
        colcmd = colq[qi]
        col_s, col_e, row_s, row_e, row_cmd = -1, BIG, -1, BIG, -1
        if qn > 0 and fcfs:
            col_e, col_s, row_e, row_s, row_cmd = pick_fcfs(qu, bqu, orw, nx, fw, fwp, rf, brank, bgnode, qi,
                                                            colcmd, NB, bbase, refmode, nfaw)
        elif qn > 0:
            # FR-FCFS: the pass over the banks stays in the loop (measured: as a step, inlined or not, the
            # decision ran at half the speed); its pieces are steps
            rank_parts(nx, fw, fwp, rf, cmt, colcmd, R, refmode, nfaw)
            hold_banks(bqu, rf, blk, qi, R, refmode)
            # one branch-free pass: each bank's candidate's earliest cycle, and the earliest of the
            # column and of the row candidates
            for b in range(NB):
                ctr = bqu[qi, BQ_CT, b]
                ct = ctr & 3
                e = max(cmt[ctr], bqu[qi, BQ_LOC, b])
                E[b] = e
                col_e = min(col_e, e if ct == CT_COL else BIG)
                row_e = min(row_e, e if ct >= CT_ACT else BIG)
            if col_e < BIG:
                col_s = bqu[qi, BQ_CS, oldest_at(bqu, E, qi, col_e, True, NB, bsh)]
            if col_e > t and row_e < BIG:
                b = oldest_at(bqu, E, qi, row_e, False, NB, bsh)
                row_s = bqu[qi, BQ_CS, b]
                row_cmd = ACT if (bqu[qi, BQ_CT, b] & 3) == CT_ACT else PRE
            release_banks(bqu, rf, blk, qi, R, refmode)
        if col_e <= t:
            row_e = BIG  # row commands are only considered when no column command is ready
        # the next cycle anything can happen: a command, an arrival, a refresh falling due
        tcmd = col_e if col_e <= row_e else row_e
        if best_e < tcmd:
            tcmd = best_e  # a refresh command is the earliest
        tev = BIG
        if k < hi:
            if (in_w[k] and wqn < wcap) or (not in_w[k] and rqn < rcap):
                tev = in_arr[k]
        tev = next_refresh_due(rf, refmode, R, tev)
        if tev <= tcmd or best_e <= tcmd:
            # an event (or a refresh command) comes first: move there and re-decide
            tn = tev if tev < best_e else best_e
            if tn >= horizon:
                if horizon < BIG and horizon > t:
                    t = horizon
                break
            if tn <= t:
                tn = t + 1  # defensive: never spin
            t = tn
            continue
        if tcmd >= horizon:
            if horizon < BIG and horizon > t:
                t = horizon
            break
        # issue the oldest ready column command, else the oldest ready row command, at tcmd
        if tcmd > t:
            t = tcmd
        if col_e <= t:
            slot = col_s
            cmd = colcmd
        else:
            slot = row_s
            cmd = row_cmd
        b = qu[qi, slot, Q_BANK]
        r = qu[qi, slot, Q_RANK]
        gnode = qu[qi, slot, Q_GNODE]
        issue(nx, fw, fwp, tabd, r, gnode, bbase + b, R, cmd, t)
        cnt[u, cmd] += 1
        if logging:
            log_command(log, logn, t, cmd, u, r, b, col_e if cmd == colcmd else row_e)
        if cmd == ACT:
            if qu[qi, slot, Q_FLAG] == 0:
                qu[qi, slot, Q_FLAG] = 1
            open_bank(qu, bqu, orw, b, qu[qi, slot, Q_ROW])
        elif cmd == PRE:
            close_bank(orw, bqu, b)
            qu[qi, slot, Q_FLAG] = 2
        else:
            rid = qu[qi, slot, Q_ID]
            done[rid] = t + (P[P_WRLAT] if is_w else P[P_RDLAT])
            f = qu[qi, slot, Q_FLAG]
            kind[rid] = f
            cnt[u, C_HIT + f] += 1
            nxs = dequeue(qu, bqu, qi, slot, b)
            if cmd == RDA or cmd == WRA:
                close_bank(orw, bqu, b)
            else:
                # the served entry was the bank's oldest hit: the next one is further on
                bqu[qi, BQ_HIT, b] = next_hit(qu, qi, nxs, orw[b])
            # the slot goes back to the free list
            if is_w:
                qu[qi, slot, Q_NEXT] = wfree
                wfree = slot
                wqn -= 1
            else:
                qu[qi, slot, Q_NEXT] = rfree
                rfree = slot
                rqn -= 1
        # the bank group's and the bank's timing moved, and the bank's state
        bank_moved(qu, bqu, orw, nx, cmdq, b, 4 * r, gnode, bbase, B, R)
    sc[u, S_T] = t
    sc[u, S_DRAIN] = drain
    sc[u, S_RQN] = rqn
    sc[u, S_WQN] = wqn
    sc[u, S_RFREE] = rfree
    sc[u, S_WFREE] = wfree
    return k - lo


@njit(cache=True)
def simulate(P, tab, nxt, open_row, faw, fawp, refs, sc, qs, bq, cnt,
             in_id, in_bank, in_row, in_w, in_arr, offsets, horizon, done, kind, consumed, entry, log, logn, layout):
    """Run every unit over its slice ``offsets[u]:offsets[u+1]`` of the (unit-sorted) inputs;
    ``entry[k]`` receives the cycle input ``k`` entered its queue."""
    assert layout_ok(layout, _LAYOUT), STALE
    U = offsets.shape[0] - 1
    tabd = dense_table(tab)
    R = P[P_R]
    NB = R * P[P_BG] * P[P_B]
    # bank-static facts: rank and bank-group node of each bank
    brank = np.empty(NB, dtype=np.int64)
    bgnode = np.empty(NB, dtype=np.int64)
    for b in range(NB):
        brank[b] = b // (P[P_BG] * P[P_B])
        bgnode[b] = 1 + R + b // P[P_B]
    close = P[P_POLICY] == 1
    colq = np.empty(2, dtype=np.int64)  # column command of the read and the write queue
    colq[0] = RDA if close else RD
    colq[1] = WRA if close else WR
    cmdq = np.empty((2, 4), dtype=np.int64)  # per queue: the command of each candidate type
    for qi in range(2):
        cmdq[qi, CT_NONE] = ACT  # (any: its earliest cycle is BIG)
        cmdq[qi, CT_COL] = colq[qi]
        cmdq[qi, CT_ACT] = ACT
        cmdq[qi, CT_PRE] = PRE
    blk = np.zeros(R, dtype=np.int64)
    cmt = np.empty(4 * R, dtype=np.int64)
    E = np.empty(NB, dtype=np.int64)
    for u in range(U):
        consumed[u] = _run_unit(u, P, tabd, brank, bgnode, colq, cmdq, cmt, E, blk, nxt, open_row, faw, fawp,
                                refs, sc, qs, bq, cnt, in_id, in_bank, in_row, in_w, in_arr, offsets[u],
                                offsets[u + 1], horizon, done, kind, entry, log, logn)


@njit(cache=True)
def decode_ubr(a, shift, mask, npc, nbg, nb):
    """Byte addresses (uint64) -> (unit, flat bank in the unit, row), int64 each, in one pass.

    ``shift``/``mask`` give, for the fields ch, pc, ra, bg, ba, ro (in that order), the bit position
    (address offset bits included) and the mask of the field (0 for a field of width 0)."""
    n = a.shape[0]
    unit = np.empty(n, dtype=np.int64)
    bank = np.empty(n, dtype=np.int64)
    row = np.empty(n, dtype=np.int64)
    s0, s1, s2, s3, s4, s5 = shift[0], shift[1], shift[2], shift[3], shift[4], shift[5]
    m0, m1, m2, m3, m4, m5 = mask[0], mask[1], mask[2], mask[3], mask[4], mask[5]
    for i in range(n):
        x = a[i]
        ch = np.int64((x >> s0) & m0)
        pc = np.int64((x >> s1) & m1)
        ra = np.int64((x >> s2) & m2)
        bg = np.int64((x >> s3) & m3)
        ba = np.int64((x >> s4) & m4)
        unit[i] = ch * npc + pc
        bank[i] = (ra * nbg + bg) * nb + ba
        row[i] = np.int64((x >> s5) & m5)
    return unit, bank, row


@njit(cache=True)
def group_by_unit(U, pu, pid, pb, pr, pw, pa):
    """Stable counting sort of the pending inputs by unit: sorted copies and the unit offsets."""
    n = pu.shape[0]
    offsets = np.zeros(U + 1, dtype=np.int64)
    for i in range(n):
        offsets[pu[i] + 1] += 1
    for u in range(U):
        offsets[u + 1] += offsets[u]
    pos = offsets[:U].copy()
    sid = np.empty(n, dtype=np.int64)
    sb = np.empty(n, dtype=np.int64)
    sr = np.empty(n, dtype=np.int64)
    sw = np.empty(n, dtype=np.int64)
    sa = np.empty(n, dtype=np.int64)
    su = np.empty(n, dtype=np.int64)
    for i in range(n):
        u = pu[i]
        j = pos[u]
        pos[u] = j + 1
        su[j] = u
        sid[j] = pid[i]
        sb[j] = pb[i]
        sr[j] = pr[i]
        sw[j] = pw[i]
        sa[j] = pa[i]
    return su, sid, sb, sr, sw, sa, offsets


@njit(cache=True)
def taken(offsets, consumed, sid, entry):
    """Ids and queue-entry cycles of the inputs the units took (each the first ``consumed[u]`` of
    its slice)."""
    n = 0
    for u in range(offsets.shape[0] - 1):
        n += consumed[u]
    ids = np.empty(n, dtype=np.int64)
    cyc = np.empty(n, dtype=np.int64)
    j = 0
    for u in range(offsets.shape[0] - 1):
        for i in range(offsets[u], offsets[u] + consumed[u]):
            ids[j] = sid[i]
            cyc[j] = entry[i]
            j += 1
    return ids, cyc


@njit(cache=True)
def leftover(offsets, consumed, su, sid, sb, sr, sw, sa):
    """The inputs not yet admitted (each unit's slice past what it consumed), in the same order."""
    U = offsets.shape[0] - 1
    n = 0
    for u in range(U):
        n += offsets[u + 1] - offsets[u] - consumed[u]
    out = np.empty((6, n), dtype=np.int64)
    j = 0
    for u in range(U):
        for i in range(offsets[u] + consumed[u], offsets[u + 1]):
            out[0, j] = su[i]
            out[1, j] = sid[i]
            out[2, j] = sb[i]
            out[3, j] = sr[i]
            out[4, j] = sw[i]
            out[5, j] = sa[i]
            j += 1
    return out
