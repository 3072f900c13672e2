"""This machine's identity for the measured-rates files: CPU model, cpuid vendor, family and model, caches,
and its microarchitecture where :mod:`hwsim.scan_transfer` knows it."""
from __future__ import annotations

import platform
from pathlib import Path


def cpu_identity() -> dict:
    """Vendor, family, model and cache sizes of this CPU (/proc/cpuinfo, /sys), and its microarchitecture
    where :mod:`hwsim.scan_transfer` knows it."""
    from hwsim.scan_transfer import identify

    info: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key in ("vendor_id", "cpu family", "model", "model name") and key not in info:
                info[key] = val.strip()
    except OSError:
        pass
    caches = {}
    for idx in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level, kind = (idx / "level").read_text().strip(), (idx / "type").read_text().strip()
            caches[f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = \
                (idx / "size").read_text().strip()
        except OSError:
            continue
    vendor, family, model = info.get("vendor_id", "?"), int(info.get("cpu family", 0)), int(info.get("model", 0))
    return {"cpu_model": info.get("model name", "unknown"), "vendor": vendor, "family": family, "model": model,
            "caches": caches, "microarchitecture": identify(vendor, family, model), "machine": platform.machine()}
