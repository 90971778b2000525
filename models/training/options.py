"""The training options `hazardwatch models train` takes and passes on to the trainer script
(models/training/trainer.py, run by the training interpreter): defined once for both parsers.
No torch here: the run-time command line imports it."""

from __future__ import annotations

import argparse


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by `models train` and the trainer (not DATASET, --base, --out)."""
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimiser steps")
    length.add_argument("--epochs", type=float, help="passes over the train split")
    parser.add_argument("--freeze", type=float, default=0.6, help="fraction of weights frozen")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--time-budget-min", type=float, help="stop training after this many minutes"
    )
    parser.add_argument(
        "--negative-repeat",
        type=int,
        default=1,
        help="times per epoch an image without the new class (a hard negative) is used",
    )
    parser.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="export a moving average of the weights with this decay, e.g. 0.998 (0: off)",
    )
    parser.add_argument(
        "--repurpose",
        action="append",
        default=[],
        metavar="CLASS=BASE_CLASS",
        help="dataset class that takes over a base class's slot (default ebike=motorbike)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
