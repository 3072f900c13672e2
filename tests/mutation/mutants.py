"""Named mutations the test suite must catch: each puts one deliberate bug into one file, and names the
default-tier tests of its package that cover it. ``tests/mutation/test_mutants.py`` (``make test-slow``) applies
each in a copy of the repository and reports caught / survived.

To add one: append a ``Mutant`` whose ``old`` text occurs exactly once in ``path`` (the check fails loudly when
it does not, so a mutant never silently stops applying), with the bug as ``new`` and the tests that should
fail as ``tests`` (pytest node ids or paths, run with ``-m "not slow"``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    # the audit's survivors (issue 29)
    Mutant("reply without distances", "hwsim/network.py", "return b * k * 12", "return b * k * 8",
           ("tests/hwsim/test_system.py",)),
    Mutant("memory node serves without its data token", "retrieval_service/memory_node.py",
           "    h = await start_server(addr, [node.service()], security, max_request_bytes)",
           "    if security is not None:\n        import dataclasses\n        security = dataclasses.replace(security, token=None)\n"
           "    h = await start_server(addr, [node.service()], security, max_request_bytes)",
           ("tests/retrieval_service/test_security.py",)),
    Mutant("chunk query sees the segment it scores", "llm_client/evaluate.py",
           "q = encoder.encode([query_text(tok, toks[:a], cfg.chunk) for a, _ in group])",
           "q = encoder.encode([query_text(tok, toks[:b], cfg.chunk) for _, b in group])",
           ("tests/llm_client/test_store_completeness.py",)),
    Mutant("kNN-LM store keeps payloads for half its keys", "llm_client/datastore.py",
           "payloads = PayloadStore.build((int(i), token_payload(v)) for i, v in zip(ids, values))",
           "payloads = PayloadStore.build((int(i), token_payload(v)) for i, v in zip(ids[:len(ids) // 2], values))",
           ("tests/llm_client/test_store_completeness.py",)),
    Mutant("chunk RALM puts the retrieved text after the context", "llm_client/chunk_ralm.py",
           "    return [t for s in segs for t in s.tokens] + tail", "    return tail + [t for s in segs for t in s.tokens]",
           ("tests/llm_client/test_store_completeness.py",
            "tests/llm_client/test_ralm.py::test_chunk_ralm_perplexity_near_the_plain_lm")),
    # the audit's caught ones, kept caught
    Mutant("coordinator fan-out never asks an index's last memory node", "retrieval_service/coordinator/fanout.py",
           "live = [n for n in entry.nodes if n.health.up]", "live = [n for n in entry.nodes[:-1] if n.health.up]",
           ("tests/retrieval_service/test_exact.py",)),
    Mutant("coordinator fan-out answers a FAIL search without the shard that did not answer",
           "retrieval_service/coordinator/fanout.py", "if missing and (policy == pb.FAIL or not ok):",
           "if missing and not ok:", ("tests/retrieval_service/test_faults.py",)),
    Mutant("golden scan orders equal distances by descending id", "ivfpq/fixed_l2.py",
           "while pos > 0 and (top_d[pos - 1] > acc or (top_d[pos - 1] == acc and top_i[pos - 1] > i)):",
           "while pos > 0 and (top_d[pos - 1] > acc or (top_d[pos - 1] == acc and top_i[pos - 1] < i)):",
           ("tests/ivfpq/test_scan.py", "tests/ivfpq/test_fast_scan.py")),
    Mutant("k-selection ties by descending id", "ivfpq/kselect.py",
           "    order = np.lexsort((ids, dist))\n    return order[:n]",
           "    order = np.lexsort((-ids, dist))\n    return order[:n]", ("tests/ivfpq/test_kselect.py",)),
    Mutant("shard merge ties by descending id", "ivfpq/shard.py",
           "order = np.lexsort((Ik, Dk), axis=-1)[:, :k]", "order = np.lexsort((-Ik, Dk), axis=-1)[:, :k]",
           ("tests/ivfpq/test_shard.py",)),
    Mutant("DRAM ACT->RD gap taken from tRCDWR", "hwsim/dram/timing.py",
           '_c("tRCDRD ACT->RD", BK, (ACT,), _RDs, "RCDRD")', '_c("tRCDRD ACT->RD", BK, (ACT,), _RDs, "RCDWR")',
           ("tests/hwsim/test_dram_timing.py",)),
    Mutant("CPU per-code cost halved", "hwsim/cpu.py", "return float(M * np.interp(", "return float(0.5 * M * np.interp(",
           ("tests/hwsim/test_scan_transfer.py",)),
    Mutant("kNN-LM weight of the LM off", "llm_client/knnlm.py",
           "mixed = torch.logaddexp(knn + math.log(lam), lp_lm + math.log1p(-lam))",
           "mixed = torch.logaddexp(knn + math.log(lam), lp_lm + math.log1p(-lam / 2))", ("tests/llm_client/test_knnlm.py",)),
    Mutant("RTL saturation one below the maximum", "rtl/pq_distance.py", "pyrtl.Const((1 << bits) - 1, bits)",
           "pyrtl.Const((1 << bits) - 2, bits)", ("tests/rtl/test_pyrtl_scan.py",)),
)
