"""Train a LeNet-style CNN built from cyconv.nn layers on scikit-learn's 8x8 digits.

Same as ``python -m cyconv demo``: a progress bar per epoch, the loss, the test accuracy and
the epoch time, then one epoch timed with ``ops=cyconv.reference`` for the speed-up.

    python examples/train_digits.py [--epochs 20] [--threads 1] [--plots DIR]

Needs ``pip install 'cyconv[demo]'`` (scikit-learn, tqdm, matplotlib).
"""
import argparse
import sys

from cyconv import _demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _demo.add_arguments(parser)
    sys.exit(_demo.main(parser.parse_args()))
