"""Turn text into token ids and back: characters or words, a capped vocabulary.

Used by :class:`fastrnn.RNNLanguageModel`; usable alone::

    tok = Tokenizer("word", max_vocab=5000).fit(texts)
    ids = tok.encode("some text")   # ndarray of int
    tok.decode(ids)                 # "some text"
"""

import re
from collections import Counter

import numpy as np

#: Tokens every vocabulary starts with, at these ids: 0 pads sequences to a
#: common length, unknown tokens map to 1, and 2 ends each text (and so starts
#: the next: a language model learns how texts begin).
PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
RESERVED = (PAD, UNK, EOS)
_WORD = re.compile(r"\w+|[^\w\s]")


def as_texts(X, name="X"):
    """``X`` as a list of strings: one string, or an iterable of them."""
    if isinstance(X, str):
        return [X]
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(
            f"{name} must be a string or a 1-D sequence of strings, got shape {X.shape}"
        )
    try:
        texts = list(X)
    except TypeError:
        raise TypeError(
            f"{name} must be a string or a list of strings, got {type(X).__name__}"
        ) from None
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name} must hold strings only, got {bad[0]}")
    if not texts:
        raise ValueError(f"{name} is empty: no texts")
    return texts


class Tokenizer:
    """Characters or words to ids, with a vocabulary fitted on a corpus.

    Parameters
    ----------
    level : {"char", "word"}, default="char"
        "word" splits into runs of letters and digits and single punctuation
        marks; decoding joins words with spaces.
    max_vocab : int, optional
        Keep the most frequent tokens (ties broken alphabetically) so that
        the vocabulary, ``<unk>`` and ``<eos>`` included, has at most this
        many entries.
    min_count : int, default=1
        Tokens seen fewer times map to ``<unk>``.
    lowercase : bool, default=False

    Attributes
    ----------
    vocabulary_ : list of str
        Id -> token; the first three are ``<pad>``, ``<unk>`` and ``<eos>``.
    """

    def __init__(self, level="char", max_vocab=None, min_count=1, lowercase=False):
        if level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {level!r}")
        if max_vocab is not None and max_vocab < len(RESERVED) + 1:
            raise ValueError(
                f"max_vocab must be at least 4 (<pad>, <unk>, <eos> and one token), got {max_vocab}"
            )
        self.level, self.max_vocab, self.min_count, self.lowercase = (
            level,
            max_vocab,
            min_count,
            lowercase,
        )

    def tokens(self, text):
        """The tokens of one string, before the vocabulary."""
        if self.lowercase:
            text = text.lower()
        return list(text) if self.level == "char" else _WORD.findall(text)

    def fit(self, texts):
        """Build the vocabulary from a string or a list of strings."""
        counts = Counter()
        for text in as_texts(texts):
            counts.update(self.tokens(text))
        for token in RESERVED:
            counts.pop(token, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= self.min_count), key=lambda t: (-counts[t], t)
        )
        if self.max_vocab is not None:
            kept = kept[: self.max_vocab - len(RESERVED)]
        self.vocabulary_ = [*RESERVED, *kept]
        self._index = {t: i for i, t in enumerate(self.vocabulary_)}
        return self

    @property
    def vocab_size(self):
        return len(self.vocabulary_)

    def encode(self, text):
        """Ids of the tokens of ``text`` (unknown ones -> 0), as an intp array."""
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("this Tokenizer is not fitted yet: call fit(texts) first")
        index = self._index
        return np.array([index.get(t, UNK_ID) for t in self.tokens(text)], dtype=np.intp)

    def decode(self, ids):
        """The text of ``ids``; ``<eos>`` becomes a line break, ``<pad>`` is dropped,
        ``<unk>`` stays as is."""
        vocab = self.vocabulary_
        ids = np.asarray(ids, dtype=np.intp)
        if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
            raise ValueError(f"ids must lie in [0, {len(vocab)}), got {ids.min()}..{ids.max()}")
        tokens = ["\n" if i == EOS_ID else vocab[i] for i in ids if i != PAD_ID]
        if self.level == "char":
            return "".join(tokens)
        text = " ".join(tokens)
        return re.sub(r" ?\n ?", "\n", re.sub(r" ([^\w\s<])", r"\1", text))
