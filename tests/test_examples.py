"""The scripts in examples/ run as a reader would run them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script, *args, cwd):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sentiment_example(tmp_path):
    lines = _run("sentiment.py", cwd=tmp_path).splitlines()
    assert lines[0].startswith("fitted on 32 reviews")
    assert [line.split()[0] for line in lines[1:5]] == [
        "positive",
        "negative",
        "positive",
        "negative",
    ]
    assert (tmp_path / "sentiment.npz").exists()


def test_sine_wave_recipe_writes_its_picture(tmp_path):
    out = _run("sine_wave.py", "--epochs", "3", "--png", "s.png", cwd=tmp_path)
    assert "held-out RMSE" in out
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_hand_written_cell_loop_learns():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cell_loop", ROOT / "examples" / "cell_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    first = module.main(["--steps", "1"])
    assert module.main(["--steps", "60"]) < first / 2
