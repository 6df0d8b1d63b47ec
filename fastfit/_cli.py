"""The ``fastfit`` command line."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastfit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train on a bundled dataset and compare with NumPy")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 40)")
    demo.add_argument("--quick", action="store_true", help="skip the kernel timing table")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fastfit._demo import run_demo

        kwargs = {} if args.epochs is None else {"epochs": args.epochs}
        return run_demo(kernel_table=not args.quick, **kwargs)
    return 2


if __name__ == "__main__":
    sys.exit(main())
