"""Every citation in code and docs points to something in the repository (docs/DESIGN.md § Citations).

Scanned: comments and string literals of every Python file, and every Markdown and ``.proto`` file.
Checked:

* a cited Markdown file (``docs/REFERENCE.md``, ``retrieval_service/README.md``, ``REFERENCE.md`` beside
  the citing file) exists, relative to the repository root or to the citing file's folder;
* ``<file>.md § <Section>`` names a heading of that file (the text after ``§`` starts with the heading);
* a Markdown link ``[text](target#anchor)`` resolves (relative to the Markdown file, as GitHub reads it),
  and its anchor is the GitHub slug of a heading of the target;
* a path into one of the repository's own top-level folders (``hwsim/configs.py``, ``rtl/cards/``) exists.

URLs and paths into other projects (``python/ramulator/dram/hbm2.py``) are not ours to check.
"""
from __future__ import annotations

import io
import re
import tokenize
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the repository's own top-level folders: a path starting with one of these is a repository path
OWN = ("ivfpq", "rtl", "hwsim", "hwrag_rpc", "retrieval_service", "llm_client", "bench", "hwrag", "tests",
       "docs", "proto")
#: folders written at run time, not kept in the repository (``.gitignore``)
GENERATED = ("report/", "build/", "sim_build/", ".venv/")
SKIP_DIRS = {".git", ".venv", "build", "sim_build", "report", "__pycache__", ".pytest_cache", "hwrag_rpc"}

SELF = Path(__file__).resolve()  # this file's planted examples dangle on purpose
URL = re.compile(r"(?:https?://|github\.com/)\S+")
MD_PATH = re.compile(r"(?<![\w./-])((?:\.{1,2}/)?(?:[\w.-]+/)*[\w-]+\.md)(?![\w/])")
OWN_PATH = re.compile(r"(?<![\w./-])((?:%s)/(?:[\w.-]+/)*(?:[\w-]+\.(?:py|md|json|toml|proto|png)\b|(?=[\s`'\")]))?)"
                      % "|".join(OWN))
SECTION = re.compile(r"\s*§\s*(.+)")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _files() -> list[Path]:
    out = []
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if p.is_file() and p.suffix in (".py", ".md", ".proto") and p != SELF:
            out.append(p)
    return sorted(out)


def _python_texts(p: Path) -> list[str]:
    """Comments and string literals, split into lines (a citation's section runs to the end of its line)."""
    out = []
    with open(p, "rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type in (tokenize.COMMENT, tokenize.STRING) or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                out.extend(tok.string.splitlines())
    return out


def _texts(p: Path) -> list[str]:
    if p.suffix == ".py":
        return _python_texts(p)
    return p.read_text(encoding="utf-8").splitlines()


@lru_cache(maxsize=None)
def _headings(md: Path) -> tuple[list[str], set[str]]:
    """Heading titles of a Markdown file and their GitHub anchors (duplicates get -1, -2, ...)."""
    titles, slugs, seen = [], set(), {}
    in_code = False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            title = m.group(1)
            titles.append(title)
            slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            slugs.add(slug if n == 0 else f"{slug}-{n}")
    return titles, slugs


def _resolve(path: str, citing: Path) -> Path | None:
    for base in (ROOT, citing.parent):
        q = (base / path).resolve()
        if q.exists():
            return q
    return None


def _check_line(line: str, p: Path) -> list[str]:
    problems = []
    line = URL.sub(" ", line)
    if p.suffix == ".md":
        line = re.sub(r"\]\([^)\s]+\)", "] ", line)  # link targets: _check_links reads them
    for m in MD_PATH.finditer(line):
        path = m.group(1)
        if path.startswith(GENERATED):
            continue
        target = _resolve(path, p)
        if target is None:
            problems.append(f"cites {path}, which is not in the repository")
            continue
        sec = SECTION.match(line, m.end())
        if sec:
            titles, _ = _headings(target)
            rest = sec.group(1)
            if not any(re.match(re.escape(t) + r"(?!\w)", rest) for t in titles):
                problems.append(f"cites {path} § {rest[:40]!r}: no such heading (has: {'; '.join(titles)})")
    for m in OWN_PATH.finditer(line):
        if _resolve(m.group(1), p) is None and not m.group(1).startswith(GENERATED):
            problems.append(f"names {m.group(1)}, which is not in the repository")
    return problems


def _check_links(line: str, p: Path) -> list[str]:
    problems = []
    for m in MD_LINK.finditer(line):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (p.parent / path).resolve() if path else p
        if not dest.exists():
            problems.append(f"links to {target}, which is not in the repository")
        elif anchor and dest.suffix == ".md" and anchor not in _headings(dest)[1]:
            problems.append(f"links to {target}: {dest.name} has no heading with anchor #{anchor}")
    return problems


def citation_problems(files: list[Path]) -> list[str]:
    out = []
    for p in files:
        for line in _texts(p):
            probs = _check_line(line, p) + (_check_links(line, p) if p.suffix == ".md" else [])
            out += [f"{p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}: {x}" for x in probs]
    return out


def test_every_citation_resolves():
    problems = citation_problems(_files())
    assert not problems, "dangling citations:\n" + "\n".join(problems)


def test_the_design_docs_exist_and_readme_points_to_them():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    assert "docs/DESIGN.md" in layout and "docs/REFERENCE.md" in layout


@pytest.mark.parametrize("text, expect", [
    ('"""Figures from docs/REFERENCE.md § Memory standards."""', None),
    ('"""Figures from docs/REFERENCE.md § No such section."""', "no such heading"),
    ("# see reference/hardware.md", "not in the repository"),
    ("# see docs/DESIGN.md § Contracts, 4", None),
    ("# see DESIGN.md", "not in the repository"),
    ("# the table in hwsim/no_such_file.py", "not in the repository"),
    ("# Ramulator 2.1 python/ramulator/dram/hbm2.py and https://github.com/x/y/blob/main/NOTES.md", None),
    ("# writes report/README.md", None),
])
def test_the_checker_catches_dangling_citations(tmp_path, text, expect):
    """The check itself can fail: a planted dangling citation is reported, a good one is not."""
    p = tmp_path / "planted.py"  # repository paths resolve against the root, as for real files
    p.write_text(text + "\n")
    problems = citation_problems([p])
    if expect is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expect in problems[0], problems


def test_markdown_links_and_anchors_are_checked(tmp_path):
    (tmp_path / "REFERENCE.md").write_text((ROOT / "docs" / "REFERENCE.md").read_text())
    md = tmp_path / "planted.md"  # links resolve beside the Markdown file, as on GitHub
    md.write_text("# Title\n\n[ok](REFERENCE.md#fpga-memory-node) [bad](REFERENCE.md#no-such-anchor) "
                  "[gone](nowhere.md) [self](#title) [web](https://example.com/x.md)\n")
    problems = citation_problems([md])
    assert len(problems) == 2, problems
    assert "no heading with anchor #no-such-anchor" in problems[0]
    assert "nowhere.md" in " ".join(problems)
