"""The retrieval coordinator, one concept per file:

* ``config.py`` — :class:`CoordinatorConfig`;
* ``registry.py`` — the indexes served, each with its memory nodes, list selector and payload store;
* ``nodes.py`` — channels to the memory nodes and the calls made on them;
* ``selection.py`` — IVF list selection (faiss on the CPU, torch on CUDA);
* ``batching.py`` — the batching window (a :class:`BatchWindow` policy and the :class:`Batcher`);
* ``fanout.py`` — one Scan per memory node that is up under the deadline, and the dead-node policy;
* ``health.py`` — node health as state: the circuit breaker per node and the health probe;
* ``merge.py`` — the exact merge of the partial top-K answers (``ivfpq.shard.merge_topk``);
* ``info.py`` — what Info answers;
* ``outcome.py`` — :class:`SearchOutcome`, the answer the plain functions return;
* ``core.py`` — :class:`Coordinator`, the plain functions composing the rooms above;
* ``servicer.py`` — the thin gRPC servicer and ``create_server(addr, coordinator) -> (handle, port)``.
"""
from .config import CoordinatorConfig
from .core import Coordinator
from .outcome import SearchOutcome
from .servicer import RetrievalServicer, create_server

__all__ = ["Coordinator", "CoordinatorConfig", "RetrievalServicer", "SearchOutcome", "create_server"]
