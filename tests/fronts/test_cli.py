"""The command line's fronts: the demo learns, the benchmark checks before it times."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastrnn import _cli, demo


def test_demo_prints_what_it_learned_and_how_fast(capsys):
    pytest.importorskip("statsmodels")
    ours, persistence = demo.main(["--cell", "gru", "--hidden-size", "8", "--max-iter", "5"])
    out = capsys.readouterr().out
    assert "Held-out RMSE" in out and "sequence steps/s" in out
    assert np.isfinite(ours) and persistence > 0


def test_bench_runs_and_checks_against_torch(capsys):
    pytest.importorskip("torch")
    argv = ["--quick", "--threads", "1", "--filter", "lstm 1x1", "--backends", "cython"]
    status = _cli.main(["bench", *argv])
    out = capsys.readouterr().out
    assert status == 0
    assert "ok vs torch" in out and "MISMATCH" not in out


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as exc:
        _cli.main(["frobnicate"])
    assert exc.value.code == 2


def _fastrnn(*args, cwd):
    """Run the command line in a fresh process; return (exit code, stdout, stderr)."""
    # The fastrnn under test, also when it is not installed (a source checkout).
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "fastrnn._cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import pydoc_data.topics

    folder = tmp_path_factory.mktemp("cli")
    t = np.arange(240)
    rows = ["t,sales,temp"] + [f"{i},{10 + np.sin(i / 6):.5f},{np.cos(i / 6):.5f}" for i in t]
    (folder / "series.csv").write_text("\n".join(rows) + "\n")
    (folder / "bad.csv").write_text("sales,temp\n1,2\nthree,4\n")
    # A spreadsheet's export: byte-order mark, CRLF, blank lines.
    excel = "\ufeffsales,temp\r\n" + "".join(f"{10 + np.sin(i / 5):.4f},0\r\n\r\n" for i in t)
    (folder / "excel.csv").write_text(excel, encoding="utf-8")
    topics = pydoc_data.topics.topics
    (folder / "docs.txt").write_text("".join(topics[k] for k in sorted(topics))[:15_000])
    return folder


def test_fit_predict_generate_end_to_end(workdir):
    code, out, err = _fastrnn(
        "fit",
        "series.csv",
        "--target",
        "sales",
        "--features",
        "temp",
        "--lookback",
        "12",
        "--horizon",
        "3",
        "--max-iter",
        "20",
        "-o",
        "forecaster.npz",
        "--quiet",
        cwd=workdir,
    )
    assert code == 0, err
    assert "fitted RNNForecaster" in out and (workdir / "forecaster.npz").exists()
    code, out, err = _fastrnn(
        "predict",
        "forecaster.npz",
        "series.csv",
        "--target",
        "sales",
        "--features",
        "temp",
        cwd=workdir,
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "step,forecast,lower,upper" and len(lines) == 4
    forecast = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert np.all(np.abs(forecast - 10) < 1.5)

    code, out, err = _fastrnn(
        "fit",
        "docs.txt",
        "--text",
        "--max-iter",
        "1",
        "--hidden-size",
        "16",
        "-o",
        "lm.npz",
        "--quiet",
        cwd=workdir,
    )
    assert code == 0, err
    code, out, err = _fastrnn(
        "generate",
        "lm.npz",
        "--prompt",
        "The ",
        "--max-new-tokens",
        "30",
        "--seed",
        "1",
        cwd=workdir,
    )
    assert code == 0, err
    assert out.startswith("The ") and len(out.rstrip("\n")) > 4


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["fit", "series.csv", "--target", "nope", "-o", "x.npz"], 1, "no column 'nope'"),
        (["fit", "bad.csv", "--target", "sales", "-o", "x.npz"], 1, "line 3: column 'sales'"),
        (["fit", "missing.csv", "--target", "a", "-o", "x.npz"], 1, "cannot read missing.csv"),
        (
            ["fit", "series.csv", "--target", "sales", "--lookback", "0", "-o", "x.npz"],
            2,
            "--lookback must be >= 1",
        ),
        (["fit", "series.csv", "-o", "x.npz"], 2, "one of the arguments --target --text"),
        (
            ["fit", "series.csv", "--target", "sales", "--lookback", "500", "-o", "x.npz"],
            1,
            "needs at least",
        ),
        (["predict", "series.csv"], 1, "not a readable fastrnn model file"),
        (["generate", "nowhere.npz"], 1, "nowhere.npz"),
        (
            ["fit", "series.csv", "--target", "sales", "--max-iter", "1", "-o", "no/dir/m.npz"],
            1,
            "cannot write no/dir/m.npz",
        ),
        (
            ["predict", "forecaster.npz", "--future-features", "series.csv"],
            1,
            "--future-features needs --features",
        ),
    ],
)
def test_errors_name_the_problem_and_exit_non_zero(workdir, args, code, message):
    got, out, err = _fastrnn(*args, cwd=workdir)
    assert got == code, (out, err)
    assert message in err
    assert "Traceback" not in err


def test_spreadsheet_csv_and_output_name(workdir):
    code, out, err = _fastrnn(
        "fit",
        "excel.csv",
        "--target",
        "sales",
        "--max-iter",
        "2",
        "-o",
        "excel",
        "--quiet",
        cwd=workdir,
    )
    assert code == 0, err
    # Written at exactly the name given, as save() does; predict reads it back.
    assert "saved to excel\n" in out and (workdir / "excel").exists()
    assert not (workdir / "excel.npz").exists()
    code, out, err = _fastrnn("predict", "excel", cwd=workdir)
    assert code == 0, err


def test_info_and_the_plot(workdir):
    pytest.importorskip("matplotlib")
    code, out, err = _fastrnn("info", cwd=workdir)
    assert code == 0 and "backends:" in out and "fastrnn " in out
    code, out, err = _fastrnn(
        "fit",
        "series.csv",
        "--target",
        "sales",
        "--max-iter",
        "3",
        "-o",
        "p.npz",
        "--plot",
        "loss.png",
        "--quiet",
        cwd=workdir,
    )
    assert code == 0, err
    assert (workdir / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_regressors_rows_read_its_columns_by_name_and_count(workdir):
    import pandas as pd

    import fastrnn

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((40, 4)), columns=["s0", "s1", "s2", "s3"])
    fastrnn.RNNRegressor(hidden_size=4, max_iter=1, tol=None).fit(X, X.sum(axis=1)).save(
        workdir / "named.npz"
    )
    fastrnn.RNNRegressor(hidden_size=4, max_iter=1, tol=None).fit(X.to_numpy(), X.sum(axis=1)).save(
        workdir / "plain.npz"
    )
    rows = ["s0,s1,s2,s3,extra"] + [",".join(map(str, r)) + ",9" for r in X.to_numpy()[:3]]
    (workdir / "rows.csv").write_text("\n".join(rows) + "\n")
    code, out, err = _fastrnn("predict", "named.npz", "rows.csv", cwd=workdir)
    assert code == 0, err  # no --features: the columns it was fitted on, by name
    assert out.splitlines()[0] == "prediction" and len(out.splitlines()) == 4
    code, out, err = _fastrnn(
        "predict", "plain.npz", "rows.csv", "--features", "s0,s1", cwd=workdir
    )
    assert code == 1 and "fitted on 4 columns (one per step); --features names 2" in err
    code, out, err = _fastrnn("predict", "plain.npz", "rows.csv", cwd=workdir)
    assert code == 1 and "--features names the CSV columns" in err


def test_fit_help_shows_every_default(workdir):
    code, out, err = _fastrnn("fit", "--help", cwd=workdir)
    assert code == 0
    for text in ("(default: 12)", "(default: mimo)", "(default: auto)", "(default: 0.01)"):
        assert text in " ".join(out.split()), text


def test_version_and_what_serves(workdir):
    import fastrnn

    code, out, err = _fastrnn("--version", cwd=workdir)
    assert code == 0 and out.strip() == f"fastrnn {fastrnn.__version__}"
    code, out, err = _fastrnn("info", cwd=workdir)
    lines = out.splitlines()
    for name in ("cython", "numba", "numpy"):  # each backend, with why it is missing
        assert any(line.strip().startswith(f"{name}: ") for line in lines), name


def _parsers():
    """Each subcommand's parser, caught when it parses ``--help``."""
    import argparse
    import importlib

    caught = {}
    for name, (module, function, _) in _cli.COMMANDS.items():
        original = argparse.ArgumentParser.parse_known_args

        def catch(parser, *args, _name=name, **kwargs):
            caught[_name] = parser
            raise SystemExit(0)

        argparse.ArgumentParser.parse_known_args = catch
        try:
            getattr(importlib.import_module(module), function)([], prog=f"fastrnn {name}")
        except SystemExit:
            pass
        finally:
            argparse.ArgumentParser.parse_known_args = original
    return caught


def test_every_subcommands_options_have_help_and_show_their_defaults():
    parsers = _parsers()
    assert set(parsers) == set(_cli.COMMANDS)
    for name, parser in parsers.items():
        assert parser.formatter_class is _cli.HelpFormatter, name
        for action in parser._actions:
            assert action.help, f"fastrnn {name}: {action.dest} has no help"
        text = " ".join(parser.format_help().split())
        if name == "demo":
            assert "(default: 200)" in text and "(default: 0)" in text
        assert "(default: None)" not in text, name


def test_standard_input_and_output_stand_for_files(workdir):
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}

    def run(*args, stdin=b""):
        return subprocess.run(
            [sys.executable, "-m", "fastrnn._cli", *args],
            cwd=workdir,
            input=stdin,
            capture_output=True,
            timeout=300,
            env=env,
        )

    csv_bytes = (workdir / "series.csv").read_bytes()
    fit = ["fit", "-", "--target", "sales", "--max-iter", "2", "--quiet", "-o", "-"]
    done = run(*fit, stdin=csv_bytes)  # the series from stdin, the model to stdout
    assert done.returncode == 0, done.stderr
    assert done.stdout[:2] == b"PK" and b"saved to standard output" in done.stderr
    (workdir / "piped.npz").write_bytes(done.stdout)
    from_file = run("predict", "piped.npz")
    from_stdin = run("predict", "-", stdin=done.stdout)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout and from_file.stdout.startswith(b"step,")
    recent = run("predict", "piped.npz", "-", "--target", "sales", stdin=csv_bytes)
    assert recent.returncode == 0 and recent.stdout.startswith(b"step,forecast")
    both = run("predict", "-", "-", "--target", "sales", stdin=csv_bytes)
    assert both.returncode == 2 and b"only one of" in both.stderr


def test_standard_input_is_read_once_and_a_model_never_goes_to_a_terminal(workdir):
    code, out, err = _fastrnn(
        "predict", "m.npz", "-", "--future-features", "-", "--features", "x", cwd=workdir
    )
    assert code == 2 and "only one of" in err
    import pty

    fit = [sys.executable, "-m", "fastrnn._cli", "fit", "series.csv", "--target", "sales"]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    terminal, tty = pty.openpty()  # standard output a terminal
    done = subprocess.run(
        [*fit, "-o", "-"], cwd=workdir, stdout=tty, stderr=subprocess.PIPE, env=env, timeout=300
    )
    os.close(tty)
    os.close(terminal)
    assert done.returncode == 2 and b"redirect it to a file" in done.stderr
