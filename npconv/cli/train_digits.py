"""``npconv train-digits``: fit the example CNN on the bundled digits."""

from __future__ import annotations

import time

from ..examples.digits import train


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=11, help="epochs (default 11)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args):
    start = time.perf_counter()
    model, history, accuracy = train(args.epochs, args.batch_size, args.seed)
    seconds = time.perf_counter() - start
    model.summary()
    print(f"test accuracy: {accuracy:.4f}  ({seconds:.1f} s, {seconds / max(args.epochs, 1):.2f} s/epoch)")
    return 0
