"""Argument types shared by the command line's subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def count_arg(lo: int, hi: int) -> Callable[[str], int]:
    """A parser of a whole number in ``lo..hi``."""

    def parse(text: str) -> int:
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"expected a whole number {lo}..{hi}, got {text!r}")
        return int(text)

    return parse
