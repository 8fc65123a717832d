"""Train a CNN on the 8x8 digits that ship with npconv (no download).

    python examples/train_digits.py [--epochs N] [--batch-size N] [--seed N]

The code lives in npconv/examples/digits.py so that `npconv train-digits` runs
the very same thing; this script takes the same options.
"""

import sys

from npconv.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train-digits", *sys.argv[1:]]))
