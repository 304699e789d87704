"""The command line's fronts: the demo learns, the benchmark checks before it times."""

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
