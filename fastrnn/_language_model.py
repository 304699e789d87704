"""A recurrent language model: next-token prediction, scoring and text generation.

Tokens (characters or words, :mod:`fastrnn.text`) go through a learned
embedding, the recurrent stack and a linear head whose softmax is the
distribution of the next token. Training is truncated backpropagation through
time over one long stream: all texts joined by ``<eos>``, cut into
``batch_size`` parallel rows, each walked ``bptt_steps`` tokens at a time with
the recurrent state carried from one chunk to the next (and gradients cut
there), as in the classic PTB recipes.
"""

import numbers

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from fastrnn import _constraints as constraints
from fastrnn import _persistence as files
from fastrnn._doc_link import DocLinked
from fastrnn._losses import cross_entropy
from fastrnn._threadpools import limit_threads
from fastrnn._training import (
    Monitor,
    apply_step,
    as_generator,
    progress_bar,
    raise_kept,
    run_epochs,
)
from fastrnn.nn import SequenceNetwork
from fastrnn.optim import make_optimizer
from fastrnn.text import EOS_ID as _EOS_ID
from fastrnn.text import TextTokenizer, as_texts


class RNNLanguageModel(DocLinked, files.SavedModel, BaseEstimator):
    """Character- or word-level recurrent language model.

    Parameters
    ----------
    tokenizer : {"char", "word"}, default="char"
        The tokens: single characters, or words (runs of letters and digits,
        and each punctuation mark on its own), as
        :class:`~fastrnn.text.TextTokenizer`'s ``level``.
    max_tokens : int, optional
        Vocabulary cap (``<pad>``, ``<unk>`` and ``<eos>`` included, so at
        least 4); the rarer tokens map to ``<unk>``. None keeps every token.
    min_frequency : int, default=1
        Tokens seen fewer times in the corpus map to ``<unk>``.
    lowercase : bool, default=False
        Lowercase the texts before splitting them into tokens (and so
        generate lowercase text).
    embedding_dim : int, default=32
        Width of the learned token embedding that feeds the recurrent layers.
    cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}, default="lstm"
        The recurrent cell.
    reset_after : bool, default=True
        GRU only: False applies the reset gate before the recurrent matmul
        (see :class:`fastrnn.nn.GRU`).
    hidden_size : int, default=128
        Units of each recurrent layer.
    num_layers : int, default=1
        Stacked recurrent layers.
    dropout : float, default=0.0
        Dropout between recurrent layers, in training only.
    bptt_steps : int, default=64
        Tokens per truncated-backpropagation chunk: the state is carried
        from one chunk to the next, the gradient is not.
    batch_size : int, default=32
        Parallel rows of the token stream (fewer for a shorter stream), one
        minibatch being a chunk of each.
    max_iter : int, default=10
        Epochs over the stream.
    solver : {"adam", "sgd", "rmsprop"}, default="adam"
        The optimizer (:mod:`fastrnn.optim`; "sgd" without momentum).
    learning_rate_init : float, default=0.01
        The optimizer's learning rate (constant).
    alpha : float, default=0.0
        L2 penalty on the weights (not the biases).
    clip_grad_norm : float or None, default=5.0
        Clip the global gradient norm of each step to this value; None
        disables.
    tol : float or None, default=1e-4
        Improvement of the epoch loss that counts (see
        ``n_iter_no_change``); None runs every one of ``max_iter`` epochs.
    n_iter_no_change : int, default=3
        Stop when the epoch loss has not improved by ``tol`` for this many epochs.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the initial weights and the dropout masks.
    verbose : bool, default=False
        A progress bar over the epochs, with the loss.
    backend : {"auto", "cython", "numba", "numpy"}, default="auto"
        Kernel backend; "auto" is the fastest installed one.
    dtype : {"float32", "float64"}, default="float32"
        The dtype of the weights and the computation.
    n_threads : int, optional
        Threads during fit, scoring and prediction: the kernels' thread pool
        and BLAS's, at most the CPUs this process may use. None leaves both
        as they are.

    Attributes
    ----------
    tokenizer_ : fastrnn.text.TextTokenizer
    vocabulary_ : list of str
    network_ : fastrnn.nn.SequenceNetwork
        Embedding, recurrent layers and the vocabulary-wide head.
    loss_curve_ : list of float
        Mean cross-entropy (nats per token) of each epoch.
    n_iter_ : int

    Examples
    --------
    >>> from fastrnn import RNNLanguageModel
    >>> lm = RNNLanguageModel(hidden_size=32, max_iter=5, random_state=0)
    >>> lm = lm.fit("abcabcabcabc" * 20)
    >>> lm.generate("ab", max_new_tokens=4, temperature=0)
    'abcabc'
    """

    _parameter_constraints = {
        **constraints.NETWORK,
        **constraints.TRAINING,
        "tokenizer": [StrOptions({"char", "word"})],
        "max_tokens": [Interval(numbers.Integral, 4, None, closed="left"), None],
        "min_frequency": [Interval(numbers.Integral, 1, None, closed="left")],
        "lowercase": ["boolean"],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "bptt_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        tokenizer="char",
        max_tokens=None,
        min_frequency=1,
        lowercase=False,
        embedding_dim=32,
        cell="lstm",
        reset_after=True,
        hidden_size=128,
        num_layers=1,
        dropout=0.0,
        bptt_steps=64,
        batch_size=32,
        max_iter=10,
        solver="adam",
        learning_rate_init=0.01,
        alpha=0.0,
        clip_grad_norm=5.0,
        tol=1e-4,
        n_iter_no_change=3,
        random_state=None,
        verbose=False,
        backend="auto",
        dtype="float32",
        n_threads=None,
    ):
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.min_frequency = min_frequency
        self.lowercase = lowercase
        self.embedding_dim = embedding_dim
        self.cell = cell
        self.reset_after = reset_after
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.bptt_steps = bptt_steps
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.alpha = alpha
        self.clip_grad_norm = clip_grad_norm
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend
        self.dtype = dtype
        self.n_threads = n_threads

    # -- fitting ------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the vocabulary and the model from ``X``.

        Parameters
        ----------
        X : str or list of str
            The corpus; texts are joined with ``<eos>`` between them.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        RNNLanguageModel
            The fitted model, ``self``.

        Raises
        ------
        ValueError
            If the corpus holds fewer than 2 tokens.
        """
        texts = as_texts(X)
        tokenizer = self._new_tokenizer().fit(texts)
        stream = self._token_stream(tokenizer, texts)
        if len(stream) < 2:
            raise ValueError("X holds fewer than 2 tokens: nothing to learn from")
        rng = as_generator(self.random_state)
        net = self._init_network(tokenizer.vocab_size, rng)
        optimizer = make_optimizer(self.solver, self.learning_rate_init)
        inputs, targets = self._rows(stream)
        loss_curve = []

        def run_epoch():
            loss = self._epoch(net, inputs, targets, optimizer)
            if not np.isfinite(loss):
                return None, None
            loss_curve.append(loss)
            return loss, {"loss": loss}  # nats per token

        with limit_threads(self.n_threads, net):
            run = run_epochs(
                net,
                optimizer,
                run_epoch,
                self.max_iter,
                monitor=Monitor(self.tol, self.n_iter_no_change),
                progress=progress_bar(self.verbose, self.max_iter, type(self).__name__),
                stacklevel=3,
            )
        self.tokenizer_, self.vocabulary_ = tokenizer, tokenizer.vocabulary_
        self.network_, self.loss_curve_, self.n_iter_ = net, loss_curve, len(loss_curve)
        if run.interrupted is not None:
            raise_kept(run.interrupted)
        return self

    def _new_tokenizer(self):
        return TextTokenizer(
            level=self.tokenizer,
            lowercase=self.lowercase,
            max_tokens=self.max_tokens,
            min_frequency=self.min_frequency,
        )

    def _init_network(self, vocab_size, rng=None):
        """Embedding, recurrent layers and a head over the vocabulary."""
        return SequenceNetwork(
            self.cell,
            self.embedding_dim,
            self.hidden_size,
            vocab_size,
            num_layers=self.num_layers,
            dropout=self.dropout,
            output="sequence",
            dtype=self.dtype,
            backend=self.backend,
            random_state=rng,
            vocab_size=vocab_size,
            reset_after=self.reset_after or self.cell != "gru",
        )

    @staticmethod
    def _token_stream(tokenizer, texts):
        """All texts' ids, each followed by ``<eos>``."""
        parts = []
        for text in texts:
            parts += [tokenizer.encode(text), np.array([_EOS_ID], np.intp)]
        return np.concatenate(parts)

    def _rows(self, stream):
        """``batch_size`` contiguous rows of the stream, inputs and next-token targets."""
        B = min(self.batch_size, len(stream) - 1)
        n = (len(stream) - 1) // B
        return stream[: n * B].reshape(B, n), stream[1 : n * B + 1].reshape(B, n)

    def _epoch(self, net, inputs, targets, optimizer):
        """One pass of truncated BPTT over the rows; the mean loss per token."""
        state, total, count = None, 0.0, 0
        for t in range(0, inputs.shape[1], self.bptt_steps):
            x, y = inputs[:, t : t + self.bptt_steps], targets[:, t : t + self.bptt_steps]
            pred, state = net.forward(
                x, training=True, hx=state, return_state=True, check_input=False
            )  # the tokenizer's ids
            V = pred.shape[-1]
            value, dpred = cross_entropy(pred.reshape(-1, V), y.reshape(-1))
            net.zero_grad()
            dpred = dpred.reshape(pred.shape).astype(net.flat_params.dtype, copy=False)
            net.backward(dpred, check_input=False)
            value = apply_step(net, optimizer, value, y.size, self.alpha, self.clip_grad_norm)
            if not np.isfinite(value):
                return value
            total += value * y.size
            count += y.size
        return total / count

    # -- model files ----------------------------------------------------------

    def _to_file(self):
        check_is_fitted(self, "network_")
        fitted = {
            "n_iter_": files.json_value(self.n_iter_),
            "loss_curve_": files.json_value(self.loss_curve_),
            # In the JSON (not a NumPy string array, which drops trailing NUL characters).
            "vocabulary_": list(self.vocabulary_),
        }
        params = {k: files.json_value(v) for k, v in self.get_params().items()}
        return {"params": params, "fitted": fitted}, {"flat_params": self.network_.flat_params}

    @classmethod
    def _from_file(cls, fields, arrays, trust_patterns):
        est = cls(**fields["params"])
        est._validate_params()
        fitted = fields["fitted"]
        tokenizer = est._new_tokenizer()._set_vocabulary(fitted["vocabulary_"])
        V, flat = tokenizer.vocab_size, arrays["flat_params"]
        files.check_declared_size(est, est.embedding_dim, V, V, flat)
        net = est._init_network(V)
        files.copy_params(net, flat)
        est.n_iter_, est.loss_curve_ = fitted["n_iter_"], fitted["loss_curve_"]
        est.tokenizer_, est.vocabulary_, est.network_ = tokenizer, tokenizer.vocabulary_, net
        return est

    # -- scoring and prediction ---------------------------------------------

    # Texts per forward pass when scoring: bounds the [texts, steps, vocabulary] logits.
    _SCORE_BATCH = 16

    def _encode(self, texts):
        """Each text's ids after ``<eos>`` (how a text starts), padded: ``(ids, lengths)``."""
        encoded = [self.tokenizer_.encode(t) for t in texts]
        lengths = np.array([len(e) + 1 for e in encoded], dtype=np.intp)
        ids = np.full((len(encoded), lengths.max()), _EOS_ID, dtype=np.intp)
        for i, e in enumerate(encoded):
            ids[i, 1 : len(e) + 1] = e
        return ids, lengths

    def predict_proba(self, X):
        """Distribution of the next token after each text.

        Parameters
        ----------
        X : str or list of str
            Prompts ("" is the start of a text).

        Returns
        -------
        ndarray of shape (n_texts, vocab_size)
            The probabilities; columns follow :attr:`vocabulary_`.
        """
        check_is_fitted(self, "network_")
        ids, lengths = self._encode(as_texts(X))
        net = self.network_
        with limit_threads(self.n_threads):  # the head on each text's last step only
            _, state = net.rnn.forward(net.embedding.forward(ids), lengths=lengths)
        h_top = (state[0] if isinstance(state, tuple) else state)[-1]
        logits = h_top.astype(np.float64) @ net.weight.T.astype(np.float64) + net.bias
        return softmax(logits, axis=1)

    def score(self, X, y=None):
        """Return the mean log-likelihood per token of ``X``, in nats (higher is better).

        Each text is scored token by token from its start, every token given
        the ones before it; the mean runs over all tokens of all texts.

        Parameters
        ----------
        X : str or list of str
            The texts to score.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        float
            The mean log-probability of the texts' tokens.

        Raises
        ------
        ValueError
            If the texts hold no tokens.
        """
        check_is_fitted(self, "network_")
        texts = as_texts(X)
        total, count = 0.0, 0
        for start in range(0, len(texts), self._SCORE_BATCH):
            ids, lengths = self._encode(texts[start : start + self._SCORE_BATCH])
            with limit_threads(self.n_threads):
                logits = self.network_.forward(ids, lengths=lengths)
            for i, n in enumerate(lengths - 1):  # text i: tokens ids[i, 1:n+1]
                logp = log_softmax(logits[i, :n].astype(np.float64), axis=1)
                total += float(logp[np.arange(n), ids[i, 1 : n + 1]].sum())
                count += int(n)
        if count == 0:
            raise ValueError("X holds no tokens to score")
        return total / count

    def perplexity(self, X):
        """Return the model's perplexity per token on ``X``: ``exp(-score(X))``.

        Parameters
        ----------
        X : str or list of str
            The texts to score.

        Returns
        -------
        float
            The perplexity (lower is better; 1 is a perfect prediction).
        """
        return float(np.exp(-self.score(X)))

    # -- generation ---------------------------------------------------------

    def stream(self, batch_size=1):
        """Open a stream that feeds tokens and reads next-token probabilities.

        Parameters
        ----------
        batch_size : int, default=1
            Independent token sequences stepped together.

        Returns
        -------
        LanguageModelStream
            ``step(ids)`` feeds one token id per sequence (``[B]``) or several
            (``[B, k]``) and returns the next-token probabilities after each;
            ``reset()`` and ``state`` as :class:`fastrnn.nn.Stream`. It holds
            a copy of the weights.
        """
        check_is_fitted(self, "network_")
        return LanguageModelStream(self, batch_size)

    def generate(
        self,
        prompt="",
        max_new_tokens=100,
        temperature=1.0,
        top_k=None,
        top_p=None,
        random_state=None,
        stop_at_eos=True,
    ):
        """Continue ``prompt`` by sampling one token at a time.

        Parameters
        ----------
        prompt : str, default=""
            The text to continue ("" starts a new text).
        max_new_tokens : int, default=100
            The most tokens generated.
        temperature : float, default=1.0
            Divides the logits; 0 picks the most likely token every time.
        top_k : int, optional
            Sample among the ``top_k`` most likely tokens only.
        top_p : float in (0, 1], optional
            Sample among the fewest most likely tokens whose probabilities add
            up to ``top_p`` (nucleus sampling).
        random_state : int, numpy.random.Generator or None, default=None
            Seeds the sampling.
        stop_at_eos : bool, default=True
            Stop when the model ends the text (samples ``<eos>``).

        Returns
        -------
        str
            ``prompt`` followed by the generated text.
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        if not (isinstance(max_new_tokens, numbers.Integral) and max_new_tokens >= 0):
            raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        if temperature < 0 or not np.isfinite(temperature):
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and not (isinstance(top_k, numbers.Integral) and top_k >= 1):
            raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        rng = np.random.default_rng(random_state)
        stream = self.stream()
        context = np.concatenate([[_EOS_ID], self.tokenizer_.encode(prompt)])
        logits = stream.step_logits(context[None, :])[0, -1]
        new = []
        for _ in range(max_new_tokens):
            token = _sample(logits, temperature, top_k, top_p, rng)
            if token == _EOS_ID and stop_at_eos:
                break
            new.append(token)
            logits = stream.step_logits(np.array([token]))[0]
        tail = self.tokenizer_.decode(new)
        word_gap = self.tokenizer == "word" and prompt[-1:].isalnum() and tail[:1].isalnum()
        return prompt + (" " if word_gap else "") + tail


def _sample(logits, temperature, top_k, top_p, rng):
    """One token id drawn from ``logits`` (float64 [V]) as :meth:`generate` describes."""
    if temperature == 0:
        return int(np.argmax(logits))
    p = softmax(logits / temperature)
    if top_k is not None and top_k < len(p):
        p[np.argpartition(-p, top_k)[top_k:]] = 0  # exactly top_k kept, ties or not
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order]) / p.sum()
        # The fewest tokens reaching top_p; the tolerance keeps rounding from adding one.
        p[order[np.searchsorted(cum, top_p - 1e-12) + 1 :]] = 0
    return int(rng.choice(len(p), p=p / p.sum()))


class LanguageModelStream:
    """A fitted language model stepped token by token, its state carried.

    ``step(ids)`` feeds one token per sequence (``[B]``) or several
    (``[B, k]``) and returns the next-token probabilities after each;
    ``reset()`` and ``state`` as :class:`fastrnn.nn.Stream`.
    """

    def __init__(self, model, batch_size=1):
        from fastrnn.nn import Stream

        net = model.network_
        self._embedding = net.embedding
        self._table = net.embedding.weight.copy()  # the stream's own copy, as its weights
        self._stream = Stream(net.rnn, batch_size, head=(net.weight, net.bias))
        self.batch_size = self._stream.batch_size
        self.vocabulary = model.vocabulary_

    def reset(self):
        self._stream.reset()

    @property
    def state(self):
        return self._stream.state

    @state.setter
    def state(self, value):
        self._stream.state = value

    def step_logits(self, ids):
        """Feed ``ids`` ([B] or [B, k]); return the logits after each, float64."""
        ids = self._embedding.check_ids(ids)
        if ids.ndim not in (1, 2) or ids.shape[0] != self.batch_size:
            raise ValueError(
                f"ids must be [{self.batch_size}] or [{self.batch_size}, k] token ids, "
                f"got shape {ids.shape}"
            )
        x = self._table[ids]  # [B, E] or [B, k, E]
        return self._stream.step(x).astype(np.float64)

    def step(self, ids):
        """Feed ``ids``; return the next-token probabilities after each ([B, V] or [B, k, V])."""
        return softmax(self.step_logits(ids), axis=-1)
