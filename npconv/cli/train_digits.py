"""``npconv train-digits``: fit the example CNN on the bundled digits."""

from __future__ import annotations

import argparse
import time

from ..examples.digits import train


def add_arguments(parser):
    parser.add_argument(
        "--epochs", type=_count(0), default=11, help="epochs (default 11; 0 evaluates the untrained model)"
    )
    parser.add_argument("--batch-size", type=_count(1), default=32, help="batch size (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _count(minimum):
    """An argparse type: an integer >= minimum, else a one-line usage error."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, received {text!r}")
        return value

    return parse


def run(args):
    start = time.perf_counter()
    model, history, accuracy = train(args.epochs, args.batch_size, args.seed)
    seconds = time.perf_counter() - start
    model.summary()
    timing = f"{seconds:.1f} s, {seconds / args.epochs:.2f} s/epoch" if args.epochs else f"{seconds:.1f} s, no training"
    print(f"test accuracy: {accuracy:.4f}  ({timing})")
    return 0
