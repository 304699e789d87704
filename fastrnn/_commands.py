"""The ``fastrnn fit``, ``predict``, ``generate`` and ``info`` subcommands.

Each ``*_main(argv, prog)`` parses its own options and returns an exit code:
0 on success, 1 when the data or the model file is unusable (the message
says why, on stderr), 2 for bad options (argparse's usage error).
"""

import argparse
import contextlib
import csv
import io
import os
import shutil
import sys
import tempfile

import numpy as np

from fastrnn._cells import ESTIMATOR_CELLS
from fastrnn._cli import HelpFormatter


class CommandError(Exception):
    """A problem with the user's files or data: printed, exit code 1."""


def _run(fn, args, prog):
    try:
        return fn(args) or 0
    except CommandError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def _open_text(path, newline=None):
    """``path`` opened for reading text (``-``: standard input); utf-8-sig, as
    spreadsheets often start a file with a byte-order mark."""
    if path != "-":
        with open(path, newline=newline, encoding="utf-8-sig") as f:
            yield f
        return
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=newline)
    try:
        yield stdin
    finally:
        stdin.detach()  # leave standard input open


def read_csv(path, columns):
    """The named numeric columns of a CSV file with a header row, as float64 arrays."""
    try:
        with _open_text(path, newline="") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    path = "standard input" if path == "-" else path
    if not rows:
        raise CommandError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise CommandError(f"{path} has no column {missing[0]!r}; its columns are {header}")
    out = {}
    for name in columns:
        j = header.index(name)
        values = []
        for i, row in enumerate(rows[1:], start=2):  # i: the row's number, blank lines skipped
            try:
                values.append(float(row[j]))
            except (ValueError, IndexError):
                cell = row[j] if j < len(row) else ""
                raise CommandError(
                    f"{path}, line {i}: column {name!r} is {cell!r}, not a number"
                ) from None
        out[name] = np.array(values)
    if len(rows) < 2:
        raise CommandError(f"{path} has a header but no rows")
    return out


def _load(path):
    """The model in ``path`` (``-``: read from standard input)."""
    import fastrnn

    try:
        if path != "-":
            return fastrnn.load(path)
        with tempfile.TemporaryDirectory() as tmp:  # load reads a file: spool stdin to one
            spooled = os.path.join(tmp, "model.npz")
            with open(spooled, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f)
            return fastrnn.load(spooled)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc


def _save(model, path):
    """Save ``model`` at ``path`` (``-``: write the file to standard output)."""
    try:
        if path != "-":
            model.save(path)
            return
        with tempfile.TemporaryDirectory() as tmp:
            spooled = os.path.join(tmp, "model.npz")
            model.save(spooled)
            with open(spooled, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc}") from exc


def _features(text):
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


# -- fit ---------------------------------------------------------------------------------


def fit_main(argv=None, prog="fastrnn fit"):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Fit a model and save it: a forecaster on a CSV series (--target), or a "
        "language model on a text file (--text).",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "data", help="a CSV file with a header row, or a text file with --text (-: standard input)"
    )
    task = p.add_mutually_exclusive_group(required=True)
    task.add_argument("--target", help="the CSV column to forecast")
    task.add_argument("--text", action="store_true", help="fit a language model on the file")
    p.add_argument("--features", help="comma-separated extra CSV columns (exogenous)")
    p.add_argument("--lookback", type=int, default=12, help="forecaster: past steps it reads")
    p.add_argument("--horizon", type=int, default=1, help="forecaster: steps ahead it forecasts")
    p.add_argument(
        "--strategy",
        choices=["mimo", "direct", "recursive"],
        default="mimo",
        help="forecaster: one network for every step ahead, one per step, or one step fed back",
    )
    p.add_argument(
        "--seasonal-period", type=int, help="the season's length in steps (12: monthly data)"
    )
    p.add_argument(
        "--uncertainty",
        choices=["auto", "quantile", "gaussian", "residuals"],
        default="auto",
        help="forecaster: where the interval comes from (auto: a quantile head; residuals "
        "with --strategy recursive)",
    )
    p.add_argument(
        "--tokenizer", choices=["char", "word"], default="char", help="language model: tokens"
    )
    p.add_argument("--cell", choices=ESTIMATOR_CELLS, default="lstm", help="the recurrent cell")
    p.add_argument("--hidden-size", type=int, default=32, help="units of each recurrent layer")
    p.add_argument("--num-layers", type=int, default=1, help="stacked recurrent layers")
    p.add_argument(
        "--max-iter", type=int, default=200, help="epochs at most (early stopping may end sooner)"
    )
    p.add_argument("--learning-rate", type=float, default=0.01, help="Adam's step size")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the shuffling")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="the model file to write (an .npz archive, written at exactly this path; "
        "-: standard output, the messages then go to standard error)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save the training and validation loss curves (needs matplotlib)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    if args.output == "-" and sys.stdout.isatty():
        p.error("-o - writes the model file, binary, to standard output: redirect it to a file")
    for name in ("lookback", "horizon", "hidden_size", "num_layers", "max_iter"):
        if getattr(args, name, 1) is None:
            continue
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.learning_rate <= 0:
        p.error("--learning-rate must be > 0")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            p.error("--plot needs matplotlib (pip install matplotlib)")
    return _run(_fit, args, prog)


def _fit(args):
    import fastrnn

    common = dict(
        cell=args.cell,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        max_iter=args.max_iter,
        learning_rate_init=args.learning_rate,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    if args.text:
        try:
            with _open_text(args.data) as f:
                corpus = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {args.data}: {exc}") from exc
        model = fastrnn.RNNLanguageModel(tokenizer=args.tokenizer, **common)
        fit_args = (corpus,)
    else:
        features = _features(args.features)
        columns = read_csv(args.data, [args.target, *features])
        exog = np.column_stack([columns[c] for c in features]) if features else None
        model = fastrnn.RNNForecaster(
            lookback=args.lookback,
            horizon=args.horizon,
            strategy=args.strategy,
            seasonal_period=args.seasonal_period,
            uncertainty=args.uncertainty,
            estimator=fastrnn.RNNRegressor(early_stopping=True, **common),
        )
        fit_args = (columns[args.target], exog)
    try:
        model.fit(*fit_args)
    except ValueError as exc:  # too short a series, an empty corpus, ...
        raise CommandError(str(exc)) from exc
    output = args.output
    _save(model, output)
    report = sys.stderr if output == "-" else sys.stdout  # stdout holds the model then
    trained = model if args.text else model.estimator_
    curve = trained.loss_curve_
    validation = getattr(model, "validation_loss_curve_", None) or getattr(
        trained, "validation_loss_curve_", []
    )
    where = "standard output" if output == "-" else output
    print(
        f"fitted {type(model).__name__} in {len(curve)} epochs, final loss {curve[-1]:.4g}; "
        f"saved to {where}",
        file=report,
    )
    if args.plot:
        try:
            _plot_loss(curve, validation, args.plot)
        except (OSError, ValueError) as exc:  # no such folder, an unknown image format
            raise CommandError(f"cannot write the plot {args.plot}: {exc}") from exc
        print(f"loss curve saved to {args.plot}", file=report)


def _plot_loss(curve, validation, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(curve) + 1), curve, label="training")
    if validation:
        ax.plot(np.arange(1, len(validation) + 1), validation, label="validation (held out)")
        ax.legend()
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- predict -----------------------------------------------------------------------------


def predict_main(argv=None, prog="fastrnn predict"):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Forecast with a saved forecaster (from the series it was fitted on, or "
        "the recent values in a CSV), or predict rows of a CSV with a saved regressor or "
        "classifier. Prints CSV.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "model", help="a model file written by fastrnn fit or save() (-: standard input)"
    )
    p.add_argument("data", nargs="?", help="a CSV file with a header row (-: standard input)")
    p.add_argument("--target", help="forecaster: the CSV column holding the recent values")
    p.add_argument("--features", help="the CSV's extra columns, as when fitting")
    p.add_argument(
        "--future-features",
        help="recursive forecaster with features: a CSV of the next horizon - 1 steps' features",
    )
    args = p.parse_args(argv)
    if [args.model, args.data, args.future_features].count("-") > 1:
        p.error("only one of the model and the CSV files can come from standard input")
    return _run(_predict, args, prog)


def _predict(args):
    model = _load(args.model)
    name = type(model).__name__
    if name == "RNNLanguageModel":
        raise CommandError(f"{args.model} is a language model: use fastrnn generate")
    features = _features(args.features)
    if name == "RNNForecaster":
        history = exog = future = None
        if args.data:
            if not args.target:
                raise CommandError("with a CSV, --target names the column of recent values")
            columns = read_csv(args.data, [args.target, *features])
            history = columns[args.target]
            exog = np.column_stack([columns[c] for c in features]) if features else None
        if args.future_features:
            if not features:
                raise CommandError("--future-features needs --features: the columns to read")
            cols = read_csv(args.future_features, features)
            future = np.column_stack([cols[c] for c in features])
        try:
            forecast, lower, upper = model.predict(history, exog, future, return_interval=True)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        print("step,forecast,lower,upper")
        for h, row in enumerate(zip(forecast, lower, upper), start=1):
            print(f"{h},{row[0]:.6g},{row[1]:.6g},{row[2]:.6g}")
        return
    if not args.data:
        raise CommandError(f"{name} predicts rows: give a CSV file of them")
    if not features:  # the columns the model was fitted on, by name, when it has them
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            raise CommandError(
                "--features names the CSV columns to predict from, in order (the model was "
                "fitted on an array, whose columns have no names)"
            )
        features = [str(n) for n in names]
    columns = read_csv(args.data, features)
    X = np.column_stack([columns[c] for c in features])
    fitted = getattr(model, "n_features_in_", None)
    if getattr(model, "_fitted_2d", False) and X.shape[1] != fitted:
        # A recurrent model reads any number of steps: a short row would be
        # predicted, wrongly, without a word.
        raise CommandError(
            f"the model was fitted on {fitted} columns (one per step); --features names "
            f"{X.shape[1]}"
        )
    try:
        pred = model.predict(X)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print("prediction")
    for value in np.asarray(pred).reshape(len(X), -1):
        print(",".join(str(v) for v in value))


# -- generate ----------------------------------------------------------------------------


def generate_main(argv=None, prog="fastrnn generate"):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Generate text with a saved language model; prints the prompt and what "
        "follows it.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "model", help="a language model file (fastrnn fit --text, or save(); -: standard input)"
    )
    p.add_argument("--prompt", default="", help="the text to continue (default: from nothing)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate")
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="divides the logits: below 1 surer, above 1 more varied",
    )
    p.add_argument("--top-k", type=int, help="sample from the k likeliest tokens only")
    p.add_argument(
        "--top-p", type=float, help="sample from the likeliest tokens holding this probability"
    )
    p.add_argument("--seed", type=int, help="seeds the sampling (default: a fresh seed each run)")
    args = p.parse_args(argv)
    return _run(_generate, args, prog)


def _generate(args):
    model = _load(args.model)
    if type(model).__name__ != "RNNLanguageModel":
        raise CommandError(
            f"{args.model} is not a language model (it holds {type(model).__name__})"
        )
    try:
        text = model.generate(
            args.prompt,
            args.max_new_tokens,
            args.temperature,
            args.top_k,
            args.top_p,
            random_state=args.seed,
        )
    except (ValueError, TypeError) as exc:
        raise CommandError(str(exc)) from exc
    print(text)


# -- info --------------------------------------------------------------------------------


def info_main(argv=None, prog="fastrnn info"):
    argparse.ArgumentParser(
        prog=prog,
        description="What fastrnn runs on here: its version, which backends work (and why "
        "not), the GEMM, threads and BLAS.",
        formatter_class=HelpFormatter,
    ).parse_args(argv)
    import os
    import platform

    from threadpoolctl import threadpool_info

    import fastrnn
    from fastrnn._kernels import backend_status, backends

    print(
        f"fastrnn {fastrnn.__version__} (Python {platform.python_version()}, "
        f"NumPy {np.__version__}, {platform.machine()})"
    )
    print(f"backends: {', '.join(backends())} (auto picks {backends()[0]})")
    for name, why in backend_status():
        print(f"  {name}: {'available' if why is None else 'unavailable: ' + why}")
    if backends()[0] != "cython":
        print(
            "  the compiled kernels are missing (built where a C compiler was found at "
            "install): reinstall with one for the fast backend"
        )
    if "cython" in backends():
        from fastrnn._kernels import _driver

        print(f"GEMM: {_driver.gemm_provider}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPUs available to this process: {cpus}")
    for pool in threadpool_info():
        print(
            f"{pool['user_api']}: {pool['internal_api']} {pool.get('version') or ''}, "
            f"{pool['num_threads']} threads ({pool['filepath']})"
        )
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "MKL_NUM_THREADS"):
        if var in os.environ:
            print(f"{var}={os.environ[var]}")
    return 0
