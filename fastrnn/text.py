"""Turn text into token ids and back: characters or words, a capped vocabulary.

:class:`TextTokenizer` is the one tokenizer of fastrnn: a scikit-learn
transformer in front of the estimators' token input, and what
:class:`fastrnn.RNNLanguageModel` uses inside::

    tok = TextTokenizer(level="word", max_tokens=5000).fit(texts)
    tok.transform(["some text"])  # [array([ids...])], each text its own length
    tok.inverse_transform(ids)    # back to strings
"""

import numbers
import re
from collections import Counter

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from fastrnn._doc_link import DocLinked
from fastrnn._persistence import SavedModel, json_value

#: Tokens every vocabulary starts with, at these ids: 0 pads sequences to a
#: common length, unknown tokens map to 1, and 2 ends each text (and so starts
#: the next: a language model learns how texts begin).
PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
RESERVED = (PAD, UNK, EOS)
#: Words: runs of letters and digits, and each punctuation mark on its own.
WORD_PATTERN = r"\w+|[^\w\s]"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_texts(X, name="X"):
    """Return texts as a list of strings.

    Parameters
    ----------
    X : str or iterable of str
        One string, or an iterable (a list, a 1-D array, a Series) of them.
    name : str, default="X"
        What the error messages call ``X``.

    Returns
    -------
    list of str
        ``[X]`` for one string, else the strings of ``X`` in order.

    Raises
    ------
    TypeError
        If ``X`` is not a string or an iterable of strings only.
    ValueError
        If ``X`` is an array of more than one dimension, or holds no texts.
    """
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


class TextTokenizer(DocLinked, SavedModel, TransformerMixin, BaseEstimator):
    """Texts to sequences of token ids, with a vocabulary fitted on a corpus.

    The first ids are reserved: ``<pad>`` (0) pads sequences to a common
    length, ``<unk>`` (1) stands for tokens outside the vocabulary, ``<eos>``
    (2) ends a text for the language model.

    Parameters
    ----------
    level : {"word", "char"}, default="word"
        Tokens are words (as ``token_pattern`` finds them) or single
        characters (spaces and line breaks included).
    lowercase : bool, default=True
        Lowercase the texts before splitting them into tokens.
    token_pattern : str, optional
        For ``level="word"``, the regular expression of a token (as in
        ``CountVectorizer``); default: runs of letters and digits, and each
        punctuation mark on its own. Ignored for characters.
    max_tokens : int, optional
        Keep the most frequent tokens (ties broken alphabetically) so that
        the vocabulary, the reserved tokens included, has at most this many
        entries.
    min_frequency : int, default=1
        Tokens seen fewer times in the corpus map to ``<unk>``.

    Attributes
    ----------
    vocabulary_ : list of str
        Id -> token; the first three are ``<pad>``, ``<unk>``, ``<eos>``.
    token_to_id_ : dict of str -> int

    Examples
    --------
    >>> tok = TextTokenizer().fit(["The cat sat.", "The dog ran!"])
    >>> tok.transform(["the cat ran"])
    [array([3, 6, 8])]
    >>> tok.inverse_transform(tok.transform(["the cat ran"]))
    ['the cat ran']
    """

    def __init__(
        self, level="word", lowercase=True, token_pattern=None, max_tokens=None, min_frequency=1
    ):
        self.level = level
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.max_tokens = max_tokens
        self.min_frequency = min_frequency

    def _check_params(self):
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        if self.max_tokens is not None and not (
            _is_int(self.max_tokens) and self.max_tokens > len(RESERVED)
        ):
            raise ValueError(
                f"max_tokens must be an integer of at least {len(RESERVED) + 1} (<pad>, <unk>, "
                f"<eos> and one token), got {self.max_tokens!r}"
            )
        if not (_is_int(self.min_frequency) and self.min_frequency >= 1):
            raise ValueError(f"min_frequency must be an integer >= 1, got {self.min_frequency!r}")
        if self.token_pattern is not None and not isinstance(self.token_pattern, str):
            raise TypeError("token_pattern must be a string (it is saved with the model)")
        try:
            pattern = re.compile(self.token_pattern or WORD_PATTERN)
        except re.error as exc:
            raise ValueError(f"token_pattern is not a regular expression: {exc}") from exc
        if pattern.groups > 1:
            raise ValueError(
                f"token_pattern has {pattern.groups} capturing groups; at most one (the token)"
            )
        return pattern

    def tokens(self, text):
        """Split one string into tokens, before the vocabulary.

        Parameters
        ----------
        text : str
            The text, lowercased first with ``lowercase``.

        Returns
        -------
        list of str
            Its words or characters, in order (tokens outside the vocabulary
            included).
        """
        if self.lowercase:
            text = text.lower()
        if self.level == "char":
            return list(text)
        return re.findall(self.token_pattern or WORD_PATTERN, text)

    def fit(self, X, y=None):
        """Learn the vocabulary of a corpus.

        Parameters
        ----------
        X : str or iterable of str
            The corpus: one text, or a list of texts.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        TextTokenizer
            The fitted tokenizer, ``self``.

        Raises
        ------
        ValueError
            If the corpus has no token seen ``min_frequency`` times, or for
            invalid parameters.
        """
        self._check_params()
        counts = Counter()
        for text in as_texts(X):
            counts.update(self.tokens(text))
        for token in RESERVED:
            counts.pop(token, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= self.min_frequency), key=lambda t: (-counts[t], t)
        )
        if self.max_tokens is not None:
            kept = kept[: self.max_tokens - len(RESERVED)]
        if not kept:
            raise ValueError("the corpus has no token (of min_frequency) to build a vocabulary")
        return self._set_vocabulary([*RESERVED, *kept])

    def _set_vocabulary(self, vocabulary):
        """Take ``vocabulary`` (id -> token) as the fitted one, once it is checked.

        The one check of a vocabulary, for :meth:`fit` and for the model
        files that hold one (a tokenizer's, a language model's).
        """
        if not (isinstance(vocabulary, list) and all(isinstance(t, str) for t in vocabulary)):
            raise ValueError("the vocabulary is not a list of strings")
        if tuple(vocabulary[: len(RESERVED)]) != RESERVED or len(set(vocabulary)) != len(
            vocabulary
        ):
            raise ValueError(
                "the vocabulary does not start with <pad>, <unk>, <eos> or repeats a token"
            )
        self.vocabulary_ = vocabulary
        self.token_to_id_ = {t: i for i, t in enumerate(vocabulary)}
        return self

    def _to_file(self):
        check_is_fitted(self, "vocabulary_")
        self._check_params()  # e.g. a compiled token_pattern, which JSON cannot hold
        if not all(isinstance(t, str) for t in self.vocabulary_):
            raise TypeError("the tokenizer's vocabulary holds non-strings")
        params = {k: json_value(v) for k, v in self.get_params().items()}
        return {"params": params, "fitted": {"vocabulary_": list(self.vocabulary_)}}, {}

    @classmethod
    def _from_file(cls, fields, arrays, trust_patterns):
        tok = cls(**fields["params"])
        if tok.token_pattern is not None and not trust_patterns:
            raise ValueError(
                f"a tokenizer has its own token_pattern {tok.token_pattern!r}; a regular "
                "expression from a file can be made to take exponential time, so "
                "load(..., trust_patterns=True) loads it, for files you trust"
            )
        tok._check_params()
        return tok._set_vocabulary(fields["fitted"]["vocabulary_"])

    @property
    def vocab_size(self):
        """Number of entries in the vocabulary, the reserved tokens included."""
        return len(self.vocabulary_)

    def encode(self, text):
        """Turn one string into the ids of its tokens.

        Parameters
        ----------
        text : str
            The text.

        Returns
        -------
        ndarray of intp
            One id per token; tokens outside the vocabulary get ``<unk>``'s
            (1). A text without tokens gives an empty array.
        """
        check_is_fitted(self, "vocabulary_")
        index = self.token_to_id_
        return np.array([index.get(t, UNK_ID) for t in self.tokens(text)], dtype=np.intp)

    def transform(self, X):
        """Turn texts into sequences of token ids.

        Parameters
        ----------
        X : str or iterable of str
            One text, or a list of texts.

        Returns
        -------
        list of ndarray of intp
            Each text's ids (as :meth:`encode` gives them), 1-D arrays of the
            texts' own lengths.

        Raises
        ------
        ValueError
            For a text with no token (nothing for a model to read).
        """
        out = [self.encode(text) for text in as_texts(X)]
        empty = [i for i, ids in enumerate(out) if not len(ids)]
        if empty:
            raise ValueError(f"text {empty[0]} has no tokens ({len(empty)} such text(s))")
        return out

    def decode(self, ids):
        """Turn token ids back into text.

        ``<eos>`` becomes a line break, ``<pad>`` is dropped and ``<unk>``
        stays as is. Words are joined by spaces (but for punctuation, which
        follows the word before it); characters are joined as they are.

        Parameters
        ----------
        ids : array-like of int
            Token ids in ``[0, vocab_size)``.

        Returns
        -------
        str
            The text.

        Raises
        ------
        ValueError
            For ids outside the vocabulary.
        """
        check_is_fitted(self, "vocabulary_")
        vocab = self.vocabulary_
        ids = np.asarray(ids, dtype=np.intp)
        if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
            raise ValueError(f"ids must lie in [0, {len(vocab)}), got {ids.min()}..{ids.max()}")
        tokens = ["\n" if i == EOS_ID else vocab[i] for i in ids if i != PAD_ID]
        if self.level == "char":
            return "".join(tokens)
        text = " ".join(tokens)
        return re.sub(r" ?\n ?", "\n", re.sub(r" ([^\w\s<])", r"\1", text))

    def inverse_transform(self, X):
        """Turn sequences of token ids back into texts.

        Parameters
        ----------
        X : iterable of array-like of int
            Sequences of ids, as :meth:`transform` gives them (or the rows of
            a padded 2-D array).

        Returns
        -------
        list of str
            Each sequence's text, as :meth:`decode` gives it (padding dropped).
        """
        return [self.decode(ids) for ids in X]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def read_word_vectors(path, vocabulary, random_state=None):
    """An embedding matrix for ``vocabulary`` from a word-vector text file.

    The file has one token and its numbers per line, separated by spaces (as
    GloVe's and fastText's ``.vec`` files; a first line of two integers, the
    word2vec header, is skipped). The first vector's line sets the width;
    later tokens may hold spaces.

    Parameters
    ----------
    path : str or path-like
        The word-vector file, in UTF-8.
    vocabulary : list of str or TextTokenizer
        The tokens (or a fitted tokenizer, whose ``vocabulary_`` is read):
        row ``i`` of the result is for ``vocabulary[i]``.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the rows of tokens missing from the file, drawn from a normal
        distribution with the spread of the vectors found; row 0
        (``<pad>``) gets zeros.

    Returns
    -------
    weights : ndarray of shape (len(vocabulary), dim), float32
        For ``embedding_weights=``.
    n_found : int
        How many vocabulary tokens the file had.
    """
    if hasattr(vocabulary, "vocabulary_"):
        vocabulary = vocabulary.vocabulary_
    wanted = {t: i for i, t in enumerate(vocabulary)}
    rows, dim = {}, None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip()
            parts = line.split(" ")
            if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec's "count dim" header
            if len(parts) < 2:
                continue  # a blank line
            if dim is None:
                dim = len(parts) - 1
            else:  # from the right: some files' tokens hold spaces
                parts = line.rsplit(" ", dim)
            if len(parts) - 1 != dim:
                raise ValueError(f"{path}, line {n}: {len(parts) - 1} numbers, expected {dim}")
            if parts[0] in wanted:
                try:
                    rows[wanted[parts[0]]] = np.array(parts[1:], dtype=np.float32)
                except ValueError as exc:
                    raise ValueError(f"{path}, line {n}: {exc}") from None
    if dim is None:
        raise ValueError(f"{path} holds no word vectors")
    rng = np.random.default_rng(random_state)
    found = np.array(list(rows.values())) if rows else np.zeros((1, dim), np.float32)
    spread = float(found.std()) or 1.0
    weights = (spread * rng.standard_normal((len(vocabulary), dim))).astype(np.float32)
    for i, row in rows.items():
        weights[i] = row
    weights[PAD_ID] = 0
    return weights, len(rows)
