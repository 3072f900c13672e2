"""Named datastores kept tidy: --replace to build over a name (a kind change said), datastore rm, killed
builds leave nothing visible and are cleaned by the next build, the same documents reuse the work under
any name, a wrong-kind or old-format store is an error naming it; retrieve, generate and eval-qa show
their sources; every RALM command's flag states its default."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ivfpq.errors import HwragError

from .conftest import TINY_TRAIN_BYTES


def run(argv):
    from hwrag.datastore_commands import add_parsers
    from hwrag.ralm_commands import add_llm_parsers

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    add_llm_parsers(sub)
    add_parsers(sub)
    args = p.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("hyg") / "docs"
    d.mkdir()
    (d / "gpl.rst").write_text("The GNU General Public License is a free, copyleft license for software. "
                              "It guarantees your freedom to share and change all versions of a program.\n\n"
                              "Section 7 of the GPL covers additional terms that supplement the license.\n")
    (d / "lgpl.rst").write_text("The GNU Lesser General Public License lets proprietary programs link the "
                               "library. It incorporates the terms of version 3 of the GPL with extra permissions.\n")
    (d / "cats.txt").write_text("Cats sleep for most of the day. A cat purrs when it is content and warm.\n" * 3)
    return d


@pytest.fixture(scope="module")
def lic(docs, _cache):
    run(["datastore", "build", "--texts", str(docs), "--kind", "chunk", "--name", "lic", "--replace"])
    yield "lic"
    run(["datastore", "rm", "lic"])  # other modules count the names of the session's cache


@pytest.fixture(scope="module")
def tok(docs, tiny_ckpt, _cache):
    run(["datastore", "build", "--texts", str(docs), "--kind", "token", "--name", "tok", "--model", str(tiny_ckpt),
         "--nlist", "4", "--m", "16", "--replace"])
    yield "tok"
    run(["datastore", "rm", "tok"])


def _store_files(root: Path):
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and p.name not in ("named", "keys"))


def test_replace_rm_and_reuse_across_names(docs, _cache, monkeypatch, capsys):
    from ivfpq.datasets.cache import cache_dir

    root = cache_dir("datastores")
    assert run(["datastore", "build", "--texts", str(docs / "gpl.rst"), "--kind", "chunk", "--name", "r1"]) == 0
    with pytest.raises(HwragError, match="'r1' exists: a chunk store.*--replace"):
        run(["datastore", "build", "--texts", str(docs / "gpl.rst"), "--kind", "chunk", "--name", "r1"])
    # the same documents and settings under another name: no embedding at all
    import llm_client.chunk_ralm as cr
    monkeypatch.setattr(cr, "default_encoder", lambda: pytest.fail("the cached work was not reused"))
    assert run(["datastore", "build", "--texts", str(docs / "gpl.rst"), "--kind", "chunk", "--name", "r2", "--json"]) == 0
    capsys.readouterr()
    run(["datastore", "list", "--json"])
    recs = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert recs["r1"]["path"] == recs["r2"]["path"]
    assert run(["datastore", "rm", "r2"]) == 0
    assert "files kept" in capsys.readouterr().out and Path(recs["r1"]["path"]).exists()
    assert run(["datastore", "rm", "r1"]) == 0
    assert "files removed" in capsys.readouterr().out and not Path(recs["r1"]["path"]).exists()
    with pytest.raises(HwragError, match="no datastore named 'r1'"):
        run(["datastore", "rm", "r1"])
    assert Path(recs["r1"]["path"]).name not in _store_files(root)


def test_kind_change_needs_replace_and_is_said(docs, tiny_ckpt, _cache, capsys):
    run(["datastore", "build", "--texts", str(docs / "cats.txt"), "--kind", "chunk", "--name", "k1"])
    capsys.readouterr()
    with pytest.raises(HwragError, match="change its kind from chunk to token"):
        run(["datastore", "build", "--texts", str(docs), "--kind", "token", "--name", "k1", "--model", str(tiny_ckpt)])
    assert run(["datastore", "build", "--texts", str(docs), "--kind", "token", "--name", "k1", "--model",
                str(tiny_ckpt), "--nlist", "4", "--m", "16", "--replace"]) == 0
    o = capsys.readouterr().out
    assert "replaced the chunk store of 1 documents" in o and "KIND CHANGED" in o
    run(["datastore", "rm", "k1"])


_KILLED_BUILD = """
import os, sys
import llm_client.sources as s
def die(self, path):
    os._exit(9)  # killed while saving: no finally, no clean-up
s.Sources.save = die
from llm_client.named_stores import build_named
build_named("killed", "chunk", [sys.argv[1]], progress=False)
"""


def test_a_killed_build_leaves_nothing_visible_and_is_cleaned_next_time(docs, _cache):
    from ivfpq.datasets.cache import cache_dir

    root = cache_dir("datastores")
    before = _store_files(root)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    r = subprocess.run([sys.executable, "-c", _KILLED_BUILD, str(docs / "cats.txt")], env=env, timeout=300)
    assert r.returncode == 9
    assert _store_files(root) == before  # no store, no name
    assert not (root / "named" / "killed.json").exists()
    staged = list((root / ".building").iterdir())
    assert staged  # the staging folder it left
    from llm_client.named_stores import build_named

    build_named("survivor", "chunk", [str(docs / "cats.txt")], progress=False)
    assert not any(p in staged for p in (root / ".building").iterdir())  # cleaned by the next build
    run(["datastore", "rm", "survivor"])


def test_wrong_kind_and_old_format_are_errors_naming_the_store(tok, tiny_ckpt):
    from llm_client.named_stores import _registry

    with pytest.raises(HwragError, match="--mode chunk needs a chunk store, but --datastore 'tok' is a token store"):
        run(["generate", "--mode", "chunk", "--datastore", "tok", "--prompt", "x", "--model", str(tiny_ckpt)])
    rec = json.loads((_registry() / "tok.json").read_text())
    meta_file = Path(rec["path"] + ".json")
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({k: v for k, v in meta.items() if k != "format"}))  # a store of format 1
    try:
        with pytest.raises(HwragError, match="'tok' was built by an older hwrag.*rebuild it: hwrag datastore build "
                                             "--replace --name tok --kind token"):
            run(["generate", "--mode", "token", "--datastore", "tok", "--prompt", "x", "--model", str(tiny_ckpt)])
    finally:
        meta_file.write_text(json.dumps(meta))


def test_retrieve_shows_sources_on_chunk_and_token_stores(lic, tok, tiny_ckpt, capsys):
    capsys.readouterr()
    assert run(["retrieve", "--datastore", "lic", "--hybrid", "--top", "2", "Section 7 of the GPL additional terms",
                "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["datastore"] == "lic" and out["kind"] == "chunk" and out["hybrid"]
    top = out["results"][0]
    assert top["source"].endswith("gpl.rst") and top["lines"] == [1, 3] and top["cite"].endswith("gpl.rst:1-3")
    assert top["bm25_rank"] == 1
    assert run(["retrieve", "--datastore", "lic", "cats purr"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("chunk store: lic (") and "cats.txt:1" in text
    assert run(["retrieve", "--datastore", "tok", "--model", str(tiny_ckpt), "--top", "3", "The GNU General",
                "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "token" and len(out["results"]) == 3
    for e in out["results"]:
        raw = open(e["source"], encoding="utf-8").read()
        assert raw[e["chars"][0]] == e["next_token"]  # the neighbour's next token, at its source position


def test_generate_and_eval_qa_carry_sources(lic, tiny_ckpt, capsys, tmp_path):
    capsys.readouterr()
    assert run(["generate", "--mode", "chunk", "--datastore", "lic", "--model", str(tiny_ckpt), "--min-context", "64", "--prompt",
                "What do cats do when content?", "--question", "--max-new-tokens", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    steps = out["outputs"][0]["retrievals"]
    assert len(steps) == 1 and steps[0]["step"] == 0 and len(steps[0]["passages"]) == 3
    assert steps[0]["passages"][0]["cite"].split("/")[-1].startswith("cats.txt:")
    assert out["summary"]["datastores"]["chunk"]["name"] == "lic"
    assert run(["generate", "--mode", "chunk", "--datastore", "lic", "--model", str(tiny_ckpt), "--min-context", "64", "--prompt",
                "Cats sleep", "--max-new-tokens", "3", "--chunk-interval", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("chunk store: lic") and text.count("sources (retrieval at token") == 2
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"question": "What do cats do when content?", "answer": "purr", "source": "cats.txt"}) + "\n"
                 + json.dumps({"question": "Which license lets proprietary programs link the library?",
                               "answers": ["Lesser General Public License", "LGPL"], "source": "lgpl.rst"}) + "\n")
    assert run(["eval-qa", "--questions", str(q), "--datastore", "lic", "--model", str(tiny_ckpt), "--mode", "none",
                "chunk", "hybrid", "--min-context", "64", "--max-new-tokens", "4", "--chunks", "1", "--json"]) == 0
    res = {r["mode"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert res["none"]["hit_at_k"] is None and res["none"]["details"][0]["passages"] == []
    for m in ("chunk", "hybrid"):
        d = res[m]["details"]
        hits = [any(p["source"].endswith("/" + x["source"]) for p in x["passages"]) for x in d]
        assert res[m]["hit_at_k"] == sum(hits) / 2 and all(len(x["passages"]) == 1 for x in d)
    assert res["hybrid"]["hit_at_k"] == 1.0  # both answers' files share the questions' keywords


def _actions(parser):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for p in a.choices.values():
                yield from _actions(p)
        elif not isinstance(a, argparse._HelpAction):
            yield parser, a


def test_every_ralm_flag_states_its_default():
    from hwrag.datastore_commands import add_parsers
    from hwrag.ralm_commands import add_llm_parsers

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_llm_parsers(sub)
    add_parsers(sub)
    seen = 0
    for parser, a in _actions(p):
        if parser is p:
            continue
        text = parser.formatter_class("x")._get_help_string(a) if a.help else ""
        assert a.help and ("default" in text or "required" in text), (parser.prog, a.dest, text)
        seen += 1
    assert seen > 100
    for cmd in ("generate", "eval-ppl", "retrieve", "eval-qa"):
        desc = sub.choices[cmd].description or ""
        assert not desc.endswith(","), (cmd, desc)  # never cut mid-sentence


def test_demo_question_reports_its_sources(tiny_lm, retriever, chunk_store):
    from hwrag.demo_ralm import _ask
    from hwrag.report import qa_lines
    from llm_client.inference_coordinator import InferenceCoordinator

    co = InferenceCoordinator(tiny_lm, retriever, stores={"chunk": chunk_store})
    qa = [_ask(co, m, 4, h) for m, h in (("none", False), ("chunk", False), ("chunk", True))]
    assert qa[0]["sources"] == [] and qa[0]["hit"] is None
    src = qa[1]["sources"]
    assert len(src) == 3 and all(p["cite"].startswith("text:") for p in src)  # the test store's documents
    assert isinstance(qa[1]["hit"], bool) and isinstance(qa[1]["contains"], bool)
    lines = "\n".join(qa_lines(qa))
    assert qa[2]["summary"]["mode"] == "chunk+hybrid" and len(qa[2]["sources"]) == 3
    assert "- chunk: `" in lines and "- chunk+hybrid: `" in lines and "sources (the answer's passage was" in lines and src[0]["cite"] in lines


def test_old_leftovers_are_cleaned_and_fresh_ones_kept(tmp_path):
    import time

    from llm_client.datastore import STALE_S, clean_stale

    root = tmp_path / "datastores"
    for p in ("orphan-IVF8-PQ8-abc", "orphan-IVF8-PQ8-abc.payloads", ".orphan.tmp123", "whole", "whole.payloads",
              "fresh-orphan", "named"):
        (root / p).mkdir(parents=True)
    (root / "whole.json").write_text("{}")
    (root / "keys").mkdir()
    (root / "keys" / "k.tmp.npy").write_bytes(b"x")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (root / ".building" / f"{int(dead.stdout)}-x").mkdir(parents=True)  # a process that is gone
    (root / ".building" / f"{os.getpid()}-y").mkdir()  # this one: alive
    old = time.time() - STALE_S - 60
    for p in list(root.iterdir()) + [root / "keys" / "k.tmp.npy"]:
        if p.name != "fresh-orphan":
            os.utime(p, (old, old))
    clean_stale(root)
    left = sorted(p.name for p in root.iterdir())
    assert left == [".building", "fresh-orphan", "keys", "named", "whole", "whole.json", "whole.payloads"]
    assert [p.name for p in (root / ".building").iterdir()] == [f"{os.getpid()}-y"]
    assert not list((root / "keys").iterdir())
