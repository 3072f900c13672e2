"""The preset registry: the built-in presets of :mod:`hwsim.dram.standards` and user presets, by name.

:func:`get_preset` looks a preset up by name (case-insensitive; the standard names are aliases of one
preset each), :func:`load_preset_file` reads user presets from TOML or JSON (:func:`spec_from_dict`: the
file format) and :func:`register_preset` adds one. What a preset is, :class:`.spec.DramSpec`, lives in
:mod:`.spec`, which the standard modules import to build theirs.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

from ivfpq.errors import HwragError

from .spec import ENERGY_KEYS, ORG_KEYS, STANDARDS, TIMING_KEYS, TOP_KEYS, DramSpec, make_spec
from .standards import ddr4, ddr5, hbm2, hbm3

log = logging.getLogger(__name__)

_REGISTRY: dict[str, DramSpec] = {}
_ALIASES = {"HBM2": "HBM2_2Gbps", "HBM3": "HBM3_6400", "DDR4": "DDR4_3200AA", "DDR5": "DDR5_4800AN"}


def _load_builtin() -> None:
    if _REGISTRY:
        return
    for mod in (hbm2, hbm3, ddr4, ddr5):
        for spec in mod.presets():
            _REGISTRY[spec.name.upper()] = spec


def register_preset(spec: DramSpec) -> None:
    """Add a (user) preset so it can be looked up by name."""
    _load_builtin()
    _REGISTRY[spec.name.upper()] = spec


def preset_names() -> list[str]:
    _load_builtin()
    return sorted(s.name for s in _REGISTRY.values()) + sorted(_ALIASES)


def get_preset(name: "str | DramSpec") -> DramSpec:
    """Look up a preset by name (case-insensitive; ``HBM2``/``HBM3``/``DDR4``/``DDR5`` are aliases)."""
    if isinstance(name, DramSpec):
        return name
    _load_builtin()
    key = str(name).strip().upper()
    key = _ALIASES.get(key, key).upper()
    if key not in _REGISTRY:
        raise HwragError(f"unknown DRAM preset {name!r}; known: {', '.join(preset_names())}")
    return _REGISTRY[key]


def spec_from_dict(d: Mapping[str, Any], origin: str = "<dict>") -> DramSpec:
    """A spec from a plain mapping (the user preset file format).

    Keys: ``name``, ``standard`` (one of HBM2/HBM3/DDR4/DDR5), optional ``base`` (a preset name whose
    values are the defaults), tables ``org``, ``timing``, ``energy``, optional ``default_mapping``,
    ``dual_command_bus``, ``per_bank_refresh``, ``description``, ``timing_rules`` (ramulator or
    dramsim3, :data:`.timing.TIMING_RULES`). Unknown keys fail at once.
    """
    bad = sorted(set(d) - set(TOP_KEYS))
    if bad:
        raise HwragError(f"{origin}: unknown key(s) {bad}; accepted: {', '.join(TOP_KEYS)}")
    for table, accepted in (("org", ORG_KEYS), ("timing", TIMING_KEYS), ("energy", ENERGY_KEYS)):
        sub = d.get(table, {})
        if not isinstance(sub, Mapping):
            raise HwragError(f"{origin}: [{table}] must be a table of key = value")
        bad = sorted(set(sub) - set(accepted))
        if bad:
            raise HwragError(f"{origin}: unknown {table} key(s) {bad}; accepted: {', '.join(accepted)}")
    if "name" not in d:
        raise HwragError(f"{origin}: a preset needs a 'name'")
    src = f"user preset {origin}"
    if "base" in d:
        base = get_preset(d["base"])
        org = {k: (v, base.source(f"org.{k}")) for k, v in base.org.items()}
        timing = {k: (v, base.source(k)) for k, v in base.timing.items()
                  if not base.source(k).startswith("derived")}
        energy = {k: (v, base.source(f"energy.{k}")) for k, v in base.energy.items()}
        kw = dict(default_mapping=base.default_mapping, dual_command_bus=base.dual_command_bus,
                  per_bank_refresh=base.per_bank_refresh, description=base.description,
                  timing_rules=base.timing_rules)
        standard = d.get("standard", base.standard)
    else:
        org, timing, energy, kw = {}, {}, {}, {}
        standard = d.get("standard")
    if str(standard).upper() not in STANDARDS:
        raise HwragError(f"{origin}: standard {standard!r} unknown; accepted: {', '.join(STANDARDS)}")
    org.update({k: (v, src) for k, v in d.get("org", {}).items()})
    timing.update({k: (v, src) for k, v in d.get("timing", {}).items()})
    energy.update({k: (v, src) for k, v in d.get("energy", {}).items()})
    if d.get("timing_rules", "ramulator") not in ("ramulator", "dramsim3"):
        raise HwragError(f"{origin}: timing_rules {d['timing_rules']!r} unknown; accepted: ramulator, dramsim3")
    for k in ("default_mapping", "dual_command_bus", "per_bank_refresh", "description", "timing_rules"):
        if k in d:
            kw[k] = d[k]
    return make_spec(str(d["name"]), str(standard).upper(), org, timing, energy, **kw)


def load_preset_file(path: "str | Path", register: bool = True) -> list[DramSpec]:
    """Read user presets from a TOML or JSON file: one preset (top-level keys) or ``[[preset]]`` list."""
    p = Path(path)
    if not p.is_file():
        raise HwragError(f"preset file {str(p)!r} not found")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        elif p.suffix.lower() == ".toml":
            import tomllib
            data = tomllib.loads(text)
        else:
            raise HwragError(f"preset file {str(p)!r}: unknown format; accepted: .toml, .json")
    except (ValueError, json.JSONDecodeError) as e:
        raise HwragError(f"preset file {str(p)!r}: cannot parse: {e}") from None
    items = data.get("preset", [data]) if isinstance(data, dict) else data
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise HwragError(f"preset file {str(p)!r}: expected a table or a list of tables")
    specs = [spec_from_dict(it, origin=str(p)) for it in items]
    if register:
        for s in specs:
            register_preset(s)
    log.info("loaded %d DRAM preset(s) from %s", len(specs), p)
    return specs
