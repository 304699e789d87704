"""Every public entry fed what a careless user or an attacker might give it.

Each call either works or raises ``ValueError`` / ``TypeError`` (scikit-learn's
``NotFittedError`` is a ``ValueError``): no other exception, no crash, no hang.
A small budget by default; a long run::

    FASTRNN_FUZZ_EXAMPLES=5000 python -m pytest tests/files/test_fuzz.py
    bash .ci/sanitize tests/files/test_fuzz.py     # the same on the AddressSanitizer build
"""

import io
import os
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastrnn
from fastrnn.nn import GRU, LSTM, RNN, GRUCell, LSTMCell

EXAMPLES = int(os.environ.get("FASTRNN_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
OK = (ValueError, TypeError)

DTYPES = [
    "float32", "float64", "float16", "int8", "int64", "uint16", "bool",
    "complex64", "datetime64[ns]", "timedelta64[s]", "object", "U3",
]  # fmt: skip


@st.composite
def arrays(draw, max_dims=4, max_side=6):
    """Arrays of any listed dtype, 0-4 dimensions (empty ones too), odd values included."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, max_side), max_size=max_dims)))
    n = int(np.prod(shape))
    special = [0.0, -0.0, 1e38, -1e38, 1e-45, np.nan, np.inf, -np.inf]
    values = draw(
        st.lists(st.one_of(st.floats(-10, 10), st.sampled_from(special)), min_size=n, max_size=n)
    )
    raw = np.array(values, dtype=np.float64).reshape(shape)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype.kind in "mM":
            return np.nan_to_num(raw).astype(np.int64).astype(dtype)
        if dtype.kind in "iub":
            return np.nan_to_num(raw, posinf=0, neginf=0).astype(dtype)
        if dtype.kind == "U":
            return raw.astype(str).astype(dtype)
        return raw.astype(dtype)


def _calls_ok(fn, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args, **kwargs)
    except OK:
        pass


LAYERS = [
    LSTM(3, 4, random_state=0),
    GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, random_state=0),
    RNN(3, 4, random_state=0, dtype="float64"),
]


@FUZZ
@given(x=arrays(), layer=st.sampled_from(LAYERS), training=st.booleans(), lengths=arrays(1))
def test_layers(x, layer, training, lengths):
    _calls_ok(layer.forward, x, training=training)
    _calls_ok(layer.forward, x, lengths=lengths)


@FUZZ
@given(x=arrays(3), hx=arrays(3))
def test_layers_with_a_state(x, hx):
    _calls_ok(LAYERS[0].forward, x, hx=(hx, hx))
    _calls_ok(LAYERS[2].forward, x, hx=hx)


@FUZZ
@given(xw=st.lists(arrays(3, 8), max_size=3))
def test_projected_input(xw):
    layer = LAYERS[1]
    if layer.takes_projected_input:
        _calls_ok(layer.forward_projected, xw)


@FUZZ
@given(x=arrays(3), cell=st.sampled_from([LSTMCell(3, 4), GRUCell(3, 4)]))
def test_cells(x, cell):
    _calls_ok(cell.forward, x)


@FUZZ
@given(x=arrays(), state=arrays(3))
def test_streams(x, state):
    stream = LSTM(3, 4, random_state=0).stream(batch_size=2)
    _calls_ok(stream.step, x)
    _calls_ok(setattr, stream, "state", (state, state))
    _calls_ok(stream.step, x)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = fastrnn.RNNRegressor(hidden_size=3, max_iter=1, random_state=0).fit(X, X[:, 0, 0])
    return reg


@FUZZ
@given(X=arrays(), y=arrays(2))
def test_estimators(fitted, X, y):
    _calls_ok(fitted.predict, X)
    _calls_ok(fastrnn.RNNRegressor(hidden_size=2, max_iter=1).fit, X, y)
    _calls_ok(fastrnn.RNNClassifier(hidden_size=2, max_iter=1).fit, X, y)


@FUZZ
@given(data=st.data())
def test_load(fitted, tmp_path_factory, data):
    """Random bytes, and model files with bytes changed, cut or a member replaced."""
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "good.npz"
    fitted.save(good)
    raw = bytearray(good.read_bytes())
    kind = data.draw(st.sampled_from(["bytes", "flip", "cut", "member"]))
    if kind == "bytes":
        raw = bytearray(data.draw(st.binary(max_size=2000)))
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(bytes(raw))) as src, zipfile.ZipFile(buffer, "w") as dst:
            victim = data.draw(st.sampled_from(src.namelist()))
            for name in src.namelist():
                if name != victim:
                    dst.writestr(name, src.read(name))
            member = io.BytesIO()
            np.save(member, data.draw(arrays()), allow_pickle=True)
            dst.writestr(victim, member.getvalue())
        raw = bytearray(buffer.getvalue())
    bad = folder / "bad.npz"
    bad.write_bytes(bytes(raw))
    try:
        model = fastrnn.load(bad)
    except ValueError:
        return
    _calls_ok(model.predict, np.zeros((2, 4, 3)))  # what loads must not crash either


@FUZZ
@given(args=st.lists(st.sampled_from(["--features", "a,b", "--target", "a", "x.csv", "-"]),
                     max_size=5))  # fmt: skip
def test_the_command_line(fitted, tmp_path_factory, args, capsys):
    from fastrnn._cli import main

    folder = tmp_path_factory.mktemp("cli")
    model = folder / "m.npz"
    fitted.save(model)
    (folder / "x.csv").write_text("a,b\n1,2\nnan,x\n")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = main(["predict", str(model), *args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 1, 2, None)
