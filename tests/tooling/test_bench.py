"""Checks of the comparison benchmark's own logic (``fastrnn._bench*``), run with ``pytest bench/``.

They guard what makes the benchmark trustworthy rather than its speed: the
ONNX graphs built by hand compute PyTorch's cell (gate orders), a wrong
engine is caught by the check, the outputs redraw from a saved JSON, and the
memory probe runs in its own process.
"""

import argparse
import json

import numpy as np
import pytest

from fastrnn._bench import compare as _bench
from fastrnn._bench.engines import (
    Case,
    check_engines,
    make_inputs,
    parse_shape,
    ragged_lengths,
    torch_engine,
)

SMALL = [
    Case("lstm", 12, 3, 4, 5),
    Case("gru", 12, 3, 4, 5),
    Case("rnn_tanh", 12, 3, 4, 5),
    Case("rnn_relu", 12, 3, 4, 5),
    Case("lstm", 1, 2, 4, 5, kind="step"),
    Case("gru", 1, 2, 4, 5, kind="step"),
    Case("lstm", 15, 4, 4, 5, kind="ragged"),
    Case("gru", 15, 4, 4, 5, kind="ragged"),
]


def test_parse_shape_reads_cell_dims_and_kind():
    assert parse_shape("lstm:100,32,16,64") == Case("lstm", 100, 32, 16, 64)
    assert parse_shape("RNN:5,2,3,4:ragged") == Case("rnn_tanh", 5, 2, 3, 4, kind="ragged")
    for bad in ("lstm", "lstm:1,2,3", "conv:1,2,3,4", "lstm:1,2,3,0", "gru:1,2,3,4:odd"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shape(bad)


def test_threads_list_and_flops():
    assert _bench.parse_threads("1,2,2") == [1, 2]
    case = Case("lstm", 100, 64, 64, 256)
    assert case.flops("inference") == 2 * 100 * 64 * 4 * 256 * (64 + 256)
    assert case.flops("train") == 3 * case.flops("inference")
    ragged = Case("lstm", 100, 32, 16, 64, kind="ragged")
    lengths = ragged_lengths(ragged)
    assert lengths.min() == 10 and lengths.max() == 100 and len(lengths) == 32
    assert ragged.flops("inference") == 2 * lengths.sum() * 4 * 64 * (16 + 64)


@pytest.mark.parametrize("case", SMALL, ids=lambda c: c.name)
def test_hand_built_onnx_graph_matches_torch(case):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from fastrnn._bench.onnx import build_graph, ort_engine

    inputs = make_inputs(case)
    ref = torch_engine(torch, case, inputs).outputs()
    engine = ort_engine(ort, case, inputs, build_graph(case, inputs.weights), "helper", 1)
    assert check_engines([engine], ref, "torch")["ort"]["ok"]


def test_a_wrong_gate_order_is_caught():
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from fastrnn import onnx
    from fastrnn._bench import onnx as _bench_onnx

    case = Case("lstm", 12, 3, 4, 5)
    inputs = make_inputs(case)
    ref = torch_engine(torch, case, inputs).outputs()
    saved = onnx.GATE_ORDER["lstm"]
    onnx.GATE_ORDER["lstm"] = [0, 1, 2, 3]  # PyTorch's order, wrong for ONNX
    try:
        model = _bench_onnx.build_graph(case, inputs.weights)
    finally:
        onnx.GATE_ORDER["lstm"] = saved
    engine = _bench_onnx.ort_engine(ort, case, inputs, model, "helper", 1)
    assert not check_engines([engine], ref, "torch")["ort"]["ok"]


def test_outputs_redraw_from_saved_json(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    saved, md1, md2 = tmp_path / "run.json", tmp_path / "a.md", tmp_path / "b.md"
    argv = ["--quick", "--threads", "1", "--backends", "cython", "--filter", "x3x4x5"]
    argv += ["--shape", "gru:6,3,4,5:ragged", "--json", str(saved), "--markdown", str(md1)]
    assert _bench.main(argv) == 0
    first = capsys.readouterr().out
    payload = json.loads(saved.read_text())
    assert {r["engine"] for r in payload["results"]} >= {"torch", "torch-padded", "cython"}
    assert all(r["samples_s"] for r in payload["results"] if "median_ms" in r)
    png = tmp_path / "chart.png"
    argv = ["--from-json", str(saved), "--markdown", str(md2), "--plot", str(png)]
    assert _bench.main(argv) == 0
    again = capsys.readouterr().out
    table = [line for line in first.splitlines() if line.startswith("gru 6x3x4x5")]
    assert table and table == [line for line in again.splitlines() if line.startswith("gru 6x3")]
    assert md1.read_text() == md2.read_text()
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_peak_memory_runs_in_a_fresh_process():
    from fastrnn._bench.memory import measure_peak

    result = measure_peak(Case("lstm", 20, 8, 4, 16), "numpy", threads=1)
    assert "error" not in result, result
    assert result["peak_mib"] >= 0 and result["method"] in ("VmHWM reset", "ru_maxrss")
    assert np.isfinite(result["baseline_mib"])


def test_a_cell_torch_lacks_is_checked_against_the_oracle():
    """GRU(reset_after=False): no torch engine; ONNX Runtime and fastrnn meet the float64 oracle."""
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    case = parse_shape("gru_reset_before:12,3,4,5:ragged")
    inputs = make_inputs(case)
    setup = {"torch": torch, "ort": ort, "backends": ["cython", "numba"], "numpy_limit": None}
    engines, skipped = _bench.build_engines(case, inputs, setup, 1, {})
    assert "torch.nn has no gru_reset_before" in skipped["torch"][0]
    assert [e.name for e in engines] == ["ort", "cython", "numba"]
    assert "to_onnx" in engines[0].note  # torch has nothing to export
    ref, against = _bench.reference_outputs(case, inputs, engines, torch)
    assert against == "numpy float64"
    checks = check_engines(engines, ref, against)
    assert all(checks[e.name]["ok"] for e in engines), checks
