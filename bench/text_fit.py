"""Fit time of the text pipeline's model against the same model in PyTorch, one run.

The task (``--task``): which of four documentation topics of
``pydoc_data.topics`` a paragraph comes from (word ids from ``TextTokenizer``,
fitted on the training part), or, character by character, which of 10 or
100 classes the name of a Unicode character falls in. Both sides: an
embedding of 32, a bidirectional LSTM of ``--hidden-size``, a linear head,
Adam, the same epochs, batch size and learning rate, no L2, no clipping;
PyTorch runs ``nn.Embedding``, a packed ``nn.LSTM`` and ``nn.Linear`` in the
plain training loop. The fits alternate (``--repeats``) and the medians are
compared::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/text_fit.py --json out.json
    python bench/text_fit.py --task names --hidden-size 128 --batch-size 64 --epochs 25
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the fastrnn of this checkout when not installed

from fastrnn._bench.e2e import EndToEndPlan, run_end_to_end  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--task",
        default="topics",
        choices=["topics", "names", "names-100"],
        help="word-level topics of paragraphs, or character-level Unicode names in 10 or "
        "100 classes (see fastrnn._bench.e2e)",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", help="save the fits here")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    plan = EndToEndPlan(
        hidden_size=args.hidden_size,
        epochs=args.epochs,
        repeats=args.repeats,
        batch_size=args.batch_size,
    )
    result = run_end_to_end(torch, args.threads, plan, task=args.task)
    ours, theirs = result["engines"]["fastrnn"], result["engines"]["torch"]
    print(f"{result['dataset']}; train {result['n_train']}, test {result['n_test']}")
    print(
        f"embedding 32 + bidirectional LSTM {args.hidden_size}, {args.epochs} epochs, "
        f"batch {args.batch_size}, "
        f"{args.threads} threads, median of {args.repeats} alternating fits each"
    )
    for name, r in (("fastrnn", ours), ("PyTorch", theirs)):
        print(f"  {name:8s} fit {r['median_s']:.2f} s, test accuracy {r['accuracy']:.3f}")
    print(f"  PyTorch / fastrnn fit time: {theirs['median_s'] / ours['median_s']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
