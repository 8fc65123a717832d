"""``npconv inspect FILE``: what a model or weights file holds, and what npconv would refuse.

npconv inspect model.keras
npconv inspect legacy_model.h5
npconv inspect model.weights.h5

Prints the architecture, the parameter count, the Keras version recorded in the
file and every problem that makes npconv refuse it, with the reason. No weight
is read. Exit status 2 when the file would be refused.
"""

from __future__ import annotations

from ..saving.inspect import inspect_file


def add_arguments(parser):
    parser.add_argument("file", help="a .keras, .h5, .weights.h5, .weights.json or .npconv file")


def run(args):
    report = inspect_file(args.file)
    print(report.render())
    return 2 if report.refused else 0
