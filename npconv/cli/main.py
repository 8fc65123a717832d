"""``npconv`` entry point: one subcommand per module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .._version import __version__

# subcommand -> (module under npconv.cli, one-line help)
COMMANDS = {
    "demo": ("demo", "reproduce the article's Conv2D / Conv2DTranspose experiments, corrected"),
    "explain": ("explain", "show how a conv layer pads and sizes its output"),
    "train-digits": ("train_digits", "train the example CNN on the bundled 8x8 digits"),
    "predict": ("predict", "batch inference over .npy files on Dask, locally or on a cluster"),
    "info": ("info", "show the kernel backend, oneDNN's library, CPU ISA and thread count"),
    "inspect": ("inspect", "show what a .keras/.h5/.weights.h5/.npconv file holds and what npconv refuses in it"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit status 2, never a traceback."""
        self.exit(2, f"npconv: error: {message}\n")


def build_parser(chosen=None):
    """The parser. Only the ``chosen`` subcommand's module is imported and
    asked for its arguments, so ``npconv demo`` never loads the explainer."""
    parser = _Parser(prog="npconv", description="Keras convolution layers on NumPy, explained.")
    parser.add_argument("--version", action="version", version=f"npconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        if name == chosen:
            _module(module).add_arguments(command)
    return parser


def _module(name):
    return importlib.import_module(f"npconv.cli.{name}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    if not argv:  # no command: say what there is, as a usage error
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return _module(args._module).run(args) or 0
    except (ValueError, TypeError) as error:
        sys.stderr.write(f"npconv {args.command}: error: {error}\n")
        return 2
    except BrokenPipeError:  # the reader went away (npconv explain ... | head): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit-time flush has somewhere to go
        return 0


if __name__ == "__main__":
    sys.exit(main())
