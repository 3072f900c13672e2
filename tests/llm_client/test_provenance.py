"""Where retrieved text came from: passages cut on sentences with overlap, sources kept per passage and
per token position (checked against the files themselves), hybrid fusion, QA scoring."""
import json
import re

import numpy as np
import pytest
from ivfpq.errors import HwragError
from llm_client.chunking import chunk_spans

TEXT = ("Alpha one two three four five six seven. Beta one two three four five six seven eight nine. "
        "Gamma one two three four five.\n\nDelta starts a new paragraph with several words in it. "
        "Epsilon closes it with some more words here.")


def test_passages_are_exact_spans_on_sentence_boundaries_with_overlap():
    spans = chunk_spans(TEXT, words=20, overlap=8)
    texts = [TEXT[a:b] for a, b in spans]
    assert all(8 <= len(t.split()) <= 20 for t in texts)
    assert all(t.startswith(("Alpha", "Beta", "Gamma", "Delta", "Epsilon")) for t in texts)  # sentence starts
    assert all(t.rstrip().endswith(".") for t in texts)  # sentence ends
    assert texts[0] == "Alpha one two three four five six seven. Beta one two three four five six seven eight nine."
    # no overlap: "Beta ..." (10 words) is longer than 8; a short paragraph's end joins the next paragraph
    assert texts[1] == "Gamma one two three four five.\n\nDelta starts a new paragraph with several words in it."
    assert set(TEXT.split()) == set(" ".join(texts).split())  # every word is in some passage
    words = chunk_spans(TEXT, words=10, overlap=0, mode="words")
    assert [len(TEXT[a:b].split()) for a, b in words] == [10, 10, 10, 10]  # the 5-word tail is dropped
    with pytest.raises(HwragError, match="accepted"):
        chunk_spans(TEXT, words=10, overlap=10)


def test_overlap_repeats_the_last_sentences():
    text = " ".join(f"S{i} a b c d e." for i in range(12))  # 12 sentences of 6 words
    texts = [text[a:b] for a, b in chunk_spans(text, words=18, overlap=6)]
    assert texts[0] == "S0 a b c d e. S1 a b c d e. S2 a b c d e."
    assert texts[1].startswith("S2 ")  # 6 words repeated
    assert texts[-1].endswith("S11 a b c d e.")


def _write_docs(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.markdown").write_text("\n\n# Title\n\n" + " ".join(f"Sentence {i} tells about apples and pears." for i in range(30))
                            + "\n")
    (d / "b.txt").write_text("\n".join(f"Line {i}: the zeppelin fleet number {i} flies north." for i in range(40)))
    (d / "c.jsonl").write_text(json.dumps({"text": "Record one mentions the quokka, a small marsupial of Rottnest "
                                                   "Island, and nothing else at all."}) + "\n")
    return d


def test_chunk_store_sources_match_the_files(tmp_path, _cache):
    from llm_client.named_stores import build_named, remove_named

    d = _write_docs(tmp_path)
    ds, rec = build_named("prov", "chunk", [str(d)], progress=False)
    src = ds.load_sources()
    assert len(src) == ds.meta["ntotal"] == len(src.texts) and ds.meta["format"] == 2
    for i in range(len(src)):
        e = src.describe(i)
        if e["source"].endswith(":1"):  # the JSON Lines record: its line, its text
            assert e["source"].endswith("c.jsonl:1") and e["lines"] == [1, 1]
            continue
        raw = open(e["source"], encoding="utf-8").read()
        a, b = e["chars"]
        assert raw[a:b] == src.text(i)  # the character span, in the file itself
        lines = raw.split("\n")[e["lines"][0] - 1:e["lines"][1]]
        assert " ".join(src.text(i).split()) in " ".join(" ".join(lines).split())
    hashes = {r["source"]: r["sha256"] for r in src.documents}
    import hashlib
    assert hashes[str((d / "b.txt").resolve())] == hashlib.sha256((d / "b.txt").read_text().strip().encode()).hexdigest()
    remove_named("prov")


def test_token_store_positions_point_at_their_next_token(tmp_path, tiny_lm, _cache):
    from llm_client.datastore import KnnStoreConfig, payload_token
    from llm_client.named_stores import build_named, remove_named

    d = _write_docs(tmp_path)
    ds, _ = build_named("prov-knn", "token", [str(d / "a.markdown"), str(d / "b.txt")], lm=tiny_lm,
                        knn=KnnStoreConfig(nlist=8, M=16), progress=False)
    src, pay = ds.load_sources(), ds.load_payloads()
    rng = np.random.default_rng(0)
    for i in rng.choice(len(src), 50, replace=False):
        e = src.describe(i)
        raw = open(e["source"], encoding="utf-8").read()
        a, _ = e["chars"]
        assert ord(raw[a]) == payload_token(pay.get(np.array([i]))[0])  # the byte model's next token, in the file
        assert raw.count("\n", 0, a) + 1 == e["lines"][0]
    remove_named("prov-knn")


def test_fusion_and_bm25():
    from llm_client.passages import BM25, RRF_K, dense_hits, fuse

    d = dense_hits(np.array([4, 2, -1]), np.array([-0.9, -0.5, 0.0]), k=5)  # negated inner products, best first
    assert [(h.id, h.score, h.dense_rank) for h in d] == [(4, 0.9, 1), (2, 0.5, 2)]

    hits = fuse(np.array([5, 7, 9]), np.array([0.9, 0.8, 0.7]), [(7, 3.0), (2, 1.0)], k=3)
    assert [h.id for h in hits] == [7, 5, 2]
    assert hits[0].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert (hits[0].dense_rank, hits[0].bm25_rank, hits[2].dense_rank) == (2, 1, None)
    bm = BM25(["the cat sat", "a GPL licence text", "the LGPL licence text"])
    assert bm.search(["GPL"], 2)[0][0][0] == 1  # the keyword, not its near neighbour


def test_qa_scores():
    from llm_client.qa import contains, is_hit, load_questions, token_f1

    assert contains("It raises an AssertionError.", ["AssertionError"])
    assert not contains("It raises an AssertionErrors", ["AssertionError"])  # whole words
    assert token_f1("the nearest enclosing scope", ["nearest enclosing scope"]) == 1.0
    assert token_f1("enclosing", ["nearest enclosing scope"]) == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))
    assert is_hit({"source": "docs/a.txt", "answers": ["x"]}, {"source": "/home/u/docs/a.txt"})
    assert not is_hit({"source": "docs/a.txt", "answers": ["x"]}, {"source": "/home/u/docs/ba.md"})
    qs = load_questions("llm_client/data/pydocs_qa.jsonl")
    assert len(qs) >= 20 and all(q["source"] for q in qs)


def test_builtin_qa_answers_are_in_their_training_documents():
    from llm_client.corpus import corpus_documents
    from llm_client.qa import BUILTIN_QUESTIONS, contains, load_questions

    docs = {d.title: d.text for d in corpus_documents("train")}
    for q in load_questions(BUILTIN_QUESTIONS):
        assert q["source"] in docs and contains(docs[q["source"]], q["answers"]), q


@pytest.mark.parametrize("line,match", [
    ('{"question": "q"}', "needs"), ('{"question": "q", "answers": []}', "needs"), ("{nope", "not valid JSON"),
    ('{"question": "q", "answer": "a", "source": 3}', "needs")])
def test_bad_questions_are_named(tmp_path, line, match):
    from llm_client.qa import load_questions

    f = tmp_path / "q.jsonl"
    f.write_text('{"question": "ok", "answer": "a"}\n' + line + "\n")
    with pytest.raises(HwragError, match=re.escape(f"q.jsonl:2") + ".*" + match):
        load_questions(f)
