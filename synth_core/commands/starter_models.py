"""``python -m synth_core.commands.starter_models [--out DIR] [--only NAME ...]``.

Rebuilds the starter models (``make starter-models``; see :mod:`synth_core.starter`) with a
progress bar per model, then says how large each is and refuses (exit 1) a set over the size
the app may ship.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from synth_core.commands.progress_bar import TerminalProgressBar
from synth_core.starter import (
    RESOURCES_MODELS,
    SIZE_LIMIT_BYTES,
    STARTERS,
    build_starter,
    folder_size,
    refit_novelty,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild the starters named by ``--only`` (all without it) into ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m synth_core.commands.starter_models", description=__doc__
    )
    parser.add_argument("--out", type=Path, default=RESOURCES_MODELS)
    parser.add_argument("--only", nargs="*", default=None, help="names of starters to rebuild")
    parser.add_argument(
        "--novelty-only",
        action="store_true",
        help="do not retrain: measure the novelty scale of the starters in --out again "
        "(vae, cnn, gan), so starters saved before it draw new sounds too",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    wanted = [s for s in STARTERS if args.only is None or s.name in args.only]
    if not wanted:
        names = ", ".join(s.name for s in STARTERS)
        sys.stderr.write(f"no starter model by that name; known: {names}\n")
        return 2
    if args.novelty_only:
        for spec in wanted:
            scale = refit_novelty(args.out / spec.name)
            if scale is not None:
                sys.stdout.write(f"{spec.name}: novelty scale {scale:.3g}\n")
        return 0
    started = time.perf_counter()
    for spec in wanted:
        began = time.perf_counter()
        with TerminalProgressBar(spec.name, steps=spec.steps) as bar:
            target = build_starter(spec, args.out, progress=bar.update)
        sys.stdout.write(
            f"{spec.name}: {spec.family}, {spec.steps} steps, {folder_size(target) / 1e6:.1f} MB, "
            f"{time.perf_counter() - began:.0f} s → {target}\n"
        )
    total = sum(folder_size(p) for p in args.out.iterdir() if p.is_dir())
    sys.stdout.write(
        f"starter models: {total / 1e6:.1f} MB in all, rebuilt in "
        f"{(time.perf_counter() - started) / 60:.1f} min\n"
    )
    if total > SIZE_LIMIT_BYTES:
        sys.stderr.write(
            f"starter models take {total / 1e6:.1f} MB, over the "
            f"{SIZE_LIMIT_BYTES / 2**20:.0f} MB limit\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
