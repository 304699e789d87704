"""The ``fastrnn`` command line: one subcommand per job, each a thin front.

``fastrnn demo`` (the README's main job), ``fit`` (a CSV series -> a saved
forecaster, or a text file -> a saved language model), ``predict``,
``generate``, ``bench`` (the logic of ``bench/compare.py``; ``bench --forecast``,
that of ``bench/forecast.py``) and ``info``.
``fastrnn COMMAND --help`` shows each one's options (with their defaults);
``-`` stands for standard input or output where a command reads or writes a
file.
"""

import argparse
import importlib
import os
import sys

# name -> (module path, function, help); imported only when run, so `fastrnn demo`
# never loads torch.
COMMANDS = {
    "demo": ("fastrnn.demo", "main", "forecast the sunspots with an LSTM (the README's main job)"),
    "fit": (
        "fastrnn._commands",
        "fit_main",
        "fit a forecaster on a CSV or a language model on text",
    ),
    "predict": ("fastrnn._commands", "predict_main", "forecast or predict with a saved model"),
    "generate": ("fastrnn._commands", "generate_main", "generate text with a saved language model"),
    "bench": (
        "fastrnn._bench",
        "main",
        "time fastrnn's backends against PyTorch and ONNX Runtime, side by side",
    ),
    "info": ("fastrnn._commands", "info_main", "version, backends, BLAS and thread settings"),
}


class HelpFormatter(argparse.HelpFormatter):
    """Every subcommand's help: each option's default after its text, where it has one.

    (argparse's ArgumentDefaultsHelpFormatter also prints "default: None" and
    repeats defaults that the text already gives.)
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and not (default is None or default is False or default == argparse.SUPPRESS)
            and default not in ([], {}, "")
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def main(argv=None):
    from fastrnn._version import __version__

    parser = argparse.ArgumentParser(prog="fastrnn", description="Fast CPU recurrent networks.")
    parser.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, _, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    module, function, _ = COMMANDS[args.command]
    run = getattr(importlib.import_module(module), function)
    try:
        status = run(rest, prog=f"fastrnn {args.command}")
    except BrokenPipeError:
        # The reader went away (`fastrnn info | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
