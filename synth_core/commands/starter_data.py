"""``timbrelab starter-data OUT``: write the built-in sounds as WAV files, train/ and test/."""

from __future__ import annotations

import argparse
import sys
import time

from synth_core.builtin import write_starter_data


def cli_starter_data(args: argparse.Namespace) -> int:
    """Render the built-in dataset into ``OUT`` and say how many sounds went where."""
    started = time.perf_counter()
    written = write_starter_data(args.out)
    elapsed = time.perf_counter() - started
    sys.stdout.write(
        f"wrote {len(written['train'])} training and {len(written['test'])} test sounds to "
        f"{args.out} in {elapsed:.1f} s\n"
    )
    return 0
