"""The README's main job: forecast the yearly sunspot numbers with an RNNRegressor.

Run it with ``fastrnn demo`` (or ``python -m fastrnn.demo``). The data are
the yearly sunspot numbers 1700-2008 that statsmodels ships (no download):
windows of the last ``lookback`` years predict the next year. The model is
fitted on the early years and judged on the last ``--test-years``, against
the persistence forecast (next year = this year), and the demo prints what it
learned and how fast.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastrnn


def load_sunspots():
    """Years and yearly sunspot numbers, 1700-2008, from statsmodels' datasets."""
    try:
        from statsmodels.datasets import sunspots
    except ImportError as exc:
        raise SystemExit(
            "the demo reads the sunspot data that statsmodels ships: "
            "pip install 'fastrnn[examples]'"
        ) from exc
    data = sunspots.load_pandas().data
    return data["YEAR"].to_numpy(int), data["SUNACTIVITY"].to_numpy(float)


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def main(argv=None, prog=None):
    from fastrnn._cli import HelpFormatter

    parser = argparse.ArgumentParser(
        prog=prog, description=(__doc__ or "").partition("\n")[0], formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh"], help="the recurrent cell"
    )
    parser.add_argument("--hidden-size", type=int, default=32, help="units of the recurrent layer")
    parser.add_argument("--lookback", type=int, default=12, help="years each prediction reads")
    parser.add_argument("--test-years", type=int, default=50, help="the last years, held out")
    parser.add_argument(
        "--max-iter", type=int, default=200, help="epochs at most (early stopping may end sooner)"
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "cython", "numba", "numpy"],
        help="the kernels to run on (auto: the fastest installed)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the shuffling")
    args = parser.parse_args(argv)

    years, spots = load_sunspots()
    X, y = fastrnn.make_windows(spots, args.lookback)
    X = X[:, :, 0]  # one column per year, for the Pipeline's StandardScaler
    target_years = years[args.lookback :]
    n_test = args.test_years
    X_train, y_train, X_test, y_test = X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]
    print(f"fastrnn {fastrnn.__version__} (backends {fastrnn.backends()})")
    print(
        f"Yearly sunspot numbers {years[0]}-{years[-1]}: each year predicted from the "
        f"{args.lookback} before it; fit on {target_years[0]}-{target_years[-n_test - 1]}, "
        f"tested on {target_years[-n_test]}-{target_years[-1]}"
    )

    model = make_pipeline(
        StandardScaler(),
        fastrnn.RNNRegressor(
            cell=args.cell,
            hidden_size=args.hidden_size,
            max_iter=args.max_iter,
            early_stopping=True,
            n_iter_no_change=20,
            backend=args.backend,
            random_state=args.seed,
        ),
    )
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    fit_time = time.perf_counter() - tic
    rnn = model[-1]

    tic = time.perf_counter()
    pred = model.predict(X_test)
    predict_time = time.perf_counter() - tic
    ours, persistence = rmse(pred, y_test), rmse(X_test[:, -1], y_test)
    print(
        f"{args.cell.upper()}({args.hidden_size}) trained {rnn.n_iter_} epochs "
        f"(early stopping on the last 10% of the training years) in {fit_time:.2f} s "
        f"({rnn.n_iter_ * len(X_train) * args.lookback / fit_time / 1e3:.0f}k sequence "
        "steps/s, forward + backward)"
    )
    print(
        f"Held-out RMSE {ours:.1f} sunspots against {persistence:.1f} for the persistence "
        f"forecast ({persistence / ours:.2f}x better); predicting {n_test} years took "
        f"{predict_time * 1e3:.1f} ms"
    )
    print("  year  actual  predicted  persistence")
    for i in range(-5, 0):
        print(f"  {target_years[i]}  {y_test[i]:6.1f}  {pred[i]:9.1f}  {X_test[i, -1]:11.1f}")
    return ours, persistence


if __name__ == "__main__":
    main()
