"""``hwrag datastore build|list``: RALM datastores of the user's own documents.

    hwrag datastore build --texts notes/ faq.jsonl --kind chunk --name notes
    hwrag datastore build --texts notes/ --kind token --name notes-knn     # keys of the default model
    hwrag datastore list
    hwrag generate --mode chunk --datastore notes --prompt "..."
    hwrag eval-ppl --mode none chunk token --datastore notes --datastore notes-knn --texts heldout/

Plain text, Markdown and JSON Lines (a ``text`` field per line); directories are recursed. A chunk
store embeds ~64-word passages with MiniLM (it serves every model); a token store holds the hidden
states of ``--model`` (it serves that model only). Both are cached by content hash.
"""
from __future__ import annotations

import json
import sys

from ivfpq.errors import HwragError


def cmd_build(args) -> int:
    from llm_client.datastore import ChunkStoreConfig, KnnStoreConfig
    from llm_client.named_stores import build_named, check_name

    check_name(args.name)
    if args.chunk_words < 8:
        raise HwragError(f"--chunk-words {args.chunk_words}; accepted: 8 or more (a passage keeps at least 8 words)")
    from llm_client.documents import read_documents

    read_documents(args.texts)  # the cheap check first: a missing, empty or binary file before the model loads
    lm = None
    if args.kind == "token":
        from .ralm_commands import load_model

        lm = load_model(args)
    chunk = ChunkStoreConfig(chunk_words=args.chunk_words, nlist=args.nlist or 64, M=args.m or 48, seed=args.seed)
    knn = KnnStoreConfig(nlist=args.nlist or KnnStoreConfig().nlist, M=args.m, seed=args.seed)
    if args.kind == "token" and args.m and lm.hidden_size % args.m:
        raise HwragError(f"--m {args.m} must divide the model's hidden size {lm.hidden_size}")
    ds, rec = build_named(args.name, args.kind, args.texts, lm=lm, chunk=chunk, knn=knn, progress=not args.json)
    if args.json:
        json.dump(rec | {"meta": ds.meta}, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        what = f"{rec['ntotal']} chunks (MiniLM)" if args.kind == "chunk" else f"{rec['ntotal']} keys of {rec['model']}"
        print(f"datastore {rec['name']!r} ({args.kind}): {what} from {rec['documents']} documents, "
              f"{rec['seconds_measured']:.1f} s (measured) -> {ds.path}")
    return 0


def cmd_list(args) -> int:
    from llm_client.named_stores import list_named

    rows = list_named()
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no datastores yet; build one with: hwrag datastore build --texts PATH --kind chunk|token --name NAME")
        return 0
    from bench.table import format_table

    print(format_table([{"name": r["name"], "kind": r["kind"], "entries": r["ntotal"], "documents": r["documents"],
                         "model": r.get("model") or "any (MiniLM)", "sources": " ".join(r["sources"]),
                         "built": r["created"]} for r in rows]))
    return 0


def add_parsers(sub) -> None:
    d = sub.add_parser("datastore", help="RALM datastores of your own documents (build, list)",
                       description=__doc__.split("\n")[0])
    ds = d.add_subparsers(dest="datastore_command", metavar="SUBCOMMAND", required=True)
    b = ds.add_parser("build", help="build a chunk or kNN-LM datastore from text files and name it")
    b.add_argument("--texts", nargs="+", required=True, metavar="PATH",
                   help="files or directories (recursed) of .txt, .md, .rst or .jsonl ('text' field) files")
    b.add_argument("--kind", choices=["chunk", "token"], required=True,
                   help="chunk: MiniLM passages for chunk RALM; token: the LM's hidden states for kNN-LM")
    b.add_argument("--name", required=True, help="the name --datastore will take")
    b.add_argument("--model", default=None, help="token kind: the LM whose keys are stored (default smollm2)")
    b.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    b.add_argument("--dtype", default="auto", help="auto (bfloat16 where the device computes it natively), float32, bfloat16")
    b.add_argument("--threads", type=int, default=2, help="faiss/numba threads")
    b.add_argument("--torch-threads", type=int, default=1, help="torch threads (1: see hwrag generate --help)")
    b.add_argument("--chunk-words", type=int, default=64, help="chunk kind: words per passage")
    b.add_argument("--nlist", type=int, default=0, help="IVF lists (default: chunk 64, token 1024; capped by the size)")
    b.add_argument("--m", type=int, default=0, help="PQ sub-quantisers (default: chunk 48, token auto: 96 for a 576-d model)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_build)
    ls = ds.add_parser("list", help="the named datastores")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
