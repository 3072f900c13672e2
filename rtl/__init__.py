"""IVF-PQ scan hardware written in PyRTL: PQ distance units, K-selection queues, the scan unit,
Verilog export and the timing card that hands measured pipeline facts to ``hwsim``."""
