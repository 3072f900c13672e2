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

Speed (same decisions as a scan of the whole queue, oldest first): each queue keeps, per bank, a
linked list of its waiting entries in age order and the bank's oldest row hit. All row hits of a bank
need the same column command and all its other entries the same row command, so a bank offers one
candidate: its oldest hit, else its oldest entry. The candidate (type, request id, slot) and the
bank-group + bank part of its earliest legal cycle are cached per bank and recomputed only when that
bank's queue or state changes or a command issues in its bank group; a
decision is then one pass over the banks (channel + rank part hoisted per rank) and one vectorised
min over (id, bank) to break ties. ``issue`` updates the next-legal cycles branch-free.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .layout import (BIG, BQ_CID, BQ_CS, BQ_CT, BQ_HEAD, BQ_HIT, BQ_LOC, BQ_NF, BQ_TAIL, CT_ACT, CT_COL,
                     CT_NONE, CT_PRE, C_CONFLICT, C_HIT, C_MISS, C_N, F_DUE, F_NF, F_PBBANK, F_PBDUE,
                     F_PBNEXT, F_PEND, LAYOUT, L_BANK, L_CMD, L_EARLIEST, L_NF, L_RANK, L_T, L_UNIT, P_B,
                     P_BG, P_CQCAP, P_DUAL, P_FAW, P_HITCAP, P_NPARAM, P_POLICY, P_R, P_RCAP, P_RDLAT, P_REFI,
                     P_REFIPB, P_REFMODE, P_SCHED, P_WCAP, P_WHI, P_WLO, P_WRLAT, Q_ARR, Q_BANK, Q_FLAG,
                     Q_GNODE, Q_ID, Q_NEXT, Q_NF, Q_PREV, Q_RANK, Q_ROW, STALE, S_DRAIN, S_NSTATE, S_RFREE,
                     S_RQN, S_T, S_WFREE, S_WQN)
from .timing import ACT, NCMD, PRE, PREA, RD, RDA, REF, REFPB, WR, WRA

#: the numbering as of this file's compilation (numba freezes it into the loops; see layout.LAYOUT)
_LAYOUT = tuple(int(x) for x in LAYOUT)


@njit(cache=True, inline='always')
def earliest(nx, fw, fwp, r, gnode, bnode, cmd, nfaw):
    """First cycle at which ``cmd`` is legal on one unit (``nx = nxt[u]``, ``fw = faw[u]``,
    ``fwp = fawp[u]``), rank ``r``, bank-group node ``gnode`` and bank node ``bnode`` (-1, -1 for a
    rank command): the latest next-legal cycle over the levels it touches, and the four-activate
    window for an ACT."""
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
def layout_ok(layout, frozen):
    """Whether ``layout`` (a numbering as of now) equals ``frozen``: the caller passes its module's
    tuple of the same numbering, which numba compiles into the caller as constants (and caches with it)."""
    if layout.shape[0] != len(frozen):
        return False
    for i in range(len(frozen)):
        if layout[i] != frozen[i]:
            return False
    return True


@njit(cache=True)
def dense_table(tab):
    """``tab`` (from :func:`hwsim.dram.timing.build_tables`) with its zero entries (no constraint)
    replaced by -BIG, so that raising ``nxt[node, c]`` to ``t + tabd[level, cmd, c]`` is a no-op for
    them: a branch-free update."""
    tabd = np.empty(tab.shape, dtype=np.int64)
    for lv in range(tab.shape[0]):
        for p in range(NCMD):
            for c in range(NCMD):
                tabd[lv, p, c] = tab[lv, p, c] if tab[lv, p, c] > 0 else -BIG
    return tabd


@njit(cache=True, inline='always')
def _raise(nx, node, tabd, lv, cmd, t):
    for c in range(NCMD):
        nx[node, c] = max(nx[node, c], t + tabd[lv, cmd, c])


@njit(cache=True, inline='always')
def issue(nx, fw, fwp, tabd, r, gnode, bnode, nranks, cmd, t):
    """Apply the timing consequences of ``cmd`` issued at cycle ``t`` on one unit's views (as in
    :func:`earliest`; ``tabd`` from :func:`dense_table`): raise every level's next-legal cycles and
    record an ACT in the four-activate window. No bank-state change."""
    _raise(nx, 0, tabd, 0, cmd, t)
    _raise(nx, 1 + r, tabd, 1, cmd, t)
    if nranks > 1:
        for r2 in range(nranks):
            if r2 != r:
                _raise(nx, 1 + r2, tabd, 2, cmd, t)
    if gnode >= 0:
        _raise(nx, gnode, tabd, 3, cmd, t)
        _raise(nx, bnode, tabd, 4, cmd, t)
    if cmd == ACT:
        fw[r, fwp[r]] = t
        fwp[r] = (fwp[r] + 1) & 3


@njit(cache=True)
def log_command(log, logn, t, cmd, u, r, b, e):
    """Append one issued command to ``log`` while it has room (production passes a 0-row log and
    the loops call this only when there is room: a call, not inlined, keeps the hot loops small)."""
    n = logn[0]
    if n < log.shape[0]:
        log[n, L_T] = t
        log[n, L_CMD] = cmd
        log[n, L_UNIT] = u
        log[n, L_RANK] = r
        log[n, L_BANK] = b
        log[n, L_EARLIEST] = e
        logn[0] = n + 1


@njit(cache=True, inline='always')
def _reloc(bqu, nx, cmdq, qi, b, gnode, bnode):
    """Recompute the bank-group + bank part of bank ``b``'s candidate's earliest cycle."""
    cmd = cmdq[qi, bqu[qi, BQ_CT, b] & 3]
    bqu[qi, BQ_LOC, b] = max(nx[gnode, cmd], nx[bnode, cmd])


@njit(cache=True, inline='always')
def _cand(qu, bqu, orw, nx, cmdq, qi, b, r4, gnode, bnode):
    """Recompute bank ``b``'s cached candidate in queue ``qi`` (``r4`` = 4 * its rank)."""
    hd = bqu[qi, BQ_HEAD, b]
    if hd < 0:
        bqu[qi, BQ_CT, b] = r4 + CT_NONE
        bqu[qi, BQ_CID, b] = BIG
        bqu[qi, BQ_LOC, b] = 0
        return
    h = bqu[qi, BQ_HIT, b]
    if h >= 0:
        ct = CT_COL
        sl = h
    elif orw[b] < 0:
        ct = CT_ACT
        sl = hd
    else:
        ct = CT_PRE
        sl = hd
    bqu[qi, BQ_CT, b] = r4 + ct
    bqu[qi, BQ_CID, b] = qu[qi, sl, Q_ID]
    bqu[qi, BQ_CS, b] = sl
    cmd = cmdq[qi, ct]
    bqu[qi, BQ_LOC, b] = max(nx[gnode, cmd], nx[bnode, cmd])


@njit(cache=True, inline='always')
def _close_bank(orw, bqu, b):
    orw[b] = -1
    bqu[0, BQ_HIT, b] = -1
    bqu[1, BQ_HIT, b] = -1


@njit(cache=True)
def _run_unit(u, P, tabd, brank, bgnode, colq, cmdq, cmt, E, blk, nxt, open_row, faw, fawp, refs, sc, qs, bq,
              cnt, in_id, in_bank, in_row, in_w, in_arr, lo, hi, horizon, done, kind, entry, log, logn):
    R = P[P_R]
    BG = P[P_BG]
    B = P[P_B]
    BGB = BG * B
    NB = R * BGB
    bbase = 1 + R + R * BG
    rcap = P[P_RCAP]
    wcap = P[P_WCAP]
    whi = P[P_WHI]
    wlo = P[P_WLO]
    refmode = P[P_REFMODE]
    refi = P[P_REFI]
    refipb = P[P_REFIPB]
    rdlat = P[P_RDLAT]
    wrlat = P[P_WRLAT]
    nfaw = P[P_FAW]
    fcfs = P[P_SCHED] == 1
    logging = log.shape[0] > 0  # tests only: production passes a 0-row log
    bsh = 0
    while (1 << bsh) < NB:
        bsh += 1
    bmask = (1 << bsh) - 1

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
            _cand(qu, bqu, orw, nx, cmdq, qi, b, 4 * brank[b], bgnode[b], bbase + b)
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
            row = in_row[k]
            qu[qi, j, Q_ID] = in_id[k]
            qu[qi, j, Q_BANK] = b
            qu[qi, j, Q_ROW] = row
            qu[qi, j, Q_ARR] = in_arr[k]
            entry[k] = t  # by input position: a sequential store (a request id's would stride)
            qu[qi, j, Q_FLAG] = 0
            qu[qi, j, Q_RANK] = brank[b]
            qu[qi, j, Q_GNODE] = bgnode[b]
            # append to the bank's list (age order)
            qu[qi, j, Q_NEXT] = -1
            tail = bqu[qi, BQ_TAIL, b]
            qu[qi, j, Q_PREV] = tail
            if tail < 0:
                bqu[qi, BQ_HEAD, b] = j
            else:
                qu[qi, tail, Q_NEXT] = j
            bqu[qi, BQ_TAIL, b] = j
            recand = tail < 0
            if bqu[qi, BQ_HIT, b] < 0 and orw[b] == row:
                bqu[qi, BQ_HIT, b] = j
                recand = True
            if recand:
                # the bank's candidate (:func:`_cand`, written out: see the note at the issue)
                gn = bgnode[b]
                r4 = 4 * brank[b]
                hd = bqu[qi, BQ_HEAD, b]
                if hd < 0:
                    bqu[qi, BQ_CT, b] = r4 + CT_NONE
                    bqu[qi, BQ_CID, b] = BIG
                    bqu[qi, BQ_LOC, b] = 0
                else:
                    h = bqu[qi, BQ_HIT, b]
                    if h >= 0:
                        ct = CT_COL
                        sl = h
                    elif orw[b] < 0:
                        ct = CT_ACT
                        sl = hd
                    else:
                        ct = CT_PRE
                        sl = hd
                    bqu[qi, BQ_CT, b] = r4 + ct
                    bqu[qi, BQ_CID, b] = qu[qi, sl, Q_ID]
                    bqu[qi, BQ_CS, b] = sl
                    cmd2 = cmdq[qi, ct]
                    bqu[qi, BQ_LOC, b] = max(nx[gn, cmd2], nx[bbase + b, cmd2])
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
                    e = earliest(nx, fw, fwp, r, -1, -1, cmd, nfaw)
                    if e <= t:
                        issue(nx, fw, fwp, tabd, r, -1, -1, R, cmd, t)
                        cnt[u, cmd] += 1
                        log_command(log, logn, t, cmd, u, r, -1, e)
                        if cmd == PREA:
                            for b in range(r * BGB, (r + 1) * BGB):
                                _close_bank(orw, bqu, b)
                                _cand(qu, bqu, orw, nx, cmdq, 0, b, 4 * brank[b], bgnode[b], bbase + b)
                                _cand(qu, bqu, orw, nx, cmdq, 1, b, 4 * brank[b], bgnode[b], bbase + b)
                        else:
                            rf[r, F_PEND] = 0
                            rf[r, F_DUE] += refi
                        issued = True
                        break
                    if e < best_e:
                        best_e = e
                elif refmode == 2 and rf[r, F_PBBANK] >= 0:
                    b = rf[r, F_PBBANK]
                    gnode = bgnode[b]
                    bnode = bbase + b
                    cmd = PRE if orw[b] >= 0 else REFPB
                    e = earliest(nx, fw, fwp, r, gnode, bnode, cmd, nfaw)
                    if e <= t:
                        issue(nx, fw, fwp, tabd, r, gnode, bnode, R, cmd, t)
                        cnt[u, cmd] += 1
                        log_command(log, logn, t, cmd, u, r, b, e)
                        if cmd == PRE:
                            _close_bank(orw, bqu, b)
                        else:
                            rf[r, F_PBBANK] = -1
                            rf[r, F_PBDUE] += refipb
                            rf[r, F_PBNEXT] = (rf[r, F_PBNEXT] + 1) % BGB
                        # the bank group's and the bank's timing moved: their banks' local earliest cycles
                        g0 = (gnode - 1 - R) * B
                        for b2 in range(g0, g0 + B):
                            _reloc(bqu, nx, cmdq, 0, b2, gnode, bbase + b2)
                            _reloc(bqu, nx, cmdq, 1, b2, gnode, bbase + b2)
                        _cand(qu, bqu, orw, nx, cmdq, 0, b, 4 * r, bgnode[b], bbase + b)
                        _cand(qu, bqu, orw, nx, cmdq, 1, b, 4 * r, bgnode[b], bbase + b)
                        issued = True
                        break
                    if e < best_e:
                        best_e = e
            if issued:
                continue
        # ---- requests: FR-FCFS over the active queue, one candidate per bank ----
        # Within a bank every row hit needs the same column command and every other entry the same
        # row command (ACT if closed, else PRE), so the bank's candidates are its oldest row hit
        # (column) and, when it has none, its oldest entry (row); each bank caches its candidate and
        # the bank-group + bank part of its earliest cycle. Across banks the earliest-legal command
        # wins, the oldest request (smallest id: ids grow in admission order) on a tie -- exactly
        # the order a scan of the whole queue, oldest first, with strict '<' picks.
        if drain == 1:
            qi = 1
            qn = wqn
            is_w = True
        else:
            qi = 0
            qn = rqn
            is_w = False
        colcmd = colq[qi]
        col_s = -1
        col_e = BIG
        row_s = -1
        row_e = BIG
        row_cmd = -1
        if qn > 0 and fcfs:
            # FCFS: only the oldest request of the queue is considered
            f_id = BIG
            f_slot = -1
            for b in range(NB):
                h = bqu[qi, BQ_HEAD, b]
                if h >= 0 and qu[qi, h, Q_ID] < f_id:
                    f_id = qu[qi, h, Q_ID]
                    f_slot = h
            b = qu[qi, f_slot, Q_BANK]
            r = brank[b]
            if not ((refmode == 1 and rf[r, F_PEND] == 1) or (refmode == 2 and rf[r, F_PBBANK] == b)):
                orow = orw[b]
                if orow == qu[qi, f_slot, Q_ROW]:
                    col_e = earliest(nx, fw, fwp, r, bgnode[b], bbase + b, colcmd, nfaw)
                    col_s = f_slot
                else:
                    row_cmd = ACT if orow < 0 else PRE
                    row_e = earliest(nx, fw, fwp, r, bgnode[b], bbase + b, row_cmd, nfaw)
                    row_s = f_slot
        elif qn > 0:
            # channel + rank part of each candidate type's earliest cycle, per rank (BIG: none or
            # the rank is held for a refresh)
            for r in range(R):
                c = 4 * r
                cmt[c + CT_NONE] = BIG
                if refmode == 1 and rf[r, F_PEND] == 1:
                    cmt[c + CT_COL] = BIG
                    cmt[c + CT_ACT] = BIG
                    cmt[c + CT_PRE] = BIG
                    continue
                e = nx[0, colcmd]
                v = nx[1 + r, colcmd]
                cmt[c + CT_COL] = v if v > e else e
                e = nx[0, ACT]
                v = nx[1 + r, ACT]
                if v > e:
                    e = v
                v = fw[r, fwp[r]] + nfaw
                cmt[c + CT_ACT] = v if v > e else e
                e = nx[0, PRE]
                v = nx[1 + r, PRE]
                cmt[c + CT_PRE] = v if v > e else e
            if refmode == 2:
                for r in range(R):
                    bb = rf[r, F_PBBANK]
                    if bb >= 0:
                        # the bank is held for its refresh: no candidate while deciding
                        blk[r] = bqu[qi, BQ_CT, bb]
                        bqu[qi, BQ_CT, bb] = 4 * r + CT_NONE
            # one branch-free pass: each bank's candidate's earliest cycle, and the earliest of
            # the column and of the row candidates
            for b in range(NB):
                ctr = bqu[qi, BQ_CT, b]
                ct = ctr & 3
                e = max(cmt[ctr], bqu[qi, BQ_LOC, b])
                E[b] = e
                col_e = min(col_e, e if ct == CT_COL else BIG)
                row_e = min(row_e, e if ct >= CT_ACT else BIG)
            # ties go to the oldest request
            # (key: id << bsh | bank, so one min-reduction gives the bank too; ids < 2**40)
            if col_e < BIG:
                best = BIG
                for b in range(NB):
                    m = (E[b] == col_e) & ((bqu[qi, BQ_CT, b] & 3) == CT_COL)
                    best = min(best, ((bqu[qi, BQ_CID, b] << bsh) | b) if m else BIG)
                b = best & bmask
                col_s = bqu[qi, BQ_CS, b]
            if col_e > t and row_e < BIG:
                best = BIG
                for b in range(NB):
                    m = (E[b] == row_e) & ((bqu[qi, BQ_CT, b] & 3) >= CT_ACT)
                    best = min(best, ((bqu[qi, BQ_CID, b] << bsh) | b) if m else BIG)
                b = best & bmask
                row_s = bqu[qi, BQ_CS, b]
                row_cmd = ACT if (bqu[qi, BQ_CT, b] & 3) == CT_ACT else PRE
            if refmode == 2:
                for r in range(R):
                    bb = rf[r, F_PBBANK]
                    if bb >= 0:
                        bqu[qi, BQ_CT, bb] = blk[r]
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
        b = qu[qi, slot, Q_BANK]
        r = qu[qi, slot, Q_RANK]
        gnode = qu[qi, slot, Q_GNODE]
        # the helpers (:func:`issue`, :func:`_close_bank`, :func:`_reloc`,
        # :func:`_cand`) are written out on this path: an inlined helper taking arrays costs an
        # atomic incref/decref pair per array argument per call, which was ~40 % of the loop
        bnode = bbase + b
        for c in range(NCMD):
            nx[0, c] = max(nx[0, c], t + tabd[0, cmd, c])
        for c in range(NCMD):
            nx[1 + r, c] = max(nx[1 + r, c], t + tabd[1, cmd, c])
        if R > 1:
            for r2 in range(R):
                if r2 != r:
                    for c in range(NCMD):
                        nx[1 + r2, c] = max(nx[1 + r2, c], t + tabd[2, cmd, c])
        for c in range(NCMD):
            nx[gnode, c] = max(nx[gnode, c], t + tabd[3, cmd, c])
        for c in range(NCMD):
            nx[bnode, c] = max(nx[bnode, c], t + tabd[4, cmd, c])
        if cmd == ACT:
            fw[r, fwp[r]] = t
            fwp[r] = (fwp[r] + 1) & 3
        cnt[u, cmd] += 1
        if logging:
            log_command(log, logn, t, cmd, u, r, b, col_e if cmd == colcmd else row_e)
        if cmd == ACT:
            row = qu[qi, slot, Q_ROW]
            orw[b] = row
            if qu[qi, slot, Q_FLAG] == 0:
                qu[qi, slot, Q_FLAG] = 1
            for q2 in range(2):
                x = bqu[q2, BQ_HEAD, b]
                while x >= 0 and qu[q2, x, Q_ROW] != row:
                    x = qu[q2, x, Q_NEXT]
                bqu[q2, BQ_HIT, b] = x
        elif cmd == PRE:
            orw[b] = -1
            bqu[0, BQ_HIT, b] = -1
            bqu[1, BQ_HIT, b] = -1
            qu[qi, slot, Q_FLAG] = 2
        else:
            rid = qu[qi, slot, Q_ID]
            done[rid] = t + (wrlat if is_w else rdlat)
            f = qu[qi, slot, Q_FLAG]
            kind[rid] = f
            cnt[u, C_HIT + f] += 1
            # unlink from the bank's list; the slot goes back to the free list
            nxs = qu[qi, slot, Q_NEXT]
            pvs = qu[qi, slot, Q_PREV]
            if pvs >= 0:
                qu[qi, pvs, Q_NEXT] = nxs
            else:
                bqu[qi, BQ_HEAD, b] = nxs
            if nxs >= 0:
                qu[qi, nxs, Q_PREV] = pvs
            else:
                bqu[qi, BQ_TAIL, b] = pvs
            if cmd == RDA or cmd == WRA:
                orw[b] = -1
                bqu[0, BQ_HIT, b] = -1
                bqu[1, BQ_HIT, b] = -1
            else:
                # the served entry was the bank's oldest hit: the next one is further on
                x = nxs
                orow = orw[b]
                while x >= 0 and qu[qi, x, Q_ROW] != orow:
                    x = qu[qi, x, Q_NEXT]
                bqu[qi, BQ_HIT, b] = x
            if is_w:
                qu[qi, slot, Q_NEXT] = wfree
                wfree = slot
                wqn -= 1
            else:
                qu[qi, slot, Q_NEXT] = rfree
                rfree = slot
                rqn -= 1
        # the bank group's and the bank's timing moved: their banks' local earliest cycles
        g0 = (gnode - 1 - R) * B
        for b2 in range(g0, g0 + B):
            bn2 = bbase + b2
            cmd2 = cmdq[0, bqu[0, BQ_CT, b2] & 3]
            bqu[0, BQ_LOC, b2] = max(nx[gnode, cmd2], nx[bn2, cmd2])
            cmd2 = cmdq[1, bqu[1, BQ_CT, b2] & 3]
            bqu[1, BQ_LOC, b2] = max(nx[gnode, cmd2], nx[bn2, cmd2])
        # the bank's state changed: refresh its candidates
        gn = gnode
        r4 = 4 * r
        hd = bqu[0, BQ_HEAD, b]
        if hd < 0:
            bqu[0, BQ_CT, b] = r4 + CT_NONE
            bqu[0, BQ_CID, b] = BIG
            bqu[0, BQ_LOC, b] = 0
        else:
            h = bqu[0, BQ_HIT, b]
            if h >= 0:
                ct = CT_COL
                sl = h
            elif orw[b] < 0:
                ct = CT_ACT
                sl = hd
            else:
                ct = CT_PRE
                sl = hd
            bqu[0, BQ_CT, b] = r4 + ct
            bqu[0, BQ_CID, b] = qu[0, sl, Q_ID]
            bqu[0, BQ_CS, b] = sl
            cmd2 = cmdq[0, ct]
            bqu[0, BQ_LOC, b] = max(nx[gn, cmd2], nx[bbase + b, cmd2])
        hd = bqu[1, BQ_HEAD, b]
        if hd < 0:
            bqu[1, BQ_CT, b] = r4 + CT_NONE
            bqu[1, BQ_CID, b] = BIG
            bqu[1, BQ_LOC, b] = 0
        else:
            h = bqu[1, BQ_HIT, b]
            if h >= 0:
                ct = CT_COL
                sl = h
            elif orw[b] < 0:
                ct = CT_ACT
                sl = hd
            else:
                ct = CT_PRE
                sl = hd
            bqu[1, BQ_CT, b] = r4 + ct
            bqu[1, BQ_CID, b] = qu[1, sl, Q_ID]
            bqu[1, BQ_CS, b] = sl
            cmd2 = cmdq[1, ct]
            bqu[1, BQ_LOC, b] = max(nx[gn, cmd2], nx[bbase + b, cmd2])
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
