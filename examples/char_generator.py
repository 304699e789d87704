"""A character-level text generator (char-rnn)
===========================================

The recipe of the "char-rnn" write-ups. Run it: ``python
examples/char_generator.py [--epochs N] [--chars N]``. The text is real and
ships with Python: the prose paragraphs of the language reference's help
topics (``pydoc_data.topics``, what ``help("assert")`` shows). The write-ups
slice the text into windows, one-hot the characters and train ``LSTM ->
Dense(vocab, softmax)`` to predict each next character, then sample one
character at a time with a temperature. :class:`fastrnn.RNNLanguageModel` is
that model: characters to ids through an embedding, truncated
backpropagation through time over the running text, a softmax over the
characters, and ``generate(prompt, temperature=...)``.

The held-out paragraphs' perplexity (how many characters the model hesitates
between, on average) is printed beside two baselines: every character
equally likely, and each character as often as in the training text.
"""

import argparse

import numpy as np
from _recipe import timed_fit

from fastrnn import RNNLanguageModel
from fastrnn.text import RESERVED


def help_paragraphs(max_chars):
    """Prose paragraphs of Python's help topics, in topic order, about ``max_chars`` in all."""
    from pydoc_data.topics import topics

    paragraphs, total = [], 0
    for name in sorted(topics):
        for block in topics[name].split("\n\n"):
            lines = block.strip("\n").splitlines()
            # Prose only: no indented code or grammar, no "*****" underlines.
            if not lines or block.startswith(" ") or set(lines[-1]) <= set("*=-"):
                continue
            paragraphs.append(" ".join(line.strip() for line in lines))
            total += len(paragraphs[-1])
            if total >= max_chars:
                return paragraphs
    return paragraphs


def unigram_perplexity(train, test):
    """Perplexity of ``test`` when each character is drawn as often as in ``train``."""
    counts = {}
    for text in train:
        for ch in text:
            counts[ch] = counts.get(ch, 0) + 1
    total = sum(counts.values())
    logp = [np.log(counts.get(ch, 0.5) / total) for text in test for ch in text]
    return float(np.exp(-np.mean(logp)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--chars", type=int, default=60_000, help="characters of text to use")
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5)
    args = p.parse_args(argv)

    paragraphs = help_paragraphs(args.chars)
    split = int(0.9 * len(paragraphs))
    train, test = paragraphs[:split], paragraphs[split:]
    model = RNNLanguageModel(  # Embedding -> LSTM(128) -> Dense(vocab, softmax)
        tokenizer="char",
        embedding_dim=32,
        hidden_size=args.hidden_size,
        bptt_steps=64,
        max_iter=args.epochs,
        tol=None,  # every epoch, as Keras' epochs=
        learning_rate_init=0.005,
        random_state=0,
    )
    took = timed_fit(model, train)
    n_chars = sum(len(t) for t in train)
    distinct = len(model.vocabulary_) - len(RESERVED)  # <pad>, <unk>, <eos> are not text
    print(
        f"{len(train)} paragraphs ({n_chars} characters, {distinct} distinct): "
        f"fitted {model.n_iter_} epochs in {took:.1f} s"
    )
    perplexity = model.perplexity(test)
    print(
        f"held-out perplexity per character: {perplexity:.2f} (all alike: "
        f"{distinct}, by frequency: {unigram_perplexity(train, test):.1f})"
    )
    sample = model.generate(
        "The ", max_new_tokens=300, temperature=args.temperature, random_state=0
    )
    print(f"sampled at temperature {args.temperature}:\n{sample}")
    return perplexity


# %%
# Run with the command line's defaults (what the gallery shows).


if __name__ == "__main__":
    main()
