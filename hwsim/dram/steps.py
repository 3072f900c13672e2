"""The DRAM controllers' step library: the steps both controller loops (:func:`.core.simulate`, the
``queues`` structure, and :func:`.bank_queues.simulate`, the ``dramsim3`` structure) are made of, one
copy each, grouped by concern like Ramulator 2's controller plug-ins (scheduler, refresh manager, row
policy):

* **timing state** -- :func:`earliest` (the first cycle a command is legal), :func:`issue` (what an
  issued command does to every level's next-legal cycles and the four-activate window),
  :func:`dense_table`, :func:`log_command`, :func:`layout_ok`;
* **pending-address table** (``dramsim3``: the reads and writes waiting per address) --
  :func:`ht_find`, :func:`ht_insert`, :func:`ht_delete`;
* **refresh** (``queues``) -- :func:`refresh_falls_due`, :func:`refresh_command`,
  :func:`next_refresh_due`: all-bank (REF, PREA first) or per-bank (REFpb, PRE first);
* **pick** (``queues``) -- the per-bank candidate cache (:func:`bank_candidate`, :func:`bank_local`,
  :func:`bank_moved`, :func:`open_bank`, :func:`close_bank`, :func:`enqueue`, :func:`dequeue`) and the
  schedulers' pieces: :func:`pick_fcfs` whole, FR-FCFS's :func:`rank_parts`, :func:`hold_banks`,
  :func:`oldest_at` (its pass over the banks is written in :func:`.core._run_unit`: measured, as a
  step it ran at half the speed).

The ``dramsim3`` structure's own rules (its round-robin command search, transaction scheduling and
refresh order, :mod:`.bank_queues`) stay inner functions of its loop: no other loop runs them.

Why ``_nrt=False`` and not ``inline='always'``: numba inlines an ``inline='always'`` function into
its caller's IR, where every array argument becomes a new reference, an atomic increment and
decrement per array per call (written-out copies of the helpers in the loop avoided that, at ~20-40 %
of the loop's time). A function compiled without numba's reference-counting runtime takes its array
arguments borrowed: no reference counts, and LLVM inlines the small ones at the call. These steps
therefore allocate nothing (:func:`dense_table`, which does, runs once per call of a loop).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .layout import (BIG, BQ_CID, BQ_CS, BQ_CT, BQ_HEAD, BQ_HIT, BQ_LOC, BQ_TAIL, CT_ACT, CT_COL, CT_NONE,
                     CT_PRE, F_DUE, F_PBBANK, F_PBDUE, F_PBNEXT, F_PEND, L_BANK, L_CMD, L_EARLIEST, L_RANK,
                     L_T, L_UNIT, Q_BANK, Q_GNODE, Q_ID, Q_NEXT, Q_PREV, Q_RANK, Q_ROW)
from .bank_queues_layout import H_CNT, H_HEAD, H_KEY
from .timing import ACT, NCMD, PRE, PREA, REF, REFPB

#: the decorator of a step: compiled once, cached, no reference counting (see the module's note)
step = njit(cache=True, _nrt=False, forceinline=True)


# ---- timing state ---------------------------------------------------------------------------------
@step
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


@step
def raise_level(nx, node, tabd, lv, cmd, t):
    """Node ``node`` (timing level ``lv``) after ``cmd`` at ``t``: each command's next-legal cycle
    raised to ``t`` plus the constraint."""
    for c in range(NCMD):
        nx[node, c] = max(nx[node, c], t + tabd[lv, cmd, c])


@step
def issue(nx, fw, fwp, tabd, r, gnode, bnode, nranks, cmd, t):
    """Apply the timing consequences of ``cmd`` issued at cycle ``t`` on one unit's views (as in
    :func:`earliest`; ``tabd`` from :func:`dense_table`): raise every level's next-legal cycles and
    record an ACT in the four-activate window. No bank-state change."""
    raise_level(nx, 0, tabd, 0, cmd, t)
    raise_level(nx, 1 + r, tabd, 1, cmd, t)
    if nranks > 1:
        for r2 in range(nranks):
            if r2 != r:
                raise_level(nx, 1 + r2, tabd, 2, cmd, t)
    if gnode >= 0:
        raise_level(nx, gnode, tabd, 3, cmd, t)
        raise_level(nx, bnode, tabd, 4, cmd, t)
    if cmd == ACT:
        fw[r, fwp[r]] = t
        fwp[r] = (fwp[r] + 1) & 3


@step
def log_command(log, logn, t, cmd, u, r, b, e):
    """Append one issued command to ``log`` while it has room (production passes a 0-row log)."""
    n = logn[0]
    if n < log.shape[0]:
        log[n, L_T] = t
        log[n, L_CMD] = cmd
        log[n, L_UNIT] = u
        log[n, L_RANK] = r
        log[n, L_BANK] = b
        log[n, L_EARLIEST] = e
        logn[0] = n + 1


# ---- pending-address table: linear probing, backward-shift deletion --------------------------------
@step
def ht_home(key, hm):
    """The home slot of ``key`` in a table of ``hm + 1`` slots (a power of two)."""
    return ((key * np.int64(-7046029254386353131)) >> np.int64(29)) & hm


@step
def ht_find(ht, u, q, key):
    """Slot of ``key`` (address + 1) in unit ``u``'s table ``q`` (0 reads, 1 writes), or -1."""
    hm = ht.shape[2] - 1
    h = ht_home(key, hm)
    while ht[u, q, h, H_KEY] != 0:
        if ht[u, q, h, H_KEY] == key:
            return h
        h = (h + 1) & hm
    return -1


@step
def ht_insert(ht, u, q, key, rid):
    """Enter ``key`` with one waiting request, ``rid``."""
    hm = ht.shape[2] - 1
    h = ht_home(key, hm)
    while ht[u, q, h, H_KEY] != 0:
        h = (h + 1) & hm
    ht[u, q, h, H_KEY] = key
    ht[u, q, h, H_CNT] = 1
    ht[u, q, h, H_HEAD] = rid


@step
def ht_delete(ht, u, q, i):
    """Empty slot ``i``, moving back the entries of its probe run that may not stay behind a hole."""
    hm = ht.shape[2] - 1
    j = i
    while True:
        j = (j + 1) & hm
        kj = ht[u, q, j, H_KEY]
        if kj == 0:
            break
        home = ht_home(kj, hm)
        if (i < j and i < home <= j) or (i > j and (home > i or home <= j)):
            continue  # its home lies cyclically in (i, j]: it stays
        ht[u, q, i, H_KEY] = kj
        ht[u, q, i, H_CNT] = ht[u, q, j, H_CNT]
        ht[u, q, i, H_HEAD] = ht[u, q, j, H_HEAD]
        i = j
    ht[u, q, i, H_KEY] = 0


# ---- pick (queues structure): the per-bank candidate cache and the schedulers ----------------------
@step
def bank_local(bqu, nx, cmdq, qi, b, gnode, bnode):
    """Recompute the bank-group + bank part of bank ``b``'s candidate's earliest cycle."""
    cmd = cmdq[qi, bqu[qi, BQ_CT, b] & 3]
    bqu[qi, BQ_LOC, b] = max(nx[gnode, cmd], nx[bnode, cmd])


@step
def bank_candidate(qu, bqu, orw, nx, cmdq, qi, b, r4, gnode, bnode):
    """Recompute bank ``b``'s cached candidate in queue ``qi`` (``r4`` = 4 * its rank): its oldest row
    hit (a column command), else its oldest entry (ACT if the bank is closed, else PRE)."""
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


@step
def bank_moved(qu, bqu, orw, nx, cmdq, b, r4, gnode, bbase, nb_group, R):
    """A command issued in bank ``b``'s bank group: every bank of the group has a new bank-group +
    bank part, and bank ``b`` (whose state changed) new candidates in both queues."""
    g0 = (gnode - 1 - R) * nb_group
    for b2 in range(g0, g0 + nb_group):
        bank_local(bqu, nx, cmdq, 0, b2, gnode, bbase + b2)
        bank_local(bqu, nx, cmdq, 1, b2, gnode, bbase + b2)
    bank_candidate(qu, bqu, orw, nx, cmdq, 0, b, r4, gnode, bbase + b)
    bank_candidate(qu, bqu, orw, nx, cmdq, 1, b, r4, gnode, bbase + b)


@step
def close_bank(orw, bqu, b):
    """Bank ``b`` closed: no open row, so no row hit in either queue."""
    orw[b] = -1
    bqu[0, BQ_HIT, b] = -1
    bqu[1, BQ_HIT, b] = -1


@step
def open_bank(qu, bqu, orw, b, row):
    """Bank ``b`` opened ``row``: each queue's oldest entry hitting it is the bank's row hit."""
    orw[b] = row
    for q2 in range(2):
        bqu[q2, BQ_HIT, b] = next_hit(qu, q2, bqu[q2, BQ_HEAD, b], row)


@step
def next_hit(qu, qi, x, row):
    """The first entry from slot ``x`` on (in the bank's age order) of queue ``qi`` hitting ``row``; -1."""
    while x >= 0 and qu[qi, x, Q_ROW] != row:
        x = qu[qi, x, Q_NEXT]
    return x


@step
def enqueue(qu, bqu, orw, nx, cmdq, qi, j, b, r4, gnode, bnode):
    """Entry ``j`` of queue ``qi`` (fields set) joins the end of its bank's list; the bank's candidate
    changes if the list was empty or the entry is the bank's first row hit."""
    qu[qi, j, Q_NEXT] = -1
    tail = bqu[qi, BQ_TAIL, b]
    qu[qi, j, Q_PREV] = tail
    if tail < 0:
        bqu[qi, BQ_HEAD, b] = j
    else:
        qu[qi, tail, Q_NEXT] = j
    bqu[qi, BQ_TAIL, b] = j
    recand = tail < 0
    if bqu[qi, BQ_HIT, b] < 0 and orw[b] == qu[qi, j, Q_ROW]:
        bqu[qi, BQ_HIT, b] = j
        recand = True
    if recand:
        bank_candidate(qu, bqu, orw, nx, cmdq, qi, b, r4, gnode, bnode)


@step
def dequeue(qu, bqu, qi, slot, b):
    """Entry ``slot`` (served) leaves its bank's list; returns the entry after it (-1: none)."""
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
    return nxs


@step
def held(rf, refmode, r, b):
    """Whether a pending refresh holds bank ``b`` of rank ``r`` (the rank, all-bank; the bank, per-bank)."""
    return (refmode == 1 and rf[r, F_PEND] == 1) or (refmode == 2 and rf[r, F_PBBANK] == b)


@step
def pick_fcfs(qu, bqu, orw, nx, fw, fwp, rf, brank, bgnode, qi, colcmd, NB, bbase, refmode, nfaw):
    """FCFS: the oldest request of queue ``qi`` only. Returns (column command's earliest cycle, its
    slot, row command's earliest cycle, its slot, the row command); BIG / -1 where there is none."""
    col_e, col_s, row_e, row_s, row_cmd = BIG, -1, BIG, -1, -1
    f_id = BIG
    f_slot = -1
    for b in range(NB):
        h = bqu[qi, BQ_HEAD, b]
        if h >= 0 and qu[qi, h, Q_ID] < f_id:
            f_id = qu[qi, h, Q_ID]
            f_slot = h
    b = qu[qi, f_slot, Q_BANK]
    r = brank[b]
    if not held(rf, refmode, r, b):
        orow = orw[b]
        if orow == qu[qi, f_slot, Q_ROW]:
            col_e = earliest(nx, fw, fwp, r, bgnode[b], bbase + b, colcmd, nfaw)
            col_s = f_slot
        else:
            row_cmd = ACT if orow < 0 else PRE
            row_e = earliest(nx, fw, fwp, r, bgnode[b], bbase + b, row_cmd, nfaw)
            row_s = f_slot
    return col_e, col_s, row_e, row_s, row_cmd


@step
def rank_parts(nx, fw, fwp, rf, cmt, colcmd, R, refmode, nfaw):
    """``cmt[4 * r + type]``: the channel + rank part of each candidate type's earliest cycle, per
    rank (BIG: no candidate, or the rank is held for an all-bank refresh)."""
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


@step
def oldest_at(bqu, E, qi, e, want_col, NB, bsh):
    """The bank whose candidate (a column command if ``want_col``, else a row command) is legal at
    ``e`` (``E[b]``) with the oldest request: one min over ``id << bsh | bank`` (ids < 2**40)."""
    best = BIG
    if want_col:
        for b in range(NB):
            m = (E[b] == e) & ((bqu[qi, BQ_CT, b] & 3) == CT_COL)
            best = min(best, ((bqu[qi, BQ_CID, b] << bsh) | b) if m else BIG)
    else:
        for b in range(NB):
            m = (E[b] == e) & ((bqu[qi, BQ_CT, b] & 3) >= CT_ACT)
            best = min(best, ((bqu[qi, BQ_CID, b] << bsh) | b) if m else BIG)
    return best & ((1 << bsh) - 1)


@step
def hold_banks(bqu, rf, blk, qi, R, refmode):
    """Per-bank refresh: a bank held for its refresh offers no candidate while deciding (its candidate
    type is kept in ``blk`` for :func:`release_banks`)."""
    if refmode == 2:
        for r in range(R):
            bb = rf[r, F_PBBANK]
            if bb >= 0:
                blk[r] = bqu[qi, BQ_CT, bb]
                bqu[qi, BQ_CT, bb] = 4 * r + CT_NONE


@step
def release_banks(bqu, rf, blk, qi, R, refmode):
    """Undo :func:`hold_banks` after the decision."""
    if refmode == 2:
        for r in range(R):
            bb = rf[r, F_PBBANK]
            if bb >= 0:
                bqu[qi, BQ_CT, bb] = blk[r]


# ---- refresh (queues structure) -------------------------------------------------------------------
@step
def refresh_falls_due(rf, refmode, R, BGB, t):
    """Ranks whose refresh is due at ``t`` get it pending (all-bank), or their next bank (per-bank)."""
    if refmode == 1:
        for r in range(R):
            if rf[r, F_PEND] == 0 and t >= rf[r, F_DUE]:
                rf[r, F_PEND] = 1
    elif refmode == 2:
        for r in range(R):
            if rf[r, F_PBBANK] < 0 and t >= rf[r, F_PBDUE]:
                rf[r, F_PBBANK] = r * BGB + rf[r, F_PBNEXT]


@step
def next_refresh_due(rf, refmode, R, tev):
    """The earlier of ``tev`` and the next cycle a refresh falls due."""
    if refmode == 1:
        for r in range(R):
            if rf[r, F_PEND] == 0 and rf[r, F_DUE] < tev:
                tev = rf[r, F_DUE]
    elif refmode == 2:
        for r in range(R):
            if rf[r, F_PBBANK] < 0 and rf[r, F_PBDUE] < tev:
                tev = rf[r, F_PBDUE]
    return tev


@step
def refresh_command(u, t, nx, fw, fwp, tabd, orw, qu, bqu, cmdq, brank, bgnode, rf, cnt, log, logn,
                    R, B, BGB, bbase, refmode, refi, refipb, nfaw):
    """Pending refreshes have priority: issue the first whose command is legal at ``t`` (all-bank: PREA
    while a bank of the rank is open, then REF; per-bank: PRE of the bank if open, then REFpb).
    Returns (whether one issued, the earliest cycle a pending one's command is legal)."""
    best_e = BIG
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
                        close_bank(orw, bqu, b)
                        bank_candidate(qu, bqu, orw, nx, cmdq, 0, b, 4 * brank[b], bgnode[b], bbase + b)
                        bank_candidate(qu, bqu, orw, nx, cmdq, 1, b, 4 * brank[b], bgnode[b], bbase + b)
                else:
                    rf[r, F_PEND] = 0
                    rf[r, F_DUE] += refi
                return True, best_e
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
                    close_bank(orw, bqu, b)
                else:
                    rf[r, F_PBBANK] = -1
                    rf[r, F_PBDUE] += refipb
                    rf[r, F_PBNEXT] = (rf[r, F_PBNEXT] + 1) % BGB
                bank_moved(qu, bqu, orw, nx, cmdq, b, 4 * r, gnode, bbase, B, R)
                return True, best_e
            if e < best_e:
                best_e = e
    return False, best_e
