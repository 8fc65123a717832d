"""Train a CNN on the 8x8 digits that ship with npconv (no download).

    python examples/train_digits.py

The code lives in npconv/examples/digits.py so that `npconv train-digits` runs
the very same thing.
"""

from npconv.examples.digits import train

if __name__ == "__main__":
    model, history, accuracy = train()
    model.summary()
    print(f"test accuracy: {accuracy:.4f}")
