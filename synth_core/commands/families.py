"""``timbrelab families [--json]``: the model families, their defaults and presets."""

from __future__ import annotations

import argparse
import json
import sys

from synth_core.runs import family_table


def cli_families(args: argparse.Namespace) -> int:
    """``timbrelab families [--json]``: a few lines per family, or the table as JSON."""
    rows = family_table()
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    for row in rows:
        sys.stdout.write(f"{row['name']:<9} {row['title']} — {row['summary']}\n")
        sys.stdout.write(f"{'':<9} good for: {row['good_for']}\n")
        defaults = ", ".join(f"{k}={v}" for k, v in row["defaults"].items())
        sys.stdout.write(f"{'':<9} defaults: {defaults}\n")
        if row["presets"]:
            sys.stdout.write(f"{'':<9} presets: {', '.join(row['presets'])}\n")
    return 0
