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
# scalar state indices (per unit): cycle, drain mode, queue counts, free-slot list heads,
# number of banks with requests waiting (read queue, write queue)
S_T, S_DRAIN, S_RQN, S_WQN, S_RFREE, S_WFREE, S_RAN, S_WAN, S_NSTATE = range(9)
# queue entry fields; Q_NEXT/Q_PREV link the entries of one bank in age order (Q_NEXT also links
# the free slots)
Q_ID, Q_BANK, Q_ROW, Q_ARR, Q_FLAG, Q_RANK, Q_GNODE, Q_NEXT, Q_PREV, Q_NF = range(10)
# per-bank index of a queue (array (units, 2 queues, BQ_NF, banks)): first and last waiting entry
# of the bank, its oldest entry hitting the open row (-1: none), the list of banks with entries
# waiting (BQ_LIST[:n]) and each bank's position in that list
BQ_HEAD, BQ_TAIL, BQ_HIT, BQ_LIST, BQ_POS, BQ_NF = range(6)
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


@njit(cache=True, inline='always')
def _earliest_u(nx, fw, fwp, r, gnode, bnode, cmd, nfaw):
    """:func:`earliest` on one unit's views (``nx = nxt[u]``, ``fw = faw[u]``, ``fwp = fawp[u]``)."""
    e = nx[0, cmd]
    v = nx[1 + r, cmd]
    if v > e:
        e = v
    if gnode >= 0:
        v = nx[gnode, cmd]
        if v > e:
            e = v
        v = nx[bnode, cmd]
        if v > e:
            e = v
    if cmd == ACT:
        v = fw[r, fwp[r]] + nfaw
        if v > e:
            e = v
    return e


@njit(cache=True, inline='always')
def _raise(nx, node, spn, spc, spv, lvl, cmd, t):
    for i in range(spn[lvl, cmd]):
        c = spc[lvl, cmd, i]
        v = t + spv[lvl, cmd, i]
        if v > nx[node, c]:
            nx[node, c] = v


@njit(cache=True, inline='always')
def _issue_u(nx, fw, fwp, spn, spc, spv, r, gnode, bnode, nranks, cmd, t):
    """:func:`issue` on one unit's views, over the non-zero entries of the timing table only."""
    _raise(nx, 0, spn, spc, spv, 0, cmd, t)
    _raise(nx, 1 + r, spn, spc, spv, 1, cmd, t)
    if spn[2, cmd] > 0:
        for r2 in range(nranks):
            if r2 != r:
                _raise(nx, 1 + r2, spn, spc, spv, 2, cmd, t)
    if gnode >= 0:
        _raise(nx, gnode, spn, spc, spv, 3, cmd, t)
        _raise(nx, bnode, spn, spc, spv, 4, cmd, t)
    if cmd == ACT:
        fw[r, fwp[r]] = t
        fwp[r] = (fwp[r] + 1) & 3


@njit(cache=True)
def _sparse(tab):
    """The non-zero entries of ``tab[level, cmd, :]``: counts, following commands, latencies."""
    L = tab.shape[0]
    spn = np.zeros((L, NCMD), dtype=np.int64)
    spc = np.zeros((L, NCMD, NCMD), dtype=np.int64)
    spv = np.zeros((L, NCMD, NCMD), dtype=np.int64)
    for lv in range(L):
        for p in range(NCMD):
            n = 0
            for c in range(NCMD):
                if tab[lv, p, c] > 0:
                    spc[lv, p, n] = c
                    spv[lv, p, n] = tab[lv, p, c]
                    n += 1
            spn[lv, p] = n
    return spn, spc, spv


@njit(cache=True, inline='always')
def _close_bank(orw, bqu, b):
    orw[b] = -1
    bqu[0, BQ_HIT, b] = -1
    bqu[1, BQ_HIT, b] = -1


@njit(cache=True, inline='always')
def _first_hit(q, x, row):
    """First entry from ``x`` on (following Q_NEXT) whose row is ``row``; -1 if none."""
    while x >= 0 and q[x, Q_ROW] != row:
        x = q[x, Q_NEXT]
    return x


@njit(cache=True)
def _run_unit(u, P, spn, spc, spv, nxt, open_row, faw, fawp, refs, sc, rq, wq, bq, cnt,
              in_id, in_bank, in_row, in_w, in_arr, lo, hi, horizon, done, kind):
    R = P[P_R]
    BG = P[P_BG]
    B = P[P_B]
    BGB = BG * B
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

    # this unit's views
    nx = nxt[u]
    orw = open_row[u]
    fw = faw[u]
    fwp = fawp[u]
    rf = refs[u]
    rqu = rq[u]
    wqu = wq[u]
    bqu = bq[u]

    t = sc[u, S_T]
    drain = sc[u, S_DRAIN]
    rqn = sc[u, S_RQN]
    wqn = sc[u, S_WQN]
    rfree = sc[u, S_RFREE]
    wfree = sc[u, S_WFREE]
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
                q = wqu
                j = wfree
                wfree = q[j, Q_NEXT]
                wqn += 1
            else:
                if rqn >= rcap:
                    break
                qi = 0
                q = rqu
                j = rfree
                rfree = q[j, Q_NEXT]
                rqn += 1
            b = in_bank[k]
            row = in_row[k]
            q[j, Q_ID] = in_id[k]
            q[j, Q_BANK] = b
            q[j, Q_ROW] = row
            q[j, Q_ARR] = in_arr[k]
            q[j, Q_FLAG] = 0
            q[j, Q_RANK] = b // BGB
            q[j, Q_GNODE] = gbase + b // B
            # append to the bank's list (age order)
            q[j, Q_NEXT] = -1
            tail = bqu[qi, BQ_TAIL, b]
            q[j, Q_PREV] = tail
            if tail < 0:
                bqu[qi, BQ_HEAD, b] = j
                na = sc[u, S_RAN + qi]
                bqu[qi, BQ_LIST, na] = b
                bqu[qi, BQ_POS, b] = na
                sc[u, S_RAN + qi] = na + 1
            else:
                q[tail, Q_NEXT] = j
            bqu[qi, BQ_TAIL, b] = j
            if bqu[qi, BQ_HIT, b] < 0 and orw[b] == row:
                bqu[qi, BQ_HIT, b] = j
            k += 1
        if k >= hi and rqn == 0 and wqn == 0 and horizon >= BIG:
            break
        # ---- refresh falls due ----
        if refmode == 1:
            for r in range(R):
                if rf[r, F_PEND] == 0 and t >= rf[r, F_DUE]:
                    rf[r, F_PEND] = 1
        elif refmode == 2:
            for r in range(R):
                if rf[r, F_PBBANK] < 0 and t >= rf[r, F_PBDUE]:
                    rf[r, F_PBBANK] = r * BGB + rf[r, F_PBNEXT]
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
        if refmode != 0:
            for r in range(R):
                if refmode == 1 and rf[r, F_PEND] == 1:
                    any_open = False
                    for b in range(r * BGB, (r + 1) * BGB):
                        if orw[b] >= 0:
                            any_open = True
                            break
                    cmd = PREA if any_open else REF
                    e = _earliest_u(nx, fw, fwp, r, -1, -1, cmd, nfaw)
                    if e <= t:
                        _issue_u(nx, fw, fwp, spn, spc, spv, r, -1, -1, R, cmd, t)
                        _count(cnt, u, cmd)
                        if cmd == PREA:
                            for b in range(r * BGB, (r + 1) * BGB):
                                _close_bank(orw, bqu, b)
                        else:
                            rf[r, F_PEND] = 0
                            rf[r, F_DUE] += refi
                        issued = True
                        break
                    if e < best_e:
                        best_e = e
                elif refmode == 2 and rf[r, F_PBBANK] >= 0:
                    b = rf[r, F_PBBANK]
                    gnode = gbase + b // B
                    bnode = bbase + b
                    cmd = PRE if orw[b] >= 0 else REFPB
                    e = _earliest_u(nx, fw, fwp, r, gnode, bnode, cmd, nfaw)
                    if e <= t:
                        _issue_u(nx, fw, fwp, spn, spc, spv, r, gnode, bnode, R, cmd, t)
                        _count(cnt, u, cmd)
                        if cmd == PRE:
                            _close_bank(orw, bqu, b)
                        else:
                            rf[r, F_PBBANK] = -1
                            rf[r, F_PBDUE] += refipb
                            rf[r, F_PBNEXT] = (rf[r, F_PBNEXT] + 1) % BGB
                        issued = True
                        break
                    if e < best_e:
                        best_e = e
            if issued:
                continue
        # ---- requests: FR-FCFS over the active queue, one candidate per bank ----
        # Within a bank every row hit needs the same column command and every other entry the same
        # row command (ACT if closed, else PRE), so the bank's candidates are its oldest row hit
        # (column) and, when it has none, its oldest entry (row). Across banks the earliest-legal
        # command wins, the oldest request (smallest id: ids grow in admission order) on a tie --
        # exactly the order a scan of the whole queue, oldest first, with strict '<' picks.
        if drain == 1:
            qi = 1
            q = wqu
            qn = wqn
            is_w = True
            colcmd = WRA if close else WR
        else:
            qi = 0
            q = rqu
            qn = rqn
            is_w = False
            colcmd = RDA if close else RD
        col_s = -1
        col_e = BIG
        col_id = BIG
        row_s = -1
        row_e = BIG
        row_id = BIG
        row_cmd = -1
        nact = sc[u, S_RAN + qi]
        f_slot = -1
        if fcfs and qn > 0:
            # FCFS: only the oldest request of the queue is considered
            f_id = BIG
            for i in range(nact):
                h = bqu[qi, BQ_HEAD, bqu[qi, BQ_LIST, i]]
                if q[h, Q_ID] < f_id:
                    f_id = q[h, Q_ID]
                    f_slot = h
            nact = 1
        for i in range(nact):
            if f_slot >= 0:
                b = q[f_slot, Q_BANK]
            else:
                b = bqu[qi, BQ_LIST, i]
            r = b // BGB
            if refmode == 1:
                if rf[r, F_PEND] == 1:
                    continue
            elif refmode == 2:
                if rf[r, F_PBBANK] == b:
                    continue
            orow = orw[b]
            if f_slot >= 0:
                hd = f_slot
                h = f_slot if orow == q[f_slot, Q_ROW] else -1
            else:
                h = bqu[qi, BQ_HIT, b]
                hd = bqu[qi, BQ_HEAD, b]
            gnode = gbase + b // B
            bnode = bbase + b
            if h >= 0:
                e = _earliest_u(nx, fw, fwp, r, gnode, bnode, colcmd, nfaw)
                if e <= col_e:
                    rid = q[h, Q_ID]
                    if e < col_e or rid < col_id:
                        col_e = e
                        col_id = rid
                        col_s = h
            else:
                cmd = ACT if orow < 0 else PRE
                e = _earliest_u(nx, fw, fwp, r, gnode, bnode, cmd, nfaw)
                if e <= row_e:
                    rid = q[hd, Q_ID]
                    if e < row_e or rid < row_id:
                        row_e = e
                        row_id = rid
                        row_s = hd
                        row_cmd = cmd
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
        if refmode == 1:
            for r in range(R):
                if rf[r, F_PEND] == 0 and rf[r, F_DUE] < tev:
                    tev = rf[r, F_DUE]
        elif refmode == 2:
            for r in range(R):
                if rf[r, F_PBBANK] < 0 and rf[r, F_PBDUE] < tev:
                    tev = rf[r, F_PBDUE]
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
        b = q[slot, Q_BANK]
        r = q[slot, Q_RANK]
        _issue_u(nx, fw, fwp, spn, spc, spv, r, q[slot, Q_GNODE], bbase + b, R, cmd, t)
        _count(cnt, u, cmd)
        if cmd == ACT:
            row = q[slot, Q_ROW]
            orw[b] = row
            if q[slot, Q_FLAG] == 0:
                q[slot, Q_FLAG] = 1
            bqu[0, BQ_HIT, b] = _first_hit(rqu, bqu[0, BQ_HEAD, b], row)
            bqu[1, BQ_HIT, b] = _first_hit(wqu, bqu[1, BQ_HEAD, b], row)
        elif cmd == PRE:
            _close_bank(orw, bqu, b)
            q[slot, Q_FLAG] = 2
        else:
            rid = q[slot, Q_ID]
            done[rid] = t + (wrlat if is_w else rdlat)
            f = q[slot, Q_FLAG]
            kind[rid] = f
            cnt[u, C_HIT + f] += 1
            # unlink from the bank's list; the slot goes back to the free list
            nxs = q[slot, Q_NEXT]
            pvs = q[slot, Q_PREV]
            if pvs >= 0:
                q[pvs, Q_NEXT] = nxs
            else:
                bqu[qi, BQ_HEAD, b] = nxs
            if nxs >= 0:
                q[nxs, Q_PREV] = pvs
            else:
                bqu[qi, BQ_TAIL, b] = pvs
            if bqu[qi, BQ_HEAD, b] < 0:
                # the bank has nothing waiting: swap it out of the list of banks with requests
                na = sc[u, S_RAN + qi] - 1
                pos = bqu[qi, BQ_POS, b]
                last = bqu[qi, BQ_LIST, na]
                bqu[qi, BQ_LIST, pos] = last
                bqu[qi, BQ_POS, last] = pos
                sc[u, S_RAN + qi] = na
            if cmd == RDA or cmd == WRA:
                _close_bank(orw, bqu, b)
            else:
                # the served entry was the bank's oldest hit: the next one is further on
                bqu[qi, BQ_HIT, b] = _first_hit(q, nxs, orw[b])
            if is_w:
                q[slot, Q_NEXT] = wfree
                wfree = slot
                wqn -= 1
            else:
                q[slot, Q_NEXT] = rfree
                rfree = slot
                rqn -= 1
    sc[u, S_T] = t
    sc[u, S_DRAIN] = drain
    sc[u, S_RQN] = rqn
    sc[u, S_WQN] = wqn
    sc[u, S_RFREE] = rfree
    sc[u, S_WFREE] = wfree
    return k - lo


@njit(cache=True)
def simulate(P, tab, nxt, open_row, faw, fawp, refs, sc, rq, wq, bq, cnt,
             in_id, in_bank, in_row, in_w, in_arr, offsets, horizon, done, kind, consumed):
    """Run every unit over its slice ``offsets[u]:offsets[u+1]`` of the (unit-sorted) inputs."""
    U = offsets.shape[0] - 1
    spn, spc, spv = _sparse(tab)
    for u in range(U):
        consumed[u] = _run_unit(u, P, spn, spc, spv, nxt, open_row, faw, fawp, refs, sc, rq, wq, bq,
                                cnt, in_id, in_bank, in_row, in_w, in_arr, offsets[u], offsets[u + 1],
                                horizon, done, kind)
