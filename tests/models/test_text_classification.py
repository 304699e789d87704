"""Token input: raw strings -> TextTokenizer -> RNNClassifier(embedding_dim=...) in one Pipeline."""

import pickle
import pydoc_data.topics

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor, TextTokenizer
from fastrnn.nn import SequenceNetwork
from tests.helpers import copy_network_into_torch

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
TOPICS = ["compound", "specialnames", "string-methods", "debugger"]


def _paragraphs():
    """Paragraphs of four topics of Python's documentation, labelled by topic."""
    texts, labels = [], []
    for topic in TOPICS:
        paras = pydoc_data.topics.topics[topic].split("\n\n")
        kept = [p.strip() for p in paras if len(p.split()) >= 8]
        texts += kept
        labels += [topic] * len(kept)
    return texts, labels


def test_which_documentation_topic_a_paragraph_comes_from():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = _paragraphs()
    Xtr, Xte, ytr, yte = train_test_split(
        texts, labels, test_size=0.3, stratify=labels, random_state=0
    )
    pipe = make_pipeline(
        TextTokenizer(max_tokens=2000),
        RNNClassifier(
            embedding_dim=32, hidden_size=32, bidirectional=True, max_iter=20, random_state=0
        ),
    ).fit(Xtr, ytr)
    accuracy = pipe.score(Xte, yte)
    majority = max(yte.count(t) for t in TOPICS) / len(yte)
    ngrams = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), LogisticRegression(max_iter=1000)
    ).fit(Xtr, ytr)
    print(
        f"\ntopic of a paragraph: RNN {accuracy:.3f}, char n-gram logistic regression "
        f"{ngrams.score(Xte, yte):.3f}, majority class {majority:.3f}"
    )
    assert accuracy > majority + 0.3  # measured: 0.80 against 0.38


def test_pipeline_grid_searches_and_pickles():
    texts, labels = _paragraphs()
    texts, labels = texts[::6], labels[::6]
    pipe = make_pipeline(
        TextTokenizer(), RNNClassifier(embedding_dim=8, hidden_size=8, max_iter=2, random_state=0)
    )
    search = GridSearchCV(pipe, {"rnnclassifier__hidden_size": [4, 8]}, cv=2).fit(texts, labels)
    assert search.best_params_["rnnclassifier__hidden_size"] in (4, 8)
    again = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(again.predict_proba(texts), search.predict_proba(texts))


def test_ragged_lists_and_padded_arrays_agree_and_unseen_ids_are_unknown(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(3, 20, rng.integers(2, 9)) for _ in range(40)]
    y = np.array([int((s == 5).any()) for s in seqs])
    clf = RNNClassifier(embedding_dim=6, hidden_size=8, max_iter=3, random_state=0).fit(seqs, y)
    assert clf.vocab_size_ == 20
    padded = np.zeros((40, 8), dtype=int)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    np.testing.assert_array_equal(clf.predict_proba(padded), clf.predict_proba(seqs))
    unseen = [np.array([3, 500, 7])]
    np.testing.assert_array_equal(
        clf.predict_proba(unseen), clf.predict_proba([np.array([3, 1, 7])])
    )
    clf.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(
        fastrnn.load(tmp_path / "m.npz").predict_proba(seqs), clf.predict_proba(seqs)
    )
    reg = RNNRegressor(embedding_dim=4, hidden_size=4, max_iter=2).fit(seqs, y.astype(float))
    assert reg.predict(padded).shape == (40,)


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([np.array([1.5, 2])], TypeError, "integer token ids"),
        ([np.array([3, -1])], ValueError, "negative token id"),
        ([np.array([3, 4]), np.array([], dtype=int)], ValueError, "sample 1 has no tokens"),
        ("some text", TypeError, "TextTokenizer"),
        (np.zeros((2, 3), dtype=int), ValueError, "has no tokens"),
    ],
)
def test_bad_token_input_is_refused(X, error, match):
    y = [0, 1] if isinstance(X, str) else [i % 2 for i in range(len(X))]
    with pytest.raises(error, match=match):
        RNNClassifier(embedding_dim=4, max_iter=1).fit(X, y)


def test_token_network_matches_torch_packed():
    torch = pytest.importorskip("torch")
    V, E, H, B, T = 11, 4, 5, 4, 6
    net = SequenceNetwork(
        "lstm", E, H, 3, bidirectional=True, dtype="float64", vocab_size=V, random_state=0
    )
    emb = torch.nn.Embedding(V, E, dtype=torch.float64)
    lstm = torch.nn.LSTM(E, H, batch_first=True, bidirectional=True, dtype=torch.float64)
    head = torch.nn.Linear(2 * H, 3, dtype=torch.float64)
    copy_network_into_torch(net, emb, lstm, head)
    rng = np.random.default_rng(1)
    lengths = np.array([6, 2, 4, 1])
    ids = rng.integers(1, V, (B, T))
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0
    G = rng.standard_normal((B, 3))
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        emb(torch.from_numpy(ids)),
        torch.from_numpy(lengths),
        batch_first=True,
        enforce_sorted=False,
    )
    _, (h_n, _) = lstm(packed)
    out_t = head(torch.cat([h_n[-2], h_n[-1]], dim=1))
    (out_t * torch.from_numpy(G)).sum().backward()
    out = net.forward(ids, lengths=lengths, training=True)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    net.zero_grad()
    net.backward(G)
    np.testing.assert_allclose(net.embedding.grad, emb.weight.grad.numpy(), rtol=1e-8, atol=1e-12)
    for name, p in lstm.named_parameters():
        np.testing.assert_allclose(net.rnn.grad[name], p.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(net.grad_weight, head.weight.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(net.grad_bias, head.bias.grad.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_pooled_outputs_match_torch_and_their_gradients(pool):
    torch = pytest.importorskip("torch")
    V, E, H, B, T = 9, 3, 4, 3, 5
    net = SequenceNetwork(
        "gru",
        E,
        H,
        2,
        bidirectional=True,
        output=pool,
        dtype="float64",
        vocab_size=V,
        random_state=0,
    )
    emb = torch.nn.Embedding(V, E, dtype=torch.float64)
    gru = torch.nn.GRU(E, H, batch_first=True, bidirectional=True, dtype=torch.float64)
    head = torch.nn.Linear(2 * H, 2, dtype=torch.float64)
    copy_network_into_torch(net, emb, gru, head)
    rng = np.random.default_rng(2)
    lengths = np.array([5, 2, 3])
    ids = rng.integers(1, V, (B, T))
    G = rng.standard_normal((B, 2))
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        emb(torch.from_numpy(ids)),
        torch.from_numpy(lengths),
        batch_first=True,
        enforce_sorted=False,
    )
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True)
    valid = torch.from_numpy(np.arange(T)[None, :, None] < lengths[:, None, None])
    if pool == "mean":
        pooled = out_t.sum(1) / torch.from_numpy(lengths[:, None]).double()
    else:
        pooled = out_t.masked_fill(~valid, -np.inf).max(1).values
    pred_t = head(pooled)
    (pred_t * torch.from_numpy(G)).sum().backward()
    pred = net.forward(ids, lengths=lengths, training=True)
    np.testing.assert_allclose(pred, pred_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    net.zero_grad()
    net.backward(G)
    np.testing.assert_allclose(net.embedding.grad, emb.weight.grad.numpy(), rtol=1e-8, atol=1e-12)
    for name, p in gru.named_parameters():
        np.testing.assert_allclose(net.rnn.grad[name], p.grad.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_pooling_estimators_fit_numbers_and_tokens(pool):
    rng = np.random.default_rng(3)
    X = [rng.standard_normal((n, 2)) for n in rng.integers(3, 9, 30)]
    y = np.array([float(x[:, 0].max()) for x in X])
    reg = RNNRegressor(output=pool, hidden_size=8, max_iter=5, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (30,)
    with pytest.raises(ValueError, match="cannot stream"):
        reg.stream()


def test_pretrained_vectors_load_and_a_frozen_embedding_stays(tmp_path):
    from fastrnn.text import read_word_vectors

    texts = ["good film", "bad film", "good plot", "bad plot"] * 5
    labels = [1, 0, 1, 0] * 5
    tok = TextTokenizer().fit(texts)
    lines = ["3 2", "good 1.0 0.5", "bad -1.0 -0.5", "zebra 9 9"]
    (tmp_path / "vec.txt").write_text("\n".join(lines) + "\n")
    weights, found = read_word_vectors(tmp_path / "vec.txt", tok, random_state=0)
    assert found == 2 and weights.shape == (tok.vocab_size, 2)
    np.testing.assert_array_equal(weights[tok.token_to_id_["good"]], [1.0, 0.5])
    assert not weights[0].any()  # <pad>
    clf = RNNClassifier(
        embedding_dim=2,
        embedding_weights=weights,
        freeze_embedding=True,
        hidden_size=4,
        max_iter=5,
        alpha=0.1,
        random_state=0,
    )
    clf.fit(tok.transform(texts), labels)
    np.testing.assert_array_equal(clf.network_.embedding.weight, weights)
    assert clf.vocab_size_ == tok.vocab_size
    thawed = RNNClassifier(
        embedding_dim=2, embedding_weights=weights, hidden_size=4, max_iter=5, random_state=0
    ).fit(tok.transform(texts), labels)
    assert not np.array_equal(thawed.network_.embedding.weight, weights)
    with pytest.raises(ValueError, match="embedding_dim=3"):
        RNNClassifier(embedding_dim=3, embedding_weights=weights).fit(tok.transform(texts), labels)
    (tmp_path / "bad.txt").write_text("good 1 2\nbad 1\n")
    with pytest.raises(ValueError, match="line 2: 1 numbers, expected 2"):
        read_word_vectors(tmp_path / "bad.txt", tok)


def test_frozen_embedding_gets_no_gradient():
    net = SequenceNetwork("lstm", 3, 4, 2, vocab_size=7, freeze_embedding=True, random_state=0)
    ids = np.array([[1, 2, 2], [3, 4, 5]])
    net.forward(ids, training=True)
    net.backward(np.ones((2, 2), np.float32))
    assert not net.embedding.grad.any() and net.flat_grad.any()
    assert not net.decay_mask[: net.embedding.weight.size].any()


def test_a_text_pipeline_saves_and_loads_pickle_free(tmp_path):
    texts, labels = _paragraphs()
    texts, labels = texts[::5], labels[::5]
    pipe = make_pipeline(
        TextTokenizer(max_tokens=500),
        RNNClassifier(embedding_dim=8, hidden_size=8, max_iter=3, random_state=0),
    ).fit(texts, labels)
    fastrnn.save(pipe, tmp_path / "pipe.npz")
    loaded = fastrnn.load(tmp_path / "pipe.npz")
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    assert loaded[0].vocabulary_ == pipe[0].vocabulary_
    np.testing.assert_array_equal(loaded.predict_proba(texts), pipe.predict_proba(texts))
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(TypeError, match="step 'functiontransformer' is a FunctionTransformer"):
        fastrnn.save(make_pipeline(FunctionTransformer(), pipe[-1]), tmp_path / "x.npz")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_embedding_projection_gives_the_same_predictions(cell, bidirectional, monkeypatch):
    net = SequenceNetwork(
        cell, 6, 5, 3, num_layers=2, bidirectional=bidirectional, vocab_size=9, random_state=0
    )
    rng = np.random.default_rng(5)
    ids, lengths = rng.integers(0, 9, (12, 7)), rng.integers(1, 8, 12)
    monkeypatch.setattr(SequenceNetwork, "_fusion_pays", lambda self, ids, lengths: True)
    fused = net.forward(ids, lengths=lengths)
    monkeypatch.setattr(SequenceNetwork, "_fusion_pays", lambda self, ids, lengths: False)
    np.testing.assert_array_equal(fused, net.forward(ids, lengths=lengths))
    monkeypatch.undo()
    wide = SequenceNetwork(cell, 64, 5, 3, vocab_size=9, random_state=0)
    assert wide._fusion_pays(ids, lengths=np.full(12, 3)) and not net._fusion_pays(ids, None)


def test_the_driver_refuses_projected_input_in_training_or_of_the_wrong_width():
    driver = pytest.importorskip("fastrnn._kernels._driver")
    from fastrnn.nn import LSTM

    w_ih, w_hh, b_ih, b_hh = LSTM(3, 4)._weights(0, 0)
    h0 = np.zeros((2, 4), np.float32)
    xw = np.zeros((5, 2, 16), np.float32)
    with pytest.raises(ValueError, match="for inference"):
        driver.forward("lstm", xw, h0, h0, w_ih, w_hh, b_ih, b_hh, projected=True)
    with pytest.raises(ValueError, match="16 values per row, got 3"):
        driver.forward(
            "lstm",
            xw[:, :, :3].copy(),
            h0,
            h0,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            training=False,
            projected=True,
        )


def test_review_fixes_for_token_models(tmp_path):
    rng = np.random.default_rng(7)
    seqs = [rng.integers(3, 12, rng.integers(2, 7)) for _ in range(30)]
    y = np.array([i % 2 for i in range(30)])
    weights = rng.standard_normal((12, 4)).astype(np.float32)
    weights[0] = 0
    # partial_fit's first call starts from the pretrained vectors too
    clf = RNNClassifier(
        embedding_dim=4,
        embedding_weights=weights,
        freeze_embedding=True,
        hidden_size=4,
        random_state=0,
    )
    clf.partial_fit(seqs, y, classes=[0, 1])
    np.testing.assert_array_equal(clf.network_.embedding.weight, weights)
    # the padding token's row stays zero and untrained
    free = RNNClassifier(embedding_dim=4, hidden_size=4, max_iter=3, random_state=0)
    free.fit([np.array([3, 0, 5])] + seqs[1:], y)
    assert not free.network_.embedding.weight[0].any()
    # warm_start honours a new freeze_embedding
    before = free.network_.embedding.weight.copy()
    free.set_params(warm_start=True, freeze_embedding=True).fit(seqs, y)
    np.testing.assert_array_equal(free.network_.embedding.weight, before)
    # pretrained vectors are kept as a parameter through save and load
    clf.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "m.npz").embedding_weights, weights)


def test_review_fixes_for_the_tokenizer_and_kernels(tmp_path):
    import re

    from fastrnn._kernels import _driver
    from fastrnn.text import read_word_vectors

    with pytest.raises(ValueError, match="2 capturing groups"):
        TextTokenizer(token_pattern=r"(\w)(\w)").fit(["ab cd"])
    with pytest.raises(TypeError, match="must be a string"):
        TextTokenizer(token_pattern=re.compile(r"\w+")).fit(["ab cd"])
    assert len(TextTokenizer(max_tokens=np.int64(5)).fit(["a b c d e f"]).vocabulary_) == 5
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        _driver.reverse_within_lengths(np.zeros(5, np.float32), None)
    assert _driver.reverse_within_lengths(np.zeros((0, 2, 3), np.float32), None).shape == (0, 2, 3)
    np.testing.assert_array_equal(
        _driver.matmul(np.ones((2, 3), np.float32), np.ones(3, np.float32)), [3, 3]
    )
    (tmp_path / "v.txt").write_text("good 3 4\nnew york 1 2\n")  # width from line 1
    tok = TextTokenizer(token_pattern=r"[a-z]+(?: york)?").fit(["new york is good"])
    weights, found = read_word_vectors(tmp_path / "v.txt", tok)
    assert found == 2 and list(weights[tok.token_to_id_["new york"]]) == [1, 2]
