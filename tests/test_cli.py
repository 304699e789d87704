"""The command line's fronts: the demo learns, the benchmark checks before it times."""

import pytest

from fastrnn import _cli, demo


def test_demo_learns_better_than_the_naive_forecast(capsys):
    mse, naive = demo.main(["--epochs", "3", "--hidden-size", "16"])
    assert mse < naive / 2
    assert "Test MSE" in capsys.readouterr().out


def test_bench_runs_and_checks_against_torch(capsys):
    pytest.importorskip("torch")
    status = _cli.main(["bench", "--quick", "--filter", "lstm 1x1", "--backends", "cython"])
    out = capsys.readouterr().out
    assert status == 0
    assert "ok vs torch" in out and "MISMATCH" not in out


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as exc:
        _cli.main(["frobnicate"])
    assert exc.value.code == 2
