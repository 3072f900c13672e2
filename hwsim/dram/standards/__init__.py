"""One module per memory standard; each exposes ``presets() -> list[DramSpec]``.

Every value is a ``(value, source)`` pair; sources name the Ramulator 2.1 file
(github.com/CMU-SAFARI/ramulator2, ``python/ramulator/dram/*.py``), the DRAMsim3 config
(github.com/umd-memsys/DRAMsim3, ``configs/*.ini``) or the JEDEC standard the value comes from.
"""
