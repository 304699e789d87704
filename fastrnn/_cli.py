"""The ``fastrnn`` command line: one subcommand per job, each a thin front.

Usage: ``fastrnn demo [--epochs N] [--hidden-size H] [--backend NAME]``.
"""

import argparse
import sys

from fastrnn import demo


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastrnn", description="Fast CPU recurrent networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help=demo.__doc__.splitlines()[0], add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        demo.main(rest, prog="fastrnn demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
