"""Load run of ``examples/serve.py``: fastrnn beside the same service on PyTorch.

One small model (an LSTM regressor, H=32, fitted here, seeded) is saved and
served twice by the example service on 127.0.0.1, once by fastrnn and once
with ``--engine torch`` (its weights in ``torch.nn.LSTM`` and
``torch.nn.Linear``). Against each, client threads on kept-alive
connections send, for a bounded count and time:

- ``predict``: ``POST /predict`` with one sequence of ``--steps`` steps;
- ``step``: ``POST /sessions/<id>/step`` with one time step, each client
  stepping its own session (the state stays on the server).

It prints requests per second and latency percentiles (ms) per engine and
workload, runs ``--rounds`` alternating rounds so that drift of a shared
machine hits both engines, and can save everything as JSON::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/serve_load.py --json out.json

The clients run in this process (Python threads), so they cost CPU on the
same machine: the figures are for the whole loop, client included.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fastrnn of this checkout when not installed

import fastrnn  # noqa: E402

ENGINES = ("fastrnn", "torch")
WORKLOADS = ("predict", "step")


def fit_model(path, steps, features, seed=0):
    """Fit and save the served model: LSTM, H=32, on noisy sine windows."""
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 100, size=(512, 1)) + np.arange(steps + 1)
    series = np.sin(0.3 * t)[..., None] + 0.05 * rng.standard_normal((512, steps + 1, 1))
    X = np.repeat(series[:, :steps], features, axis=2)
    y = series[:, steps, 0]
    model = fastrnn.RNNRegressor(hidden_size=32, max_iter=20, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    model.save(path)
    return X


class Server:
    """``examples/serve.py`` in a child process, on a free loopback port."""

    def __init__(self, model_path, engine):
        cmd = [
            sys.executable,
            str(ROOT / "examples" / "serve.py"),
            str(model_path),
            "--port",
            "0",
            "--engine",
            engine,
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        found = re.search(r":(\d+)$", line.strip())
        if not found:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"the {engine} service did not start: {line!r}")
        self.port = int(found.group(1))

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _post(conn, path, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{path}: {response.status} {data[:200]!r}")
    return json.loads(data)


def load(port, workload, X, clients, count, seconds):
    """Send about ``count`` requests from ``clients`` threads (stopping at ``seconds``).

    Returns
    -------
    dict
        ``requests``, ``seconds``, ``rps`` and latency percentiles in ms.
    """
    per_client = max(1, count // clients)
    latencies = [[] for _ in range(clients)]
    errors = []
    start = threading.Barrier(clients + 1)

    def client(i):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if workload == "predict":
                path = "/predict"
                bodies = [json.dumps({"X": X[i : i + 1].tolist()}).encode()]
            else:
                path = f"/sessions/{_post(conn, '/sessions', b'')['session']}/step"
                bodies = [json.dumps({"x": x.tolist()}).encode() for x in X[i]]
            _post(conn, path, bodies[0])  # settle the connection and the code paths
            start.wait()
            stop, own = time.perf_counter() + seconds, latencies[i]
            for j in range(per_client):
                t0 = time.perf_counter()
                _post(conn, path, bodies[j % len(bodies)])
                own.append(time.perf_counter() - t0)
                if t0 > stop:
                    break
            conn.close()
        except Exception as exc:  # reported below; the barrier must not wait for us
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    elapsed = time.perf_counter() - t0
    ms = np.concatenate([np.asarray(a) for a in latencies]) * 1e3
    return {
        "requests": int(ms.size),
        "seconds": elapsed,
        "rps": ms.size / elapsed,
        **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 90, 99)},
        "max_ms": float(ms.max()),
    }


def run(args):
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        X = fit_model(path, args.steps, args.features)
        for r in range(args.rounds):
            for engine in ENGINES if r % 2 == 0 else ENGINES[::-1]:
                server = Server(path, engine)
                try:
                    for workload in WORKLOADS:
                        stats = load(
                            server.port, workload, X, args.clients, args.count, args.seconds
                        )
                        results.append(
                            {"round": r, "engine": engine, "workload": workload, **stats}
                        )
                        print(
                            f"round {r} {engine:8s} {workload:8s} {stats['rps']:8.0f} req/s",
                            file=sys.stderr,
                            flush=True,
                        )
                finally:
                    server.close()
    return results


def summary(results):
    """Per engine and workload: the median over rounds of every figure."""
    rows = []
    for workload in WORKLOADS:
        base = None
        for engine in ENGINES:
            runs = [r for r in results if r["engine"] == engine and r["workload"] == workload]
            row = {"workload": workload, "engine": engine}
            for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
                row[key] = statistics.median(r[key] for r in runs)
            row["requests"] = sum(r["requests"] for r in runs)
            base = row["rps"] if engine == "torch" else base
            rows.append(row)
        for row in rows[-len(ENGINES) :]:
            row["rps_vs_torch"] = row["rps"] / base
    return rows


def markdown(rows, args):
    lines = [
        f"Service load: LSTM H=32, {args.features} features, predict = one sequence of "
        f"{args.steps} steps, step = one time step of a session; {args.clients} client "
        f"threads, keep-alive, loopback; median of {args.rounds} rounds.",
        "",
        "| workload | engine | req/s | x torch | p50 ms | p90 ms | p99 ms | max ms | requests |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['engine']} | {r['rps']:.0f} | {r['rps_vs_torch']:.2f} | "
            f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
            f"{r['requests']} |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    p.add_argument("--count", type=int, default=2000, help="requests per run (default 2000)")
    p.add_argument("--seconds", type=float, default=20.0, help="time bound per run (default 20)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    p.add_argument("--steps", type=int, default=20, help="steps of a predict sequence")
    p.add_argument("--features", type=int, default=4)
    p.add_argument("--json", type=Path, help="save the rounds and the summary here")
    args = p.parse_args(argv)
    if min(args.clients, args.count, args.rounds, args.steps, args.features) < 1:
        p.error("counts must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    results = run(args)
    rows = summary(results)
    print(markdown(rows, args))
    if args.json:
        args.json.write_text(json.dumps({"rounds": results, "summary": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
