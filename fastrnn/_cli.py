"""The ``fastrnn`` command line: one subcommand per job, each a thin front.

Usage: ``fastrnn demo [--epochs N] [--hidden-size H] [--backend NAME]`` and
``fastrnn bench [--quick] [--json PATH] ...`` (the logic of ``bench/compare.py``).
"""

import argparse
import importlib
import sys

# name -> (module path, help); imported only when run, so `fastrnn demo` never loads torch.
COMMANDS = {
    "demo": ("fastrnn.demo", "train an LSTM on a sine wave and report (the README's main job)"),
    "bench": (
        "fastrnn._bench",
        "time fastrnn's backends against PyTorch and ONNX Runtime, side by side",
    ),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastrnn", description="Fast CPU recurrent networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    status = module.main(rest, prog=f"fastrnn {args.command}")
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
