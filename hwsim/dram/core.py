"""The numba simulation core: per-(pseudo-)channel controllers with bank state machines.

Event-driven but cycle-exact: a controller only changes state when a command issues, a request
arrives or a refresh falls due, so instead of ticking every cycle the core jumps to the earliest cycle
at which any candidate command becomes legal (or the next arrival / refresh), and issues there exactly
what a per-cycle FR-FCFS controller would. At most one command per command bus per cycle (HBM has a
row and a column bus); that is a channel-level constraint in the timing table, like any other.

Units (channels x pseudo-channels) share nothing, so each is simulated on its own. Each unit has a
read queue and a write queue; requests enter them in arrival order (a full queue holds back later
requests of that unit only: per-channel ports, as an FPGA's AXI ports or a PIM host interface have).

State lives in numpy arrays owned by :class:`hwsim.dram.system.DramStream`, so a simulation can be
fed in chunks: :func:`simulate` processes decisions at cycles < ``horizon`` and returns.

Scheduler (``P_SCHED``): 0 = FR-FCFS (oldest ready column command first, then oldest ready row
command; a bank with a queued row hit is not precharged), 1 = FCFS (the oldest request only).
Page policy (``P_POLICY``): 0 = open page, 1 = close page (every access auto-precharges: RDA/WRA).
Refresh (``P_REFMODE``): 0 none, 1 all-bank (REF every REFI per rank, staggered across ranks;
PREA first if a bank is open; the rank takes no other command while its refresh is pending),
2 per-bank (REFpb every REFIpb, banks round robin; only that bank is held).
Write draining: the write queue is served when it reaches the high watermark (or no reads wait)
until it falls to the low watermark (or empties).
"""
from __future__ import annotations

import numpy as np
from numba import njit

ACT, PRE, PREA, RD, WR, RDA, WRA, REF, REFPB = range(9)
NCMD = 9
BIG = np.int64(1) << np.int64(62)

# parameter vector indices
(P_R, P_BG, P_B, P_RCAP, P_WCAP, P_WHI, P_WLO, P_POLICY, P_REFMODE, P_REFI, P_REFIPB,
 P_RDLAT, P_WRLAT, P_FAW, P_SCHED, P_NPARAM) = range(16)
# scalar state indices
S_T, S_DRAIN, S_RQN, S_WQN, S_NSTATE = range(5)
# queue entry fields
Q_ID, Q_BANK, Q_ROW, Q_ARR, Q_FLAG, Q_RANK, Q_GNODE, Q_NF = range(8)
# refresh state fields (per rank)
F_DUE, F_PEND, F_PBDUE, F_PBNEXT, F_PBBANK, F_NF = range(6)
# counters
(C_ACT, C_PRE, C_PREA, C_RD, C_WR, C_RDA, C_WRA, C_REF, C_REFPB, C_HIT, C_MISS, C_CONFLICT,
 C_N) = range(13)
_CMD_COUNTER = (C_ACT, C_PRE, C_PREA, C_RD, C_WR, C_RDA, C_WRA, C_REF, C_REFPB)


@njit(cache=True, inline='always')
def earliest(nxt, u, r, gnode, bnode, cmd, faw, fawp, nfaw):
    """First cycle at which ``cmd`` is legal on (unit u, rank r, bank-group node, bank node)."""
    e = nxt[u, 0, cmd]
    v = nxt[u, 1 + r, cmd]
    if v > e:
        e = v
    if gnode >= 0:
        v = nxt[u, gnode, cmd]
        if v > e:
            e = v
        v = nxt[u, bnode, cmd]
        if v > e:
            e = v
    if cmd == ACT:
        v = faw[u, r, fawp[u, r]] + nfaw
        if v > e:
            e = v
    return e


@njit(cache=True, inline='always')
def issue(nxt, tab, u, r, gnode, bnode, nranks, cmd, t, faw, fawp):
    """Apply the timing consequences of ``cmd`` issued at cycle ``t`` (no bank-state change)."""
    for c in range(NCMD):
        v = tab[0, cmd, c]
        if v > 0 and t + v > nxt[u, 0, c]:
            nxt[u, 0, c] = t + v
        v = tab[1, cmd, c]
        if v > 0 and t + v > nxt[u, 1 + r, c]:
            nxt[u, 1 + r, c] = t + v
        v = tab[2, cmd, c]
        if v > 0:
            for r2 in range(nranks):
                if r2 != r and t + v > nxt[u, 1 + r2, c]:
                    nxt[u, 1 + r2, c] = t + v
        if gnode >= 0:
            v = tab[3, cmd, c]
            if v > 0 and t + v > nxt[u, gnode, c]:
                nxt[u, gnode, c] = t + v
            v = tab[4, cmd, c]
            if v > 0 and t + v > nxt[u, bnode, c]:
                nxt[u, bnode, c] = t + v
    if cmd == ACT:
        faw[u, r, fawp[u, r]] = t
        fawp[u, r] = (fawp[u, r] + 1) & 3


@njit(cache=True)
def _count(cnt, u, cmd):
    if cmd == ACT:
        cnt[u, C_ACT] += 1
    elif cmd == PRE:
        cnt[u, C_PRE] += 1
    elif cmd == PREA:
        cnt[u, C_PREA] += 1
    elif cmd == RD:
        cnt[u, C_RD] += 1
    elif cmd == WR:
        cnt[u, C_WR] += 1
    elif cmd == RDA:
        cnt[u, C_RDA] += 1
    elif cmd == WRA:
        cnt[u, C_WRA] += 1
    elif cmd == REF:
        cnt[u, C_REF] += 1
    else:
        cnt[u, C_REFPB] += 1


@njit(cache=True)
def _run_unit(u, P, tab, nxt, open_row, faw, fawp, refs, sc, rq, wq, ro, wo, cnt,
              in_id, in_bank, in_row, in_w, in_arr, lo, hi, horizon, done, kind,
              cmdj, ej, mcol_st, mcol_e, mrow_st, mrow_e):
    R = P[P_R]
    BG = P[P_BG]
    B = P[P_B]
    BGB = BG * B
    NB = R * BGB
    gbase = 1 + R
    bbase = 1 + R + R * BG
    rcap = P[P_RCAP]
    wcap = P[P_WCAP]
    whi = P[P_WHI]
    wlo = P[P_WLO]
    close = P[P_POLICY] == 1
    refmode = P[P_REFMODE]
    refi = P[P_REFI]
    refipb = P[P_REFIPB]
    rdlat = P[P_RDLAT]
    wrlat = P[P_WRLAT]
    nfaw = P[P_FAW]
    fcfs = P[P_SCHED] == 1

    t = sc[u, S_T]
    drain = sc[u, S_DRAIN]
    rqn = sc[u, S_RQN]
    wqn = sc[u, S_WQN]
    k = lo
    stamp = np.int64(0)
    while True:
        if t >= horizon:
            break
        # ---- admit arrivals (in order; a full queue holds back the rest of this unit) ----
        while k < hi and in_arr[k] <= t:
            if in_w[k]:
                if wqn >= wcap:
                    break
                q = wq
                j = wo[u, wqn]
                wqn += 1
            else:
                if rqn >= rcap:
                    break
                q = rq
                j = ro[u, rqn]
                rqn += 1
            q[u, j, Q_ID] = in_id[k]
            q[u, j, Q_BANK] = in_bank[k]
            q[u, j, Q_ROW] = in_row[k]
            q[u, j, Q_ARR] = in_arr[k]
            q[u, j, Q_FLAG] = 0
            q[u, j, Q_RANK] = in_bank[k] // BGB
            q[u, j, Q_GNODE] = gbase + in_bank[k] // B
            k += 1
        if k >= hi and rqn == 0 and wqn == 0 and horizon >= BIG:
            break
        # ---- refresh falls due ----
        if refmode == 1:
            for r in range(R):
                if refs[u, r, F_PEND] == 0 and t >= refs[u, r, F_DUE]:
                    refs[u, r, F_PEND] = 1
        elif refmode == 2:
            for r in range(R):
                if refs[u, r, F_PBBANK] < 0 and t >= refs[u, r, F_PBDUE]:
                    refs[u, r, F_PBBANK] = r * BGB + refs[u, r, F_PBNEXT]
        # ---- write-drain mode ----
        if drain == 1:
            if wqn == 0 or (wqn <= wlo and rqn > 0):
                drain = 0
        else:
            if wqn >= whi or (rqn == 0 and wqn > 0):
                drain = 1
        best_e = BIG
        issued = False
        # ---- refresh commands have priority ----
        for r in range(R):
            if refmode == 1 and refs[u, r, F_PEND] == 1:
                any_open = False
                for b in range(r * BGB, (r + 1) * BGB):
                    if open_row[u, b] >= 0:
                        any_open = True
                        break
                cmd = PREA if any_open else REF
                e = earliest(nxt, u, r, -1, -1, cmd, faw, fawp, nfaw)
                if e <= t:
                    issue(nxt, tab, u, r, -1, -1, R, cmd, t, faw, fawp)
                    _count(cnt, u, cmd)
                    if cmd == PREA:
                        for b in range(r * BGB, (r + 1) * BGB):
                            open_row[u, b] = -1
                    else:
                        refs[u, r, F_PEND] = 0
                        refs[u, r, F_DUE] += refi
                    issued = True
                    break
                if e < best_e:
                    best_e = e
            elif refmode == 2 and refs[u, r, F_PBBANK] >= 0:
                b = refs[u, r, F_PBBANK]
                gnode = gbase + b // B
                bnode = bbase + b
                cmd = PRE if open_row[u, b] >= 0 else REFPB
                e = earliest(nxt, u, r, gnode, bnode, cmd, faw, fawp, nfaw)
                if e <= t:
                    issue(nxt, tab, u, r, gnode, bnode, R, cmd, t, faw, fawp)
                    _count(cnt, u, cmd)
                    if cmd == PRE:
                        open_row[u, b] = -1
                    else:
                        refs[u, r, F_PBBANK] = -1
                        refs[u, r, F_PBDUE] += refipb
                        refs[u, r, F_PBNEXT] = (refs[u, r, F_PBNEXT] + 1) % BGB
                    issued = True
                    break
                if e < best_e:
                    best_e = e
        if issued:
            continue
        # ---- requests: FR-FCFS over the active queue ----
        if drain == 1:
            q = wq
            qo = wo
            qn = wqn
            is_w = True
        else:
            q = rq
            qo = ro
            qn = rqn
            is_w = False
        if fcfs and qn > 1:
            qn = 1
        stamp += 1
        col_j = -1
        col_e = BIG
        for jj in range(qn):
            slot = qo[u, jj]
            b = q[u, slot, Q_BANK]
            r = q[u, slot, Q_RANK]
            if (refmode == 1 and refs[u, r, F_PEND] == 1) or (refmode == 2 and refs[u, r, F_PBBANK] == b):
                cmdj[jj] = -1
                continue
            orow = open_row[u, b]
            if orow == q[u, slot, Q_ROW]:
                if is_w:
                    cmd = WRA if close else WR
                else:
                    cmd = RDA if close else RD
                if mcol_st[b] == stamp:
                    e = mcol_e[b]
                else:
                    e = earliest(nxt, u, r, q[u, slot, Q_GNODE], bbase + b, cmd, faw, fawp, nfaw)
                    mcol_st[b] = stamp
                    mcol_e[b] = e
                if e < col_e:
                    col_e = e
                    col_j = jj
            else:
                cmd = ACT if orow < 0 else PRE
                if mrow_st[b] == stamp:
                    e = mrow_e[b]
                else:
                    e = earliest(nxt, u, r, q[u, slot, Q_GNODE], bbase + b, cmd, faw, fawp, nfaw)
                    mrow_st[b] = stamp
                    mrow_e[b] = e
            cmdj[jj] = cmd
            ej[jj] = e
        row_j = -1
        row_e = BIG
        if col_e > t:
            for jj in range(qn):
                c = cmdj[jj]
                if c == ACT or (c == PRE and mcol_st[q[u, qo[u, jj], Q_BANK]] != stamp):
                    # (a bank with a queued row hit is not precharged)
                    if ej[jj] < row_e:
                        row_e = ej[jj]
                        row_j = jj
        # the next cycle anything can happen: a command, an arrival, a refresh falling due
        tcmd = col_e if col_e <= row_e else row_e
        if best_e < tcmd:
            tcmd = best_e  # a refresh command is the earliest
        tev = BIG
        if k < hi:
            if (in_w[k] and wqn < wcap) or (not in_w[k] and rqn < rcap):
                tev = in_arr[k]
        if refmode == 1:
            for r in range(R):
                if refs[u, r, F_PEND] == 0 and refs[u, r, F_DUE] < tev:
                    tev = refs[u, r, F_DUE]
        elif refmode == 2:
            for r in range(R):
                if refs[u, r, F_PBBANK] < 0 and refs[u, r, F_PBDUE] < tev:
                    tev = refs[u, r, F_PBDUE]
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
        pick = col_j if col_e <= t else row_j
        slot = qo[u, pick]
        cmd = cmdj[pick]
        b = q[u, slot, Q_BANK]
        r = q[u, slot, Q_RANK]
        issue(nxt, tab, u, r, q[u, slot, Q_GNODE], bbase + b, R, cmd, t, faw, fawp)
        _count(cnt, u, cmd)
        if cmd == ACT:
            open_row[u, b] = q[u, slot, Q_ROW]
            if q[u, slot, Q_FLAG] == 0:
                q[u, slot, Q_FLAG] = 1
        elif cmd == PRE:
            open_row[u, b] = -1
            q[u, slot, Q_FLAG] = 2
        else:
            rid = q[u, slot, Q_ID]
            done[rid] = t + (wrlat if is_w else rdlat)
            f = q[u, slot, Q_FLAG]
            kind[rid] = f
            cnt[u, C_HIT + f] += 1
            if cmd == RDA or cmd == WRA:
                open_row[u, b] = -1
            # remove from the age order; the slot goes back to the free list (end of order)
            n_all = wqn if is_w else rqn
            for jj in range(pick, n_all - 1):
                qo[u, jj] = qo[u, jj + 1]
            qo[u, n_all - 1] = slot
            if is_w:
                wqn -= 1
            else:
                rqn -= 1
    sc[u, S_T] = t
    sc[u, S_DRAIN] = drain
    sc[u, S_RQN] = rqn
    sc[u, S_WQN] = wqn
    return k - lo


@njit(cache=True)
def simulate(P, tab, nxt, open_row, faw, fawp, refs, sc, rq, wq, ro, wo, cnt,
             in_id, in_bank, in_row, in_w, in_arr, offsets, horizon, done, kind, consumed):
    """Run every unit over its slice ``offsets[u]:offsets[u+1]`` of the (unit-sorted) inputs."""
    U = offsets.shape[0] - 1
    qmax = max(P[P_RCAP], P[P_WCAP])
    cmdj = np.empty(qmax, dtype=np.int64)
    ej = np.empty(qmax, dtype=np.int64)
    NB = P[P_R] * P[P_BG] * P[P_B]
    mcol_st = np.zeros(NB, dtype=np.int64)
    mcol_e = np.zeros(NB, dtype=np.int64)
    mrow_st = np.zeros(NB, dtype=np.int64)
    mrow_e = np.zeros(NB, dtype=np.int64)
    for u in range(U):
        mcol_st[:] = 0
        mrow_st[:] = 0
        consumed[u] = _run_unit(u, P, tab, nxt, open_row, faw, fawp, refs, sc, rq, wq, ro, wo, cnt,
                                in_id, in_bank, in_row, in_w, in_arr, offsets[u], offsets[u + 1],
                                horizon, done, kind, cmdj, ej, mcol_st, mcol_e, mrow_st, mrow_e)
