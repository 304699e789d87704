"""The benchmark's outputs, all drawn from the same records: console table, Markdown, PNG.

Everything here works on plain dicts as they are written to ``--json``, so
``--from-json`` redraws the table and the chart of an earlier run without
running anything. :func:`derive` computes the ratios and GFLOP/s from the
medians, so a saved file needs only the raw samples.
"""

import textwrap

from fastrnn._bench.machine import format_header

LARGE_FLOPS = 1e9  # GFLOP/s are shown for shapes whose forward pass does at least this many
REFERENCE_ENGINES = ("torch", "ort")  # ratio columns: reference median / engine median
NOISY_SPREAD = 0.25  # an IQR wider than this fraction of the median is flagged


def derive(records, gemm):
    """Add ``ratio_torch``, ``ratio_ort``, ``gflops`` and ``peak_fraction`` in place.

    Parameters
    ----------
    records : list of dict
    gemm : dict of int -> dict
        Thread count -> numpy GEMM peak (``gflops``) measured in the run.
    """
    medians = {}
    for r in records:
        if "median_ms" in r:
            medians[(r["case"], r["mode"], r["threads"], r["engine"])] = r["median_ms"]
    for r in records:
        if "median_ms" not in r:
            continue
        for ref in REFERENCE_ENGINES:
            ref_median = medians.get((r["case"], r["mode"], r["threads"], ref))
            r[f"ratio_{ref}"] = None if ref_median is None else ref_median / r["median_ms"]
        flops = r.get("flops")
        r["gflops"] = flops / (r["median_ms"] * 1e-3) / 1e9 if flops else None
        peak = gemm.get(r["threads"], {}).get("gflops")
        r["peak_fraction"] = r["gflops"] / peak if r["gflops"] and peak else None


def ordered(records):
    """Records grouped by shape (in run order), then mode, then threads; engines as run."""
    cases = {}
    for r in records:
        cases.setdefault(r["case"], len(cases))
    modes = {"inference": 0, "train": 1}
    return sorted(records, key=lambda r: (cases[r["case"]], modes[r["mode"]], r["threads"]))


def _ms(value):
    """Milliseconds with about three significant digits."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    if value >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}"  # a streaming step is a microsecond: 0.0012


def _ratio(value):
    return "" if value is None else f"{value:.2f}"


def _check_mark(r):
    """What the last column says about a record's correctness check."""
    check = r.get("check")
    note = r.get("note", "")
    if check is None:
        mark = "reference" if r["engine"] == "torch" else ""
    elif check["ok"]:
        mark = f"ok vs {check['against']}"
    else:
        mark = f"MISMATCH vs {check['against']}: {check['detail']}"
    spread = (r["q3_ms"] - r["q1_ms"]) / r["median_ms"]
    # A wide spread means the machine was disturbed while this engine ran: say so.
    noisy = f"noisy: IQR {100 * spread:.0f}% of median" if spread > NOISY_SPREAD else ""
    return "; ".join(m for m in (mark, note, noisy) if m)


def _large(r):
    """Whether GFLOP/s mean something for this record's shape (the GEMMs dominate)."""
    return (r.get("forward_flops") or 0) >= LARGE_FLOPS


def row_cells(r):
    """The cells of one record, shared by the console and Markdown tables."""
    if "skipped" in r:
        return [r["case"], r["mode"], str(r["threads"]), r["engine"]] + ["-"] * 9 + [r["skipped"]]
    large = _large(r)
    gflops = f"{r['gflops']:.0f}" if large and r.get("gflops") else ""
    frac = f"{100 * r['peak_fraction']:.0f}%" if large and r.get("peak_fraction") else ""
    if r.get("peak_mib") is not None:
        mem = f"{r['peak_mib']:.1f}"
    else:
        mem = "failed" if r.get("peak_error") else ""
    return [
        r["case"],
        r["mode"],
        str(r["threads"]),
        r["engine"],
        _ms(r["median_ms"]),
        f"{_ms(r['q1_ms'])}-{_ms(r['q3_ms'])}",
        f"{_ms(r['min_ms'])}-{_ms(r['max_ms'])}",
        str(r["n"]),
        _ratio(r.get("ratio_torch")),
        _ratio(r.get("ratio_ort")),
        gflops,
        frac,
        mem,
        _check_mark(r),
    ]


HEAD = (
    "shape (TxBxDxH)",
    "mode",
    "thr",
    "engine",
    "median ms",
    "IQR ms",
    "min-max ms",
    "n",
    "torch/x",
    "ort/x",
    "GFLOP/s",
    "% GEMM peak",
    "train peak MiB",
    "check",
)
_LEFT = 4  # the first columns are text, the others numbers


def table_rows(records):
    """Header and cell rows of the table; the memory column only when it was measured."""
    rows = [list(HEAD)] + [row_cells(r) for r in ordered(records)]
    if not any("peak_mib" in r or "peak_error" in r for r in records):
        mem = HEAD.index("train peak MiB")
        rows = [row[:mem] + row[mem + 1 :] for row in rows]
    return rows


def format_table(records):
    """Render the records as a fixed-width text table (lines)."""
    rows = table_rows(records)
    head = rows[0]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for i, row in enumerate(rows):
        cells = [
            c.ljust(w) if j < _LEFT else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    return lines


LEGEND = (
    "torch/x = torch median / engine median, ort/x = ONNX Runtime median / engine median "
    "(above 1: x is faster), at the same thread count. Engines ran interleaved in blocks, "
    "each after untimed settling calls; every engine's outputs (and for training its "
    "gradients) were checked against the reference before timing. IQR = 25th-75th "
    "percentile of the samples; n = samples. GFLOP/s count the cell's GEMMs "
    "(forward 2*T*B*G*H*(D+H), a training step 3x that), shown for shapes of at least "
    f"{LARGE_FLOPS:.0e} forward FLOPs; % GEMM peak is against numpy's float32 GEMM measured "
    "in the same run at the same thread count. train peak MiB = growth of the resident set "
    "during 3 training steps, each engine alone in a fresh process (--memory; the column is "
    "left out when not measured). ONNX Runtime runs inference only."
)


E2E_HEAD = ("threads", "engine", "fit s (median)", "test accuracy (mean)", "torch/x")


def end_to_end_intro(e2e):
    """Two sentences saying what the end-to-end comparison ran, on which data."""
    p = e2e[0]["plan"]
    return [
        f"End to end: RNNClassifier.fit vs a plain PyTorch loop. Data: {e2e[0]['dataset']}.",
        f"Both: LSTM hidden {p['hidden_size']}, {p['epochs']} epochs, batch {p['batch_size']}, "
        f"Adam lr {p['learning_rate']}, no L2, no clipping; train {e2e[0]['n_train']}, "
        f"test {e2e[0]['n_test']}; median time of {p['repeats']} fit(s), interleaved; "
        "fit r of each engine seeded with r; accuracy: the mean over the fits.",
    ]


def format_end_to_end(e2e):
    """Console lines for the end-to-end results: the intro, then an aligned table."""
    if not e2e:
        return []
    rows = [list(E2E_HEAD)] + end_to_end_rows(e2e)
    widths = [max(len(row[i]) for row in rows) for i in range(len(E2E_HEAD))]
    table = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return [textwrap.fill(line, width=100) for line in end_to_end_intro(e2e)] + [""] + table


def end_to_end_rows(e2e):
    """Rows ``threads, engine, fit s, test accuracy, torch/x`` of the end-to-end results."""
    rows = []
    for entry in e2e:
        engines = entry["engines"]
        torch_s = engines.get("torch", {}).get("median_s")
        for name, res in engines.items():
            ratio = "" if torch_s is None else f"{torch_s / res['median_s']:.2f}"
            rows.append(
                [
                    str(entry["threads"]),
                    name,
                    f"{res['median_s']:.2f}",
                    f"{res['accuracy']:.3f}",
                    ratio,
                ]
            )
    return rows


def _md_row(cells):
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def markdown(payload):
    """The Markdown report of a run (header list, kernel table, end-to-end table)."""
    gemm = payload_gemm(payload)
    lines = ["# fastrnn benchmark", ""]
    lines += [f"- {line}" for line in format_header(payload["machine"], gemm)]
    lines += [f"- note: {n}" for n in payload.get("notes", [])]
    lines += ["", "## Kernels (float32, batch_first; times in ms)", ""]
    rows = table_rows(payload["results"])
    lines += [_md_row(rows[0]), _md_row(["---"] * len(rows[0]))]
    lines += [_md_row(row) for row in rows[1:]]
    lines += ["", LEGEND, ""]
    e2e = payload.get("end_to_end") or []
    if e2e:
        lines += ["## End to end", ""]
        lines += end_to_end_intro(e2e) + [""]
        lines += [_md_row(E2E_HEAD), _md_row(["---"] * len(E2E_HEAD))]
        lines += [_md_row(row) for row in end_to_end_rows(e2e)]
        lines += [""]
    return "\n".join(lines)


def payload_gemm(payload):
    """Thread count -> GEMM peak of a payload (JSON turns the int keys into strings)."""
    return {int(k): v for k, v in (payload.get("gemm_peak") or {}).items()}


def plot(payload, path):
    """Bar chart of the ratios per shape and mode, log scale, a line at 1x.

    One row of panels per thread count: torch/x for every engine but torch,
    and ort/x (inference) for every engine but ONNX Runtime.

    Raises
    ------
    ImportError
        With an install hint, when matplotlib is missing.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "--plot needs matplotlib, which is not installed: pip install matplotlib "
            "(the table and --markdown/--json work without it)"
        ) from exc
    records = [r for r in ordered(payload["results"]) if "median_ms" in r]
    threads = sorted({r["threads"] for r in records})
    # One colour per engine in every panel, so a bar reads the same everywhere.
    names = list(dict.fromkeys(r["engine"] for r in records))
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}
    fig = Figure(figsize=(max(8, 0.55 * len(records) / max(len(threads), 1)), 4.2 * len(threads)))
    axes = fig.subplots(len(threads), 2, squeeze=False)
    for row, t in enumerate(threads):
        for col, ref in enumerate(REFERENCE_ENGINES):
            _bar_panel(axes[row][col], [r for r in records if r["threads"] == t], ref, t, colors)
    fig.suptitle(f"fastrnn benchmark: {payload['machine']['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _bar_panel(ax, records, ref, threads, colors):
    """One panel: grouped bars of ``ref``/x per (shape, mode), one bar per engine."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    key = f"ratio_{ref}"
    groups, engines = [], []
    for r in records:
        if r["engine"] == ref or r.get(key) is None:
            continue
        group = (r["case"], r["mode"])
        if group not in groups:
            groups.append(group)
        if r["engine"] not in engines:
            engines.append(r["engine"])
    value = {(r["case"], r["mode"], r["engine"]): r.get(key) for r in records}
    width = 0.8 / max(len(engines), 1)
    for i, engine in enumerate(engines):
        xs, ys = [], []
        for g, (case, mode) in enumerate(groups):
            v = value.get((case, mode, engine))
            if v:
                xs.append(g + (i - (len(engines) - 1) / 2) * width)
                ys.append(v)
        ax.bar(xs, ys, width=width, label=engine, color=colors[engine])
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_yscale("log")
    # Ticks at 1-2-5 steps with plain labels ("0.5x", "2x"): a ratio reads at a glance.
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(
        [f"{case}\n{'infer' if mode == 'inference' else 'train'}" for case, mode in groups],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    name = "torch" if ref == "torch" else "ONNX Runtime"
    ax.set_ylabel(f"{ref}/x (above 1: x faster)")
    ax.set_title(f"speed-up over {name}, {threads} thread(s)", fontsize=9)
    if engines:
        ax.legend(fontsize=7)
