"""Runnable examples that ship with the package (see also examples/ in the repo)."""
