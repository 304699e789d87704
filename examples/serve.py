"""A small HTTP JSON service for a saved model
===========================================

For a model saved with fastrnn's ``save()``. Run it::

    python examples/serve.py model.npz --port 8000

Endpoints (JSON in, JSON out; errors are ``{"error": "..."}`` with a 4xx status):

- ``GET /health``: ``{"status": "ok", "model": <its class>}`` (needs no token).
- ``POST /predict`` with ``{"X": [...]}``: ``{"prediction": [...]}``, what
  ``model.predict(X)`` returns. X is ``[samples][steps][features]`` (a list
  of sequences of different lengths works too); a classifier adds
  ``"probabilities"`` when the body has ``"proba": true``.
- ``POST /sessions``: opens a streaming session, ``{"session": id}``.
- ``POST /sessions/<id>/step`` with ``{"x": [features]}`` (one step) or
  ``{"x": [[features], ...]}`` (several): the predictions after each step,
  as ``model.stream().step``; the recurrent state stays on the server.
- ``DELETE /sessions/<id>``: closes it.

Why the standard library's ``ThreadingHTTPServer``: it needs nothing beyond
Python, and it runs each connection in its own thread, which is what a
fastrnn model wants. ``predict`` is thread-safe and its kernels release the
GIL, so requests run in parallel; each session is a stream with its own
state, stepped under its own lock. An ASGI stack (Starlette, uvicorn) would
hand these same blocking calls to a thread pool.

Limits that keep a bad client from hurting the others: a body larger than
``--max-bytes`` is refused (413), and so is input that pads to more than
``--max-steps`` samples x steps; a client that stalls mid-request times out
(408), and one that trickles a request is cut off once ``--deadline``
seconds have passed since it began; at most ``--max-sessions`` sessions are
open at once (503), and a session idle for ``--session-ttl`` seconds is
closed. Sessions share the model's weights: each holds only its state and
step buffers, ``(2 L + 9) H + n_outputs`` numbers for an LSTM of L layers of
H units (6.7 KB at H = 128, L = 2, float32; 8.3 KB measured with its Python
objects, against 1.6 MB when each session copied the model), so the session
cap bounds their memory. With ``--token`` (or ``FASTRNN_SERVE_TOKEN``) every endpoint but
``/health`` wants ``Authorization: Bearer <token>`` (401 otherwise). Errors
go to the ``fastrnn.serve`` logger (stderr), requests too with
``--verbose``. Connections (a thread each) are not capped, and there is no
TLS or rate limit: on an open network, put a reverse proxy in front of it.
This is an example of serving a fastrnn model, not a hardened server; to
deploy one, the same calls fit an ASGI stack (Starlette with uvicorn), which
would hand them to a thread pool.

``--engine torch`` serves the same model's weights through PyTorch (its
``to_torch()`` layer and a ``torch.nn.Linear`` head), for the side-by-side
load benchmark in ``bench/serve_load.py``.
"""

import argparse
import hmac
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

import fastrnn

MAX_BYTES = 1 << 20
MAX_STEPS = 200_000  # samples x padded steps of one request: ragged X pads to its longest
MAX_SESSIONS = 1000
SESSION_TTL = 900.0  # idle seconds after which a session may be closed for a new one
DRAIN_FACTOR = 8  # an oversized body up to this many times --max-bytes is read and dropped
_STEP = re.compile(r"^/sessions/([0-9a-f]{32})/step$")
_SESSION = re.compile(r"^/sessions/([0-9a-f]{32})$")
DEADLINE = 60.0  # seconds a whole request (its line, headers and body) may take to arrive
LOG = logging.getLogger("fastrnn.serve")


class RequestError(Exception):
    """A request the service refuses, with its HTTP status and a message for the client."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def _numbers(value, name):
    """``value`` as a float64 array; JSON strings and booleans are not numbers."""
    try:
        a = np.asarray(value)
    except ValueError:  # nested lists of different lengths
        raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} is not rectangular") from None
    if a.dtype.kind not in "iuf":
        raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} must hold numbers only")
    return a.astype(np.float64)


def _as_sequences(value, name, max_steps):
    """JSON ``value`` as an array of sequences, or a list of them when ragged.

    Refuses (413) input that pads to more than ``max_steps`` samples x steps:
    a few long sequences among many short ones would otherwise make a small
    body cost gigabytes.
    """
    if not isinstance(value, list) or not value:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{name} must be a non-empty list")
    lengths = [len(v) if isinstance(v, list) else 1 for v in value]
    if len(value) * max(lengths) > max_steps:
        raise RequestError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{name} pads to {len(value)} x {max(lengths)} steps; this service takes at most "
            f"{max_steps}",
        )
    if len(set(lengths)) == 1:
        return _numbers(value, name)
    return [_numbers(seq, f"{name}[{i}]") for i, seq in enumerate(value)]


def _jsonable(prediction):
    if isinstance(prediction, list):  # ragged sequence output: one array per sample
        return [np.asarray(p).tolist() for p in prediction]
    return np.asarray(prediction).tolist()


class Sessions:
    """Open streams by id; each is stepped under its own lock (a stream serves one thread).

    At most ``limit`` are open; one idle for more than ``ttl`` seconds is
    closed. Every session is a fork of one stream made at start: the
    model's weights are shared, each session holds its state.
    """

    def __init__(self, model, limit, ttl=SESSION_TTL):
        self._model, self._limit, self._ttl = model, limit, ttl
        self._lock = threading.Lock()
        self._open = {}  # id -> [stream, its lock, last use (monotonic seconds)]
        self._template = None
        self._swept = time.monotonic()

    def _new_stream(self):
        if self._template is None:
            self._template = self._model.stream(batch_size=1)
        fork = getattr(self._template, "fork", None)
        return fork() if fork is not None else self._model.stream(batch_size=1)

    def _sweep(self, now, force=False):
        """Close the sessions idle for longer than the ttl (at most once a second)."""
        if force or now - self._swept >= 1.0:
            self._swept = now
            for sid in [sid for sid, entry in self._open.items() if entry[2] < now - self._ttl]:
                del self._open[sid]

    def open(self):
        with self._lock:
            self._sweep(time.monotonic(), force=len(self._open) >= self._limit)
            if len(self._open) >= self._limit:
                raise RequestError(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"{self._limit} sessions are open; close one (DELETE /sessions/<id>)",
                )
            sid = uuid.uuid4().hex
            self._open[sid] = [self._new_stream(), threading.Lock(), time.monotonic()]
        return sid

    def step(self, sid, x):
        entry = self._get(sid)
        with entry[1]:
            entry[2] = time.monotonic()
            return entry[0].step(x)

    def close(self, sid):
        with self._lock:
            if self._open.pop(sid, None) is None:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no open session {sid}")

    def _get(self, sid):
        with self._lock:
            self._sweep(time.monotonic())
            found = self._open.get(sid)
            if found is not None and found[2] < time.monotonic() - self._ttl:
                del self._open[sid]
                found = None
        if found is None:
            raise RequestError(
                HTTPStatus.NOT_FOUND, f"no open session {sid} (closed, or idle too long)"
            )
        return found


class App:
    """The service's logic, apart from HTTP: route a request to the model.

    Parameters
    ----------
    model : fitted RNNRegressor or RNNClassifier (or an object with the
        same ``predict``, ``stream`` and, for a classifier, ``predict_proba``)
    max_sessions : int
    max_steps : int
        Largest samples x padded steps of one request.
    session_ttl : float
        Idle seconds after which a session may be closed for a new one.
    """

    def __init__(
        self,
        model,
        max_sessions=MAX_SESSIONS,
        max_steps=MAX_STEPS,
        session_ttl=SESSION_TTL,
        token=None,
    ):
        self.model, self.max_steps, self.token = model, max_steps, token
        self.sessions = Sessions(model, max_sessions, session_ttl)

    def handle(self, method, path, body, authorization=None):
        """``(status, payload)`` for one request; ``body`` is the parsed JSON or None,
        ``authorization`` the request's Authorization header."""
        if path == "/health" and method == "GET":  # says nothing of the model's parameters
            return HTTPStatus.OK, {"status": "ok", "model": type(self.model).__name__}
        if self.token is not None:
            given = (authorization or "").encode()
            if not hmac.compare_digest(given, f"Bearer {self.token}".encode()):
                raise RequestError(HTTPStatus.UNAUTHORIZED, "a bearer token is needed")
        if path == "/predict" and method == "POST":
            return HTTPStatus.OK, self.predict(_field(body, "X"), _flag(body, "proba"))
        if path == "/sessions" and method == "POST":
            return HTTPStatus.CREATED, {"session": self.sessions.open()}
        match = _STEP.match(path)
        if match and method == "POST":
            return HTTPStatus.OK, self.step(match.group(1), _field(body, "x"))
        match = _SESSION.match(path)
        if match and method == "DELETE":
            self.sessions.close(match.group(1))
            return HTTPStatus.OK, {"closed": match.group(1)}
        if path in ("/health", "/predict", "/sessions") or match or _STEP.match(path):
            raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not served at {path}")
        raise RequestError(HTTPStatus.NOT_FOUND, f"no endpoint {path}")

    def predict(self, X, proba):
        X = _as_sequences(X, "X", self.max_steps)
        try:
            out = {"prediction": _jsonable(self.model.predict(X))}
            if proba:
                if not hasattr(self.model, "predict_proba"):
                    raise RequestError(HTTPStatus.BAD_REQUEST, "proba is for classifiers")
                out["probabilities"] = _jsonable(self.model.predict_proba(X))
        except (ValueError, TypeError) as exc:  # the model's own checks: shapes, NaN, ...
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
        return out

    def step(self, sid, x):
        x = _as_sequences(x, "x", self.max_steps)
        if isinstance(x, list) or x.ndim not in (1, 2):
            raise RequestError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "x must be one step [features] or several [[features], ...]",
            )
        try:  # always [1 session, k steps, features]: one prediction per step
            out = self.sessions.step(sid, x.reshape(1, -1, x.shape[-1]))[0]
        except (ValueError, TypeError) as exc:
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
        return {"prediction": _jsonable(out[0] if x.ndim == 1 else out)}


def _field(body, name):
    if not isinstance(body, dict) or name not in body:
        raise RequestError(HTTPStatus.BAD_REQUEST, f'the body must be a JSON object with "{name}"')
    return body[name]


def _flag(body, name):
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise RequestError(HTTPStatus.BAD_REQUEST, f'"{name}" must be true or false')
    return value


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; every answer is JSON with a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = "fastrnn-serve"
    # One write per answer, sent at once: headers and body in separate
    # segments would meet the client's delayed ACK (tens of milliseconds).
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def handle_one_request(self):
        # The whole request must arrive within the deadline: a per-read
        # timeout alone lets a client trickle a byte at a time for ever.
        self.server.watchdog.arm(self, self.connection)
        try:
            super().handle_one_request()
        except OSError:  # the client left, or the watchdog cut it off: nothing to answer
            self.close_connection = True
        finally:
            self.server.watchdog.disarm(self)

    def finish(self):
        try:
            super().finish()
        except OSError:  # flushing to a connection that is gone
            pass

    def _dispatch(self, method):
        try:
            body = self._read_body(required=method == "POST")
            self.server.watchdog.disarm(self)  # in: the model's time is not the client's
            status, payload = self.server.app.handle(
                method, self.path, body, self.headers.get("Authorization")
            )
        except RequestError as exc:
            status, payload = exc.status, {"error": exc.message}
        except Exception:  # a bug: log it, say so, keep serving
            LOG.exception("internal error on %s %s", method, self.path)
            status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client left, or the watchdog cut it off
            self.close_connection = True

    def _read_body(self, required):
        """The parsed JSON body, or None without one.

        A declared body is read whatever the method, so that the next request
        on a kept-alive connection starts where it should.
        """
        length = self.headers.get("Content-Length")
        if length is None and not required:
            return None
        if length is None or not (length.isascii() and length.isdecimal()):
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length")
        length, limit = int(length), self.server.max_bytes
        if length > limit:
            # Read and drop a moderately large body, so that the client reads
            # the answer rather than a reset; past that, hang up.
            if length <= DRAIN_FACTOR * limit:
                self._read(length)
            else:
                self.close_connection = True
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body has {length} bytes; this service takes at most {limit}",
            )
        raw = self._read(length)
        if not raw:  # e.g. POST /sessions
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:  # not JSON, not UTF-8, an integer of too many digits
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {exc}"
            ) from exc
        except RecursionError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body nests too deeply") from None

    def _read(self, length):
        try:
            raw = self.rfile.read(length)
        except OSError:  # the client stalled past the timeout
            raw = b""
        if len(raw) < length:
            self.close_connection = True
            raise RequestError(HTTPStatus.REQUEST_TIMEOUT, "the body ended early or stalled")
        return raw

    def log_message(self, format, *args):  # every request, with --verbose
        if self.server.verbose:
            LOG.info("%s %s", self.address_string(), format % args)

    def log_error(self, format, *args):  # bad request lines, timeouts: always
        LOG.warning("%s %s", self.address_string(), format % args)


class Watchdog:
    """Cuts off connections whose request has not arrived within ``deadline`` seconds.

    One thread for the server, checking a few times a second, rather than a
    timer per request (a thread each).
    """

    def __init__(self, deadline):
        self.deadline = deadline
        self._lock = threading.Lock()
        self._due = {}  # handler -> (monotonic time, its socket)
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="serve-watchdog").start()

    def arm(self, key, sock):
        with self._lock:
            self._due[key] = (time.monotonic() + self.deadline, sock)

    def disarm(self, key):
        with self._lock:
            self._due.pop(key, None)

    def stop(self):
        self._stop.set()

    def _run(self):
        while not self._stop.wait(min(0.25, self.deadline / 4)):
            now = time.monotonic()
            with self._lock:
                late = [key for key, (due, _) in self._due.items() if due < now]
                socks = [self._due.pop(key)[1] for key in late]
            for sock in socks:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Server(ThreadingHTTPServer):
    # The listen backlog: the default 5 reset 92-169 of 3,200 connections of
    # 64 clients arriving at once; 128 none.
    request_queue_size = 128
    daemon_threads = True

    def server_close(self):
        super().server_close()
        self.watchdog.stop()

    def handle_error(self, request, client_address):  # to the log, not a bare traceback
        LOG.exception("error serving %s", client_address[0])


def make_server(
    model,
    host="127.0.0.1",
    port=8000,
    max_bytes=MAX_BYTES,
    max_sessions=MAX_SESSIONS,
    max_steps=MAX_STEPS,
    session_ttl=SESSION_TTL,
    timeout=30.0,
    deadline=DEADLINE,
    token=None,
    verbose=False,
):
    """A threading HTTP server serving ``model``; call ``serve_forever()`` on it.

    ``port=0`` picks a free port (``server.server_address`` tells which).
    ``timeout``: seconds a stalled client may hold its connection's thread;
    ``deadline``: seconds a whole request may take to arrive; ``token``: the
    bearer token every endpoint but ``/health`` wants (None: none).
    """
    handler = type("Handler", (Handler,), {"timeout": timeout})
    server = Server((host, port), handler)
    server.watchdog = Watchdog(deadline)
    server.app = App(model, max_sessions, max_steps, session_ttl, token)
    server.max_bytes, server.verbose = max_bytes, verbose
    return server


class TorchModel:
    """The same fitted model run by PyTorch: ``predict`` and ``stream`` like fastrnn's.

    For comparing the service's speed on one model (regressors, and
    classifiers' labels); a unidirectional model with ``output="last"``.
    """

    def __init__(self, estimator):
        import torch

        self.torch, self.estimator = torch, estimator
        net = estimator.network_
        self.rnn = net.rnn.to_torch().eval()
        self.head = torch.nn.Linear(
            net.head_in_features, net.n_outputs, dtype=self.rnn.weight_hh_l0.dtype
        )
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(net.weight))
            self.head.bias.copy_(torch.from_numpy(net.bias))

    def __repr__(self):
        return f"TorchModel({self.estimator!r})"

    def _finish(self, logits):
        est, out = self.estimator, logits.numpy()
        if hasattr(est, "classes_"):
            return est.classes_[out.argmax(axis=-1)]
        y = out.astype(np.float64) * est._y_scale + est._y_mean
        return y[..., 0] if est._one_target() else y

    def predict(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or X.shape[2] != self.rnn.input_size or not np.isfinite(X).all():
            raise ValueError(f"X must be finite, [samples, steps, {self.rnn.input_size}]")
        with self.torch.no_grad():
            _, h = self.rnn(self.torch.from_numpy(X))
            h = h[0] if isinstance(h, tuple) else h
            return self._finish(self.head(h[-1]))

    def stream(self, batch_size=1):
        return _TorchStream(self, batch_size)


class _TorchStream:
    def __init__(self, model, batch_size):
        self.model, self.state = model, None

    def step(self, x):
        """``x [1, k, features]``: the prediction after each of the k steps."""
        torch, model = self.model.torch, self.model
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != model.rnn.input_size or not np.isfinite(x).all():
            raise ValueError(f"x must be finite, [1, steps, {model.rnn.input_size}]")
        with torch.no_grad():
            out, state = model.rnn(torch.from_numpy(x), self.state)
            self.state = state
            return model._finish(model.head(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("model", help="a model file written by save()")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    parser.add_argument("--max-sessions", type=int, default=MAX_SESSIONS)
    parser.add_argument(
        "--max-steps", type=int, default=MAX_STEPS, help="largest samples x padded steps"
    )
    parser.add_argument(
        "--session-ttl",
        type=float,
        default=SESSION_TTL,
        help="idle seconds before a session may go",
    )
    parser.add_argument("--engine", choices=["fastrnn", "torch"], default="fastrnn")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--deadline",
        type=float,
        default=DEADLINE,
        help="seconds a whole request may take to arrive",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("FASTRNN_SERVE_TOKEN"),
        help="require 'Authorization: Bearer TOKEN' (default: $FASTRNN_SERVE_TOKEN, else none)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    model = fastrnn.load(args.model)
    if args.engine == "torch":
        model = TorchModel(model)
    server = make_server(
        model,
        args.host,
        args.port,
        max_bytes=args.max_bytes,
        max_sessions=args.max_sessions,
        max_steps=args.max_steps,
        session_ttl=args.session_ttl,
        deadline=args.deadline,
        token=args.token,
        verbose=args.verbose,
    )
    host, port = server.server_address[:2]
    print(f"serving {args.model} ({args.engine}) on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
