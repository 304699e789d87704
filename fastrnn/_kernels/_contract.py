"""The contract every kernel backend keeps, as :class:`typing.Protocol` classes.

A backend is a module (``_reference`` is the plainest, the one the tests
trust). :class:`Backend` is what every one has: the two calls the layers
make and five capability flags. Each flag set to True promises the members
of its protocol in :data:`CAPABILITIES`; the layers read the flags, never
probe for members. :func:`check_backend` holds a module to all of it when
the registry first imports it.
"""

import inspect
from typing import Protocol, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """What every backend module has.

    ``cell`` is a name of ``fastrnn._cells.CELLS``; arrays are C-contiguous,
    time-major, of one float dtype (the layers see to it).
    """

    #: It has :class:`PreparesWeights`' members.
    PREPARES_WEIGHTS: bool
    #: Its ``forward`` takes ``projected=`` (:class:`TakesProjectedInput`).
    TAKES_PROJECTED_INPUT: bool
    #: It has ``Stepper`` (:class:`HasStepper`).
    HAS_STEPPER: bool
    #: It has ``infer`` (:class:`InfersStacks`).
    INFERS_STACKS: bool
    #: float32 batches are split over its own thread pool, so BLAS, serving
    #: the rest of a fit, should keep to one thread.
    THREADED_FLOAT32: bool

    def forward(self, cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, training=True):
        """Run one direction of one layer over ``x [T, B, D]``.

        ``h0``/``c0`` ``[B, H]`` (``c0`` None but for LSTM), weights in
        PyTorch's layout, ``lengths [B]`` or None (every row ``T`` steps).
        Returns ``(out [T, B, H], h_n, c_n, cache)``; ``cache`` is what
        :meth:`backward` needs (None without ``training``).
        """

    def backward(self, cache, dout, dh_n, dc_n=None, grads=None):
        """Backpropagate through the ``forward`` that made ``cache``.

        Returns ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)``. With
        ``grads``, four arrays shaped as the parameters (a layer's gradient
        views), the parameter gradients are *added* into them and the last
        four returned as None.
        """


class PreparesWeights(Protocol):
    """Weights laid out once per weight version and reused across calls."""

    def prepare(self, cell, w_ih, w_hh, b_ih, b_hh):
        """The weights in the backend's own layout, for ``forward(..., prepared=)``."""

    def same_bytes(self, a, b):
        """Whether ``a`` and ``b`` hold the same bytes (the layer's cache still holds)."""

    def forward(self, *args, prepared=None, workspace=None, **kwargs):
        """:meth:`Backend.forward`, from ``prepared`` weights; ``workspace`` is a
        dict the layer keeps per direction, where training buffers may live
        between calls."""


class TakesProjectedInput(Protocol):
    """A forward that starts from ``x_t W_ih^T`` (an embedding's rows projected once)."""

    def forward(self, *args, projected=False, **kwargs):
        """:meth:`Backend.forward`; with ``projected``, ``x`` is ``[T, B, G*H]``."""


class HasStepper(Protocol):
    """The compiled step loop behind streams."""

    #: ``Stepper(cell, weights, batch_size, head, affine)``: ``h``, ``c``, ``step(x)``.
    Stepper: type


class InfersStacks(Protocol):
    """Inference of a unidirectional stack over full-length sequences in one call."""

    def infer(self, layers, x, h0, c0, batch_first):
        """``(out, h_n, c_n)`` of the stack of ``prepare``d ``layers``, or None
        where the call does not apply (the layer then takes the general path)."""


#: Each flag of :class:`Backend` and the protocol a True value promises.
CAPABILITIES = {
    "PREPARES_WEIGHTS": PreparesWeights,
    "TAKES_PROJECTED_INPUT": TakesProjectedInput,
    "HAS_STEPPER": HasStepper,
    "INFERS_STACKS": InfersStacks,
}


def _members(protocol):
    """``{name: function or None}``: a protocol's functions and annotated attributes."""
    names = set(vars(protocol).get("__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if inspect.isfunction(v) and n[0] != "_"}
    return {n: vars(protocol).get(n) for n in sorted(names)}


def check_backend(module):
    """Raise ``TypeError`` naming what ``module`` lacks of the contract.

    Every member of :class:`Backend`, the members each True flag promises,
    and for each promised function its parameters: the required ones in
    order, the others by name (a backend may take more keywords; a
    capability's ``forward`` names only the keywords it adds).
    """
    promised = [Backend] + [p for flag, p in CAPABILITIES.items() if getattr(module, flag, False)]
    for protocol in promised:
        for name, spec in _members(protocol).items():
            where = f"{name} ({protocol.__name__} of the backend contract)"
            if not hasattr(module, name):
                raise TypeError(f"backend {module.__name__} lacks {where}")
            if spec is None:
                continue
            named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            params = [p for p in inspect.signature(spec).parameters.values() if p.kind in named]
            params = params[1:] if params and params[0].name == "self" else params
            required = [p.name for p in params if p.default is inspect.Parameter.empty]
            try:
                have = list(inspect.signature(getattr(module, name)).parameters)
            except (TypeError, ValueError):  # a builtin without a signature: not checkable
                continue
            if have[: len(required)] != required or not {p.name for p in params} <= set(have):
                wanted = [p.name for p in params]
                raise TypeError(
                    f"backend {module.__name__}.{name} takes {have}; {where} says {wanted}"
                )
