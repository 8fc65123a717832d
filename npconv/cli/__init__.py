"""The ``npconv`` command line. It renders what the library computes."""
