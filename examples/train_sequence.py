"""Train an LSTM and a causal TCN built from cyconv.nn layers on scikit-learn's 8x8 digits
read row by row (8 steps of 8 features).

Same as ``python -m cyconv demo --task sequence``: every epoch's loss, test accuracy and
time for both models, then one epoch of each timed with ``ops=cyconv.reference``.

    python examples/train_sequence.py [--epochs 20] [--threads 1] [--plots DIR]

Needs ``pip install 'cyconv[demo]'`` (scikit-learn, matplotlib).
"""
import argparse
import sys

from cyconv import _demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _demo.add_arguments(parser)
    parser.set_defaults(task="sequence")
    sys.exit(_demo.main(parser.parse_args()))
