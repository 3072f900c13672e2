"""bench.ralm_own_docs: the folders it writes from the corpus, and its flags (the run itself is the bench's)."""
import pytest

from bench.ralm_own_docs import main, write_corpus_folders


def test_corpus_folders_are_the_train_and_test_documents(tmp_path):
    from llm_client.corpus import corpus_documents

    store, held = write_corpus_folders(tmp_path, store_every=500, held=3)
    train, test = corpus_documents("train"), corpus_documents("test")
    s, h = sorted(store.iterdir()), sorted(held.iterdir())
    assert len(s) == len(train[::500]) and len(h) == 3
    assert [p.read_text() for p in h] == [d.text for d in test[:3]]
    assert s[0].read_text() == train[0].text


def test_store_and_held_texts_go_together(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--store-texts", "notes/"])
    assert e.value.code == 2
    assert "--store-texts and --held-texts go together" in capsys.readouterr().err.splitlines()[0]
