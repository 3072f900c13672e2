"""Reading the user's own documents: accepted kinds, directories, and every bad input named."""
import json

import pytest
from ivfpq.errors import HwragError
from llm_client.documents import documents_fingerprint, read_documents


def test_text_markdown_jsonl_and_directories(tmp_path):
    (tmp_path / "a.txt").write_text("Alpha text.\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.markdown").write_text("# Beta\n\nMarkdown body.")
    (sub / "c.jsonl").write_text(json.dumps({"text": "Gamma one."}) + "\n\n" + json.dumps({"text": "Gamma two.", "id": 2}) + "\n")
    (sub / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # not a text suffix: skipped inside a directory
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("hidden")
    docs = read_documents([str(tmp_path)])
    assert [d.text for d in docs] == ["Alpha text.", "# Beta\n\nMarkdown body.", "Gamma one.", "Gamma two."]
    assert docs[2].title.endswith("c.jsonl:1") and docs[3].title.endswith("c.jsonl:3")
    assert documents_fingerprint(docs) == documents_fingerprint(read_documents([str(tmp_path)]))
    (tmp_path / "a.txt").write_text("Alpha text, changed.\n")
    assert documents_fingerprint(docs) != documents_fingerprint(read_documents([str(tmp_path)]))


@pytest.mark.parametrize("name,data,match", [
    ("empty.txt", b"  \n", "empty.txt is empty"),
    ("bin.txt", b"abc\x00\x01\x02", "bin.txt is a binary file"),
    ("latin.txt", "caf\xe9".encode("latin-1"), "latin.txt is not UTF-8"),
    ("bad.jsonl", b'{"text": "ok"}\n{not json}\n', r"bad.jsonl:2 is not valid JSON"),
    ("notext.jsonl", b'{"body": "x"}\n', r"notext.jsonl:1 has no string 'text' field"),
    ("blank.jsonl", b'{"text": "  "}\n', "holds no non-empty 'text' record"),
])
def test_bad_files_are_named(tmp_path, name, data, match):
    (tmp_path / "good.txt").write_text("fine")
    (tmp_path / name).write_bytes(data)
    with pytest.raises(HwragError, match=match):
        read_documents([str(tmp_path)])


def test_missing_paths_and_empty_directories(tmp_path):
    with pytest.raises(HwragError, match="does not exist"):
        read_documents([str(tmp_path / "nope")])
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(HwragError, match="no text files under .*accepted"):
        read_documents([str(tmp_path / "pics")])
