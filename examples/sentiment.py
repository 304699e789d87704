"""Sentiment of short reviews: TextTokenizer -> bidirectional LSTM
===============================================================

From raw strings, in one scikit-learn Pipeline. Run it: ``python
examples/sentiment.py``. The labelled sentences below were written for this
example by fastrnn's authors (no data set is downloaded); they are too few
for a real model, so read the output as a demonstration of the Pipeline, not
as a benchmark.
"""

from _recipe import timed_fit
from sklearn.pipeline import make_pipeline

import fastrnn
from fastrnn import RNNClassifier, TextTokenizer

POSITIVE = [
    "a wonderful film with a warm heart",
    "the acting was superb and the story moving",
    "i loved every minute of it",
    "great music, great cast, great fun",
    "a delightful and clever comedy",
    "beautifully shot and well written",
    "one of the best films this year",
    "funny, touching and full of life",
    "the ending made me smile",
    "an excellent script and a brilliant lead",
    "i would happily watch it again",
    "charming from start to finish",
    "the cast is wonderful and the jokes land",
    "a moving story told with great care",
    "smart, fresh and very enjoyable",
    "pure joy from the first scene",
]
NEGATIVE = [
    "a dull film with a weak plot",
    "the acting was wooden and the story boring",
    "i hated every minute of it",
    "poor music, poor cast, no fun",
    "a clumsy and tedious comedy",
    "badly shot and badly written",
    "one of the worst films this year",
    "flat, lifeless and far too long",
    "the ending made me groan",
    "a terrible script and a lazy lead",
    "i would never watch it again",
    "boring from start to finish",
    "the cast is awful and the jokes fall flat",
    "a tedious story told without care",
    "stale, silly and very annoying",
    "a waste of two hours",
]
NEW = [
    "a warm and clever film",
    "boring, badly written and far too long",
    "the story was moving and the cast great",
    "i hated the lazy script",
]


def main():
    texts = POSITIVE + NEGATIVE
    labels = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    model = make_pipeline(
        TextTokenizer(),  # words, lowercased; ids 0-2 reserved
        RNNClassifier(
            embedding_dim=16,
            hidden_size=16,
            bidirectional=True,
            output="max",  # max-pooling over each review's words
            max_iter=60,
            tol=None,  # every epoch, as Keras' epochs=
            random_state=0,
        ),
    )
    elapsed = timed_fit(model, texts, labels)
    print(
        f"fitted on {len(texts)} reviews in {elapsed:.2f} s "
        f"(training accuracy {model.score(texts, labels):.2f})"
    )
    for text, proba in zip(NEW, model.predict_proba(NEW)):
        label = model.classes_[proba.argmax()]
        print(f"  {label:8s} {proba.max():.2f}  {text}")
    fastrnn.save(model, "sentiment.npz")  # tokenizer and model, pickle-free
    print("saved to sentiment.npz (fastrnn.load reads it back)")


# %%
# Run it.


if __name__ == "__main__":
    main()
