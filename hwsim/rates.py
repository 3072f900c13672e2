"""The measured-rates schema: one versioned file per measuring machine, owned here, written by ``bench``.

Each file under ``hwsim/data/rates/`` holds what one machine measured on one day — the machine (CPU model,
vendor, family, model, microarchitecture where known), the date, the load average, the command — and one
or more *sections*:

* ``faiss_scan``, ``faiss_scan_cold``, ``flat_select``, ``tcp``, ``host``: ``python -m bench.cpu_rates``
* ``scan_replica``: ``python -m bench.scan_replica`` (faiss 1.7.2's scalar scan over M)
* ``lm_profile``: ``python -m bench.lm_profile`` (kernels per module of ChamLM's step)

The models take each section from the newest file that has it, or first from the newest measured on the
modeled server's own microarchitecture (:func:`section`), so a new measurement of one kind replaces only
that kind, and every figure keeps the machine it came from. Files of another schema
version are refused with the command that re-measures them.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from ivfpq.errors import HwragError

SCHEMA = 2
RATES_DIR = Path(__file__).resolve().parent / "data" / "rates"
SECTIONS = {"faiss_scan": "bench.cpu_rates", "faiss_scan_cold": "bench.cpu_rates", "flat_select": "bench.cpu_rates",
            "tcp": "bench.cpu_rates", "host": "bench.cpu_rates", "scan_replica": "bench.scan_replica",
            "lm_profile": "bench.lm_profile"}


@dataclass
class RatesFile:
    """One measuring machine's measurements of one day."""

    machine: dict                    # cpu_model, vendor, family, model, microarchitecture, caches
    date: str
    sections: dict = field(default_factory=dict)
    commands: dict = field(default_factory=dict)   # section -> the command and load average it ran with
    schema: int = SCHEMA

    @property
    def name(self) -> str:
        return f"{self.machine.get('microarchitecture') or 'cpu'}-{self.date}"

    def put(self, section: str, data: dict, command: str, load_average, clock_ghz: float | None = None) -> None:
        """Set a section, with the command, load average and measured clock (GHz) it ran with."""
        if section not in SECTIONS:
            raise HwragError(f"unknown rates section {section!r}; accepted: {', '.join(SECTIONS)}")
        self.sections[section] = data
        self.commands[section] = {"command": command, "load_average": list(load_average), "clock_ghz": clock_ghz}

    def save(self, directory: Path | None = None) -> Path:
        d = Path(directory or RATES_DIR)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{self.name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)
        _load_dir.cache_clear()
        return path

    @classmethod
    def load(cls, path: Path) -> "RatesFile":
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise HwragError(f"cannot read rates file {path}: {e}") from e
        if raw.get("schema") != SCHEMA:
            raise HwragError(f"rates file {path} has schema {raw.get('schema')!r}, this hwrag reads {SCHEMA}; "
                             f"re-measure: python -m {' / python -m '.join(sorted(set(SECTIONS.values())))}")
        return cls(raw["machine"], raw["date"], raw.get("sections", {}), raw.get("commands", {}), raw["schema"])

    @classmethod
    def for_this_machine(cls, machine: dict, directory: Path | None = None) -> "RatesFile":
        """Today's file of this machine (its sections so far), or a new one."""
        today = time.strftime("%Y-%m-%d")
        f = cls(machine, today)
        path = Path(directory or RATES_DIR) / f"{f.name}.json"
        return cls.load(path) if path.is_file() else f


@lru_cache(maxsize=4)
def _load_dir(directory: str) -> tuple:
    return tuple(RatesFile.load(p) for p in sorted(Path(directory).glob("*.json")))


def load_all(directory: Path | None = None) -> tuple:
    """Every measured-rates file of a folder (default: the shipped ones), read once."""
    return _load_dir(str(directory or RATES_DIR))


def section(name: str, directory: Path | None = None, prefer: str | None = None) -> tuple[dict, RatesFile]:
    """A section's data and the file it came from (the machine that measured it): the newest file that has
    it, and where ``prefer`` names a microarchitecture, the newest measured on that core first (a cost
    measured on the target's own core needs no transfer but its clock). Files of one day: by name."""
    if name not in SECTIONS:
        raise HwragError(f"unknown rates section {name!r}; accepted: {', '.join(SECTIONS)}")
    files = [f for f in _load_dir(str(directory or RATES_DIR)) if name in f.sections]
    if not files:
        raise HwragError(f"no measured {name!r} in {directory or RATES_DIR}; measure it: python -m {SECTIONS[name]}")
    f = max(files, key=lambda f: (prefer is not None and f.machine.get("microarchitecture") == prefer, f.date, f.name))
    return f.sections[name], f


def provenance(f: RatesFile, name: str) -> str:
    """'<CPU> (<microarchitecture>), <date>, load <x>; <command>' for a section of a file."""
    m, c = f.machine, f.commands.get(name, {})
    load = c.get("load_average") or [float("nan")]
    clock = f" at {c['clock_ghz']:.2f} GHz (measured)" if c.get("clock_ghz") else ""
    return (f"{m.get('cpu_model', 'unknown CPU')} ({m.get('microarchitecture') or 'microarchitecture not known'})"
            f"{clock}, {f.date}, load {load[0]:.1f}; {c.get('command', '')}")
