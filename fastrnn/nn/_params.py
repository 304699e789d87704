"""Named parameters as views of one flat buffer: what layers and cells share.

A class using :class:`FlatParameters` sets ``_shapes`` (PyTorch name ->
shape, in buffer order), ``flat_params``, ``flat_grad``, ``dtype``, ``cell``,
``hidden_size`` and ``backend``, then calls :meth:`_make_views`. Pickling
keeps only the flat buffers; the views, the backend module and whatever
:attr:`_TRANSIENT` names are rebuilt by ``_make_views`` and ``_reset_transient``.
"""

import numpy as np

from fastrnn import _validation as val
from fastrnn._kernels import GATES, get_backend


class PicklesFlatBuffers:
    """Pickling of an object whose arrays are views of ``flat_params`` / ``flat_grad``.

    The attributes named by :attr:`_TRANSIENT` (the views, and what is cheaper
    to rebuild than to store) are left out and rebuilt by ``_rebuild()`` on
    load, so the views stay views of the buffers instead of coming back as
    copies; unpickled buffers (joblib memory-maps them read-only) are made
    writable, since training writes them in place. Layers, cells, embeddings
    and networks all pickle this way.
    """

    _TRANSIENT = ()

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in self._TRANSIENT:
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.flat_params = np.require(self.flat_params, requirements=["W", "C"])
        self.flat_grad = np.require(self.flat_grad, requirements=["W", "C"])
        self._rebuild()


class FlatParameters(PicklesFlatBuffers):
    """``params`` / ``grad`` views by PyTorch name, ``state_dict``, pickling."""

    _TRANSIENT = ("params", "grad", "_zero_bias", "_kernels", "_prepared")

    def _init_fields(self, cell, input_size, hidden_size, bias, dtype, backend):
        """Check and set what layers and cells both hold; load the backend."""
        self.cell = cell
        self.input_size = val.check_positive_int(input_size, "input_size")
        self.hidden_size = val.check_positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        self.dtype = val.check_dtype(dtype)
        self.backend = backend
        self._reset_transient()

    def _views(self, buffer):
        """Name -> view of ``buffer`` (laid out as :attr:`flat_params`)."""
        views, offset = {}, 0
        for name, shape in self._shapes.items():
            size = int(np.prod(shape))
            views[name] = buffer[offset : offset + size].reshape(shape)
            offset += size
        return views

    def _make_views(self):
        """Rebuild the named views of :attr:`flat_params` and :attr:`flat_grad`."""
        self.params, self.grad = self._views(self.flat_params), self._views(self.flat_grad)
        self._zero_bias = np.zeros(GATES[self.cell] * self.hidden_size, dtype=self.dtype)

    def _reset_transient(self):
        """Set what a fresh or unpickled object holds besides the views (subclasses add)."""
        self._kernels = get_backend(self.backend)
        self._prepared = None

    def _prepared_weights(self):
        """The backend's prepared form of each ``(w_ih, w_hh, b_ih, b_hh)`` of
        :meth:`_weight_groups`.

        Prepared once per weight version: kept with a copy of
        :attr:`flat_params` and rebuilt when the parameters differ from it
        (an optimizer step, ``load_state_dict``, a write into a view), so no
        call transposes or packs weights that did not change. The check reads
        every parameter once per call (``memcmp``), less than the transposes
        it replaces; a stream checks nothing (it keeps its own copy). Built whole and then
        swapped in, so threads sharing the object for inference never see
        half of one. None for a backend that reads the weights as they are.
        """
        if not self._kernels.PREPARES_WEIGHTS:
            return None
        cached = self._prepared
        if cached is None or not self._kernels.same_bytes(cached[0], self.flat_params):
            # Prepared from the snapshot itself, not the live views: a write
            # between the copy and the packing cannot make the two disagree.
            snapshot = self.flat_params.copy()
            groups = self._weight_groups(self._views(snapshot))
            cached = (snapshot, [self._kernels.prepare(self.cell, *w) for w in groups])
            self._prepared = cached
        return cached[1]

    def _grads_of(self, weights):
        """``(w_ih, w_hh, b_ih, b_hh)`` views of :attr:`grad` as a backend's
        ``backward(..., grads=)``: the biases None where there are none (the
        ``_weights`` of such an object hand out a shared zero bias)."""
        return weights if self.bias else (weights[0], weights[1], None, None)

    def _check_state(self, hx, shape, name="hx", values=True):
        """``(h, c)`` of ``shape`` from ``hx`` (or a gradient shaped like it), checked.

        ``c`` is None but for LSTM, whose ``hx`` is a tuple; None gives zeros.
        """
        if hx is None:
            zeros = np.zeros(shape, self.dtype)
            return zeros, (np.zeros(shape, self.dtype) if self.cell == "lstm" else None)
        if self.cell == "lstm":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(
                    f"{name} for an {type(self).__name__} must be a tuple of two arrays (h, c)"
                )
            return (
                val.check_state(hx[0], shape, self.dtype, f"{name}[0]", values),
                val.check_state(hx[1], shape, self.dtype, f"{name}[1]", values),
            )
        return val.check_state(hx, shape, self.dtype, name, values), None

    def named_parameters(self):
        """Return the parameters by their PyTorch names.

        Returns
        -------
        dict of str to ndarray
            Each name (``weight_ih_l0``, ...) mapped to its array: a view into
            :attr:`flat_params`, so writing into it changes the parameter.
        """
        return dict(self.params)

    def zero_grad(self):
        """Set every accumulated gradient to zero."""
        self.flat_grad[:] = 0

    def __getattr__(self, name):
        # weight_ih_l0 etc. as attributes, like torch.nn's modules.
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def state_dict(self):
        """Return copies of the parameters under PyTorch's names.

        Returns
        -------
        dict of str to ndarray
            Each name (``weight_ih_l0``, ...) mapped to a copy of its array, as
            the ``torch.nn`` counterpart's ``state_dict`` names them.
        """
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict):
        """Load parameters saved by :meth:`state_dict` or by the ``torch.nn`` counterpart.

        Every key, shape and value is checked before anything is written, so a
        failed load leaves the object as it was.

        Parameters
        ----------
        state_dict : dict of str to array-like
            Every parameter under its PyTorch name, no other key; the values
            may be NumPy arrays or torch tensors, of this object's shapes, and
            finite. They are converted to this object's dtype.

        Raises
        ------
        KeyError
            If a name is missing or unexpected.
        ValueError
            If a shape differs or a value is not finite.
        """
        missing = [k for k in self.params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self.params]
        what = type(self).__name__
        if missing or unexpected:
            raise KeyError(
                f"state_dict does not match the {what}: missing {missing}, unexpected {unexpected}"
            )
        staged = {}
        for name, target in self.params.items():
            arr = val.as_float_array(state_dict[name], self.dtype, name)
            if arr.shape != target.shape:
                raise ValueError(f"{name} has shape {arr.shape}, the {what} expects {target.shape}")
            val.check_finite(arr, name)
            staged[name] = arr
        for name, arr in staged.items():
            self.params[name][...] = arr

    def _rebuild(self):
        self._reset_transient()
        self._make_views()
