"""Data-parallel fit on Dask (1 and 2 workers) against the plain estimator, one machine.

For each model and batch size the same regressor (LSTM, float32, Adam) runs
the same epochs over the same random data four ways, alternating, and the
median fit time of each is reported, with the set-up (checking and placing
the data) timed apart so that the per-step cost shows:

- ``plain, T threads``: ``RNNRegressor(n_threads=T)`` in this process, for T = 1
  and the CPUs given;
- ``dask 1 worker``: ``DaskRNNRegressor`` on a local cluster of one worker
  process with all the threads (the per-step round trip, no split);
- ``dask N workers``: N worker processes of one thread each, the batch split
  between them (the data is placed evenly before timing).

Where it pays: a step costs one round trip per worker (the weights out, a
gradient back), so distribution needs enough compute per step — big batches
of long sequences, wide layers. The small model shows that cost; the large
one, what two processes do against two threads. Dask's nanny starts workers
with ``MALLOC_TRIM_THRESHOLD_=65536``, which hands freed memory back to the
system at once, so the activation buffers a training step allocates are
fresh pages (page faults) at every step; ``--no-malloc-trim`` starts them
without it, to show that cost::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/dask_fit.py --json out.json
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the fastrnn of this checkout when not installed

# (name, T, D, H, samples, batch sizes, epochs)
MODELS = [
    ("small", 50, 8, 32, 2048, (32, 256), 4),
    ("large", 100, 32, 256, 1024, (64, 256), 1),
]


def _fit_seconds(model, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


def _setup_seconds(model, X, y):
    """Seconds to check and place the data before the first step (shards, for Dask)."""
    start = time.perf_counter()
    data = model._training_data(X, y, None, reset=True, fit=True)
    seconds = time.perf_counter() - start
    if hasattr(data, "close"):
        data.close()
    return seconds


def main(argv=None):
    import dask.array as da
    from distributed import Client, LocalCluster

    from fastrnn import RNNRegressor
    from fastrnn.dask import DaskRNNRegressor

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPUs to use")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="the small model only, one repeat")
    p.add_argument("--json", help="save the results here")
    p.add_argument("--markdown", help="write the table here")
    p.add_argument(
        "--no-malloc-trim",
        action="store_true",
        help="start the workers without the MALLOC_TRIM_THRESHOLD_ that Dask's nanny sets",
    )
    args = p.parse_args(argv)
    if args.no_malloc_trim:
        import dask

        env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
        dask.config.set({"distributed.nanny.pre-spawn-environ": env})
    models = MODELS[:1] if args.quick else MODELS
    repeats = 1 if args.quick else args.repeats
    cluster_kw = dict(processes=True, host="127.0.0.1", dashboard_address=":0")
    clusters = {
        "dask 1 worker": LocalCluster(n_workers=1, threads_per_worker=args.threads, **cluster_kw),
        f"dask {args.threads} workers": LocalCluster(
            n_workers=args.threads, threads_per_worker=1, **cluster_kw
        ),
    }
    clients = {name: Client(c, set_as_default=False) for name, c in clusters.items()}
    rows = []
    try:
        for name, T, D, H, n, batches, epochs in models:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((n, T, D)).astype(np.float32)
            y = X[:, -10:, 0].sum(axis=1)
            per_worker = {}
            for engine, client in clients.items():
                workers = sorted(client.scheduler_info()["workers"])
                step = -(-n // len(workers))  # one chunk per worker, placed by hand
                parts = [
                    da.from_delayed(
                        client.scatter(X[i : i + step], workers=[w]),
                        shape=X[i : i + step].shape,
                        dtype=X.dtype,
                    )
                    for w, i in zip(workers, range(0, n, step))
                ]
                per_worker[engine] = (client, da.concatenate(parts), da.from_array(y, chunks=step))
            for batch in batches:
                common = dict(
                    hidden_size=H,
                    batch_size=batch,
                    max_iter=epochs,
                    tol=0,
                    n_iter_no_change=epochs + 1,
                    alpha=0,
                    random_state=0,
                )
                engines = {  # name -> (estimator class, its parameters, X, y)
                    "plain, 1 thread": (RNNRegressor, {**common, "n_threads": 1}, X, y),
                    f"plain, {args.threads} threads": (
                        RNNRegressor,
                        {**common, "n_threads": args.threads},
                        X,
                        y,
                    ),
                }
                for engine, (client, Xd, yd) in per_worker.items():
                    engines[engine] = (DaskRNNRegressor, {**common, "client": client}, Xd, yd)
                times = {e: [] for e in engines}
                setups = {e: [] for e in engines}
                for _ in range(repeats):
                    for engine, (cls, params, Xe, ye) in engines.items():
                        setups[engine].append(_setup_seconds(cls(**params), Xe, ye))
                        times[engine].append(_fit_seconds(cls(**params), Xe, ye))
                steps = epochs * -(-n // batch)
                base = np.median(times[f"plain, {args.threads} threads"])
                for engine, ts in times.items():
                    med = float(np.median(ts))
                    setup = float(np.median(setups[engine]))
                    per_step = 1e3 * (med - setup) / steps
                    rows.append(
                        dict(
                            model=name,
                            T=T,
                            D=D,
                            H=H,
                            samples=n,
                            batch_size=batch,
                            epochs=epochs,
                            engine=engine,
                            median_s=med,
                            setup_s=setup,
                            per_step_ms=per_step,
                            vs_plain=base / med,
                            samples_s=ts,
                        )
                    )
                    print(
                        f"{name:5s} T={T} D={D} H={H} batch {batch:4d}  {engine:18s} "
                        f"{med:7.2f} s (set-up {setup:5.2f})  {per_step:8.2f} ms/step  "
                        f"plain {args.threads} threads / this: {base / med:5.2f}x",
                        flush=True,
                    )
    finally:
        for c in clients.values():
            c.close()
        for c in clusters.values():
            c.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    threads=args.threads,
                    repeats=repeats,
                    malloc_trim=not args.no_malloc_trim,
                    results=rows,
                ),
                f,
                indent=1,
            )
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(_markdown(rows, args.threads, repeats, not args.no_malloc_trim))
    return 0


def _markdown(rows, threads, repeats, malloc_trim=True):
    trim = "Dask's default" if malloc_trim else "unset (`--no-malloc-trim`)"
    lines = [
        f"Workers' MALLOC_TRIM_THRESHOLD_: {trim}.",
        "",
        f"Fit time, median of {repeats} alternating fits; {threads} CPUs "
        "(`bench/dask_fit.py`). Set-up: checking and placing the data (the shards, for "
        "Dask), timed apart; ms per step: (fit - set-up) / steps. Last column: the plain "
        "estimator on all CPUs / this, whole fits.",
        "",
        "| model (T, D, H) | batch | engine | fit s | set-up s | ms per step | plain / this |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} ({r['T']}, {r['D']}, {r['H']}) | {r['batch_size']} | {r['engine']} "
            f"| {r['median_s']:.2f} | {r['setup_s']:.2f} | {r['per_step_ms']:.1f} "
            f"| {r['vs_plain']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
