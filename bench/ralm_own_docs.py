"""RALM over your own documents at a useful size, through the commands a user runs: both datastores built
from a folder of files (``hwrag datastore build``), then the perplexity of other files of the same kind
per mode (``hwrag eval-ppl --texts``).

    python -m bench.ralm_own_docs [--store-every 3] [--held 40] [--out report/bench] [--json]
    python -m bench.ralm_own_docs --store-texts notes/ --held-texts held_notes/

Without ``--store-texts``/``--held-texts`` the folders are the Python-documentation corpus written out one
``.txt`` file per document, as a user's docs folder would be: every ``--store-every``-th training
document is the store, the first ``--held`` documents of the test slice the held-out files. The stores
are registered as ``bench-own-chunk`` and ``bench-own-token`` (replaced on each run; cached by content
hash). Perplexity is measured (SmolLM2, deterministic, seed 0, kNN-LM at its default k, λ and
temperature: nothing is tuned on the held-out files); build and evaluation times are measured wall clock.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ivfpq.errors import HwragError

CHUNK_STORE, TOKEN_STORE = "bench-own-chunk", "bench-own-token"


def write_corpus_folders(root: Path, store_every: int, held: int) -> tuple[Path, Path]:
    """The corpus as two folders of .txt files: store (training documents) and held (test documents)."""
    from llm_client.corpus import corpus_documents

    folders = {"store": corpus_documents("train")[::store_every], "held": corpus_documents("test")[:held]}
    for name, docs in folders.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, d in enumerate(docs):
            (root / name / f"{i:04d}-{d.title.replace(':', '_').replace('/', '_')}.txt").write_text(d.text)
    return root / "store", root / "held"


def _hwrag_json(argv: list[str]) -> dict:
    """Run ``hwrag ARGV --json`` as the user would (a child process: bench sits below the CLI's floor) and
    return its JSON output; its progress and any error line go to this terminal."""
    p = subprocess.run([sys.executable, "-m", "hwrag.cli", *argv, "--json"], stdout=subprocess.PIPE, text=True)
    if p.returncode:
        raise HwragError(f"hwrag {' '.join(argv[:2])} exited {p.returncode} (its error is above)")
    return json.loads(p.stdout)


def run_own_docs(store_texts: list[str], held_texts: list[str]) -> dict:
    out = {"figures": "measured", "load_average_before": list(os.getloadavg()), "store_texts": store_texts,
           "held_texts": held_texts, "builds": {}}
    for kind, name in (("chunk", CHUNK_STORE), ("token", TOKEN_STORE)):
        t0 = time.perf_counter()
        rec = _hwrag_json(["datastore", "build", "--texts", *store_texts, "--kind", kind, "--name", name, "--replace"])
        out["builds"][kind] = {"entries": rec["ntotal"], "documents": rec["documents"],
                               "wall_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    ev = _hwrag_json(["eval-ppl", "--mode", "none", "chunk", "token", "--datastore", CHUNK_STORE,
                      "--datastore", TOKEN_STORE, "--texts", *held_texts, "--max-tokens", "0", "--seed", "0"])
    out["eval_wall_s"] = time.perf_counter() - t0
    rows = {r["mode"]: r for r in ev["results"]}
    base = rows["none"]["perplexity"]
    out["rows"] = [{"mode": m, "tokens": r["tokens"], "perplexity": r["perplexity"],
                    "change_pct": (r["perplexity"] - base) / base * 100} for m, r in rows.items()]
    out["load_average_after"] = list(os.getloadavg())
    return out


def main(argv: list[str] | None = None) -> int:
    from ivfpq.errors import CommandParser, run_command

    ap = CommandParser(prog="python -m bench.ralm_own_docs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--store-texts", nargs="+", metavar="PATH", help="your documents (default: the corpus)")
    ap.add_argument("--held-texts", nargs="+", metavar="PATH", help="other files of the same kind to score")
    ap.add_argument("--store-every", type=int, default=3, help="corpus default: every N-th training document")
    ap.add_argument("--held", type=int, default=40, help="corpus default: the first N test documents")
    ap.add_argument("--out", default="report/bench")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if bool(args.store_texts) != bool(args.held_texts):
        ap.error("--store-texts and --held-texts go together")

    def body() -> int:
        with tempfile.TemporaryDirectory(prefix="hwrag-own-docs-") as tmp:
            if args.store_texts:
                store, held = args.store_texts, args.held_texts
            else:
                s, h = write_corpus_folders(Path(tmp), args.store_every, args.held)
                store, held = [str(s)], [str(h)]
            res = run_own_docs(store, held)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ralm_own_docs.json").write_text(json.dumps(res, indent=1))
        if args.json:
            print(json.dumps(res, indent=1))
            return 0
        from .table import format_table

        b = res["builds"]
        print(f"own documents: chunk store {b['chunk']['entries']} passages, token store {b['token']['entries']} "
              f"keys from {b['token']['documents']} files (built in {b['chunk']['wall_s']:.0f} s / "
              f"{b['token']['wall_s']:.0f} s, measured); load average {res['load_average_before'][0]:.1f}")
        print(format_table(res["rows"], ["mode", "tokens", "perplexity", "change_pct"]))
        print(f"(perplexity measured on the held-out files; evaluation {res['eval_wall_s']:.0f} s wall; "
              f"{out / 'ralm_own_docs.json'})")
        return 0

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
