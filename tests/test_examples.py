"""The scripts in examples/ run as a reader would run them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sentiment_example(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sentiment.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("fitted on 32 reviews")
    assert [line.split()[0] for line in lines[1:5]] == [
        "positive",
        "negative",
        "positive",
        "negative",
    ]
    assert (tmp_path / "sentiment.npz").exists()
