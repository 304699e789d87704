"""TextTokenizer: the one tokenizer, a scikit-learn transformer."""

import numpy as np
import pytest
from sklearn.base import clone

from fastrnn import TextTokenizer

TEXTS = ["The cat sat on the mat.", "The dog sat, the cat ran!", "A cat."]


def test_fit_transform_inverse():
    tok = TextTokenizer().fit(TEXTS)
    assert tok.vocabulary_[:3] == ["<pad>", "<unk>", "<eos>"]
    assert tok.vocabulary_[3:5] == ["the", "cat"]  # most frequent first
    ids = tok.transform(["the cat sat on a zebra"])
    assert len(ids) == 1 and ids[0].dtype.kind == "i" and len(ids[0]) == 6
    assert ids[0][-1] == 1  # "zebra" is unknown
    assert tok.inverse_transform(ids) == ["the cat sat on a <unk>"]
    assert [len(i) for i in tok.fit_transform(TEXTS)] == [7, 8, 3]


def test_options():
    assert TextTokenizer(lowercase=False).fit(TEXTS).token_to_id_["The"] > 2
    words = TextTokenizer(token_pattern=r"(?u)\b\w\w+\b").fit(TEXTS).vocabulary_
    assert "." not in words and "a" not in words
    assert len(TextTokenizer(max_tokens=5).fit(TEXTS).vocabulary_) == 5
    assert TextTokenizer(min_frequency=2).fit(TEXTS).vocabulary_[3:] == ["the", "cat", ".", "sat"]
    chars = TextTokenizer(level="char").fit(TEXTS)
    assert chars.inverse_transform(chars.transform(["a cat"])) == ["a cat"]
    assert clone(TextTokenizer(max_tokens=9)).get_params()["max_tokens"] == 9


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda t: t.fit([]), ValueError, "empty"),
        (lambda t: t.fit(["ok", 3]), TypeError, "strings only"),
        (lambda t: t.fit(["...", "!"]).transform(["   "]), ValueError, "text 0 has no tokens"),
        (lambda t: t.fit(["", " "]), ValueError, "no token"),
        (lambda t: t.set_params(max_tokens=3).fit(TEXTS), ValueError, "max_tokens"),
        (lambda t: t.set_params(level="byte").fit(TEXTS), ValueError, "level"),
        (lambda t: t.set_params(token_pattern="(").fit(TEXTS), ValueError, "regular expression"),
        (lambda t: t.fit(np.array([["a"]])), ValueError, "1-D"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(TextTokenizer())
