"""``hwrag rtl synth``: FPGA resources of scan-unit configurations and how many fit per device.

Rows come from a fresh Yosys run (:func:`rtl.synth.synthesize`) or, with ``from_cards``, from the
``fpga_synthesis`` sections of the checked-in timing cards (no tool run). Every row sits beside the
PyRTL 130 nm area estimate its card carries, so the two kinds of figure are never confused.
"""
from __future__ import annotations

import json
from pathlib import Path

from ivfpq.errors import HwragError

from .card import CARDS_DIR, card_json, card_path, load_card
from .config import ScanConfig
from .fpga_devices import DEVICES

COLUMNS = ("config", "lut", "lutram", "ff", "bram36", "uram", "dsp", *(f"fit_{d}" for d in DEVICES),
           "pyrtl_area_mm2", "source")


def _row(cfg: ScanConfig, section: dict, source: str, card: dict | None) -> dict:
    r = section["resources"]
    row = {"config": cfg.name, **{k: r[k] for k in ("lut", "lut_logic", "lutram", "ff", "bram36", "uram", "dsp")}}
    for d, f in section["fit"].items():
        row[f"fit_{d}"] = f["units"]
        row[f"fit_{d}_limited_by"] = f["limited_by"]
    est = (card or {}).get("estimates", {})
    row["pyrtl_area_mm2"] = (round(est["area_mm2_logic"] + est["area_mm2_memory"], 4)
                             if "area_mm2_logic" in est else None)
    row["tool"] = section["tool"]
    row["source"] = source
    return row


def rows_from_cards(cfgs: list[ScanConfig], cards_dir: str | Path = CARDS_DIR, require: bool = True) -> list[dict]:
    """Rows from checked-in cards. A card without a synthesis section is an error saying how to add one,
    or (``require=False``, for ``--defaults``) a row that says so."""
    from .synth import SECTION, verilog_sha256

    rows = []
    for cfg in cfgs:
        path = card_path(cfg, cards_dir)
        if not path.exists():
            raise HwragError(f"no timing card {path}; accepted: the checked-in configurations, or run "
                             "`hwrag rtl synth` without --from-cards")
        card = load_card(path)
        section = card.get(SECTION)
        if section is None:
            if require:
                raise HwragError(f"{path} has no {SECTION} section; run `hwrag rtl synth --m {cfg.m} --units "
                                 f"{cfg.units} --k {cfg.k} --write-cards`")
            rows.append({"config": cfg.name, "source": f"card {path.name}: not synthesized yet", "tool": None})
            continue
        stale = section["verilog_sha256"] != verilog_sha256(cfg)
        rows.append(_row(cfg, section, f"card {path.name}" + (" (STALE: RTL changed)" if stale else ""), card))
    return rows


def synthesize_rows(cfgs: list[ScanConfig], timeout_s: float | None = None, write_cards: bool = False,
                    cards_dir: str | Path = CARDS_DIR, progress: bool = True) -> list[dict]:
    """Synthesizes each configuration (tqdm progress, each step named on stderr); ``timeout_s`` bounds the whole
    run, every configuration's Verilog generation and Yosys included; optionally writes the section into its
    card."""
    import sys
    import time

    from tqdm import tqdm

    from .synth import SECTION, synthesize

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    bar = tqdm(cfgs, desc="yosys synth_xilinx", unit="config", disable=not progress or len(cfgs) < 2)
    say = (lambda m: bar.write(m, file=sys.stderr)) if progress else None
    rows = []
    for cfg in bar:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise HwragError(f"--timeout {timeout_s:g} s spent before {cfg.name}; raise --timeout or synthesize "
                             "fewer configurations")
        res = synthesize(cfg, timeout_s=left, say=say, budget_s=timeout_s)
        path = card_path(cfg, cards_dir)
        card = load_card(path) if path.exists() else None
        if write_cards:
            if card is None:
                raise HwragError(f"no timing card {path} to write into; run `hwrag rtl export` for it first")
            card = {**{k: v for k, v in card.items() if k != SECTION}, SECTION: res.section()}
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(card_json(card))
            tmp.replace(path)
        row = _row(cfg, res.section(), f"yosys run, {res.wall_s:.1f} s wall (measured)", card)
        row["yosys_wall_s"] = round(res.wall_s, 2)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A text table: resources (measured by Yosys), fit per device (from data-sheet totals)."""
    head = ["config", "LUT", "(LUTRAM)", "FF", "BRAM36", "URAM", "DSP"]
    head += [f"{DEVICES[d].board} units" for d in DEVICES] + ["PyRTL mm2 (130nm est.)", "source"]
    body = []
    for r in rows:
        if r.get("tool") is None:
            body.append([r["config"], *["-"] * (len(head) - 2), r["source"]])
            continue
        fits = [f"{r[f'fit_{d}']} ({r[f'fit_{d}_limited_by']})" for d in DEVICES]
        body.append([r["config"], r["lut"], r["lutram"], r["ff"], r["bram36"], r["uram"], r["dsp"], *fits,
                     "-" if r["pyrtl_area_mm2"] is None else r["pyrtl_area_mm2"], r["source"]])
    cells = [head] + [[str(c) for c in row] for row in body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    tool = next((r["tool"] for r in rows if r.get("tool")), "")
    lines.append(f"measured: {tool} synth_xilinx -family xcup (out of context, before place and route); "
                 "units = scan units fitting the device's data-sheet totals (the limiting resource in "
                 "brackets; platform shell not subtracted)")
    return "\n".join(lines)


def to_json(rows: list[dict]) -> str:
    return json.dumps({"devices": {n: {"board": d.board, **d.totals()} for n, d in DEVICES.items()},
                       "rows": rows}, indent=1)
