"""``hwrag datastore build|list|rm``: RALM datastores of the user's own documents, each keeping where
every passage or token came from (file, lines, characters, document sha256).

    hwrag datastore build --texts notes/ faq.jsonl --kind chunk --name notes
    hwrag datastore build --texts notes/ --kind token --name notes-knn     # keys of the default model
    hwrag datastore build --texts notes/ --kind chunk --name notes --replace   # build over a name
    hwrag datastore list
    hwrag datastore rm notes
    hwrag retrieve --datastore notes "rollback procedure"
    hwrag generate --mode chunk --datastore notes --question --prompt "How do we roll back?"
    hwrag eval-ppl --mode none chunk token --datastore notes --datastore notes-knn --texts heldout/

Plain text, Markdown and JSON Lines (a ``text`` field per line); directories are recursed. A chunk
store embeds passages (sentence/paragraph boundaries, with overlap) with MiniLM (it serves every
model); a token store holds the hidden states of ``--model`` (it serves that model only). Both are
cached by content: the same documents and settings under another name reuse the work.
"""
from __future__ import annotations

import json
import sys

from ivfpq.errors import HwragError
from llm_client.defaults import CHUNK_OVERLAP_WORDS, CHUNK_WORDS, CHUNKING


def cmd_build(args) -> int:
    from llm_client.datastore import ChunkStoreConfig, KnnStoreConfig
    from llm_client.named_stores import build_named, check_name, check_replace

    check_name(args.name)
    if args.chunk_words < 8:
        raise HwragError(f"--chunk-words {args.chunk_words}; accepted: 8 or more (a passage keeps at least 8 words)")
    if not 0 <= args.overlap_words < args.chunk_words:
        raise HwragError(f"--overlap-words {args.overlap_words}; accepted: 0 to --chunk-words - 1 "
                         f"({args.chunk_words - 1})")
    check_replace(args.name, args.kind, args.replace)  # before any work
    from llm_client.documents import read_documents

    read_documents(args.texts)  # the cheap check first: a missing, empty or binary file before the model loads
    lm = None
    if args.kind == "token":
        from .ralm_commands import load_model

        lm = load_model(args)
    chunk = ChunkStoreConfig(chunk_words=args.chunk_words, nlist=args.nlist or 64, M=args.m or 48, seed=args.seed,
                             overlap_words=0 if args.chunking == "words" else args.overlap_words, chunking=args.chunking)
    knn = KnnStoreConfig(nlist=args.nlist or KnnStoreConfig().nlist, M=args.m, seed=args.seed)
    if args.kind == "token" and args.m and lm.hidden_size % args.m:
        raise HwragError(f"--m {args.m} must divide the model's hidden size {lm.hidden_size}")
    ds, rec = build_named(args.name, args.kind, args.texts, lm=lm, chunk=chunk, knn=knn, progress=not args.json,
                          replace=args.replace)
    if args.json:
        json.dump(rec | {"meta": ds.meta}, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        what = f"{rec['ntotal']} passages (MiniLM)" if args.kind == "chunk" else f"{rec['ntotal']} keys of {rec['model']}"
        old = rec["replaced"]
        note = "" if not old else (f"; replaced the {old['kind']} store of {old['documents']} documents it held"
                                   + (" (KIND CHANGED)" if old["kind"] != args.kind else ""))
        print(f"datastore {rec['name']!r} ({args.kind}): {what} from {rec['documents']} documents, "
              f"{rec['seconds_measured']:.1f} s (measured) -> {ds.path}{note}")
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
                         "format": r.get("format") or "1 (rebuild)", "built": r["created"]} for r in rows]))
    return 0


def cmd_rm(args) -> int:
    from llm_client.named_stores import remove_named

    for name in args.names:
        rec = remove_named(name)
        files = "its files removed" if rec["files_removed"] else "its files kept: another name uses the same store"
        print(f"removed datastore {name!r} ({rec['kind']}, {rec['documents']} documents); {files}")
    return 0


def add_parsers(sub) -> None:
    from .output import HelpFormatter, first_paragraph

    d = sub.add_parser("datastore", help="RALM datastores of your own documents (build, list, rm)",
                       description=first_paragraph(__doc__), formatter_class=HelpFormatter)
    ds = d.add_subparsers(dest="datastore_command", metavar="SUBCOMMAND", required=True)
    b = ds.add_parser("build", help="build a chunk or kNN-LM datastore from text files and name it",
                      formatter_class=HelpFormatter)
    b.add_argument("--texts", nargs="+", required=True, metavar="PATH",
                   help="files or directories (recursed) of .txt, .md, .rst or .jsonl ('text' field) files")
    b.add_argument("--kind", choices=["chunk", "token"], required=True,
                   help="chunk: MiniLM passages for chunk RALM; token: the LM's hidden states for kNN-LM")
    b.add_argument("--name", required=True, help="the name --datastore will take")
    b.add_argument("--replace", action="store_true",
                   help="build over a name already taken (needed even when its kind changes)")
    b.add_argument("--model", default=None, help="token kind: the LM whose keys are stored (default: smollm2)")
    b.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    b.add_argument("--dtype", default="auto", help="auto (bfloat16 where the device computes it natively), float32, bfloat16")
    b.add_argument("--threads", type=int, default=2, help="faiss/numba threads")
    b.add_argument("--torch-threads", type=int, default=1, help="torch threads (1: see hwrag generate --help)")
    b.add_argument("--chunking", choices=["sentence", "words"], default=CHUNKING,
                   help="chunk kind: passages on sentence/paragraph boundaries with overlap, or fixed word windows")
    b.add_argument("--chunk-words", type=int, default=CHUNK_WORDS, help="chunk kind: words per passage, at most")
    b.add_argument("--overlap-words", type=int, default=CHUNK_OVERLAP_WORDS,
                   help="chunk kind: words of the previous passage's last sentences repeated (sentence chunking)")
    b.add_argument("--nlist", type=int, default=0, help="IVF lists (0: chunk 64, token 1024; capped by the size)")
    b.add_argument("--m", type=int, default=0,
                   help="PQ sub-quantisers (0: chunk 48, token auto: the most with >= 12 dims each, 48 for a 576-d model)")
    b.add_argument("--seed", type=int, default=0, help="index training seed")
    b.add_argument("--json", action="store_true", help="print the record as JSON")
    b.set_defaults(func=cmd_build)
    ls = ds.add_parser("list", help="the named datastores", formatter_class=HelpFormatter)
    ls.add_argument("--json", action="store_true", help="print the records as JSON")
    ls.set_defaults(func=cmd_list)
    rm = ds.add_parser("rm", help="forget named datastores (their files too, unless another name uses them)",
                       formatter_class=HelpFormatter)
    rm.add_argument("names", nargs="+", metavar="NAME", help="datastore names")
    rm.set_defaults(func=cmd_rm)
