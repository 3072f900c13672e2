from llm_client.repetition import is_repetitive, repetition


def test_hand_computed():
    r = repetition("the the the the cat")
    assert r == {"words": 5, "repeated_word_share": 1 - 2 / 5, "longest_run": 4}
    assert is_repetitive("the the the the cat")
    assert repetition("") == {"words": 0, "repeated_word_share": 0.0, "longest_run": 0}
    prose = "A dictionary maps keys to their values; looking up a missing key raises KeyError."
    assert not is_repetitive(prose) and repetition(prose)["longest_run"] == 1
    assert is_repetitive("to be to be to be")  # 4 of 6 words repeat an earlier one
