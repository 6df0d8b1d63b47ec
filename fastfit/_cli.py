"""The ``fastfit`` command line."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastfit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="train on a bundled dataset and compare with NumPy")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fastfit._demo import run_demo

        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
