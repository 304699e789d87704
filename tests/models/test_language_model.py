"""RNNLanguageModel: learns Python's own documentation, matches torch, generates text."""

import pydoc_data.topics
from collections import Counter

import numpy as np
import pytest

from fastrnn import RNNLanguageModel, _training
from fastrnn.nn import SequenceNetwork
from fastrnn.text import TextTokenizer
from tests.helpers import copy_network_into_torch

DOCS = "".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
TRAIN, HELD_OUT = DOCS[:60_000], DOCS[-6_000:]


def unigram_cross_entropy(train_tokens, test_tokens):
    """Nats per token of the add-one unigram model fitted on ``train_tokens``."""
    counts = Counter(train_tokens)
    total, n = sum(counts.values()), len(counts) + 1
    return -np.mean([np.log((counts.get(t, 0) + 1) / (total + n)) for t in test_tokens])


@pytest.fixture(scope="module")
def char_model():
    return RNNLanguageModel(
        hidden_size=64, bptt_steps=32, learning_rate_init=0.02, max_iter=4, random_state=0
    ).fit(TRAIN)


def test_character_model_beats_the_unigram_baseline_and_generates(char_model):
    baseline = unigram_cross_entropy(TRAIN, HELD_OUT)
    ce = -char_model.score(HELD_OUT)
    assert ce < 0.6 * baseline, (ce, baseline)  # measured: 1.74 vs 3.23 nats
    assert char_model.perplexity(HELD_OUT) == pytest.approx(np.exp(ce))
    assert char_model.loss_curve_[-1] < char_model.loss_curve_[0]
    text = char_model.generate("The ", max_new_tokens=80, random_state=0, stop_at_eos=False)
    assert text.startswith("The ") and len(text) == 84
    assert set(text) <= set(char_model.vocabulary_) | {"\n"}
    assert char_model.generate("The ", 30, random_state=0) == char_model.generate(
        "The ", 30, random_state=0
    )


def test_word_model_learns_too():
    tok = TextTokenizer(level="word", lowercase=False, max_tokens=400)
    lm = RNNLanguageModel(
        tokenizer="word",
        max_tokens=400,
        hidden_size=48,
        embedding_dim=24,
        bptt_steps=24,
        max_iter=3,
        random_state=0,
    ).fit(TRAIN)
    tok.fit(TRAIN)
    baseline = unigram_cross_entropy(tok.encode(TRAIN), tok.encode(HELD_OUT))
    assert -lm.score(HELD_OUT) < baseline
    words = lm.generate("The object", max_new_tokens=12, random_state=1, stop_at_eos=False)
    assert words.startswith("The object ") and len(words.split()) >= 6


def test_reset_before_gru_language_model_saves_and_streams(tmp_path):
    import fastrnn

    lm = RNNLanguageModel(
        cell="gru", reset_after=False, hidden_size=16, max_iter=1, random_state=0
    ).fit(TRAIN[:3])
    assert lm.network_.rnn.cell == "gru_reset_before"
    lm.save(tmp_path / "lm.npz")
    loaded = fastrnn.load(tmp_path / "lm.npz")
    assert not loaded.reset_after and loaded.network_.rnn.cell == "gru_reset_before"
    np.testing.assert_array_equal(loaded.predict_proba(["The "]), lm.predict_proba(["The "]))
    assert loaded.generate("The ", 10, random_state=0) == lm.generate("The ", 10, random_state=0)


def test_probabilities_scores_and_streams_agree(char_model):
    prompts = ["def ", "class", ""]
    proba = char_model.predict_proba(prompts)
    assert proba.shape == (3, len(char_model.vocabulary_))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    stream = char_model.stream()
    ids = np.concatenate([[2], char_model.tokenizer_.encode("def ")])  # <eos> first
    np.testing.assert_allclose(stream.step(ids[None])[0, -1], proba[0], rtol=1e-5, atol=1e-7)
    # score = mean log-probability of each token given the ones before it
    text = "import os"
    ids = char_model.tokenizer_.encode(text)
    logp = [np.log(char_model.predict_proba(text[:i])[0, ids[i]]) for i in range(len(text))]
    assert char_model.score(text) == pytest.approx(np.mean(logp), rel=1e-5)


def test_sampling_options(char_model):
    greedy = char_model.generate("for ", 20, temperature=0)
    assert char_model.generate("for ", 20, top_k=1, random_state=5) == greedy
    assert char_model.generate("for ", 20, top_p=1e-9, random_state=6) == greedy
    for kwargs, match in [
        ({"temperature": -1}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
    ]:
        with pytest.raises(ValueError, match=match):
            char_model.generate("x", **kwargs)
    with pytest.raises(TypeError, match="prompt must be a string"):
        char_model.generate(3)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (123, TypeError, "string or a list"),
        ([], ValueError, "empty"),
        (["a", 3], TypeError, "strings only"),
        ("", ValueError, "no token"),
    ],
)
def test_bad_corpora_are_refused(X, error, match):
    with pytest.raises(error, match=match):
        RNNLanguageModel(max_iter=1).fit(X)


def test_stream_refuses_bad_ids(char_model):
    stream = char_model.stream(batch_size=2)
    with pytest.raises(ValueError, match="must lie in"):
        stream.step(np.array([0, 10_000]))
    with pytest.raises(ValueError, match=r"\[2\] or \[2, k\]"):
        stream.step(np.array([0, 1, 2]))


def test_forward_and_backward_match_torch():
    torch = pytest.importorskip("torch")
    V, E, H, B, T = 13, 5, 7, 3, 6
    net = SequenceNetwork(
        "lstm",
        E,
        H,
        V,
        num_layers=2,
        output="sequence",
        dtype="float64",
        vocab_size=V,
        random_state=0,
    )
    emb = torch.nn.Embedding(V, E, dtype=torch.float64)
    lstm = torch.nn.LSTM(E, H, num_layers=2, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(H, V, dtype=torch.float64)
    copy_network_into_torch(net, emb, lstm, head)
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    logits_t = head(lstm(emb(torch.from_numpy(ids)))[0])
    loss_t = torch.nn.functional.cross_entropy(
        logits_t.reshape(-1, V), torch.from_numpy(targets).reshape(-1)
    )
    loss_t.backward()

    from fastrnn._losses import cross_entropy

    logits = net.forward(ids, training=True)
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss, dlogits = cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    assert loss == pytest.approx(loss_t.item(), rel=1e-10)
    net.zero_grad()
    net.backward(dlogits.reshape(logits.shape))
    np.testing.assert_allclose(net.embedding.grad, emb.weight.grad.numpy(), rtol=1e-8, atol=1e-12)
    for name, p in lstm.named_parameters():
        np.testing.assert_allclose(net.rnn.grad[name], p.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(net.grad_weight, head.weight.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(net.grad_bias, head.bias.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_carried_state_continues_the_sequence():
    """Two chunks with the state carried give the outputs of the whole sequence (what BPTT uses)."""
    net = SequenceNetwork("gru", 4, 6, 9, output="sequence", vocab_size=9, random_state=0)
    ids = np.random.default_rng(2).integers(0, 9, (2, 10))
    whole = net.forward(ids)
    first, state = net.forward(ids[:, :4], return_state=True)
    second = net.forward(ids[:, 4:], hx=state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip(char_model, tmp_path):
    import fastrnn

    char_model.save(tmp_path / "lm.npz")
    loaded = fastrnn.load(tmp_path / "lm.npz")
    assert loaded.vocabulary_ == char_model.vocabulary_
    assert loaded.loss_curve_ == char_model.loss_curve_
    np.testing.assert_array_equal(
        loaded.predict_proba(["def f"]), char_model.predict_proba(["def f"])
    )
    assert loaded.generate("x = ", 20, random_state=3) == char_model.generate(
        "x = ", 20, random_state=3
    )


def test_top_k_keeps_exactly_k_and_top_p_stops_at_the_boundary():
    from fastrnn._language_model import _sample

    rng = np.random.default_rng(0)
    flat = np.zeros(4)  # four tied tokens
    assert len({_sample(flat, 1.0, 2, None, rng) for _ in range(300)}) == 2
    logits = np.log([0.5, 0.3, 0.2])
    assert {_sample(logits, 1.0, None, 0.8, rng) for _ in range(500)} == {0, 1}


def test_vocabulary_with_unusual_characters_survives_save(tmp_path):
    import fastrnn

    lm = RNNLanguageModel(hidden_size=4, max_iter=1, random_state=0).fit("abc a\x00b <unk>" * 5)
    lm.save(tmp_path / "lm.npz")
    loaded = fastrnn.load(tmp_path / "lm.npz")
    assert loaded.vocabulary_ == lm.vocabulary_ and "\x00" in loaded.vocabulary_
    assert loaded.score("a\x00b") == pytest.approx(lm.score("a\x00b"))


def test_tokenizer_refuses_misuse():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TextTokenizer().encode("x")
    tok = TextTokenizer(level="char").fit("abc")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 6\)"):
        tok.decode([-1])
    assert tok.decode(tok.encode("cab")) == "cab"


def _epochs_that(monkeypatch, fail_at, failure):
    """Make epoch ``fail_at`` (from 1) of RNNLanguageModel return ``failure`` or raise it."""
    calls = {"n": 0}
    real = RNNLanguageModel._epoch

    def epoch(self, *args):
        calls["n"] += 1
        if calls["n"] == fail_at:
            if isinstance(failure, BaseException):
                raise failure
            return failure
        return real(self, *args)

    monkeypatch.setattr(RNNLanguageModel, "_epoch", epoch)


def test_divergence_and_interrupts_are_handled_as_the_estimators_do(monkeypatch):
    # One epoch shell serves every model: the same outcomes, the same messages.
    text = "abcabcabc" * 10
    small = dict(hidden_size=8, embedding_dim=4, max_iter=5, n_iter_no_change=5, random_state=0)
    _epochs_that(monkeypatch, 1, float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite in the first epoch"):
        RNNLanguageModel(**small).fit(text)

    _epochs_that(monkeypatch, 3, float("inf"))
    with pytest.warns(_training.TrainingDivergedWarning) as record:
        model = RNNLanguageModel(**small).fit(text)
    assert record[0].filename == __file__  # the warning points at the caller of fit
    assert model.n_iter_ == 2 and np.isfinite(model.score(text))

    _epochs_that(monkeypatch, 2, KeyboardInterrupt())
    model = RNNLanguageModel(**small)
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(KeyboardInterrupt):
        model.fit(text)
    assert model.n_iter_ == 1 and np.isfinite(model.score(text))  # usable: the best epoch
