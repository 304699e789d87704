"""examples/serve.py: a real HTTP service on 127.0.0.1, hit from many threads."""

import http.client
import importlib.util
import json
import re
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastrnn

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("serve_example", ROOT / "examples" / "serve.py")
serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 6, 2))


def _fit(est, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A regressor and a classifier, saved and loaded back as the service loads them."""
    folder = tmp_path_factory.mktemp("models")
    reg = _fit(fastrnn.RNNRegressor(hidden_size=8, max_iter=3, random_state=0), X.sum(axis=(1, 2)))
    clf = _fit(
        fastrnn.RNNClassifier(hidden_size=8, max_iter=3, random_state=0),
        np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down"),
    )
    reg.save(folder / "reg.npz")
    clf.save(folder / "clf.npz")
    return fastrnn.load(folder / "reg.npz"), fastrnn.load(folder / "clf.npz"), folder


def _start(model, **kwargs):
    server = serve.make_server(model, port=0, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def service(models):
    server = _start(models[0], max_bytes=64_000, max_sessions=20)
    yield server.server_address[1], models[0]
    server.shutdown()
    server.server_close()


def call(port, method, path, body=None, raw=None, headers=None, conn=None):
    """One request; returns ``(status, parsed JSON)``."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    payload = json.loads(response.read())
    if own:
        conn.close()
    return response.status, payload


def test_concurrent_predictions_equal_direct_predict(service):
    port, model = service
    batches = [X[i % 11 : i % 11 + 1 + i % 6] for i in range(20)]
    expected = [model.predict(b) for b in batches]

    def client(_):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # kept alive
        got = [call(port, "POST", "/predict", {"X": b.tolist()}, conn=conn) for b in batches]
        conn.close()
        return got

    with ThreadPoolExecutor(8) as pool:
        for answers in pool.map(client, range(8)):
            for (status, payload), e in zip(answers, expected):
                assert status == 200
                # JSON carries a float64 exactly: the answers are bitwise predict's.
                np.testing.assert_array_equal(payload["prediction"], e)


def test_classifier_labels_probabilities_and_ragged_input(models):
    clf = models[1]
    server = _start(clf)
    port = server.server_address[1]
    try:
        ragged = [X[0, :3], X[1], X[2, :5]]
        status, payload = call(
            port, "POST", "/predict", {"X": [s.tolist() for s in ragged], "proba": True}
        )
        assert status == 200
        assert payload["prediction"] == clf.predict(ragged).tolist()
        np.testing.assert_array_equal(payload["probabilities"], clf.predict_proba(ragged))
    finally:
        server.shutdown()
        server.server_close()


def test_sessions_stream_step_by_step(service):
    port, model = service
    status, opened = call(port, "POST", "/sessions")
    assert status == 201
    path = f"/sessions/{opened['session']}/step"
    got = [call(port, "POST", path, {"x": X[3, t].tolist()})[1]["prediction"] for t in range(3)]
    status, rest = call(port, "POST", path, {"x": X[3, 3:].tolist()})  # several steps
    assert status == 200 and len(rest["prediction"]) == 3
    prefixes = [model.predict(X[3:4, : t + 1])[0] for t in range(6)]
    np.testing.assert_array_equal(got + rest["prediction"], prefixes)
    assert call(port, "DELETE", f"/sessions/{opened['session']}")[0] == 200
    status, payload = call(port, "POST", path, {"x": X[3, 0].tolist()})
    assert status == 404 and "no open session" in payload["error"]


def test_sessions_in_parallel_keep_their_own_state(service):
    port, model = service

    def session(i):
        sid = call(port, "POST", "/sessions")[1]["session"]
        out = [
            call(port, "POST", f"/sessions/{sid}/step", {"x": X[i, t].tolist()})[1]
            for t in range(6)
        ]
        call(port, "DELETE", f"/sessions/{sid}")
        return [o["prediction"] for o in out]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(session, range(8)))
    expected = model.stream(batch_size=8).step(X[:8])
    np.testing.assert_array_equal(results, expected)


@pytest.mark.parametrize(
    "method, path, kwargs, status, message",
    [
        ("POST", "/predict", {"raw": b"{not json"}, 400, "not valid JSON"),
        ("POST", "/predict", {"body": {"x": [1]}}, 400, 'with "X"'),
        ("POST", "/predict", {"body": [1, 2]}, 400, 'with "X"'),
        ("POST", "/predict", {"body": {"X": []}}, 400, "non-empty list"),
        ("POST", "/predict", {"body": {"X": [[[1, 2, 3]]]}}, 422, "3 features per step"),
        ("POST", "/predict", {"body": {"X": [[[1, "a"]]]}}, 422, "X"),
        ("POST", "/predict", {"raw": b'{"X": [[[1, NaN]]]}'}, 422, "NaN"),
        ("POST", "/predict", {"body": {"X": [[[1, 2]]], "proba": True}}, 400, "for classifiers"),
        ("POST", "/predict", {"body": {"X": [[[1, 2]]], "proba": "yes"}}, 400, "true or false"),
        ("POST", "/predict", {"raw": b"x" * 70_000}, 413, "at most 64000"),
        ("GET", "/predict", {}, 405, "GET is not served"),
        ("GET", "/nowhere", {}, 404, "no endpoint"),
        ("POST", "/sessions/" + "0" * 32 + "/step", {"body": {"x": [1, 2]}}, 404, "no open"),
    ],
)
def test_bad_requests_get_a_4xx_and_the_service_goes_on(
    service, method, path, kwargs, status, message
):
    port, model = service
    got, payload = call(port, method, path, **kwargs)
    assert got == status
    assert message in payload["error"]
    ok, answer = call(port, "POST", "/predict", {"X": X[:2].tolist()})
    assert ok == 200
    np.testing.assert_array_equal(answer["prediction"], model.predict(X[:2]))


def test_wrong_step_shapes_and_missing_length(service):
    port, _ = service
    sid = call(port, "POST", "/sessions")[1]["session"]
    status, payload = call(port, "POST", f"/sessions/{sid}/step", {"x": [[[1, 2]]]})
    assert status == 422 and "one step" in payload["error"]
    status, payload = call(port, "POST", f"/sessions/{sid}/step", {"x": [1, 2, 3]})
    assert status == 422 and "features per step" in payload["error"]
    call(port, "DELETE", f"/sessions/{sid}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/predict")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]


def test_the_session_limit_is_kept(models):
    server = _start(models[0], max_sessions=2)
    port = server.server_address[1]
    try:
        assert [call(port, "POST", "/sessions")[0] for _ in range(2)] == [201, 201]
        status, payload = call(port, "POST", "/sessions")
        assert status == 503 and "2 sessions are open" in payload["error"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("engine", ["fastrnn", "torch"])
def test_the_script_serves_a_saved_model(models, engine):
    if engine == "torch":
        pytest.importorskip("torch")
    path = models[2] / "reg.npz"
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "serve.py"),
        str(path),
        "--port",
        "0",
        "--engine",
        engine,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)$", line.strip()).group(1))
        assert call(port, "GET", "/health")[0] == 200
        status, payload = call(port, "POST", "/predict", {"X": X[:5].tolist()})
        assert status == 200
        np.testing.assert_allclose(payload["prediction"], models[0].predict(X[:5]), rtol=1e-5)
        sid = call(port, "POST", "/sessions")[1]["session"]
        status, payload = call(port, "POST", f"/sessions/{sid}/step", {"x": X[0].tolist()})
        np.testing.assert_allclose(
            payload["prediction"],
            [models[0].predict(X[:1, : t + 1])[0] for t in range(6)],
            rtol=1e-5,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _raw_exchange(port, data, wait=None):
    """Send raw bytes; return what the server answers until it closes or goes quiet."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if wait:
            sock.settimeout(wait)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_protocol_abuse_gets_answers_not_hangs(models):
    server = _start(models[0], timeout=0.5)
    port = server.server_address[1]
    try:
        # A body on DELETE is read, so the next request on the connection works.
        sid = call(port, "POST", "/sessions")[1]["session"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert call(port, "DELETE", f"/sessions/{sid}", raw=b"{}", conn=conn)[0] == 200
        assert call(port, "GET", "/health", conn=conn)[0] == 200
        conn.close()
        # A non-ASCII digit as the length; a stalled body; JSON nested too deep.
        answer = _raw_exchange(
            port,
            "POST /predict HTTP/1.1\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"),
            wait=5,
        )
        assert answer.startswith(b"HTTP/1.1 411")
        answer = _raw_exchange(
            port, b'POST /predict HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"X"', wait=5
        )
        assert answer.startswith(b"HTTP/1.1 408")
        status, payload = call(port, "POST", "/predict", raw=b"[" * 50_000 + b"]" * 50_000)
        assert status == 400 and "nests too deeply" in payload["error"]
        # Strings are not numbers; a small body padding to a huge batch is refused.
        status, payload = call(port, "POST", "/predict", {"X": [[["1", "2"]]]})
        assert status == 422 and "numbers only" in payload["error"]
        ragged = [[[0.0, 0.0]] * 5000] + [[[0.0, 0.0]]] * 100
        status, payload = call(port, "POST", "/predict", {"X": ragged})
        assert status == 413 and "pads to 101 x 5000" in payload["error"]
        assert call(port, "GET", "/health")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_idle_sessions_give_way_to_new_ones(models):
    server = _start(models[0], max_sessions=1, session_ttl=0.3)
    port = server.server_address[1]
    try:
        first = call(port, "POST", "/sessions")[1]["session"]
        time.sleep(0.4)
        status, second = call(port, "POST", "/sessions")
        assert status == 201
        assert call(port, "POST", f"/sessions/{first}/step", {"x": [1, 2]})[0] == 404
        assert call(port, "POST", f"/sessions/{second['session']}/step", {"x": [1, 2]})[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_an_idle_session_expires_below_the_cap(models):
    server = _start(models[0], max_sessions=10, session_ttl=0.3)
    port = server.server_address[1]
    try:
        sid = call(port, "POST", "/sessions")[1]["session"]
        assert call(port, "POST", f"/sessions/{sid}/step", {"x": [1, 2]})[0] == 200
        time.sleep(0.5)
        status, payload = call(port, "POST", f"/sessions/{sid}/step", {"x": [1, 2]})
        assert status == 404 and "idle too long" in payload["error"]
    finally:
        server.shutdown()
        server.server_close()


def test_sessions_share_the_models_weights():
    import tracemalloc

    model = _fit(fastrnn.RNNRegressor(hidden_size=128, max_iter=1, random_state=0), X[:, -1, 0])
    app = serve.App(model, max_sessions=500)
    first = app.sessions.open()  # the template stream is made with the first session
    tracemalloc.start()
    for _ in range(100):
        app.sessions.open()
    per_session = tracemalloc.get_traced_memory()[1] / 100
    tracemalloc.stop()
    assert per_session < model.network_.flat_params.nbytes / 10  # was a model each
    step = np.ones((1, 1, 2))
    sids = list(app.sessions._open)
    assert app.sessions.step(first, step) == app.sessions.step(sids[-1], step)


def test_a_bearer_token_guards_everything_but_health(models):
    server = _start(models[0], token="s3cret")
    port = server.server_address[1]
    try:
        assert call(port, "GET", "/health")[0] == 200
        body = {"X": X[:2].tolist()}
        assert call(port, "POST", "/predict", body)[0] == 401
        wrong = {"Authorization": "Bearer guess"}
        assert call(port, "POST", "/predict", body, headers=wrong)[0] == 401
        right = {"Authorization": "Bearer s3cret"}
        assert call(port, "POST", "/predict", body, headers=right)[0] == 200
        assert call(port, "POST", "/sessions", headers=right)[0] == 201
    finally:
        server.shutdown()
        server.server_close()


def test_a_trickling_client_is_cut_off_at_the_deadline(models, caplog):
    import socket

    caplog.set_level("ERROR", logger="fastrnn.serve")
    server = _start(models[0], deadline=1.0, timeout=30.0)
    port = server.server_address[1]
    try:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(10)
        start = time.monotonic()
        sock.sendall(b"POST /predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        closed = False
        for _ in range(40):  # a byte every 0.2 s: each read well inside the timeout
            try:
                sock.sendall(b"[")
                if sock.recv(4096, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.2)
        assert closed and time.monotonic() - start < 4
        sock.close()
        assert call(port, "GET", "/health")[0] == 200
        assert not caplog.records  # a cut connection is not an error of the server
    finally:
        server.shutdown()
        server.server_close()


def test_odd_bodies_and_bugs_are_answered_and_logged(models, caplog, monkeypatch):
    server = _start(models[0])
    port = server.server_address[1]
    try:
        status, payload = call(port, "POST", "/predict", raw=b'{"X": ' + b"9" * 5000 + b"}")
        assert status == 400 and "not valid JSON" in payload["error"]
        status, payload = call(port, "GET", "/health")
        assert payload == {"status": "ok", "model": "RNNRegressor"}  # no parameters shown

        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(server.app, "predict", broken)
        with caplog.at_level("ERROR", logger="fastrnn.serve"):
            assert call(port, "POST", "/predict", {"X": [[[1, 2]]]})[0] == 500
        assert "internal error on POST /predict" in caplog.text and "a bug" in caplog.text
        assert serve.Server.request_queue_size >= 128
    finally:
        server.shutdown()
        server.server_close()
