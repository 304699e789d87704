"""End to end: ``RNNClassifier.fit`` against the PyTorch loop a user would write.

The data is real and ships with scikit-learn: the handwritten digits of
``load_digits``, each 8x8 image read as a sequence of its 8 rows (8 features
per step) and cut to a random length of 4 to 8 rows, so the sequences are
ragged (what a user's variable-length data looks like) and the task stays
learnable. Both sides get the same split, cell, hidden size, epochs, batch
size, optimizer (Adam) and learning rate, no L2 and no clipping; PyTorch runs
the plain loop with ``pack_padded_sequence`` and no DataLoader. Each side's
time includes turning the list of arrays into its padded batch, as a user's
code pays it.

A second task, ``"topics"``, is text: which of four documentation topics of
``pydoc_data.topics`` (it ships with CPython) a paragraph comes from, the
paragraphs tokenized into words by ``TextTokenizer`` for both sides; the
model is an embedding, a bidirectional LSTM and a linear head (PyTorch:
``nn.Embedding``, a packed bidirectional ``nn.LSTM``, ``nn.Linear``).

Two more, ``"names"`` and ``"names-100"``, are character-level text with the
same model: the names of Unicode characters (CPython's ``unicodedata``), 5 to
30 characters each, read character by character; 3,500 names in 10 classes
(the character's general category) or in 100 (the name's first word, mostly
its script) — a short-text classifier with a softmax head of many classes.
"""

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

DATASET = (
    "sklearn load_digits: 1797 8x8 images as sequences of rows (8 steps x 8 features, "
    "scaled to [0, 1]), each cut to a random length in 4..8 rows (ragged); "
    "stratified 75/25 train/test split"
)


@dataclass(frozen=True)
class EndToEndPlan:
    """Settings shared by both sides (``repeats`` fits each, interleaved)."""

    hidden_size: int = 32
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 0.01
    repeats: int = 5


QUICK_E2E = EndToEndPlan(epochs=3, repeats=1)

TOPICS = ("compound", "specialnames", "string-methods", "debugger")
TEXT_DATASET = (
    "pydoc_data.topics: paragraphs (8+ words) of the topics " + ", ".join(TOPICS) + ", as word "
    "ids (TextTokenizer, 2000 tokens, fitted on the training part); stratified 70/30 split"
)
#: Model of the text task on both sides: embedding width, both directions.
TEXT_MODEL = {"embedding_dim": 32, "bidirectional": True}


def ragged_digits(seed=0):
    """The ragged digits split: ``(X_train, y_train, X_test, y_test)``, X lists of ``[T_i, 8]``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    images = (X / 16.0).astype(np.float32).reshape(-1, 8, 8)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 9, size=len(images))
    seqs = [np.ascontiguousarray(img[:n]) for img, n in zip(images, lengths)]
    idx_train, idx_test = train_test_split(
        np.arange(len(seqs)), test_size=0.25, stratify=y, random_state=seed
    )
    return (
        [seqs[i] for i in idx_train],
        y[idx_train],
        [seqs[i] for i in idx_test],
        y[idx_test],
    )


def doc_topics(seed=0):
    """The text task's split: ``(X_train, y_train, X_test, y_test)``, X lists of word-id arrays."""
    import pydoc_data.topics

    from sklearn.model_selection import train_test_split

    from fastrnn.text import TextTokenizer

    texts, labels = [], []
    for label, topic in enumerate(TOPICS):
        paras = [p.strip() for p in pydoc_data.topics.topics[topic].split("\n\n")]
        kept = [p for p in paras if len(p.split()) >= 8]
        texts += kept
        labels += [label] * len(kept)
    tr, te, y_tr, y_te = train_test_split(
        texts, np.array(labels), test_size=0.3, stratify=labels, random_state=seed
    )
    tok = TextTokenizer(max_tokens=2000).fit(tr)
    return tok.transform(tr), y_tr, tok.transform(te), y_te


NAMES_DATASET = (
    "unicodedata: names of Unicode characters, 5-30 characters, as character ids "
    "(TextTokenizer level='char', fitted on the training part); {} classes ({}), "
    "{} names each, drawn with seed 0; stratified 70/30 split"
)


def unicode_names(n_classes, seed=0):
    """Character-level split of Unicode character names: 10 classes by general
    category, 100 by the name's first word; 3,500 names in all."""
    import unicodedata
    from collections import defaultdict

    from sklearn.model_selection import train_test_split

    from fastrnn.text import TextTokenizer

    groups = defaultdict(list)
    for code in range(0x110000):
        name = unicodedata.name(chr(code), "")
        if 5 <= len(name) <= 30:
            key = unicodedata.category(chr(code)) if n_classes == 10 else name.split()[0]
            groups[key].append(name)
    per_class = 3500 // n_classes
    kept = sorted((k for k in groups if len(groups[k]) >= per_class), key=lambda k: -len(groups[k]))
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for label, key in enumerate(sorted(kept[:n_classes])):
        texts += list(rng.choice(groups[key], per_class, replace=False))
        labels += [label] * per_class
    tr, te, y_tr, y_te = train_test_split(
        texts, np.array(labels), test_size=0.3, stratify=labels, random_state=seed
    )
    tok = TextTokenizer(level="char").fit(tr)
    return tok.transform(tr), y_tr, tok.transform(te), y_te


TASKS = {
    "digits": (ragged_digits, DATASET, {}),
    "topics": (doc_topics, TEXT_DATASET, TEXT_MODEL),
    "names": (
        lambda: unicode_names(10),
        NAMES_DATASET.format(10, "general category", 350),
        TEXT_MODEL,
    ),
    "names-100": (
        lambda: unicode_names(100),
        NAMES_DATASET.format(100, "first word of the name", 35),
        TEXT_MODEL,
    ),
}


def fit_fastrnn(plan, threads, X_train, y_train, X_test, y_test, seed=0, model=None):
    """Fit ``RNNClassifier`` for exactly ``plan.epochs`` epochs; (seconds, test accuracy).

    ``model``: extra estimator parameters (the text task's embedding).
    """
    from sklearn.exceptions import ConvergenceWarning

    import fastrnn

    clf = fastrnn.RNNClassifier(
        cell="lstm",
        hidden_size=plan.hidden_size,
        max_iter=plan.epochs,
        batch_size=plan.batch_size,
        learning_rate_init=plan.learning_rate,
        alpha=0,
        clip_grad_norm=None,
        shuffle=True,
        # tol=0 and more patience than epochs: run every epoch, as the torch loop does.
        tol=0,
        n_iter_no_change=plan.epochs + 1,
        random_state=seed,
        n_threads=threads,
        **(model or {}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: intended
        t0 = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - t0
    return seconds, float(clf.score(X_test, y_test))


def _padded(torch, seqs):
    """Padded ``[N, T, F]`` tensor and lengths of a list of arrays."""
    tensors = [torch.from_numpy(s) for s in seqs]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True), lengths


def fit_torch(torch, plan, X_train, y_train, X_test, y_test, seed=0, model=None):
    """The plain PyTorch training loop; (seconds, test accuracy).

    ``model`` as for :func:`fit_fastrnn`: with ``embedding_dim`` the inputs
    are token ids and an ``nn.Embedding`` comes first.
    """
    pack = torch.nn.utils.rnn.pack_padded_sequence
    model = model or {}
    torch.manual_seed(seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    bidirectional = model.get("bidirectional", False)
    layers = []
    if model.get("embedding_dim"):
        vocab = int(max(x.max() for x in X_train)) + 1
        embedding = torch.nn.Embedding(vocab, model["embedding_dim"])
        layers.append(embedding)
        n_in = model["embedding_dim"]
    else:
        embedding, n_in = None, X_train[0].shape[1]
    lstm = torch.nn.LSTM(n_in, plan.hidden_size, batch_first=True, bidirectional=bidirectional)
    head = torch.nn.Linear(plan.hidden_size * (2 if bidirectional else 1), n_classes)
    params = [p for m in [*layers, lstm, head] for p in m.parameters()]
    optimizer = torch.optim.Adam(params, lr=plan.learning_rate)
    generator = torch.Generator().manual_seed(seed)

    def logits(x, lengths):
        if embedding is not None:
            x = embedding(x)
        _, (h_n, _) = lstm(pack(x, lengths, batch_first=True, enforce_sorted=False))
        return head(torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1])

    t0 = time.perf_counter()
    X, lengths = _padded(torch, X_train)
    y = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    for _ in range(plan.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), plan.batch_size):
            idx = order[start : start + plan.batch_size]
            loss = torch.nn.functional.cross_entropy(logits(X[idx], lengths[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        predicted = logits(*_padded(torch, X_test)).argmax(dim=1).numpy()
    return seconds, float(np.mean(predicted == y_test))


def run_end_to_end(torch, threads, plan, task="digits"):
    """Fit both sides ``plan.repeats`` times, interleaved, at ``threads`` threads.

    The order alternates (fastrnn first, then PyTorch first, ...) so a drift
    of a shared machine does not favour one side. Fit ``r`` of both engines
    is seeded with ``r``; the accuracy is the mean over the fits (one seed's
    test accuracy on 450 samples moves by a few points with the seed).

    Returns
    -------
    dict
        ``threads``, ``plan``, ``dataset``, ``n_train``/``n_test`` and per
        engine (``"fastrnn"``, ``"torch"``) ``fit_s`` (every fit's seconds),
        ``median_s``, ``accuracies`` (one per fit) and ``accuracy`` (their mean).
    """
    load, dataset, model = TASKS[task]
    data = load()
    runners = {"fastrnn": lambda seed: fit_fastrnn(plan, threads, *data, seed=seed, model=model)}
    if torch is not None:
        runners["torch"] = lambda seed: fit_torch(torch, plan, *data, seed=seed, model=model)
    results = {name: {"fit_s": [], "accuracies": []} for name in runners}
    names = list(runners)
    for r in range(plan.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            seconds, accuracy = runners[name](r)
            results[name]["fit_s"].append(seconds)
            results[name]["accuracies"].append(accuracy)
    for entry in results.values():
        entry["median_s"] = float(np.median(entry["fit_s"]))
        entry["accuracy"] = float(np.mean(entry["accuracies"]))
    return {
        "threads": threads,
        "plan": asdict(plan),
        "task": task,
        "dataset": dataset,
        "n_train": len(data[0]),
        "n_test": len(data[2]),
        "engines": results,
    }
