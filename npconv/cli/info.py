"""``npconv info``: which backend runs the kernels here, and with what."""

from __future__ import annotations

import json

from .. import config


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the same facts as one JSON object")


def run(args):
    facts = config.info()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    width = max(len(name) for name in facts)
    for name, value in facts.items():
        if value is not None:
            print(f"{name:<{width}}  {value}")
    return 0
