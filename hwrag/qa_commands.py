"""``hwrag retrieve`` and ``hwrag eval-qa``: what retrieval returns for a query (without generating),
and question answering scored per mode, with the sources of every answer.

    hwrag retrieve "What does the nonlocal statement do?"                  # the built-in Python-docs store
    hwrag retrieve --datastore notes --hybrid "deployment rollback"        # a chunk store of your files
    hwrag retrieve --datastore notes-knn "The release is tagged"           # a token store: next-token neighbours
    hwrag eval-qa                                                          # the built-in QA set, none/chunk/hybrid
    hwrag eval-qa --questions qa.jsonl --datastore notes --json

Both run the retrieval service like ``hwrag generate`` (a local one, or ``--server``).
"""
from __future__ import annotations

import json
import sys
import time

from ivfpq.errors import HwragError

QA_MODES = ("none", "chunk", "hybrid")


def _explained_chunks(r, store, queries: list[str], k: int, chunk) -> list[list[dict]]:
    """Per query, the top ``k`` passages explained (dense, or fused with BM25 when ``chunk.hybrid``)."""
    from llm_client.chunk_ralm import default_encoder
    from llm_client.passages import bm25_for, dense_hits, explain, fuse

    q = default_encoder().encode(queries)
    n = max(k, chunk.candidates) if chunk.hybrid else k
    res = r.search("chunk", q, n, chunk.nprobe, with_payloads=False).result
    out = []
    for i, query in enumerate(queries):
        if chunk.hybrid:
            hits = fuse(res.ids[i], res.distances[i], bm25_for(store).search([query], n)[0], k)
        else:
            hits = dense_hits(res.ids[i], res.distances[i], k)
        out.append(explain(store, hits))
    return out


def _token_neighbours(r, store, lm, query: str, k: int, nprobe: int) -> list[dict]:
    """The token store's neighbours of the query's last hidden state: next token, distance, source."""
    from llm_client.datastore import payload_token
    from llm_client.sources import cite

    ids = lm.tokenizer.encode(query)[-lm.block_size:]
    _, hidden = lm.last([ids])
    res = r.search("token", hidden.float().cpu().numpy(), k, nprobe).result
    src = store.load_sources()
    out = []
    for rank, (i, d, p) in enumerate(zip(res.ids[0], res.distances[0], res.payloads[0]), 1):
        if i < 0:
            continue
        tok = payload_token(p)
        e = {"rank": rank, "distance": float(d), "next_token": lm.tokenizer.decode([tok]) if tok >= 0 else ""}
        e |= src.describe(int(i))
        out.append(e | {"cite": cite(e)})
    return out


def _retrieve_kind(args) -> str:
    from llm_client.named_stores import open_named

    if args.kind:
        return args.kind
    return open_named(args.datastore[0]).kind if args.datastore else "chunk"


def cmd_retrieve(args) -> int:
    from llm_client.sources import cite

    _configs, load_model, open_retriever, store_line = (args.setup._configs, args.setup.load_model,
                                                         args.setup.open_retriever, args.setup.store_line)

    if not args.query.strip():
        raise HwragError("retrieve needs a non-empty query")
    if len(args.datastore) > 1:
        raise HwragError("retrieve takes one --datastore")
    if args.top < 1:
        raise HwragError(f"--top {args.top}; accepted: >= 1")
    _, chunk = _configs(args)
    kind = _retrieve_kind(args)
    lm = load_model(args) if kind == "token" else None
    with open_retriever(lm, {kind}, args) as (r, stores):
        if kind == "chunk":  # loaded before the clock starts: the figure is the search's
            from llm_client.chunk_ralm import default_encoder
            from llm_client.passages import bm25_for

            default_encoder()
            if args.hybrid:
                bm25_for(stores["chunk"])
        t = time.perf_counter()
        if kind == "chunk":
            rows = _explained_chunks(r, stores["chunk"], [args.query], args.top, chunk)[0]
            rows = [{k: v for k, v in e.items() if k != "text"} | {"cite": cite(e)} for e in rows]
        else:
            rows = _token_neighbours(r, stores["token"], lm, args.query, args.top, args.nprobe)
        secs = time.perf_counter() - t
    ds = stores[kind]
    if args.json:
        json.dump({"query": args.query, "datastore": ds.display_name, "kind": kind, "index": ds.index_name,
                   "hybrid": bool(args.hybrid and kind == "chunk"), "seconds_measured": secs, "results": rows},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(store_line(ds) + (", hybrid BM25 + dense" if args.hybrid and kind == "chunk" else ""))
    for e in rows:
        if kind == "chunk":
            ranks = "".join(f" {n}#{e[k]}" for k, n in (("dense_rank", "dense"), ("bm25_rank", "bm25")) if e.get(k))
            print(f"[{e['rank']}] {e['cite']}  score {e['score']:.4g}{ranks}\n    {e['snippet']}")
        else:
            print(f"[{e['rank']}] next token {e['next_token']!r}  distance {e['distance']:.4g}  {e['cite']} "
                  f"(characters {e['chars'][0]}-{e['chars'][1]})")
    print(f"({len(rows)} results; search {secs * 1000:.0f} ms measured, the models already loaded)")
    return 0


def _qa_mode(co, lm, questions: list[dict], mode: str, args, chunk) -> dict:
    """Generate the answers of one mode and score them (with their sources)."""
    from dataclasses import replace

    from llm_client.inference_coordinator import GenerationConfig
    from llm_client.passages import Hit, explain
    from llm_client.qa import score, summarize
    from llm_client.sources import cite

    cfg = GenerationConfig(mode="none" if mode == "none" else "chunk", max_new_tokens=args.max_new_tokens,
                           repetition_penalty=args.repetition_penalty, question=not args.completion,
                           sub_batches=args.sub_batches, seed=args.seed,
                           chunk=replace(chunk, hybrid=mode == "hybrid"))
    cfg.check(lm.block_size)
    prompts = [q["question"] for q in questions] if not args.completion else \
        [lm.question_text(q["question"], []) for q in questions]
    t = time.perf_counter()
    res = co.generate(prompts, cfg)
    secs = time.perf_counter() - t
    rows = []
    for q, text, steps in zip(questions, res.texts, res.retrievals):
        passages = []
        if steps and mode != "none":
            hits = [Hit(h["id"], h["score"], h["dense_rank"], h["bm25_rank"]) for h in steps[0]["hits"]]
            passages = explain(co.stores["chunk"], hits)
        sc = score(q, text, passages)
        rows.append({"question": q["question"], "answers": q["answers"], "source": q["source"], "answer": text} | sc
                    | {"passages": [{k: v for k, v in p.items() if k != "text"} | {"cite": cite(p)} for p in passages]})
    label = mode + (" (completion)" if args.completion else "")
    return {"mode": label, "k": chunk.k if mode != "none" else 0} | summarize(rows) | {
        "seconds_measured": secs, "details": rows}


def cmd_eval_qa(args) -> int:
    from llm_client.inference_coordinator import InferenceCoordinator
    from llm_client.qa import BUILTIN_QUESTIONS, load_questions

    _configs, load_model, open_retriever, store_line = (args.setup._configs, args.setup.load_model,
                                                         args.setup.open_retriever, args.setup.store_line)

    questions = load_questions(args.questions or BUILTIN_QUESTIONS)
    if args.limit:
        questions = questions[:args.limit]
    modes = list(dict.fromkeys(args.mode))
    _, chunk = _configs(args)
    lm = load_model(args)
    out = []
    with open_retriever(lm, {"chunk"} if set(modes) - {"none"} else set(), args) as (r, stores):
        co = InferenceCoordinator(lm, r, stores=stores)
        for m in modes:
            out.append(_qa_mode(co, lm, questions, m, args, chunk))
    meta = {"questions_file": str(args.questions or BUILTIN_QUESTIONS), "model": lm.name,
            "datastore": stores["chunk"].display_name if "chunk" in stores else None,
            "index": stores["chunk"].index_name if "chunk" in stores else None}
    if args.json:
        json.dump(meta | {"results": out}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    from bench.table import format_table

    if "chunk" in stores:
        print(store_line(stores["chunk"]))
    print(f"{len(questions)} questions from {meta['questions_file']}, model {lm.name} (measured)")
    print(format_table([{"mode": x["mode"], "k": x["k"], "hit@k": x["hit_at_k"], "answer in passages": x["answer_in_passages"],
                         "answered (contains)": f"{x['answered']}/{x['questions']}", "token F1": round(x["f1"], 3),
                         "seconds": round(x["seconds_measured"], 1)} for x in out]))
    if args.verbose_answers:
        for x in out:
            for d in x["details"]:
                print(f"[{x['mode']}] {d['question']} -> {' '.join(d['answer'].split())[:120]!r} "
                      f"({'ok' if d['contains'] else 'wrong'}; {', '.join(p['cite'] for p in d['passages'])})")
    return 0


def add_qa_parsers(subparsers, common, setup) -> None:
    """Register ``retrieve`` and ``eval-qa``. ``common`` adds the model and service flags, ``setup`` is the
    module whose ``_configs``, ``load_model``, ``open_retriever`` and ``store_line`` the commands use
    (:mod:`hwrag.ralm_commands`, which registers these parsers: handed in, so that this module does not
    import it back)."""
    from llm_client.defaults import CHUNK_OVERLAP_WORDS, CHUNK_WORDS, CHUNKING, REPETITION_PENALTY

    from .output import HelpFormatter, first_paragraph

    r = subparsers.add_parser("retrieve", help="show what retrieval returns for a query, with sources (no generation)",
                              description=first_paragraph(__doc__), formatter_class=HelpFormatter)
    r.add_argument("query", help="the query text")
    r.add_argument("--kind", choices=["chunk", "token"], default=None,
                   help="the store kind searched (default: the --datastore's kind, else chunk)")
    r.add_argument("--top", type=int, default=5, help="results shown")
    common(r)
    r.set_defaults(func=cmd_retrieve, setup=setup)
    q = subparsers.add_parser("eval-qa", help="question answering per mode: retrieval hit@k, answer containment "
                              "and token F1, with sources", description=first_paragraph(__doc__),
                              formatter_class=HelpFormatter)
    q.add_argument("--questions", default=None, metavar="FILE.jsonl",
                   help="questions with reference answers (default: the built-in set over Python's documentation, "
                        "llm_client/data/pydocs_qa.jsonl)")
    q.add_argument("--mode", choices=QA_MODES, nargs="+", default=list(QA_MODES),
                   help="modes scored on the same questions (hybrid = chunk with BM25 fused)")
    q.add_argument("--completion", action="store_true",
                   help="ask as a raw completion ('Question: ...\\nAnswer:'), not in the chat template")
    q.add_argument("--max-new-tokens", type=int, default=48, help="answer tokens, at most")
    q.add_argument("--repetition-penalty", type=float, default=REPETITION_PENALTY,
                   help="divide the probability of tokens already in the answer by this (1 = off)")
    q.add_argument("--sub-batches", type=int, default=2, help="alternating sub-batches")
    q.add_argument("--limit", type=int, default=0, help="the first N questions only (0 = all)")
    q.add_argument("--verbose-answers", action="store_true", help="print every answer with its sources")
    b = q.add_argument_group("built-in chunk store (when no --datastore is given)")
    b.add_argument("--builtin-chunking", choices=["sentence", "words"], default=None,
                   help="passages on sentence/paragraph boundaries, or fixed word windows without overlap "
                        "(default: %s)" % CHUNKING)
    b.add_argument("--builtin-chunk-words", type=int, default=None, help="words per passage (default: %d)" % CHUNK_WORDS)
    b.add_argument("--builtin-overlap-words", type=int, default=None,
                   help="words repeated from the previous passage (default: %d)" % CHUNK_OVERLAP_WORDS)
    common(q)
    q.set_defaults(func=cmd_eval_qa, setup=setup)
