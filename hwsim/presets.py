"""The named hardware of the system model, in one place: what ``hwrag hw system`` and :class:`SystemModel`
run by default, and what a user swaps for their own (a ``dataclasses.replace`` of a preset, or a new
instance of the same type, passed to :class:`hwsim.system.SystemModel` or :func:`hwsim.ralm.tokens_per_s`).

Every preset carries its ``sources`` (docs/REFERENCE.md); the instances live beside the type that uses them
and are collected here by name.
"""
from __future__ import annotations

from .configs import CONFIGS
from .cpu import EPYC_7313
from .gpu import RTX_3090
from .power import SocketPower
from .ralm import MODELS

#: CPU servers (faiss baseline, coordinator and GPU host)
SERVERS = {"epyc7313": EPYC_7313}
#: GPUs (list selection, LM inference)
GPUS = {"rtx3090": RTX_3090}
#: CPU socket power (energy of the CPU systems)
SOCKETS = {"epyc7313": SocketPower()}
#: memory-node configurations (FPGA, HBM-PIM, DIMM-PIM, UPMEM)
NODES = dict(CONFIGS)
#: LM shapes (Chameleon's ChamLM models)
LMS = dict(MODELS)


def named(table: dict, name: str):
    """A preset by name, or an error naming the ones there are."""
    from ivfpq.errors import HwragError

    if name not in table:
        raise HwragError(f"unknown preset {name!r}; accepted: {', '.join(table)}")
    return table[name]
