"""The next word, with a tokenizer and an embedding
================================================

Keras' n-gram recipe. Run it: ``python examples/next_word.py [--epochs N]
[--seed-text TEXT]``. The corpus is the Zen of Python, which ships with
Python (``import this``). As in the Keras write-ups: fit a tokenizer on the
lines, turn every line into its prefixes (``beautiful is``, ``beautiful is
better``, ...), learn to predict each prefix's next word with ``Embedding ->
LSTM -> Dense(softmax)`` (here ``RNNClassifier(embedding_dim=...)`` on the
padded ids), then write on from a seed one predicted word at a time. One
step further than the recipe: the word after a line's last is the
tokenizer's ``<eos>``, so writing stops where a line would. Nineteen short
lines are learnt by heart, not understood: this shows the mechanics;
:class:`fastrnn.RNNLanguageModel` is the model for a real corpus.
"""

import argparse
import codecs
import contextlib
import io

import numpy as np
from _recipe import timed_fit

from fastrnn import RNNClassifier
from fastrnn.text import EOS_ID, TextTokenizer


def zen_lines():
    """The Zen of Python, one aphorism per line."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing it prints it
        import this
    text = codecs.decode(this.s, "rot13")  # the module keeps it ROT13-encoded
    return [line for line in text.splitlines()[2:] if line.strip()]


def prefixes(ids):
    """Keras' n-gram sequences: every prefix of every line and the word after it.

    Returns ``X [N, longest]`` (ids padded with 0 at the end, fastrnn's
    padding) and ``y [N]``; the word after a line's last is ``<eos>``.
    """
    ids = [np.append(line, EOS_ID) for line in ids]
    pairs = [(line[:i], line[i]) for line in ids for i in range(1, len(line))]
    X = np.zeros((len(pairs), max(len(p) for p, _ in pairs)), dtype=np.int64)
    for row, (prefix, _) in enumerate(pairs):
        X[row, : len(prefix)] = prefix
    return X, np.array([nxt for _, nxt in pairs])


def write_on(model, tokenizer, seed, n_words):
    """``seed`` and up to ``n_words`` more, each the most likely next one, to the line's end."""
    ids = list(tokenizer.encode(seed))
    for _ in range(n_words):
        word = int(model.predict(np.array([ids]))[0])
        if word == EOS_ID:
            break
        ids.append(word)
    return tokenizer.decode(ids)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--seed-text", default="beautiful is")
    p.add_argument("--words", type=int, default=12, help="most words to write after the seed")
    args = p.parse_args(argv)

    lines = zen_lines()
    tokenizer = TextTokenizer(level="word").fit(lines)  # Tokenizer().fit_on_texts(lines)
    X, y = prefixes(tokenizer.transform(lines))  # texts_to_sequences, n-grams, pad_sequences
    model = RNNClassifier(  # Embedding(V, 16) -> LSTM(64) -> Dense(V, softmax)
        embedding_dim=16,
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        max_iter=args.epochs,
        tol=None,  # every epoch, as Keras' epochs=
        learning_rate_init=0.01,
        random_state=0,
    )
    took = timed_fit(model, X, y)
    accuracy = model.score(X, y)
    print(
        f"{len(lines)} lines, {tokenizer.vocab_size} tokens, {len(X)} prefixes: fitted "
        f"{model.n_iter_} epochs in {took:.2f} s; training accuracy {accuracy:.2f}"
    )
    for seed in (args.seed_text, "now is better", "if the implementation"):
        print(f"{seed!r} -> {write_on(model, tokenizer, seed, args.words)!r}")
    return {"seconds": took, "training accuracy": accuracy}


# %%
# Run with the command line's defaults (what the gallery shows).


if __name__ == "__main__":
    main()
