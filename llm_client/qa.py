"""Question answering, scored: questions with reference answers (JSON Lines), and per question whether
retrieval found the answer's passage (hit@k) and how well the generated answer matches (containment,
token F1 as in SQuAD: Rajpurkar et al., 2016).

A questions file holds one JSON object per line::

    {"question": "...", "answers": ["...", "..."], "source": "topic:nonlocal"}

``answers`` (or a single ``answer``) are the accepted answers; ``source`` (optional) is the document
the answer is in -- a retrieved passage from it is a hit. Without ``source``, a hit is a retrieved
passage that contains an answer. The built-in set (:data:`BUILTIN_QUESTIONS`) asks about Python's
documentation, the built-in chunk store's corpus; every answer there is in a training document.
"""
from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path

from ivfpq.errors import HwragError

BUILTIN_QUESTIONS = Path(__file__).with_name("data") / "pydocs_qa.jsonl"
_ACCEPTED = ('one JSON object per line with a string "question" and "answers" (a list of strings) or '
             '"answer" (a string), and optionally a string "source"')


def load_questions(path) -> list[dict]:
    """The questions of a JSON Lines file, every line checked (an error names the line)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise HwragError(f"--questions {p}: no such file; accepted: {_ACCEPTED}")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise HwragError(f"{p}:{n} is not valid JSON ({e.msg}); accepted: {_ACCEPTED}") from None
        answers = rec.get("answers", [rec["answer"]] if isinstance(rec, dict) and "answer" in rec else None) \
            if isinstance(rec, dict) else None
        if not isinstance(rec, dict) or not isinstance(rec.get("question"), str) or not rec["question"].strip() \
                or not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers) \
                or not isinstance(rec.get("source", ""), str):
            raise HwragError(f"{p}:{n}: a question needs {_ACCEPTED}")
        out.append({"question": rec["question"].strip(), "answers": answers, "source": rec.get("source") or None,
                    "line": n})
    if not out:
        raise HwragError(f"{p} holds no question; accepted: {_ACCEPTED}")
    return out


_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalize(text: str) -> str:
    """Lower case, punctuation and the articles a/an/the removed, white space collapsed (SQuAD's rule)."""
    t = _PUNCT.sub(" ", text.lower())
    return " ".join(w for w in t.split() if w not in ("a", "an", "the"))


def contains(prediction: str, answers: list[str]) -> bool:
    """An accepted answer appears, as whole words, in the prediction (both normalised)."""
    p = f" {normalize(prediction)} "
    return any(f" {normalize(a)} " in p for a in answers if normalize(a))


def token_f1(prediction: str, answers: list[str]) -> float:
    """The best token F1 between the prediction and an accepted answer."""
    pred = normalize(prediction).split()
    best = 0.0
    for a in answers:
        ref = normalize(a).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            prec, rec = common / len(pred), common / len(ref)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


def same_source(found: str | None, wanted: str) -> bool:
    """A store's source (a path, ``file.jsonl:LINE`` or a corpus title) is the question's ``source``:
    equal, or the path ends with it (``docs/a.txt`` matches ``/home/u/docs/a.txt``)."""
    if not found:
        return False
    return found == wanted or found.endswith("/" + wanted.lstrip("/"))


def is_hit(question: dict, passage: dict) -> bool:
    """``passage`` (an :func:`llm_client.passages.explain` record) is the answer's passage."""
    if question.get("source"):
        return same_source(passage.get("source"), question["source"])
    return contains(passage.get("text") or "", question["answers"])


def score(question: dict, answer: str, passages: list[dict]) -> dict:
    """One question's scores: hit (a retrieved passage is the answer's), containment, token F1."""
    return {"hit": any(is_hit(question, p) for p in passages) if passages else None,
            "answer_in_passages": any(contains(p.get("text") or "", question["answers"]) for p in passages)
            if passages else None,
            "contains": contains(answer, question["answers"]), "f1": token_f1(answer, question["answers"])}


def summarize(rows: list[dict]) -> dict:
    """Means over questions (hit rates over the questions that retrieved)."""
    n = len(rows)
    hits = [r["hit"] for r in rows if r["hit"] is not None]
    inp = [r["answer_in_passages"] for r in rows if r["answer_in_passages"] is not None]
    return {"questions": n, "hit_at_k": sum(hits) / len(hits) if hits else None,
            "answer_in_passages": sum(inp) / len(inp) if inp else None,
            "contains": sum(r["contains"] for r in rows) / n if n else 0.0,
            "answered": sum(r["contains"] for r in rows),
            "f1": sum(r["f1"] for r in rows) / n if n else 0.0}
