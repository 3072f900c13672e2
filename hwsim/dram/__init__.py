"""Cycle-level DRAM model (HBM2, HBM3, DDR4, DDR5): standards as data, a numba core, validated.

All figures this package produces are **modeled** (a hardware model of the named preset), never
measured; :meth:`DramResult.stats` says so in its ``figures`` field.

API in one page (what the FPGA and PIM models call)::

    from hwsim.dram import DramSystem, ControllerConfig, get_preset

    spec = get_preset("DDR4_3200AA").with_org(channels=4)     # e.g. Alveo U250: 4 DDR4 channels
    mem = DramSystem(spec, mapping="RoBaRaCoBgCh",             # bit order, MSB first (or DRAMsim3's)
                     controller=ControllerConfig(page_policy="open", refresh="allbank"))

    # one shot: byte addresses, is_write (bool), arrival cycle (non-decreasing, memory cycles)
    res = mem.run(addresses, is_write, arrival)
    res.completion          # int64 per request: cycle its last data beat moved
    res.latency             # completion - arrival
    res.stats()             # bandwidth GB/s, latency mean/percentiles, row hits/misses/conflicts,
                            # command counts (ACT PRE PREA RD WR RDA WRA REF REFpb), energy (J)

    # streaming: feed chunks as the caller produces them (e.g. IVF list reads per query)
    s = mem.stream()
    ids = s.feed(addr_chunk, is_write_chunk, arrival_chunk)   # returns request ids
    done_ids, done_cycles = s.poll()                          # completions known so far
    s.now                                                     # cycle decided up to
    res = s.finish()                                          # drain; same result as run()

Feeding in chunks gives bit-for-bit the same cycles as one ``run`` over the concatenation, because the
core only decides commands at cycles before the latest arrival fed. Convert cycles to time with
``spec.tck_ns``; one request moves ``spec.tx_bytes`` bytes (one burst); ``spec.peak_bandwidth_gbs``
is the modeled peak. Addresses beyond the capacity wrap.

Pieces (each replaceable): :mod:`.spec` and :mod:`.standards` (presets, user preset files),
:mod:`.timing` (derived timings, Ramulator's or DRAMsim3's rules, and the named constraint tables),
:mod:`.mapping` (address mapping), :mod:`.core` (bank state machines, FR-FCFS/FCFS scheduler, open/close
page, write draining, all-bank and per-bank refresh), :mod:`.bank_queues` (the DRAMsim3-like
structure), :mod:`.layout` / :mod:`.bank_queues_layout` (the kernels' array numbering, no numba),
:mod:`.kernels` (compiled ahead of time by :mod:`.aot_build`, or numba's JIT), :mod:`.energy`
(per-command energies), :mod:`.trace` and :mod:`.trace_kernel` (trace files), :mod:`.cli`
(``hwrag dram run`` / ``hwrag dram sweep``).
"""
from .mapping import AddressMapping, parse_mapping
from .presets import get_preset, load_preset_file, preset_names, register_preset, spec_from_dict
from .spec import DramSpec
from .simulator import ControllerConfig, DramResult, DramStream, DramSystem
from .trace import parse_trace_lines, read_trace, write_trace

__all__ = [
    "AddressMapping", "ControllerConfig", "DramResult", "DramSpec", "DramStream", "DramSystem",
    "get_preset", "load_preset_file", "parse_mapping", "parse_trace_lines", "preset_names",
    "read_trace", "register_preset", "spec_from_dict", "write_trace",
]
