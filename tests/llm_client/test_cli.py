import argparse
import json

import pytest
from ivfpq.errors import HwragError
from hwrag.ralm_commands import add_llm_parsers

from .conftest import TINY_TRAIN_BYTES


def run(argv):
    p = argparse.ArgumentParser()
    add_llm_parsers(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def test_generate_token_mode_through_a_local_service(tiny_ckpt, knn_store, capsys):
    rc = run(["generate", "--mode", "token", "--model", str(tiny_ckpt), "--prompt", "The value", "--prompt", "def ",
              "--max-new-tokens", "4", "--knn-max-tokens", str(3 * TINY_TRAIN_BYTES), "--knn-nlist", "128",
              "--knn-M", "16", "--threads", "1", "--json", "--show-neighbours", "2"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["new_tokens"] == 8 and out["summary"]["provenance"] == "measured"
    assert [o["prompt"] for o in out["outputs"]] == ["The value", "def "]
    from llm_client.corpus import corpus_documents

    docs = {d.title: d.text for d in corpus_documents("train")}
    steps = out["outputs"][0]["retrievals"]
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    assert len(steps[0]["neighbours"]) == 2
    for n in (n for s in steps for n in s["neighbours"] if n["token_text"] != "\ufffd"):  # not part of a UTF-8 char
        assert docs[n["source"]][n["chars"][0]] == n["token_text"]  # the neighbour's next token, at its source


def test_eval_ppl_none(tiny_ckpt, capsys):
    assert run(["eval-ppl", "--mode", "none", "--model", str(tiny_ckpt), "--max-tokens", "256", "--json",
                "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["mode"] == "none" and r["tokens"] == 256 and r["perplexity"] > 1


def test_user_mistakes(tiny_ckpt):
    with pytest.raises(HwragError, match="prompt"):
        run(["generate", "--mode", "none", "--model", str(tiny_ckpt)])
    with pytest.raises(HwragError, match="lambda"):
        run(["generate", "--mode", "token", "--lambda", "2", "--prompt", "x", "--model", str(tiny_ckpt)])
    with pytest.raises(SystemExit):
        run(["eval-ppl", "--mode", "words"])
