"""The ``fastfit`` command line."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastfit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train an MLP on scikit-learn's digits with fastfit and with scikit-learn")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 30)")
    demo.add_argument("--quick", action="store_true",
                      help="a few epochs only (3 unless --epochs is given)")
    demo.add_argument("--kernels", action="store_true",
                      help="also time the heavy kernels against NumPy on training-sized shapes")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fastfit import _demo

        epochs = args.epochs
        if epochs is None:
            epochs = _demo.QUICK_EPOCHS if args.quick else _demo.EPOCHS
        if epochs < 1:
            parser.error("--epochs must be at least 1")
        return _demo.run_demo(epochs=epochs, kernels=args.kernels)
    return 2


if __name__ == "__main__":
    sys.exit(main())
